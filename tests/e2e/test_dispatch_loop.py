"""A case-driven mediation task through both services: offered, declined by the
first candidate, expired for the second, accepted by the third, checked in and
out; hours and points recorded; each step on the case's timeline."""

from __future__ import annotations

import os
import time

import httpx
import pytest

from govctl import areas as area_file
from govkit.auth import mint

from .test_services_and_areas import wait_for

GRID = "changping.zhongguping.g03"
ALL_WEEK = [{"weekday": d, "start": "00:00", "end": "23:59"} for d in range(7)]


@pytest.fixture(scope="module")
def live(stack):
    saved = {k: os.environ.get(k) for k in ("VOLUNTEERS_OFFER_EXPIRY_S", "VOLUNTEERS_TIMER_INTERVAL_S")}
    os.environ.update(VOLUNTEERS_OFFER_EXPIRY_S="4", VOLUNTEERS_TIMER_INTERVAL_S="0.5")
    stack.stop_services()
    stack.start_services(say=lambda *_: None)
    area_file.publish(stack.bootstrap, area_file.DEFAULT_FILE)
    for svc in ("cases", "volunteers"):
        wait_for(lambda svc=svc: httpx.get(stack.url(svc) + "/v1/areas").json()["count"] == 137)
    yield stack
    stack.stop_services()
    for k, v in saved.items():
        os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def as_(stack, svc, sub, roles, areas):
    token = mint(key=stack.state["jwt_secret"], sub=sub, roles=roles, areas=areas)
    return httpx.Client(base_url=stack.url(svc), headers={"authorization": f"Bearer {token}"}, timeout=10)


def pending_offer(client):
    offers = client.get("/v1/offers", params={"status": "pending"}).json()
    return offers[0] if offers else None


def test_mediation_task_declined_expired_accepted_and_completed(live):
    stack = live
    admin = as_(stack, "volunteers", "ta-1", ["town_admin"], ["changping"])
    subs = ["med-a", "med-b", "med-c"]
    for sub in subs:
        r = admin.post(
            "/v1/volunteers",
            json={
                "name": f"调解员{sub}",
                "phone": "13900001111",
                "roles": ["mediator"],
                "home_grid": GRID,
                "skills": ["mediation"],
                "availability": ALL_WEEK,
                "account_sub": sub,
            },
        )
        assert r.status_code == 201, r.text
        assert r.json()["phone"] is None  # personal data is not echoed without the permission
    vols = {sub: as_(stack, "volunteers", sub, ["volunteer"], []) for sub in subs}

    cases = as_(stack, "cases", "gm-zgp3", ["grid_manager"], [GRID])
    case = cases.post(
        "/v1/cases",
        json={
            "category": "dispute.neighbor",
            "title": "钟鼓坪村三组宅基地排水纠纷",
            "description": "两户因排水沟走向发生争执",
            "grid_id": GRID,
        },
    ).json()
    cases.post(f"/v1/cases/{case['id']}/accept").raise_for_status()
    cases.post(f"/v1/cases/{case['id']}/dispatch", json={"unit_level": "grid", "unit_id": GRID}).raise_for_status()

    # the volunteers service turns the dispatched case into a mediation task and offers it to the best candidate
    def who_has_an_offer():
        for sub, c in vols.items():
            o = pending_offer(c)
            if o:
                return sub, o
        return None

    first, offer1 = wait_for(who_has_an_offer, timeout=30)
    task_id = offer1["task_id"]
    assert offer1["task_type"] == "dispute_mediation" and offer1["rank"] == 1
    r = vols[first].post(f"/v1/offers/{offer1['id']}/decline", json={"reason": "当天在县城开会"})
    assert r.status_code == 200 and r.json()["status"] == "declined"
    # the answer shows the offer as the list does, with its task
    assert {k: r.json()[k] for k in ("task_type", "title", "grid_id", "window_start")} == {
        k: offer1[k] for k in ("task_type", "title", "grid_id", "window_start")
    }
    assert vols[first].post(f"/v1/offers/{offer1['id']}/accept").status_code == 409

    second, offer2 = wait_for(lambda: (x := who_has_an_offer()) and x[0] != first and x, timeout=15)
    expired_at = time.monotonic()
    # the second does not answer: after 4 s the offer expires and passes to the third
    third, offer3 = wait_for(lambda: (x := who_has_an_offer()) and x[0] not in (first, second) and x, timeout=30)
    assert time.monotonic() - expired_at >= 2
    assert vols[second].post(f"/v1/offers/{offer2['id']}/accept").status_code == 409  # too late
    accepted = vols[third].post(f"/v1/offers/{offer3['id']}/accept").json()
    assert accepted["status"] == "accepted" and accepted["task_type"] == "dispute_mediation"
    assert accepted["title"] == offer3["title"] and accepted["grid_id"] == offer3["grid_id"]

    task = admin.get(f"/v1/tasks/{task_id}").json()
    assert task["status"] == "assigned" and task["case_id"] == case["id"]
    assert [o["status"] for o in task["offers"]] == ["declined", "expired", "accepted"]
    assert vols[first].post(f"/v1/tasks/{task_id}/check-in").status_code == 404  # not theirs

    assert vols[third].post(f"/v1/tasks/{task_id}/check-in").json()["status"] == "in_progress"
    time.sleep(1.0)
    out = vols[third].post(f"/v1/tasks/{task_id}/check-out").json()
    assert out["status"] == "completed" and out["points"] == 10 + round(10 * out["hours"])
    assert admin.get(f"/v1/tasks/{task_id}").json()["status"] == "completed"
    me = vols[third].get("/v1/volunteers/me").json()
    ledger = vols[third].get(f"/v1/volunteers/{me['id']}/ledger").json()
    assert ledger["points"] == out["points"] and ledger["entries"][0]["task_id"] == task_id

    # an admin correction is recorded with who and why
    fixed = admin.post(
        f"/v1/volunteers/{me['id']}/corrections",
        json={"task_id": task_id, "hours_delta": 1.5, "points_delta": 15, "reason": "签到延迟，按实际补登"},
    )
    assert fixed.json()["points"] == out["points"] + 15
    assert fixed.json()["entries"][-1]["actor"] == "ta-1"
    assert (
        vols[third]
        .post(f"/v1/volunteers/{me['id']}/corrections", json={"hours_delta": 5, "reason": "自己加"})
        .status_code
        == 403
    )

    # every step shows on the case's timeline in the cases service
    def task_steps():
        t = cases.get(f"/v1/cases/{case['id']}/timeline").json()
        steps = [e["what"].split(".")[2] for e in t if e["kind"] == "task"]
        return steps if "completed" in steps else None

    steps = wait_for(task_steps, timeout=30)
    assert steps == [
        "created",
        "offered",
        "offer_declined",
        "offered",
        "offer_expired",
        "offered",
        "assigned",
        "checked_in",
        "completed",
    ]

"""The volunteers service as a process: CSV import over HTTP with a per-row report,
the staff listing, and schedules and pairings wired to the service's timer."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import httpx
import pytest

from govctl import areas as area_file
from govkit.auth import mint

from .test_services_and_areas import wait_for

HEADER = "external_id,name,phone,roles,party_branch,home_grid,skills,availability,max_concurrent,account_sub,active"


@pytest.fixture(scope="module")
def live(stack):
    stack.start_services(say=lambda *_: None)
    events, _ = area_file.load(area_file.DEFAULT_FILE)
    area_file.publish(stack.bootstrap, area_file.DEFAULT_FILE)
    wait_for(lambda: httpx.get(stack.url("volunteers") + "/v1/areas").json()["count"] == len(events))
    yield stack
    stack.stop_services()


def as_(stack, sub, roles, areas, permissions=None):
    token = mint(key=stack.state["jwt_secret"], sub=sub, roles=roles, areas=areas, permissions=permissions)
    return httpx.Client(base_url=stack.url("volunteers"), headers={"authorization": f"Bearer {token}"}, timeout=30)


def post_csv(client, text: str, bom: bool = True, content_type="text/csv; charset=utf-8"):
    body = ("\ufeff" if bom else "") + text
    return client.post("/v1/volunteers/import", content=body.encode(), headers={"content-type": content_type})


def all_volunteers(client, **params) -> list[dict]:
    items, cursor = [], None
    while True:
        page = client.get("/v1/volunteers", params={**params, "limit": 3, **({"cursor": cursor} if cursor else {})})
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if not cursor:
            return items


def test_csv_import_reports_bad_rows_by_line_and_field_and_keeps_the_good_ones(live):
    stack = live
    t = uuid.uuid4().hex[:6]
    admin = as_(stack, "ta-import", ["town_admin"], ["changping"])
    csv_text = "\r\n".join(
        [
            HEADER,
            f"IMP-{t}-1,孔令华,13900000001,party_member|volunteer,孔家畈村党支部,changping.kongjiafan.g02,"
            f"meal_delivery|elderly_care,0-4@08:00-18:00,2,,true",
            f"IMP-{t}-2,孔二,13900000002,volunteer|astronaut,,changping.kongjiafan.g02,publicity,0-4@08:00-18:00,2,,",
            f"IMP-{t}-3,钟秀英,13900000003,public_service_worker,,changping.zhongguping.g05,meal_delivery,"
            f"0-6@10:00-14:00,3,,",
            f'IMP-{t}-4,"张,三",,volunteer,,changping.changping_community.g04,cleanup|driving,'
            f"5@09:00-12:00;6@09:00-12:00,1,imp-{t}-4,false",
            f"IMP-{t}-5,李五,,volunteer,,changping.changping_community.g04,first_aid,0-4@18:00-08:00,2,,",
            f"IMP-{t}-6,王六,,sanitation_worker|volunteer,,changping.kongjiafan.g02,cleanup,,2,,yes",
        ]
    )
    r = post_csv(admin, csv_text)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["created"], report["skipped"], report["failed"]) == (4, 0, 2)
    assert [(e["line"], e["field"]) for e in report["errors"]] == [(3, "roles"), (6, "availability")]
    assert "astronaut" in report["errors"][0]["message"] and "after start" in report["errors"][1]["message"]
    assert [(x["line"], x["status"]) for x in report["rows"]] == [
        (2, "created"),
        (3, "error"),
        (4, "created"),
        (5, "created"),
        (6, "error"),
        (7, "created"),
    ]
    ids = {x["external_id"]: x["id"] for x in report["rows"] if x["status"] == "created"}
    assert set(ids) == {f"IMP-{t}-{i}" for i in (1, 3, 4, 6)}

    # the four are in the registry, listed without name or phone
    listed = {v["id"]: v for v in all_volunteers(admin, area="changping")}
    assert set(ids.values()) <= set(listed)
    assert all(v["name"] is None and v["phone"] is None for v in listed.values())
    first = listed[ids[f"IMP-{t}-1"]]
    assert first["roles"] == ["party_member", "volunteer"] and first["home_grid"] == "changping.kongjiafan.g02"
    assert first["availability"] == [{"weekday": d, "start": "08:00", "end": "18:00"} for d in range(5)]
    assert listed[ids[f"IMP-{t}-4"]]["active"] is False and listed[ids[f"IMP-{t}-4"]]["account_sub"] == f"imp-{t}-4"
    # filters: area subtree, role, skill, active
    kjf = {v["id"] for v in all_volunteers(admin, area="changping.kongjiafan")}
    assert {ids[f"IMP-{t}-1"], ids[f"IMP-{t}-6"]} <= kjf and ids[f"IMP-{t}-3"] not in kjf
    assert all(
        v["home_grid"].startswith("changping.kongjiafan.") for v in all_volunteers(admin, area="changping.kongjiafan")
    )
    party = all_volunteers(admin, role="party_member")
    assert ids[f"IMP-{t}-1"] in {v["id"] for v in party} and all("party_member" in v["roles"] for v in party)
    meals = {v["id"] for v in all_volunteers(admin, skill="meal_delivery")}
    assert {ids[f"IMP-{t}-1"], ids[f"IMP-{t}-3"]} <= meals and ids[f"IMP-{t}-6"] not in meals
    inactive = {v["id"] for v in all_volunteers(admin, active="false")}
    assert ids[f"IMP-{t}-4"] in inactive and ids[f"IMP-{t}-1"] not in inactive
    # a village admin sees only the village
    village = {v["id"] for v in all_volunteers(as_(stack, "va-kjf", ["village_admin"], ["changping.kongjiafan"]))}
    assert ids[f"IMP-{t}-1"] in village and ids[f"IMP-{t}-3"] not in village

    # re-importing the same file creates nothing and reports the existing ids
    again = post_csv(admin, csv_text, bom=False).json()
    assert (again["created"], again["skipped"], again["failed"]) == (0, 4, 2)
    assert {x["external_id"]: x["id"] for x in again["rows"] if x["status"] == "exists"} == ids
    assert [(e["line"], e["field"]) for e in again["errors"]] == [(3, "roles"), (6, "availability")]


def test_import_scope_roles_media_type_and_limits(live):
    stack = live
    t = uuid.uuid4().hex[:6]
    gm = as_(stack, "gm-kjf-g02", ["grid_manager"], ["changping.kongjiafan.g02"])
    text = "\n".join(
        [
            "external_id,name,roles,home_grid",
            f"SC-{t}-1,甲,volunteer,changping.kongjiafan.g02",
            f"SC-{t}-2,乙,volunteer,changping.kongjiafan.g03",
        ]
    )
    report = post_csv(gm, text).json()
    assert report["created"] == 1 and [(e["line"], e["field"]) for e in report["errors"]] == [(3, "home_grid")]
    assert "outside your area scope" in report["errors"][0]["message"]

    resident = as_(stack, "someone", ["resident"], [])
    r = post_csv(resident, text)
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    assert resident.get("/v1/volunteers").status_code == 403

    r = post_csv(gm, text, content_type="application/json")
    assert r.status_code == 415
    r = post_csv(gm, "external_id,name,roles,home_grid,nickname\n")
    assert r.status_code == 422 and r.json()["errors"] == [
        {"field": "header", "message": "unknown column 'nickname'; columns are " + HEADER}
    ]

    town = as_(stack, "ta", ["town_admin"], ["changping"])
    before = len(all_volunteers(town, area="changping.kongjiafan.g02"))
    rows = "\n".join(f"LIM-{t}-{i},名,volunteer,changping.kongjiafan.g02" for i in range(5001))
    r = post_csv(gm, "external_id,name,roles,home_grid\n" + rows)
    assert r.status_code == 413 and "5000" in r.json()["detail"]
    r = post_csv(gm, "external_id,name,roles,home_grid\n" + "x" * (2 * 1024 * 1024 + 10))
    assert r.status_code == 413
    # nothing of the refused files was written
    assert len(all_volunteers(town, area="changping.kongjiafan.g02")) == before


def test_schedule_and_pairing_over_http_run_on_the_service_timer(live):
    stack = live
    admin = as_(stack, "ta-recurring", ["town_admin"], ["changping"])
    grid = "changping.changping_community.g07"
    r = admin.post(
        "/v1/schedules",
        json={
            "name": "爱心食堂午餐送餐（e2e）",
            "task_type": "meal_delivery",
            "grid_id": grid,
            "weekdays": [0, 1, 2, 3, 4, 5, 6],
            "start_time": "11:00",
            "duration_minutes": 60,
            "headcount": 1,
            "beneficiary_refs": ["household_e2e_1"],
        },
    )
    assert r.status_code == 201, r.text
    s = r.json()
    assert s["start_time"] == "11:00" and s["required_skills"] == ["meal_delivery"] and s["weekdays"] == list(range(7))
    try:
        occ = wait_for(
            lambda: len((x := admin.get(f"/v1/schedules/{s['id']}").json())["occurrences"]) >= 7 and x, timeout=40
        )["occurrences"]
        assert len({o["occurs_on"] for o in occ}) == len(occ) and all(o["task_id"] for o in occ)
        task = admin.get(f"/v1/tasks/{occ[-1]['task_id']}").json()
        assert task["origin"] == "schedule" and task["task_type"] == "meal_delivery" and task["grid_id"] == grid
        assert s["id"] in {
            x["id"] for x in admin.get("/v1/schedules", params={"area": "changping.changping_community"}).json()
        }
        assert (
            as_(stack, "gm-other", ["grid_manager"], ["changping.kongjiafan.g01"])
            .get(f"/v1/schedules/{s['id']}")
            .status_code
            == 404
        )
        bad = admin.post(
            "/v1/schedules",
            json={
                **{k: s[k] for k in ("name", "task_type", "grid_id", "weekdays")},
                "start_time": "25:00",
                "duration_minutes": 60,
            },
        )
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.start_time"
    finally:
        assert admin.post(f"/v1/schedules/{s['id']}/deactivate").json()["active"] is False

    sub = f"pair-{uuid.uuid4().hex[:6]}"
    v = admin.post(
        "/v1/volunteers", json={"name": "结对志愿者", "roles": ["party_member"], "home_grid": grid, "account_sub": sub}
    ).json()
    past = (date.today() - timedelta(days=10)).isoformat()
    r = admin.post(
        "/v1/pairings",
        json={
            "volunteer_id": v["id"],
            "household_ref": f"household_{sub}",
            "household_name": "刘爷爷",
            "grid_id": grid,
            "every_days": 7,
            "first_visit_on": past,
        },
    )
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["household_name"] is None and p["next_due"] == past
    try:
        assert (
            admin.post(
                "/v1/pairings",
                json={"volunteer_id": v["id"], "household_ref": f"household_{sub}", "grid_id": grid, "every_days": 7},
            ).status_code
            == 409
        )
        assert (
            admin.post(
                "/v1/pairings",
                json={"volunteer_id": v["id"], "household_ref": "王 奶奶", "grid_id": grid, "every_days": 7},
            ).status_code
            == 422
        )
        overdue = {x["id"]: x for x in admin.get("/v1/pairings", params={"overdue": "true"}).json()}
        assert overdue[p["id"]]["overdue"] is True and overdue[p["id"]]["household_name"] is None
        # the timer creates the visit
        visit = wait_for(
            lambda: (x := {y["id"]: y for y in admin.get("/v1/pairings").json()}[p["id"]])["visit_task_id"] and x,
            timeout=40,
        )
        assert visit["visit_status"] in ("offered", "unfilled", "open")
        # with the permission the name is shown; the paired volunteer sees it too
        reader = as_(stack, "ta-reader", ["town_admin"], ["changping"], permissions=["personal_data:read"])
        assert {x["id"]: x for x in reader.get("/v1/pairings").json()}[p["id"]]["household_name"] == "刘爷爷"
        own = as_(stack, sub, ["volunteer"], []).get("/v1/pairings").json()
        assert [(x["id"], x["household_name"]) for x in own] == [(p["id"], "刘爷爷")]
    finally:
        assert admin.post(f"/v1/pairings/{p['id']}/deactivate").json()["active"] is False

"""The operations beside the main loop through HTTP and Kafka, on a cases service whose clock is set to the days
before 国庆 (CASES_CLOCK_FILE): a land dispute suspended across the holiday and extended once, never overdue in
between; a labour dispute returned by the department it went to and dispatched again; a supervised case; a 12345
ticket sent twice that is one case. Each step on gov.cases.v1 in order."""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import datetime, timedelta

import httpx
import pytest

from gov_contracts import topics
from gov_contracts.vocabulary import LOCAL_TZ
from govctl import areas as area_file
from govkit.auth import mint
from tests.integration.conftest import end_offsets, read_topic

from .test_services_and_areas import wait_caught_up

GRID = "changping.kongjiafan.g03"
VILLAGE = "changping.kongjiafan"
BEFORE_HOLIDAY = datetime(2026, 9, 29, 10, 0, tzinfo=LOCAL_TZ)  # a Tuesday; 国庆 is 10-01..10-08
AFTER_HOLIDAY = datetime(2026, 10, 9, 10, 0, tzinfo=LOCAL_TZ)


def set_clock(path, at: datetime) -> None:
    path.write_text(str(at.timestamp() - time.time()))


@pytest.fixture(scope="module")
def services(stack, tmp_path_factory):
    clock = tmp_path_factory.mktemp("clock") / "offset"
    set_clock(clock, BEFORE_HOLIDAY)
    saved = {k: os.environ.get(k) for k in ("CASES_CLOCK_FILE", "CASES_SLA_SWEEP_INTERVAL_S")}
    os.environ.update(CASES_CLOCK_FILE=str(clock), CASES_SLA_SWEEP_INTERVAL_S="0.5")
    try:
        stack.stop_services()
        stack.start_services(say=lambda *_: None)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    area_file.publish(stack.bootstrap, area_file.DEFAULT_FILE)
    stack.wait_areas("cases", 137)
    wait_caught_up(stack)
    yield stack, clock
    stack.stop_services()


def client(stack, sub, roles, areas):
    token = mint(key=stack.state["jwt_secret"], sub=sub, roles=roles, areas=areas)
    return httpx.Client(base_url=stack.url("cases"), headers={"authorization": f"Bearer {token}"}, timeout=20)


def ok(r: httpx.Response, status: int = 200) -> dict:
    assert r.status_code == status, r.text
    return r.json()


def report(c: httpx.Client, category: str, title: str) -> dict:
    body = {"category": category, "title": title, "description": title + "，请求处理。", "grid_id": GRID}
    return ok(c.post("/v1/cases", json=body), 201)


def case_events(stack, start, case_id: str, expect: int) -> list[tuple[str, dict]]:
    records = asyncio.run(read_topic(stack.bootstrap, topics.CASES, expect=10_000, timeout=6, start=start))
    mine = [r for r in records if r.key and r.key.decode() == case_id]
    out = [(dict(r.headers)["ce_type"].decode(), json.loads(r.value)) for r in mine]
    assert len(out) >= expect, [t for t, _ in out]
    return out


def at(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(LOCAL_TZ)


def test_a_case_suspended_across_national_day_and_extended_once_is_never_overdue(services):
    stack, clock = services
    gm = client(stack, "gm-3", ["grid_manager"], [GRID])
    va = client(stack, "va-1", ["village_admin"], [VILLAGE])
    ta = client(stack, "ta-1", ["town_admin"], ["changping"])
    start = asyncio.run(end_offsets(stack.bootstrap, topics.CASES))

    case = report(gm, "dispute.land", "孔家畈村三组山林边界纠纷待法院确权")
    number = case["number"]
    ok(va.post(f"/v1/cases/{number}/accept"))
    ok(va.post(f"/v1/cases/{number}/dispatch", json={"unit_level": "village", "unit_id": VILLAGE}))
    started = ok(va.post(f"/v1/cases/{number}/start"))
    due = at(started["resolve_due"])
    # dispute.land: 168 hours from acceptance, 10-06 (inside the holiday)
    assert abs(due - (BEFORE_HOLIDAY + timedelta(hours=168))) < timedelta(seconds=30)

    asked = ok(
        va.post(
            f"/v1/cases/{number}/request_suspension",
            json={"reason": "等待法院确权判决", "due": AFTER_HOLIDAY.isoformat()},
        )
    )
    assert asked["pending_request"]["kind"] == "suspension" and asked["status"] == "in_progress"
    refused = va.post(f"/v1/cases/{number}/approve_suspension")  # the village asked: the town decides
    assert refused.status_code == 403 and "town level" in refused.json()["detail"]
    in_chinese = va.post(f"/v1/cases/{number}/approve_suspension", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert in_chinese.status_code == 403 and in_chinese.headers["content-language"] == "zh-CN"
    assert (in_chinese.json()["title"], in_chinese.json()["detail"]) == (
        "无权操作",
        "村（社区）级案件的缓办申请由镇级或以上审批",
    )
    suspended = ok(ta.post(f"/v1/cases/{number}/approve_suspension"))
    assert suspended["status"] == "suspended" and suspended["suspension"]["resumes_to"] == "in_progress"
    assert suspended["allowed_actions"] == ["resume", "supervise"]

    # ten days pass in the service's clock, the old deadline among them; the sweep runs every 0.5 s
    set_clock(clock, AFTER_HOLIDAY)
    time.sleep(2)
    still = ok(gm.get(f"/v1/cases/{number}"))
    assert (still["status"], still["overdue"], still["level"]) == ("suspended", False, "village")

    resumed = ok(va.post(f"/v1/cases/{number}/resume"))
    stood = timedelta(seconds=resumed["suspended_seconds"])
    assert timedelta(days=10) - timedelta(minutes=1) < stood < timedelta(days=10) + timedelta(minutes=1)
    assert resumed["status"] == "in_progress"
    assert abs(at(resumed["resolve_due"]) - (due + stood)) < timedelta(seconds=1)  # 10-16

    new_due = (AFTER_HOLIDAY + timedelta(days=14)).isoformat()
    ok(va.post(f"/v1/cases/{number}/request_extension", json={"reason": "判决后需重新测绘", "due": new_due}))
    extended = ok(ta.post(f"/v1/cases/{number}/approve_extension"))
    assert extended["extensions"] == 1 and at(extended["resolve_due"]) == at(new_due)
    assert extended["pending_request"] is None and not extended["overdue"]

    timeline = [e["what"] for e in ok(gm.get(f"/v1/cases/{number}/timeline"))]
    for step in ("request_suspension", "approve_suspension", "resume", "request_extension", "approve_extension"):
        assert step in timeline
    assert "overdue" not in timeline

    events = case_events(stack, start, case["id"], 9)
    types = [t.removeprefix("gov.case.").removesuffix(".v1") for t, _ in events]
    assert types == [
        "reported.v2",
        "accepted",
        "dispatched",
        "started",
        "suspension_requested",
        "suspension_decided",
        "resumed",
        "extension_requested",
        "extension_decided",
    ]
    decided = events[-1][1]
    assert decided["approved"] is True and decided["extensions"] == 1
    assert at(decided["resolve_due"]) == at(new_due) and at(decided["previous_due"]) == at(resumed["resolve_due"])
    assert events[6][1]["suspended_seconds"] == resumed["suspended_seconds"]


def test_a_returned_case_is_dispatched_again_and_a_supervised_one_tells_its_unit(services):
    stack, clock = services
    set_clock(clock, AFTER_HOLIDAY)
    gm = client(stack, "gm-3", ["grid_manager"], [GRID])
    ta = client(stack, "ta-1", ["town_admin"], ["changping"])
    county = client(stack, "ca-1", ["county_admin"], ["changping"])
    handler = client(stack, "labor-1", ["department"], [])
    start = asyncio.run(end_offsets(stack.bootstrap, topics.CASES))

    case = report(gm, "dispute.labor", "长坪镇某工地拖欠农民工工资")
    number = case["number"]
    ok(ta.post(f"/v1/cases/{number}/accept"))
    sent = {"unit_level": "town", "unit_id": "dept.housing", "assignee": "labor-1"}
    ok(ta.post(f"/v1/cases/{number}/dispatch", json=sent))
    missing = handler.post(f"/v1/cases/{number}/return", json={})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "body.reason"
    returned = ok(handler.post(f"/v1/cases/{number}/return", json={"reason": "欠薪纠纷应由人社部门办理"}))
    assert (returned["status"], returned["assigned_unit"], returned["returns"]) == ("accepted", None, 1)
    assert handler.get(f"/v1/cases/{number}").status_code == 404  # no longer theirs
    again = ok(ta.post(f"/v1/cases/{number}/dispatch", json={"unit_level": "town", "unit_id": "dept.labor"}))
    assert (again["status"], again["assigned_unit"], again["returns"]) == ("dispatched", "dept.labor", 1)

    note = "请人社部门三日内反馈办理进展"
    report_by = (AFTER_HOLIDAY + timedelta(days=3)).isoformat()
    refused = ta.post(f"/v1/cases/{number}/supervise", json={"reason": note})
    assert refused.status_code == 403  # the case is at town level: the county supervises it
    supervised = ok(county.post(f"/v1/cases/{number}/supervise", json={"reason": note, "due": report_by}))
    assert supervised["supervision"]["level"] == "county" and supervised["status"] == "dispatched"

    events = case_events(stack, start, case["id"], 6)
    types = [t for t, _ in events]
    assert types[-3:] == ["gov.case.returned.v1", "gov.case.dispatched.v1", "gov.case.supervised.v1"]
    returned_event = events[-3][1]
    assert (returned_event["unit_id"], returned_event["returns"], returned_event["status"]) == (
        "dept.housing",
        1,
        "accepted",
    )
    supervised_event = events[-1][1]
    assert (supervised_event["assigned_unit"], supervised_event["supervising_level"], supervised_event["reason"]) == (
        "dept.labor",
        "county",
        note,
    )


def test_a_ticket_sent_twice_is_one_case_and_its_call_back_is_recorded(services):
    stack, clock = services
    set_clock(clock, AFTER_HOLIDAY)
    hotline = client(stack, "hotline-12345", ["hotline"], [])
    gm = client(stack, "gm-3", ["grid_manager"], [GRID])
    va = client(stack, "va-1", ["village_admin"], [VILLAGE])
    va2 = client(stack, "va-2", ["village_admin"], [VILLAGE])
    start = asyncio.run(end_offsets(stack.bootstrap, topics.CASES))
    ticket = {
        "category": "environment.sanitation",
        "title": "孔家畈村三组垃圾池满溢",
        "description": "12345热线转办：村民反映三组垃圾池三天未清运，气味很大。",
        "grid_id": GRID,
        "reporter_name": "张某",
        "reporter_phone": "13900001111",
        "external_source": "12345",
        "external_id": "GD-2026-100001",
    }
    first = hotline.post("/v1/cases/tickets", json=ticket)
    assert first.status_code == 201, first.text
    second = hotline.post("/v1/cases/tickets", json={**ticket, "description": ticket["description"] + "（重复转办）"})
    assert second.status_code == 200 and second.json()["id"] == first.json()["id"]
    case = first.json()
    assert case["ticket"] == {
        "source": "12345",
        "external_id": "GD-2026-100001",
        "callback_result": None,
        "callback_at": None,
    }
    assert case["source"] == "hotline"
    number = case["number"]
    early = hotline.post(f"/v1/cases/{number}/callback", json={"result": "satisfied"})
    assert early.status_code == 409  # not resolved yet
    for action in ("accept", "start"):
        if action == "start":
            ok(gm.post(f"/v1/cases/{number}/dispatch", json={"unit_level": "grid", "unit_id": GRID}))
        ok(gm.post(f"/v1/cases/{number}/{action}"))
    ok(gm.post(f"/v1/cases/{number}/resolve", json={"resolution": "已组织清运并消毒"}))
    ok(va.post(f"/v1/cases/{number}/verify"))
    ok(va2.post(f"/v1/cases/{number}/close"))
    unreachable = ok(hotline.post(f"/v1/cases/{number}/callback", json={"result": "unreachable"}))
    assert unreachable["ticket"]["callback_result"] == "unreachable"
    reached = ok(hotline.post(f"/v1/cases/{number}/callback", json={"result": "satisfied", "note": "群众表示满意"}))
    assert reached["ticket"]["callback_result"] == "satisfied"
    assert hotline.post(f"/v1/cases/{number}/callback", json={"result": "unsatisfied"}).status_code == 409

    events = case_events(stack, start, case["id"], 9)
    reported = events[0][1]
    assert (reported["external_source"], reported["external_id"]) == ("12345", "GD-2026-100001")
    assert [t for t, _ in events].count("gov.case.reported.v2") == 1
    callbacks = [p for t, p in events if t == "gov.case.callback_recorded.v1"]
    assert [c["result"] for c in callbacks] == ["unreachable", "satisfied"]
    assert all(c["external_id"] == "GD-2026-100001" for c in callbacks)
    raw = json.dumps([p for _, p in events], ensure_ascii=False)
    assert "张某" not in raw and "13900001111" not in raw

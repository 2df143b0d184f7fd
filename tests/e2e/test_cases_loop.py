"""The closed loop through HTTP and Kafka: a land dispute in a Kongjiafan grid
is reported by a resident, escalates once by deadline to the village, is
dispatched, resolved, verified by someone else, closed and rated; every step
is on the timeline and on gov.cases.v1, and a task's progress shows up too."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime

import httpx
import pytest
import yaml
from shapely.geometry import shape

from gov_contracts import CloudEvent, topics
from gov_contracts.tasks import TaskAssigned
from govctl import areas as area_file
from govkit.auth import PERSONAL_DATA, mint
from tests.integration.conftest import end_offsets, read_topic
from tests.integration.kafka_helpers import publish_raw

from .test_services_and_areas import wait_for

GRID = "changping.kongjiafan.g03"
VILLAGE = "changping.kongjiafan"


@pytest.fixture(scope="module")
def cases_stack(stack, tmp_path_factory):
    """The services with a policy whose land-dispute acceptance deadline is 3 seconds."""
    with open(os.path.join(stack.root, "services/cases/config/policy.yaml"), encoding="utf-8") as f:
        policy = yaml.safe_load(f)
    policy["categories"]["dispute.land"]["accept_hours"] = 3 / 3600
    path = tmp_path_factory.mktemp("policy") / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8")
    saved = {k: os.environ.get(k) for k in ("CASES_POLICY_FILE", "CASES_SLA_SWEEP_INTERVAL_S")}
    os.environ.update(CASES_POLICY_FILE=str(path), CASES_SLA_SWEEP_INTERVAL_S="0.5")
    stack.stop_services()
    stack.start_services(say=lambda *_: None)
    area_file.publish(stack.bootstrap, area_file.DEFAULT_FILE)
    wait_for(lambda: httpx.get(stack.url("cases") + "/v1/areas").json()["count"] == 137)
    yield stack
    stack.stop_services()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def client(stack, sub, roles, areas, perms=()):
    token = mint(key=stack.state["jwt_secret"], sub=sub, roles=roles, areas=areas, permissions=list(perms))
    return httpx.Client(base_url=stack.url("cases"), headers={"authorization": f"Bearer {token}"}, timeout=10)


def test_land_dispute_escalates_once_by_deadline_and_is_resolved_and_verified_at_village_level(cases_stack):
    stack = cases_stack
    resident = client(stack, "resident-li", ["resident"], [])
    gm = client(stack, "gm-3", ["grid_manager"], [GRID])
    va1 = client(stack, "va-1", ["village_admin"], [VILLAGE])
    va2 = client(stack, "va-2", ["village_admin"], [VILLAGE])
    auditor = client(stack, "ta-audit", ["town_admin"], ["changping"], [PERSONAL_DATA])
    start = asyncio.run(end_offsets(stack.bootstrap, topics.CASES))

    body = {
        "category": "dispute.land",
        "title": "孔家畈村三组与四组山林边界纠纷",
        "description": "三组村民反映四组在争议山林内砍伐树木，双方多次发生口角，请求调处。",
        "grid_id": GRID,
        "severity": "medium",
        "reporter_name": "李某",
        "reporter_phone": "13812341234",
        "parties": [{"name": "王某"}, {"name": "赵某"}],
        "address": "孔家畈村三组后山",
    }
    r = resident.post("/v1/cases", json=body, headers={"Idempotency-Key": "li-1"})
    assert r.status_code == 201, r.text
    case = r.json()
    cid, number = case["id"], case["number"]
    assert (case["status"], case["level"], case["source"]) == ("reported", "grid", "resident_report")
    assert case["reporter"] is None  # no personal-data permission
    replay = resident.post("/v1/cases", json=body, headers={"Idempotency-Key": "li-1"})
    assert replay.status_code == 200 and replay.json()["id"] == cid

    # nobody accepts within 3 s: the timer escalates it to the village, once
    escalated = wait_for(lambda: (c := gm.get(f"/v1/cases/{number}").json())["level"] == "village" and c, timeout=30)
    assert escalated["status"] == "reported" and escalated["escalations"] == 1 and escalated["overdue"]
    r = gm.post(f"/v1/cases/{number}/accept")
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"

    assert va1.post(f"/v1/cases/{number}/accept").json()["status"] == "accepted"
    r = va1.post(f"/v1/cases/{number}/close")
    assert r.status_code == 409
    problem = r.json()
    assert problem["status_now"] == "accepted" and "dispatch" in problem["allowed_actions"]
    r = va1.post(
        f"/v1/cases/{number}/dispatch", json={"unit_level": "village", "unit_id": VILLAGE, "assignee": "mediator-zhang"}
    )
    assert r.status_code == 200 and r.json()["assigned_unit"] == VILLAGE

    # the volunteers service reports task progress for this case: it lands on the timeline
    ev = TaskAssigned(
        task_id="task-77",
        task_type="dispute_mediation",
        grid_id=GRID,
        status="assigned",
        case_id=cid,
        occurred_at=datetime.now(UTC),
        volunteer_ref="person_abc",
    )
    asyncio.run(
        publish_raw(
            stack.bootstrap,
            topics.TASKS,
            ev.model_dump_json().encode(),
            key=b"task-77",
            headers=CloudEvent(type="gov.task.assigned.v1", source="volunteers", subject="task-77").headers(),
        )
    )

    assert va1.post(f"/v1/cases/{number}/start").json()["status"] == "in_progress"
    assert (
        va1.post(f"/v1/cases/{number}/resolve", json={"resolution": "村调委会组织双方现场指界，签订调解协议"}).json()[
            "status"
        ]
        == "resolved"
    )
    r = va1.post(f"/v1/cases/{number}/verify")
    assert r.status_code == 403 and "verifier" in r.json()["detail"]
    assert va2.post(f"/v1/cases/{number}/verify").json()["status"] == "verified"
    closed = va2.post(f"/v1/cases/{number}/close").json()
    assert (closed["status"], closed["level"], closed["escalations"]) == ("closed", "village", 1)
    rated = resident.post(f"/v1/cases/{number}/satisfaction", json={"score": 5, "note": "很满意"})
    assert rated.json()["satisfaction"] == 5

    timeline = wait_for(
        lambda: (t := gm.get(f"/v1/cases/{cid}/timeline").json()) and any(e["kind"] == "task" for e in t) and t,
        timeout=30,
    )
    steps = [e["what"] for e in timeline if e["kind"] == "transition"]
    assert steps == [
        "report",
        "overdue",
        "escalate",
        "accept",
        "dispatch",
        "start",
        "resolve",
        "verify",
        "close",
        "rate",
    ]
    task = [e for e in timeline if e["kind"] == "task"]
    assert task[0]["what"] == "gov.task.assigned.v1" and task[0]["data"]["task_id"] == "task-77"

    records = asyncio.run(read_topic(stack.bootstrap, topics.CASES, expect=200, timeout=8, start=start))
    mine = [r for r in records if r.key == cid.encode()]
    types = [dict(r.headers)["ce_type"].decode() for r in mine]
    assert types == [
        "gov.case.reported.v2",
        "gov.case.overdue.v1",
        "gov.case.escalated.v1",
        "gov.case.accepted.v1",
        "gov.case.dispatched.v1",
        "gov.case.started.v1",
        "gov.case.resolved.v1",
        "gov.case.verified.v1",
        "gov.case.closed.v1",
        "gov.case.rated.v1",
    ]
    payloads = [json.loads(r.value) for r in mine]
    assert payloads[2]["automatic"] is True and payloads[2]["from_level"] == "grid"
    assert payloads[4]["field_work_task_type"] == "dispute_mediation"
    assert payloads[8]["on_time"] is False  # it missed a deadline on the way
    wire = b"".join(r.value for r in mine).decode()
    assert "13812341234" not in wire and "李某" not in wire and "****" not in wire and "phone" not in wire

    # personal data: only with the permission, and each read is audited
    seen = auditor.get(f"/v1/cases/{number}").json()
    assert seen["reporter"]["phone"] == "13812341234" and seen["reporter"]["name"] == "李某"

    # the list: area subtree, status, category, Chinese text; residents see only their own
    found = va1.get(
        "/v1/cases", params={"area": VILLAGE, "status": "closed", "category": "dispute.land", "q": "山林"}
    ).json()["items"]
    assert cid in [c["id"] for c in found]
    assert [c["id"] for c in resident.get("/v1/cases").json()["items"]] == [cid]
    other = client(stack, "gm-zgp", ["grid_manager"], ["changping.zhongguping.g01"])
    assert other.get(f"/v1/cases/{number}").status_code == 404
    assert cid not in [c["id"] for c in other.get("/v1/cases").json()["items"]]


def test_bad_input_is_a_problem_naming_the_field(cases_stack):
    gm = client(cases_stack, "gm-3", ["grid_manager"], [GRID])
    r = gm.post(
        "/v1/cases",
        json={
            "category": "dispute.land",
            "title": "x题",
            "description": "描述",
            "grid_id": GRID,
            "severity": "apocalyptic",
        },
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.severity"
    r = gm.post("/v1/cases", json={"category": "dispute.moon", "title": "标题", "description": "描述", "grid_id": GRID})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.category"
    r = gm.post(
        "/v1/cases",
        json={"category": "other", "title": "标题", "description": "描述", "grid_id": "changping.kongjiafan.g04"},
    )
    assert r.status_code == 403  # outside the grid manager's scope
    ta = client(cases_stack, "ta-1", ["town_admin"], ["changping"])
    r = ta.post(
        "/v1/cases",
        json={"category": "other", "title": "标题", "description": "描述", "grid_id": "changping.kongjiafan.g99"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.grid_id"
    r = gm.get("/v1/cases", params={"cursor": "garbage"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.cursor"
    # a filter value the policy or the vocabulary does not know is refused as a create refuses it, not an empty page
    r = gm.get("/v1/cases", params={"category": ["dispute.land", "dispute.moon"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.category"
    assert r.json()["detail"] == "query.category: unknown category 'dispute.moon'"
    r = gm.get("/v1/cases", params={"severity": "apocalyptic"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.severity.0"
    assert gm.get("/v1/cases", params={"category": "dispute.land", "severity": "high"}).status_code == 200


def _inside(grid_id: str) -> tuple[float, float]:
    """(lon, lat) of a point inside the grid's demo shape, from the shape itself."""
    events, _ = area_file.load(area_file.DEFAULT_FILE)
    [area] = [e for e in events if e.id == grid_id]
    assert area.geometry is not None
    point = shape(area.geometry.model_dump(mode="json")).representative_point()
    return point.x, point.y


def test_a_case_with_coordinates_and_no_grid_is_placed_in_the_grid_holding_them(cases_stack):
    ta = client(cases_stack, "ta-1", ["town_admin"], ["changping"])
    lon, lat = _inside("changping.zhongguping.g06")
    body = {"category": "other", "title": "路灯不亮", "description": "村口路灯连续三晚不亮"}
    r = ta.post("/v1/cases", json={**body, "lat": lat, "lon": lon})
    assert r.status_code == 201, r.text
    assert r.json()["grid_id"] == "changping.zhongguping.g06"
    # a grid manager may report in their grid by coordinates alone; elsewhere is outside their scope
    gm = client(cases_stack, "gm-3", ["grid_manager"], [GRID])
    g03_lon, g03_lat = _inside(GRID)
    r = gm.post("/v1/cases", json={**body, "title": "井盖缺失", "lat": g03_lat, "lon": g03_lon})
    assert r.status_code == 201 and r.json()["grid_id"] == GRID, r.text
    assert gm.post("/v1/cases", json={**body, "lat": lat, "lon": lon}).status_code == 403
    # outside the town (Beijing): no grid holds the point
    r = ta.post("/v1/cases", json={**body, "lat": 39.9, "lon": 116.4})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.lat", r.text
    # a grid and a point far from it
    r = ta.post("/v1/cases", json={**body, "grid_id": GRID, "lat": lat, "lon": lon})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.lat", r.text
    assert "outside grid changping.kongjiafan.g03" in r.json()["detail"]
    # neither a grid nor both coordinates
    r = ta.post("/v1/cases", json={**body, "lat": lat})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.grid_id", r.text


def test_cursor_pagination_walks_every_case_once(cases_stack):
    ta = client(cases_stack, "ta-1", ["town_admin"], ["changping"])
    for i in range(7):
        assert (
            ta.post(
                "/v1/cases",
                json={
                    "category": "livelihood.request",
                    "title": f"路灯不亮{i}",
                    "description": f"钟鼓坪村{i}组路灯不亮",
                    "grid_id": "changping.zhongguping.g02",
                },
            ).status_code
            == 201
        )
    seen, cursor = [], None
    while True:
        page = ta.get(
            "/v1/cases", params={"area": "changping.zhongguping", "limit": 3, **({"cursor": cursor} if cursor else {})}
        ).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) >= 7


def test_a_petition_gets_working_day_deadlines_from_the_instant_it_is_created(cases_stack):
    """Petitions count working days (15 to accept, 60 to resolve; policy.yaml): the due times through HTTP are the
    calendar's count from the case's own created_at and from its acceptance, to the microsecond."""
    from cases.domain.workdays import WorkCalendar

    calendar = WorkCalendar()  # the stack's override file (services/cases/config/workdays.yaml) marks no day
    ta = client(cases_stack, "ta-1", ["town_admin"], ["changping"])
    r = ta.post(
        "/v1/cases",
        json={
            "category": "petition",
            "title": "孔家畈村村民反映低保评定不公",
            "description": "村民来访反映本组低保评定程序不公开，请求复查。",
            "grid_id": GRID,
            "severity": "medium",
        },
    )
    assert r.status_code == 201, r.text
    case = r.json()
    created = datetime.fromisoformat(case["created_at"])
    accept_due = datetime.fromisoformat(case["accept_due"])
    assert accept_due == calendar.add_working_days(created, 15)
    assert case["resolve_due"] is None
    accepted = ta.post(f"/v1/cases/{case['number']}/accept").json()
    assert accepted["status"] == "accepted"
    resolve_due = datetime.fromisoformat(accepted["resolve_due"])
    assert resolve_due == calendar.add_working_days(datetime.fromisoformat(accepted["updated_at"]), 60)
    # 60 working days are well over 60 calendar days (weekends at least)
    assert (resolve_due - datetime.fromisoformat(accepted["updated_at"])).days >= 80

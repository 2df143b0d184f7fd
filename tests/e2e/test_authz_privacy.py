"""Authorization and privacy against the running services on the throwaway stack (issue 9,
items 9, 10, 11, 13): area scopes of tokens, no phone on the bus, what the public Open311
reads show, and what a dispatched assignee from outside the case's area may do."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
import yaml

from gov_contracts import CloudEvent, topics
from gov_contracts.cases import CaseReported
from gov_contracts.volunteers import VolunteerRegistered
from govkit import db
from govkit.auth import ROLES, mint
from tests.integration.conftest import end_offsets, read_topic
from tests.integration.kafka_helpers import publish_raw

from .test_services_and_areas import wait_caught_up, wait_for

GRID = "changping.kongjiafan.g03"
OTHER_GRID = "changping.zhongguping.g01"
PROBLEM = "application/problem+json"
SECRET_PHONE, SECRET_ID = "13812341234", "420624199001011234"


@pytest.fixture(scope="module")
def services(stack, tmp_path_factory):
    """The services with the shipped policy, except that `other` (其他) is hidden from the public reads."""
    with open(os.path.join(stack.root, "services/cases/config/policy.yaml"), encoding="utf-8") as f:
        policy = yaml.safe_load(f)
    policy["categories"]["other"]["visibility"] = "hidden"
    path = tmp_path_factory.mktemp("policy") / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8")
    saved = os.environ.get("CASES_POLICY_FILE")
    os.environ["CASES_POLICY_FILE"] = str(path)
    try:
        stack.stop_services()
        stack.start_services(say=lambda *_: None)
    finally:
        if saved is None:
            os.environ.pop("CASES_POLICY_FILE", None)
        else:
            os.environ["CASES_POLICY_FILE"] = saved
    from govctl import areas as area_file

    area_file.publish(stack.bootstrap, area_file.DEFAULT_FILE)
    for svc in ("cases", "volunteers", "reporting"):
        stack.wait_areas(svc, 137)
    wait_caught_up(stack)
    yield stack
    stack.stop_services()


def client(stack, svc: str, sub: str, roles: list[str], areas: list[str]) -> httpx.Client:
    token = mint(key=stack.state["jwt_secret"], sub=sub, roles=roles, areas=areas)
    return httpx.Client(base_url=stack.url(svc), headers={"authorization": f"Bearer {token}"}, timeout=15)


def raw_client(stack, svc: str, **claims) -> httpx.Client:
    """A correctly signed token with claims mint() would refuse."""
    body = {"sub": "x", "iss": "changping-gov", "exp": int(time.time()) + 600, **claims}
    token = jwt.encode(body, stack.state["jwt_secret"], algorithm="HS256")
    return httpx.Client(base_url=stack.url(svc), headers={"authorization": f"Bearer {token}"}, timeout=15)


def new_case(c: httpx.Client, category: str, description: str, grid: str = GRID, **extra) -> dict:
    body = {
        "category": category,
        "title": description[:30],
        "description": description,
        "grid_id": grid,
        "severity": "medium",
        "source": "grid_patrol",
        **extra,
    }
    r = c.post("/v1/cases", json=body)
    assert r.status_code == 201, r.text
    return r.json()


# -- item 9: area scopes of tokens ----------------------------------------------------------------------------------


def test_an_empty_or_unknown_area_scope_lists_nothing_anywhere(services):
    stack = services
    town_cases = client(stack, "cases", "ta-9", ["town_admin"], ["changping"])
    town_vols = client(stack, "volunteers", "ta-9", ["town_admin"], ["changping"])
    mine = new_case(town_cases, "hazard.safety", "孔家畈三组电线杆倾斜")
    theirs = new_case(town_cases, "hazard.safety", "钟鼓坪一组路面塌陷", grid=OTHER_GRID)
    start = datetime.now(UTC) + timedelta(days=1)
    for grid in (GRID, OTHER_GRID):
        r = town_vols.post("/v1/volunteers", json={"name": "测试志愿者", "roles": ["party_member"], "home_grid": grid})
        assert r.status_code == 201, r.text
        r = town_vols.post(
            "/v1/tasks",
            json={
                "task_type": "patrol",
                "title": "巡查",
                "grid_id": grid,
                "window_start": start.isoformat(),
                "window_end": (start + timedelta(hours=1)).isoformat(),
            },
        )
        assert r.status_code == 201, r.text

    lists = [
        ("cases", "/v1/cases"),
        ("volunteers", "/v1/volunteers"),
        ("volunteers", "/v1/tasks"),
        ("reporting", "/v1/reports/weekly?area=changping"),
    ]
    for claim, status in (([""], 401), (["changping", ""], 401), (["changping..x"], 401), (["changping.nowhere"], 403)):
        for role in ("town_admin", "analyst"):
            for svc, path in lists:
                r = raw_client(stack, svc, roles=[role], areas=claim).get(path)
                assert r.status_code == status, (claim, role, path, r.text)
                assert r.headers["content-type"] == PROBLEM
                assert r.json()["errors"][0]["field"].startswith("token.areas"), r.text
    # the single read said 404 before; now the token itself is refused the same way
    r = raw_client(stack, "cases", roles=["town_admin"], areas=[""]).get(f"/v1/cases/{mine['id']}")
    assert r.status_code == 401

    # a grid's scope lists its grid only, in every list
    gm_cases = client(stack, "cases", "gm-9", ["grid_manager"], [GRID])
    gm_vols = client(stack, "volunteers", "gm-9", ["grid_manager"], [GRID])
    ids = {c["id"] for c in gm_cases.get("/v1/cases", params={"limit": 100}).json()["items"]}
    assert mine["id"] in ids and theirs["id"] not in ids
    for path in ("/v1/cases", "/v1/tasks", "/v1/volunteers"):
        items = (gm_cases if path == "/v1/cases" else gm_vols).get(path, params={"limit": 100}).json()["items"]
        grids = {i.get("grid_id") or i.get("home_grid") for i in items}
        assert grids == {GRID}, (path, grids)


# -- item 10: no phone on the bus --------------------------------------------------------------------------------


def test_no_phone_goes_onto_the_bus_and_old_records_are_still_read(services):
    stack = services
    start_cases = asyncio.run(end_offsets(stack.bootstrap, topics.CASES))
    start_vols = asyncio.run(end_offsets(stack.bootstrap, topics.VOLUNTEERS))
    case = new_case(
        client(stack, "cases", "ta-10", ["town_admin"], ["changping"]),
        "environment.sanitation",
        "村口垃圾堆放多日",
        reporter_name="李某",
        reporter_phone="7654321",
    )
    r = client(stack, "volunteers", "ta-10", ["town_admin"], ["changping"]).post(
        "/v1/volunteers", json={"name": "张某", "phone": "7654321", "roles": ["party_member"], "home_grid": GRID}
    )
    assert r.status_code == 201, r.text
    volunteer_ref = r.json()["volunteer_ref"]

    def record(topic, start, key_match):
        found = wait_for(
            lambda: [
                rec
                for rec in asyncio.run(read_topic(stack.bootstrap, topic, expect=1000, timeout=3, start=start))
                if key_match(rec)
            ],
            timeout=30,
        )
        return found[0]

    rec = record(topics.CASES, start_cases, lambda rec: rec.key == case["id"].encode())
    assert dict(rec.headers)["ce_type"] == b"gov.case.reported.v2"
    assert b"phone" not in rec.value and b"7654321" not in rec.value and b"****" not in rec.value
    rec = record(topics.VOLUNTEERS, start_vols, lambda rec: volunteer_ref.encode() in rec.value)
    assert dict(rec.headers)["ce_type"] == b"gov.volunteer.registered.v2"
    assert b"phone" not in rec.value and b"7654321" not in rec.value and b"****" not in rec.value

    # records of the old versions, already on the topics, are still applied by reporting
    old_case = CaseReported(
        case_id=str(uuid.uuid4()),
        number="CP-2025-900001",
        category="hazard.safety",
        severity="low",
        grid_id=GRID,
        status="reported",
        level="grid",
        occurred_at=datetime.now(UTC),
        actor="gm-old",
        title="旧版事件",
        source="grid_patrol",
        reporter_ref="person_old",
        reporter_phone_masked="138****1234",
    )
    old_volunteer = VolunteerRegistered(
        volunteer_ref=f"volunteer_old{uuid.uuid4().hex[:8]}",
        roles=["party_member"],
        party_member=True,
        home_grid=GRID,
        skills=[],
        active=True,
        occurred_at=datetime.now(UTC),
        phone_masked="139****5678",
    )
    for topic, event, type_, key in (
        (topics.CASES, old_case, "gov.case.reported.v1", old_case.case_id),
        (topics.VOLUNTEERS, old_volunteer, "gov.volunteer.registered.v1", "v-old"),
    ):
        asyncio.run(
            publish_raw(
                stack.bootstrap,
                topic,
                event.model_dump_json().encode(),
                key=key.encode(),
                headers=CloudEvent(type=type_, source="cases", subject=key).headers(),
            )
        )

    async def projected():
        con = await db.connect(stack.service_dsn("reporting"), "reporting")
        try:
            return (
                await con.fetchval("select number from r_cases where case_id = $1", uuid.UUID(old_case.case_id)),
                await con.fetchval(
                    "select home_grid from r_volunteers where volunteer_ref = $1", old_volunteer.volunteer_ref
                ),
            )
        finally:
            await con.close()

    assert wait_for(lambda: asyncio.run(projected()) == ("CP-2025-900001", GRID) or None, timeout=30)


# -- item 11: the public Open311 reads ---------------------------------------------------------------------------


def test_open311_shows_sensitive_categories_status_only_hides_hidden_ones_and_redacts_the_rest(services):
    stack = services
    staff = client(stack, "cases", "ta-11", ["town_admin"], ["changping"])
    said = f"，联系电话{SECRET_PHONE}，身份证{SECRET_ID}，住三组12号"
    sensitive = {
        "petition": new_case(staff, "petition", "村民王某信访反映低保评定不公" + said, address="三组12号"),
        "dispute.family": new_case(staff, "dispute.family", "赵某子女拒绝赡养老人" + said, address="四组3号"),
        "epidemic": new_case(staff, "epidemic", "李某发热三天未就医" + said, lat=31.7183, lon=111.3508),
        "dispute.neighbor": new_case(staff, "dispute.neighbor", "两户因宅基地滴水发生争吵" + said),
    }
    hidden = new_case(staff, "other", "其他事项" + said)
    public = new_case(
        staff,
        "hazard.safety",
        "村小学旁电线杆倾斜" + said,
        address="村小学旁，电话0710-5551234",
        lat=31.7183,
        lon=111.3508,
    )
    base = stack.url("cases") + "/open311/v2"
    numbers = [c["number"] for c in (*sensitive.values(), hidden, public)]

    listed = {
        r["service_request_id"]: r
        for r in httpx.get(f"{base}/requests.json", params={"service_request_id": ",".join(numbers)}).json()
    }
    recent = {r["service_request_id"]: r for r in httpx.get(f"{base}/requests.json").json()}
    for number in numbers:
        one = httpx.get(f"{base}/requests/{number}.json")
        if number == hidden["number"]:
            assert number not in listed and number not in recent and one.status_code == 404
            continue
        assert one.status_code == 200
        for got in (listed[number], recent[number], one.json()[0]):
            text = json.dumps(got, ensure_ascii=False)
            assert SECRET_PHONE not in text and SECRET_ID not in text and "5551234" not in text
            if number == public["number"]:
                assert (
                    got["description"]
                    == "村小学旁电线杆倾斜，联系电话〔电话已隐去〕，身份证〔身份证号已隐去〕，住三组12号"
                )
                assert got["address"] == "村小学旁，电话〔电话已隐去〕" and got["lat"] == 31.7183
            else:
                assert got["status"] == "open" and got["requested_datetime"] and got["service_code"]
                assert [got[f] for f in ("description", "address", "lat", "long", "media_url")] == [None] * 5
    assert httpx.get(f"{base}/requests.json", params={"service_code": "901"}).json() == []
    xml = httpx.get(f"{base}/requests/{sensitive['petition']['number']}.xml").text
    assert "信访反映" not in xml and SECRET_PHONE not in xml and sensitive["petition"]["number"] in xml
    # staff still read the whole case through the API
    assert SECRET_PHONE in staff.get(f"/v1/cases/{public['id']}").json()["description"]


# -- item 13: the dispatched assignee, for every role -----------------------------------------------------------


@pytest.mark.parametrize("role", sorted(ROLES))
def test_a_dispatched_assignee_of_any_role_reads_starts_and_resolves_and_nothing_else(services, role):
    stack = services
    town = client(stack, "cases", "ta-13", ["town_admin"], ["changping"])
    case = new_case(town, "hazard.safety", f"山体裂缝需镇应急办处置（{role}）")
    assert town.post(f"/v1/cases/{case['id']}/accept", json={}).status_code == 200
    handler = f"dept-handler-{role}"
    r = town.post(
        f"/v1/cases/{case['id']}/dispatch",
        json={"unit_level": "town", "unit_id": "dept.emergency", "assignee": handler},
    )
    assert r.status_code == 200, r.text
    me = client(stack, "cases", handler, [role], [])
    stranger = client(stack, "cases", f"someone-{role}", [role], [])
    cid = case["id"]

    assert me.get(f"/v1/cases/{cid}").status_code == 200
    assert me.get(f"/v1/cases/{case['number']}/timeline").status_code == 200
    assert cid in {c["id"] for c in me.get("/v1/cases", params={"limit": 100}).json()["items"]}
    for action, body in (("escalate", {"reason": "上报"}), ("verify", {}), ("close", {})):
        r = me.post(f"/v1/cases/{cid}/{action}", json=body)
        assert r.status_code == 403 and r.headers["content-type"] == PROBLEM, (action, r.text)
    assert me.post(f"/v1/cases/{cid}/attachments", json={"url": "https://files.example/a.jpg"}).status_code == 403
    r = me.post(f"/v1/cases/{cid}/start", json={})
    assert r.status_code == 200 and r.json()["status"] == "in_progress", r.text
    r = me.post(f"/v1/cases/{cid}/resolve", json={"resolution": "已设置警示标志并完成加固"})
    assert r.status_code == 200 and r.json()["status"] == "resolved", r.text
    assert me.post(f"/v1/cases/{cid}/verify", json={}).status_code == 403  # resolved now: refused by role, not state

    # someone else of the same role and no scope sees nothing of it
    assert stranger.get(f"/v1/cases/{cid}").status_code == 404
    assert stranger.post(f"/v1/cases/{cid}/resolve", json={"resolution": "x"}).status_code == 404
    assert cid not in {c["id"] for c in stranger.get("/v1/cases", params={"limit": 100}).json()["items"]}
    assert town.post(f"/v1/cases/{cid}/verify", json={}).json()["status"] == "verified"

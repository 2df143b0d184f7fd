"""The HTTP edge of the three services as running processes: every input that
once gave a plain-text 500 gets a 4xx problem naming the field; an unexpected
exception gets a 500 problem with the trace id; a database out of reach gets
a 503 with Retry-After."""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest
from pydantic import TypeAdapter, ValidationError

from govctl import areas as area_file
from govctl import postgres, procs
from govctl.ports import free_port
from govkit.auth import mint
from govkit.inputs import AreaId

from .tcp_proxy import TcpProxy

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = "application/problem+json"
OPEN311 = "/open311/v2"
GRID = "changping.kongjiafan.g03"
LONG_LABEL = "a" * 2000
EARLY = "0001-01-01T00:00:00+14:00"


@pytest.fixture(scope="module")
def live(stack):
    stack.start_services(say=lambda *_: None)
    area_file.publish(stack.bootstrap, area_file.DEFAULT_FILE)
    for svc in ("cases", "volunteers", "reporting"):
        stack.wait_areas(svc, 137)
    yield stack
    stack.stop_services()


def client(stack, svc: str, roles=("town_admin",), areas=("changping",)) -> httpx.Client:
    token = mint(key=stack.state["jwt_secret"], sub=f"edge-{svc}", roles=list(roles), areas=list(areas))
    return httpx.Client(base_url=stack.url(svc), headers={"authorization": f"Bearer {token}"}, timeout=20)


def cursor_at(at: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([at, str(uuid.uuid4())]).encode()).decode()


def assert_problem(r: httpx.Response, field: str, status: int = 422) -> dict:
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:300]}"
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["status"] == status
    assert body["detail"].startswith(f"{field}:"), body
    assert field in [e["field"] for e in body["errors"]], body
    return body


def assert_open311_error(r: httpx.Response, field: str) -> None:
    assert r.status_code == 400, f"{r.request.url}: {r.status_code} {r.text[:300]}"
    assert r.headers["content-type"].startswith("application/json")
    [error] = r.json()
    assert error["code"] == 400 and error["description"].startswith(f"{field}:"), error


CASE = {"category": "dispute.land", "title": "山林边界纠纷", "description": "两组村民为山林边界争执", "grid_id": GRID}
TASK = {
    "task_type": "meal_delivery",
    "title": "送餐",
    "grid_id": GRID,
    "window_start": "2026-12-01T11:00:00+08:00",
    "window_end": "2026-12-01T12:00:00+08:00",
}
VOLUNTEER = {"name": "张建国", "roles": ["mediator"], "home_grid": GRID}

# (service, method, path, query, json body, field the problem must name)
REFUSED = [
    # NUL characters, which PostgreSQL cannot store in text
    ("cases", "POST", "/v1/cases", None, {**CASE, "title": "山林\u0000纠纷"}, "body.title"),
    ("cases", "POST", "/v1/cases", None, {**CASE, "tags": ["ok", "a\u0000"]}, "body.tags.1"),
    ("cases", "GET", "/v1/cases", {"q": "a\u0000b"}, None, "query.q"),
    ("cases", "GET", "/v1/cases/a%00b", None, None, "path.case_ref"),
    ("cases", "GET", "/v1/cases/a%00b/timeline", None, None, "path.case_ref"),
    ("cases", "POST", "/v1/cases/CP-2026-000001/reject", None, {"reason": "\u0000"}, "body.reason"),
    ("volunteers", "POST", "/v1/volunteers", None, {**VOLUNTEER, "name": "张\u0000"}, "body.name"),
    ("volunteers", "POST", "/v1/tasks", None, {**TASK, "title": "送餐\u0000"}, "body.title"),
    ("volunteers", "GET", "/v1/tasks", {"status": "open\u0000"}, None, "query.status"),
    ("volunteers", "GET", "/v1/offers", {"status": "\u0000"}, None, "query.status"),
    # area paths the old patterns let through and ltree refuses
    ("cases", "GET", "/v1/cases", {"area": "changping..x"}, None, "query.area"),
    ("cases", "GET", "/v1/cases", {"area": "changping."}, None, "query.area"),
    ("cases", "GET", "/v1/cases", {"area": LONG_LABEL}, None, "query.area"),
    ("cases", "POST", "/v1/cases", None, {**CASE, "grid_id": f"changping.kongjiafan.{LONG_LABEL}"}, "body.grid_id"),
    ("reporting", "GET", "/v1/reports/weekly", {"area": "changping..x"}, None, "query.area"),
    ("reporting", "GET", "/v1/reports/weekly", {"area": "changping."}, None, "query.area"),
    ("reporting", "GET", "/v1/reports/livelihood", {"area": LONG_LABEL}, None, "query.area"),
    ("volunteers", "GET", "/v1/volunteers", {"area": LONG_LABEL}, None, "query.area"),
    ("volunteers", "GET", "/v1/schedules", {"area": LONG_LABEL}, None, "query.area"),
    ("volunteers", "GET", "/v1/pairings", {"area": LONG_LABEL}, None, "query.area"),
    (
        "volunteers",
        "POST",
        "/v1/tasks",
        None,
        {**TASK, "grid_id": f"changping.kongjiafan.{LONG_LABEL}"},
        "body.grid_id",
    ),
    # dates and weeks outside what the services (and Python's datetime) can compute with
    ("cases", "GET", "/v1/cases", {"from": EARLY}, None, "query.from"),
    ("cases", "GET", "/v1/cases", {"to": "9999-12-31T23:59:59-14:00"}, None, "query.to"),
    ("cases", "GET", "/v1/cases", {"cursor": cursor_at(EARLY)}, None, "query.cursor"),
    ("volunteers", "GET", "/v1/tasks", {"cursor": cursor_at(EARLY)}, None, "query.cursor"),
    ("volunteers", "GET", "/v1/volunteers", {"cursor": cursor_at(EARLY)}, None, "query.cursor"),
    (
        "volunteers",
        "POST",
        "/v1/tasks",
        None,
        {**TASK, "window_start": "9999-12-31T11:00:00+08:00", "window_end": "9999-12-31T23:00:00-08:00"},
        "body.window_start",
    ),
    ("reporting", "GET", "/v1/reports/weekly", {"area": "changping", "week": "9999-W52"}, None, "query.week"),
    ("reporting", "GET", "/v1/reports/weekly.csv", {"area": "changping", "week": "0001-W01"}, None, "query.week"),
    (
        "reporting",
        "GET",
        "/v1/reports/livelihood",
        {"area": "changping", "from": "0001-01-01", "to": "9999-12-31"},
        None,
        "query.from",
    ),
    # not a 500, but the same rule: a period that ends before it starts names `from`
    (
        "reporting",
        "GET",
        "/v1/reports/livelihood",
        {"area": "changping", "from": "2026-11-30", "to": "2026-11-01"},
        None,
        "query.from",
    ),
]


def test_inputs_that_gave_plain_text_500s_are_problems_naming_the_field(live):
    clients = {svc: client(live, svc) for svc in ("cases", "volunteers", "reporting")}
    failures = []
    for svc, method, path, query, body, field in REFUSED:
        try:
            assert_problem(clients[svc].request(method, path, params=query, json=body), field)
        except (AssertionError, KeyError, ValueError, httpx.HTTPError) as e:
            failures.append(f"{svc} {method} {path} {str(query)[:80]}: {str(e)[:300]}")
    assert not failures, "\n".join(failures)


def test_leave_and_pairing_dates_are_bounded(live):
    vols = client(live, "volunteers")
    r = vols.post("/v1/volunteers", json={**VOLUNTEER, "name": "边界测试"})
    assert r.status_code == 201, r.text
    vid = r.json()["id"]
    r = vols.post(f"/v1/volunteers/{vid}/leave", json={"starts_at": EARLY, "ends_at": "2026-01-01T00:00:00+08:00"})
    assert_problem(r, "body.starts_at")
    r = vols.post(
        "/v1/pairings",
        json={
            "volunteer_id": vid,
            "household_ref": "household_edge",
            "grid_id": GRID,
            "every_days": 7,
            "first_visit_on": "9999-12-31",
        },
    )
    assert_problem(r, "body.first_visit_on")
    # the bounds are wide enough for real use
    r = vols.post(
        f"/v1/volunteers/{vid}/leave",
        json={"starts_at": "2026-12-01T00:00:00+08:00", "ends_at": "2026-12-02T00:00:00+08:00"},
    )
    assert r.status_code == 204, r.text


def test_open311_answers_bad_input_in_its_own_error_shape(live):
    base = live.url("cases") + OPEN311
    assert_open311_error(httpx.get(base + "/requests.json", params={"start_date": "0001-01-01T00:00:00"}), "start_date")
    assert_open311_error(
        httpx.get(base + "/requests.json", params={"end_date": "9999-12-31T23:59:59-14:00"}), "end_date"
    )
    assert_open311_error(
        httpx.get(base + "/requests.json", params={"service_request_id": "CP\u00001"}), "service_request_id"
    )
    assert_open311_error(httpx.get(base + "/requests/CP%00.json"), "service_request_id")
    form = {
        "api_key": "x",
        "service_code": "103",
        "description": "山林\u0000纠纷",
        "attribute[grid_id]": GRID,
        "address_string": "三组后山",
    }
    assert_open311_error(httpx.post(base + "/requests.json", data=form), "description")


def test_nul_in_a_csv_import_is_a_row_error(live):
    vols = client(live, "volunteers")
    run = uuid.uuid4().hex[:8]
    csv = (
        f"external_id,name,roles,home_grid\nEDGE-{run}-1,张\x00三,mediator,{GRID}\nEDGE-{run}-2,李四,mediator,{GRID}\n"
    )
    r = vols.post("/v1/volunteers/import", content=csv.encode(), headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["created"] == 1 and report["failed"] == 1
    assert report["errors"][0]["line"] == 2 and report["errors"][0]["field"] == "name"


def test_a_valid_request_still_works_with_every_check_in_place(live):
    cases = client(live, "cases")
    r = cases.post("/v1/cases", json=CASE)
    assert r.status_code == 201, r.text
    r = cases.get(
        "/v1/cases", params={"area": "changping.kongjiafan", "q": "山林", "from": "2000-01-01T00:00:00Z", "limit": 1}
    )
    assert r.status_code == 200 and r.json()["items"], r.text
    page2 = cases.get("/v1/cases", params={"cursor": r.json()["next_cursor"]}) if r.json()["next_cursor"] else None
    assert page2 is None or page2.status_code == 200
    assert (
        client(live, "reporting")
        .get("/v1/reports/weekly", params={"area": "changping", "week": "2026-W48"})
        .status_code
        == 200
    )


@pytest.mark.parametrize(
    "text", ["changping", "changping.kongjiafan.g03", "a-b_c.D9", "x" * 255, ".".join(["abc"] * 60), "ab." + "c" * 250]
)
async def test_every_area_id_the_type_accepts_is_a_valid_ltree(stack, text):
    try:
        TypeAdapter(AreaId).validate_python(text)
    except ValidationError:
        return
    con = await asyncpg.connect(stack.service_dsn("cases"))
    try:
        assert await con.fetchval("select $1::ltree::text", text) == text
    finally:
        await con.close()


@pytest.mark.parametrize("text", ["changping..x", "changping.", ".changping", "a" * 2000, "a b", "村", "a\u0000"])
def test_the_area_id_type_refuses_what_ltree_refuses_or_no_area_can_be(text):
    with pytest.raises(ValidationError):
        TypeAdapter(AreaId).validate_python(text)


# -- a real uvicorn process: the last-resort handler and a database out of reach ---------------------------------


@pytest.fixture(scope="module")
def edge_service(stack):
    """The cases service with a failing route, its database reached through a proxy the test can cut,
    and no broker (no request needs one)."""
    proxy = TcpProxy("127.0.0.1", stack.state["postgres"]["port"])
    proxy.open()
    port = free_port()
    env = {
        **os.environ,
        **stack.service_env("cases"),
        "CASES_DATABASE_URL": postgres.dsn(
            user="cases", password=stack.state["passwords"]["cases"], host="127.0.0.1", port=proxy.port
        ),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "CASES_HTTP_PORT": str(port),
    }
    log = stack.logs / "edge-service.log"
    pid = procs.spawn([sys.executable, "-m", "tests.integration.edge_service"], log=log, env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert procs.alive(pid), log.read_text()[-3000:]
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.3)
        yield url, proxy, log
    finally:
        procs.stop(pid, timeout=25)
        proxy.close()


def test_an_unexpected_exception_is_a_500_problem_with_the_trace_id_and_a_logged_stack(edge_service):
    url, _, log = edge_service
    trace_id = uuid.uuid4().hex
    r = httpx.get(url + "/test/unexpected", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    assert r.status_code == 500
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["status"] == 500 and body["trace_id"] == trace_id
    assert "induced" not in r.text  # the exception's text stays in the log
    assert r.headers["traceparent"].startswith(f"00-{trace_id}-")
    deadline = time.monotonic() + 10
    while True:
        lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
        logged = [x for x in lines if x.get("trace_id") == trace_id and "RuntimeError: induced" in x.get("exc", "")]
        if logged:
            break
        assert time.monotonic() < deadline, "the stack was not logged with the trace id"
        time.sleep(0.2)
    assert logged[0]["level"] == "error" and "Traceback" in logged[0]["exc"]


def test_a_database_out_of_reach_is_a_503_with_retry_after_and_recovers(stack, edge_service):
    url, proxy, _ = edge_service
    token = mint(key=stack.state["jwt_secret"], sub="edge-503", roles=["town_admin"], areas=["changping"])
    auth = {"authorization": f"Bearer {token}"}
    assert httpx.get(url + "/v1/cases", headers=auth, timeout=20).status_code == 200
    proxy.close()
    try:
        for path in ("/v1/cases", "/v1/cases/CP-2026-000001", "/v1/areas", f"{OPEN311}/requests.json"):
            r = httpx.get(url + path, headers=auth, timeout=30)
            assert r.status_code == 503, f"{path}: {r.status_code} {r.text[:300]}"
            assert int(r.headers["retry-after"]) > 0
            if not path.startswith(OPEN311):
                assert r.headers["content-type"] == PROBLEM and r.json()["status"] == 503
        r = httpx.post(url + "/v1/cases", headers=auth, json=CASE, timeout=30)
        assert r.status_code == 503 and r.headers["content-type"] == PROBLEM and "retry-after" in r.headers
        r = httpx.get(url + "/readyz", timeout=30)
        assert r.status_code == 503 and "retry-after" in r.headers
    finally:
        proxy.open()
    deadline = time.monotonic() + 30
    while httpx.get(url + "/v1/cases", headers=auth, timeout=20).status_code != 200:
        assert time.monotonic() < deadline, "the service did not recover when the database came back"
        time.sleep(0.5)

"""The five services as processes on the throwaway stack: each keeps its own
copy of the area tree from the compacted topic, and answers health, readiness,
metrics and OpenAPI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import httpx
import pytest

from gov_contracts import topics
from govctl import areas as area_file
from govkit import db
from govkit.areas import AreaRead, tree_checksum
from tests.integration.conftest import end_offsets, group_lag

SERVICES = ("cases", "volunteers", "reporting", "notifications", "livelihood")


@pytest.fixture(scope="module")
def services(stack):
    stack.start_services(say=lambda *_: None)
    try:
        wait_caught_up(stack)  # the modules before leave backlogs: the area tree would queue behind them
        yield stack
    finally:
        stack.stop_services()


def wait_for(check, timeout=60.0, every=0.3):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(every)


def wait_caught_up(stack, timeout=240.0):
    """Until every service's consumer has committed what its topics hold now: the tests before
    may have left a backlog (thousands of replayed events) that a fresh start works through."""
    from cases.app import SPEC as cases_spec
    from livelihood.app import SPEC as livelihood_spec
    from notifications.app import SPEC as notifications_spec
    from reporting.app import SPEC as reporting_spec
    from volunteers.app import SPEC as volunteers_spec

    for spec in (cases_spec, volunteers_spec, reporting_spec, notifications_spec, livelihood_spec):
        wait_for(
            lambda spec=spec: asyncio.run(group_lag(stack.bootstrap, spec.name, spec.all_topics())) == 0,
            timeout=timeout,
            every=1,
        )


def tree(stack, svc):
    return httpx.get(stack.url(svc) + "/v1/areas", timeout=5).json()


async def stored_shapes(stack, svc) -> dict:
    """The geometry column of the service's area copy, by area id (the API does not show shapes yet)."""
    con = await db.connect(stack.service_dsn(svc), svc)
    try:
        rows = await con.fetch("select id, geometry from areas where geometry->>'type' in ('Polygon', 'MultiPolygon')")
    finally:
        await con.close()
    return {r["id"]: r["geometry"] for r in rows}


def counter(stack, svc, name, **labels) -> float:
    text = httpx.get(stack.url(svc) + "/metrics", timeout=5).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_every_service_holds_the_same_area_tree(services):
    stack = services
    events, _ = area_file.load(area_file.DEFAULT_FILE)
    expected = tree_checksum(
        [AreaRead(id=e.id, kind=e.kind.value, name=e.name, parent_id=e.parent_id, invented=e.invented) for e in events]
    )
    assert area_file.publish(stack.bootstrap, area_file.DEFAULT_FILE) == len(events)
    for svc in SERVICES:
        wait_for(lambda svc=svc: tree(stack, svc)["count"] == len(events))
    trees = {svc: tree(stack, svc) for svc in SERVICES}
    assert {t["checksum"] for t in trees.values()} == {expected}
    by_id = {a["id"]: a for a in trees["cases"]["areas"]}
    assert by_id["changping.kongjiafan"]["name"] == "孔家畈村" and not by_id["changping.kongjiafan"]["invented"]
    assert by_id["changping.kongjiafan.g03"]["parent_id"] == "changping.kongjiafan"
    assert by_id["changping.longtan"]["invented"]
    # every copy keeps every area's shape as the file has it (GeoJSON in a jsonb column)
    shapes = {e.id: e.geometry.model_dump(mode="json") for e in events if e.geometry is not None}
    assert len(shapes) == len(events)
    for svc in SERVICES:
        assert asyncio.run(stored_shapes(stack, svc)) == shapes, f"{svc}'s area copy lacks or alters shapes"

    # publishing the same tree again is recognised as duplicates by every inbox
    before = {svc: counter(stack, svc, "gov_events_consumed_total", outcome="duplicate") for svc in SERVICES}
    area_file.publish(stack.bootstrap, area_file.DEFAULT_FILE)
    for svc in SERVICES:
        wait_for(
            lambda svc=svc: (
                counter(stack, svc, "gov_events_consumed_total", outcome="duplicate") >= before[svc] + len(events)
            )
        )
        assert tree(stack, svc)["checksum"] == expected


def test_a_bad_area_file_is_refused_with_the_entry_and_field_and_nothing_is_published(services, tmp_path):
    stack = services
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "areas:\n  - {id: changping, kind: town, name: 长坪镇}\n"
        "  - {id: changping.a, kind: village, name: 甲村}\n"
        "  - {id: changping.g01, kind: grid, name: 错位网格}\n",
        encoding="utf-8",
    )
    before = asyncio.run(end_offsets(stack.bootstrap, topics.AREAS))
    r = subprocess.run(
        [sys.executable, "-m", "govctl", "areas", "publish", str(bad)],
        capture_output=True,
        text=True,
        env={**os.environ, "GOV_HOME": str(stack.home)},
    )
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert "areas[2] (changping.g01)" in lines[0] and "field 'kind'" in lines[0]
    assert asyncio.run(end_offsets(stack.bootstrap, topics.AREAS)) == before


def test_health_readiness_metrics_openapi_and_json_logs_with_trace_ids(services):
    stack = services
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    for svc in SERVICES:
        url = stack.url(svc)
        assert httpx.get(url + "/healthz").json()["status"] == "ok"
        ready = httpx.get(url + "/readyz").json()
        assert ready["checks"] == {"database": "ok", "migrations": "ok", "broker": "ok"}
        r = httpx.get(url + "/v1/areas", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
        assert r.headers["traceparent"].startswith(f"00-{trace_id}-")
        metrics = httpx.get(url + "/metrics").text
        for name in (
            "gov_http_requests_total",
            "gov_events_consumed_total",
            "gov_outbox_backlog",
            "gov_dead_letters_total",
            "gov_consumer_lag",
        ):
            assert name in metrics, f"{svc} /metrics lacks {name}"
        paths = httpx.get(url + "/openapi.json").json()["paths"]
        assert {"/healthz", "/readyz", "/metrics", "/v1/areas"} <= set(paths)
        log_lines = (stack.logs / f"{svc}.log").read_text().splitlines()
        parsed = [json.loads(line) for line in log_lines if line.startswith("{")]
        assert parsed and all({"ts", "level", "service", "msg"} <= set(p) for p in parsed)
        assert any(p.get("trace_id") == trace_id and "/v1/areas" in p["msg"] for p in parsed), (
            f"{svc} logs do not carry the caller's trace id"
        )


def test_readiness_follows_the_broker(services):
    stack = services
    stack.stop_kafka()
    try:

        def not_ready():
            r = httpx.get(stack.url("cases") + "/readyz", timeout=10)
            return r if r.status_code == 503 else None

        r = wait_for(not_ready, timeout=30)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["checks"]["broker"].startswith("unreachable")
        assert httpx.get(stack.url("cases") + "/healthz").status_code == 200
    finally:
        stack.start_kafka()
    wait_for(lambda: httpx.get(stack.url("cases") + "/readyz", timeout=10).status_code == 200, timeout=60)

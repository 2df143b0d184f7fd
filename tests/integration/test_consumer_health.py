"""A stalled consumer is visible: lag measured on a timer from committed vs end
offsets, the stall time growing, /healthz/consumer answering 503 after
CONSUMER_STALL_AFTER_S, and all of it recovering once the partition moves."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest

from gov_contracts import topics
from govctl import areas as area_file
from govkit import metrics
from govkit.consumer import EventConsumer
from govkit.consumer_health import ConsumerMonitor
from govkit.kafka import Producer

from .conftest import ThingHappened
from .kafka_helpers import ce_headers, eventually, publish_raw, running

TYPE = "gov.test.thing_happened.v1"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def producer(stack):
    p = Producer(stack.bootstrap, "test-health")
    yield p
    await p.stop()


def gauge(g, *labels) -> float:
    return g.labels(*labels)._value.get()


async def test_a_partition_stuck_on_a_record_shows_lag_and_a_growing_stall_then_recovers(
    stack, test_topic, cases_pool, producer
):
    stuck = True
    applied = []

    async def handler(con, event, env):
        if stuck:
            raise ConnectionRefusedError("database unreachable")  # transient: retried forever, never skipped
        applied.append(event.seq)

    service = f"health-{uuid.uuid4().hex[:6]}"
    c = EventConsumer(
        service=service,
        group_id=f"g-{uuid.uuid4().hex[:8]}",
        topics=[test_topic],
        pool=cases_pool,
        producer=producer,
        handlers={TYPE: handler},
        max_backoff=0.2,
    )
    monitor = ConsumerMonitor(c, interval=0.3, stall_after=2.0)
    metas = [
        await publish_raw(
            stack.bootstrap,
            test_topic,
            ThingHappened(thing_id="s", seq=i).model_dump_json().encode(),
            key=b"stuck",
            headers=ce_headers(TYPE, subject="stuck"),
        )
        for i in range(3)
    ]
    p = str(metas[0].partition)
    async with running(stack.bootstrap, c):
        monitor.start()
        try:

            async def lag_seen():
                return any(s.partition == metas[0].partition and s.lag == 3 for s in monitor.states)

            await eventually(lag_seen, timeout=30)
            assert gauge(metrics.CONSUMER_LAG, service, test_topic, p) == 3  # today's code read 0 here
            others = [s for s in monitor.states if s.partition != metas[0].partition]
            assert len(others) == 2 and all(s.lag == 0 and s.stalled_s == 0 for s in others)

            first = gauge(metrics.CONSUMER_STALLED, service, test_topic, p)

            async def grows():
                return gauge(metrics.CONSUMER_STALLED, service, test_topic, p) >= first + 1.0

            await eventually(grows, timeout=10)
            stall = next(s for s in monitor.states if s.partition == metas[0].partition)
            assert stall.lag == 3 and stall.next_offset == metas[0].offset
            # the record in the handler is the oldest unprocessed one: its age is at least the stall
            assert stall.oldest_unprocessed_age_s >= stall.stalled_s > 0

            async def reported_stalled():
                return monitor.report()["status"] == "stalled"

            await eventually(reported_stalled, timeout=10)
            report = monitor.report()
            assert f"{test_topic}/{p} stuck at offset {metas[0].offset} for" in report["detail"]
            assert [b["partition"] for b in report["behind"]] == [metas[0].partition]
            assert report["behind"][0]["lag"] == 3 and report["behind"][0]["stalled_s"] >= 2.0
            assert applied == []

            stuck = False

            async def recovered():
                return (
                    monitor.report()["status"] == "ok"
                    and gauge(metrics.CONSUMER_LAG, service, test_topic, p) == 0
                    and gauge(metrics.CONSUMER_STALLED, service, test_topic, p) == 0
                )

            await eventually(recovered, timeout=30)
            assert applied == [0, 1, 2]
            assert gauge(metrics.CONSUMER_OLDEST_UNPROCESSED, service, test_topic, p) == 0
            assert monitor.report()["behind"] == []
        finally:
            await monitor.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def cases_service(stack, tmp_path):
    """The cases service as a process, measuring lag every 0.5 s and calling 3 s without progress a stall."""
    port = free_port()
    env = {
        **os.environ,
        **stack.service_env("cases"),
        "CASES_HTTP_PORT": str(port),
        "CONSUMER_LAG_INTERVAL_S": "0.5",
        "CONSUMER_STALL_AFTER_S": "3",
    }
    log = tmp_path / "cases.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cases", "serve"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5) as client:

            async def ready():
                assert proc.poll() is None, log.read_text()[-2000:]
                try:
                    return (await client.get("/readyz")).status_code == 200
                except httpx.HTTPError:
                    return False

            await eventually(ready, timeout=60, every=0.3)
            yield client
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def metric_values(text: str, name: str, **labels) -> list[float]:
    out = []
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            out.append(float(line.rsplit(" ", 1)[1]))
    return out


async def test_the_service_reports_a_consumer_blocked_on_a_lock_and_recovers(stack, cases_service):
    client = cases_service
    assert (await client.get("/healthz/consumer")).status_code == 200
    admin = await asyncpg.connect(stack.admin_dsn.rsplit("/", 1)[0] + "/gov")
    tx = admin.transaction()
    await tx.start()
    try:
        # every event the service applies writes its inbox row: with the table locked, the handler waits
        await admin.execute("lock table cases.inbox in share mode")
        await asyncio.to_thread(area_file.publish, stack.bootstrap, area_file.DEFAULT_FILE)

        async def unhealthy():
            return (await client.get("/healthz/consumer")).status_code == 503

        await eventually(unhealthy, timeout=30)
        r = await client.get("/healthz/consumer")
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert body["status"] == 503 and body["title"] == "Consumer stalled"
        assert f"{topics.AREAS}/" in body["detail"] and body["stall_after_s"] == 3
        assert body["behind"] and all(b["topic"] == topics.AREAS and b["lag"] > 0 for b in body["behind"])

        ready = await client.get("/readyz")  # the pod keeps serving HTTP; readiness reports the stall
        assert ready.status_code == 200
        assert ready.json()["consumer"]["status"] == "stalled"
        text = (await client.get("/metrics")).text
        assert sum(metric_values(text, "gov_consumer_lag", service="cases", topic=topics.AREAS)) > 0
        assert max(metric_values(text, "gov_consumer_stalled_seconds", service="cases", topic=topics.AREAS)) >= 3
    finally:
        await tx.rollback()
        await admin.close()

    async def recovered():
        r = await client.get("/healthz/consumer")
        if r.status_code != 200:
            return False
        text = (await client.get("/metrics")).text
        return (
            sum(metric_values(text, "gov_consumer_lag", service="cases", topic=topics.AREAS)) == 0
            and max(metric_values(text, "gov_consumer_stalled_seconds", service="cases", topic=topics.AREAS)) == 0
        )

    await eventually(recovered, timeout=60)
    body = (await client.get("/healthz/consumer")).json()
    assert body["status"] == "ok" and body["behind"] == [] and body["assigned_partitions"] >= 3
    assert (await client.get("/readyz")).json()["consumer"]["status"] == "ok"
    areas = (await client.get("/v1/areas")).json()
    assert areas["count"] == len(area_file.load(area_file.DEFAULT_FILE)[0])

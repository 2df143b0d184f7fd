"""One trace from an HTTP create through Kafka to the projection: the cases service and the reporting service run
in this process (their whole lifespans: pool, relay, consumer) against the session stack, with spans going to the
SDK's in-memory exporter. A case POSTed with a traceparent must reach the reporting projection in the same trace:
HTTP server span -> statements and the outbox insert -> the relay's producer span -> reporting's consumer span ->
the projection's statements."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from aiokafka import ConsumerRecord
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from cases import app as cases_app
from cases import config as cases_config
from govctl import areas as area_file
from govkit import db, service, settings, telemetry
from govkit.auth import mint
from govkit.consumer import EventConsumer
from govkit.kafka import Producer
from reporting import app as reporting_app
from reporting import config as reporting_config

from .conftest import ThingHappened
from .kafka_helpers import ce_headers, eventually

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
GRID = "changping.kongjiafan.g03"
TITLE = "追踪测试：山林边界纠纷"
CASE = {"category": "dispute.land", "title": TITLE, "description": "两组村民为山林边界争执", "grid_id": GRID}


@pytest.fixture
def exporter():
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    telemetry.install(provider)
    yield spans
    telemetry.uninstall()
    provider.shutdown()


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[FastAPI]:
    async with app.router.lifespan_context(app):
        yield app


def hex_id(span_id: int, width: int = 16) -> str:
    return f"{span_id:0{width}x}"


async def test_one_trace_from_an_http_create_through_kafka_to_the_reporting_projection(stack, exporter):
    await asyncio.to_thread(area_file.publish, stack.bootstrap, area_file.DEFAULT_FILE)  # it runs its own loop
    cases_env, reporting_env = stack.service_env("cases"), stack.service_env("reporting")
    cases_settings = settings.load("cases", cases_env)
    reporting_settings = settings.load("reporting", reporting_env)
    cases = service.build_app(cases_app.SPEC, cases_settings, cases_config.configure(cases_settings, cases_env))
    reporting = service.build_app(
        reporting_app.SPEC, reporting_settings, reporting_config.configure(reporting_settings, reporting_env)
    )
    token = mint(key=stack.state["jwt_secret"], sub="tracing-test", roles=["town_admin"], areas=["changping"])
    async with (
        running(cases),
        running(reporting),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=cases),
            base_url="http://cases",
            headers={"authorization": f"Bearer {token}"},
        ) as client,
    ):

        async def areas_known() -> bool:
            return (await client.get("/v1/areas")).json()["count"] >= 137

        await eventually(areas_known, timeout=20)
        r = await client.post("/v1/cases", json=CASE, headers={"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"})
        assert r.status_code == 201, r.text

        def projected() -> list:
            return [
                s
                for s in exporter.get_finished_spans()
                if s.kind == SpanKind.CONSUMER
                and hex_id(s.context.trace_id, 32) == TRACE_ID
                and s.attributes.get("messaging.consumer.group.name") == "reporting"
                and str(s.attributes.get("cloudevents.event_type", "")).startswith("gov.case.reported.")
            ]

        async def reached_reporting() -> bool:
            return bool(projected())

        await eventually(reached_reporting, timeout=20)

    ours = [s for s in exporter.get_finished_spans() if hex_id(s.context.trace_id, 32) == TRACE_ID]
    by_id = {s.context.span_id: s for s in ours}

    [http] = [s for s in ours if s.kind == SpanKind.SERVER]
    assert http.name == "POST /v1/cases"
    assert http.attributes["http.route"] == "/v1/cases" and http.attributes["http.response.status_code"] == 201
    assert hex_id(http.parent.span_id) == CALLER_SPAN
    assert r.headers["traceparent"] == f"00-{TRACE_ID}-{hex_id(http.context.span_id)}-01"

    statements = [s for s in ours if s.kind == SpanKind.CLIENT and s.parent.span_id == http.context.span_id]
    names = [s.name for s in statements]
    # the grid check, then the create: the case, its timeline and its outbox row in one statement (CREATE_CASE)
    assert "SELECT areas" in names and any(s.attributes["db.operation.name"] == "WITH" for s in statements), names
    assert all(s.attributes["db.system"] == "postgresql" for s in statements)
    assert not any(TITLE in " ".join(map(str, s.attributes.values())) for s in ours)  # no parameter values

    [publish] = [s for s in ours if s.kind == SpanKind.PRODUCER and s.name.startswith("publish gov.case.reported.")]
    assert publish.parent.span_id == http.context.span_id
    assert publish.attributes["messaging.destination.name"] == "gov.cases.v1"

    [consumed] = projected()
    assert consumed.name == f"process {consumed.attributes['cloudevents.event_type']}"
    assert consumed.attributes["messaging.destination.name"] == "gov.cases.v1"
    assert consumed.attributes["messaging.kafka.offset"] >= 0
    chain, span = [], consumed
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        chain.append(span.kind)
    assert chain == [SpanKind.PRODUCER, SpanKind.SERVER]
    # the projection's statements are in the consumer span
    assert any(s.kind == SpanKind.CLIENT and s.parent.span_id == consumed.context.span_id for s in ours)
    # and the batch's own transaction (inbox claim, commit) links to the record's trace
    batches = [
        s
        for s in exporter.get_finished_spans()
        if s.name == "process batch" and any(link.context.span_id == publish.context.span_id for link in s.links)
    ]
    assert batches and any(
        s.kind == SpanKind.CLIENT and s.parent is not None and s.parent.span_id == batches[0].context.span_id
        for s in exporter.get_finished_spans()
    )


THING = "gov.test.thing_happened.v1"


def thing_record(topic: str, offset: int, traceparent: str | None) -> ConsumerRecord:
    value = ThingHappened(thing_id="t", seq=offset).model_dump_json().encode()
    headers = ce_headers(THING, subject="t", traceparent=traceparent)
    return ConsumerRecord(topic, 0, offset, 0, 0, b"t", value, None, 1, len(value), headers)


async def test_a_consumer_traces_each_record_and_the_statements_of_its_batch(stack, test_topic, exporter):
    # the pool opens after tracing is on: its connections trace their statements
    pool = await db.create_pool(stack.service_dsn("cases"), "cases", max_size=2)
    producer = Producer(stack.bootstrap, "test-tracing")
    table = f"traced_{uuid.uuid4().hex[:8]}"
    await pool.execute(f"create table {table} (event_id text, seq int)")

    async def handler(con, event, envelope):
        await con.execute(f"insert into {table} (event_id, seq) values ($1, $2)", envelope.id, event.seq)

    consumer = EventConsumer(
        service="test",
        group_id=f"g-{uuid.uuid4().hex[:8]}",
        topics=[test_topic],
        pool=pool,
        producer=producer,
        handlers={THING: handler},
    )
    parents = [f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01" for _ in range(3)]
    try:
        # record by record: the consumer span holds the record's whole transaction
        assert await consumer.process(thing_record(test_topic, 0, parents[0])) == "applied"
        # a batch: a span per record (its handler's statement in it), and the batch's span for the transaction
        batch = [thing_record(test_topic, i, parents[i]) for i in (1, 2)]
        assert await consumer.process_batch(batch) == ["applied", "applied"]
    finally:
        await producer.stop()
        await pool.close()
    spans = exporter.get_finished_spans()
    consumed = [s for s in spans if s.name == f"process {THING}"]
    assert [f"00-{s.context.trace_id:032x}-{s.parent.span_id:016x}-01" for s in consumed] == parents
    assert [s.attributes["messaging.kafka.offset"] for s in consumed] == [0, 1, 2]
    assert consumed[0].attributes["gov.outcome"] == "applied"

    def statements_in(span) -> list[str]:
        return [s.name for s in spans if s.kind == SpanKind.CLIENT and s.parent.span_id == span.context.span_id]

    single = statements_in(consumed[0])
    assert single[0] == "BEGIN" and single[-1] == "COMMIT" and f"INSERT {table}" in single, single
    assert [name for name in statements_in(consumed[1]) if name != "asyncpg type introspection"] == [f"INSERT {table}"]
    [whole] = [s for s in spans if s.name == "process batch"]
    assert whole.attributes["messaging.batch.message_count"] == 2
    assert sorted(link.context.span_id for link in whole.links) == sorted(s.parent.span_id for s in consumed[1:])
    in_batch = statements_in(whole)
    assert in_batch[0] == "BEGIN" and in_batch[-1] == "COMMIT" and any("inbox" in n for n in in_batch), in_batch

"""govkit.telemetry without a stack: the HTTP server span and govkit.tracing agreeing with it, statement spans
without values, the relay's producer spans, consumer spans, the OTEL_* settings; and with tracing off, nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from aiokafka import ConsumerRecord
from asyncpg.connection import LoggedQuery
from fastapi import APIRouter, FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from gov_contracts import CloudEvent
from govkit import service, settings, telemetry, tracing

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
INCOMING = f"00-{TRACE_ID}-{PARENT_ID}-01"
SECRET = "13912345678 张三"  # a parameter value: never in a span
ENV = {"CASES_DATABASE_URL": "postgresql://cases:pw@127.0.0.1:5432/gov", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092"}


@pytest.fixture
def exporter():
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    telemetry.install(provider)
    yield spans
    telemetry.uninstall()
    provider.shutdown()


def small_app() -> tuple[FastAPI, dict]:
    """A service as build_app assembles it (its lifespan is not run: these routes need no pool)."""
    router = APIRouter()
    seen: dict = {}

    @router.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict:
        seen["trace"] = tracing.current.get()
        seen["otel"] = trace.get_current_span().get_span_context()
        seen["cause"] = tracing.current_traceparent()
        return {"id": thing_id}

    @router.get("/broken")
    async def broken() -> dict:
        raise RuntimeError("induced")

    spec = service.ServiceSpec(name="cases", title="t", description="d", migrations_dir=Path("."), routers=[router])
    return service.build_app(spec, settings.load("cases", ENV)), seen


async def get(app: FastAPI, path: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.get(path, headers=headers)


def statement(query: str, exception: BaseException | None = None) -> LoggedQuery:
    return LoggedQuery(
        query=query,
        args=(SECRET, 42),
        timeout=None,
        elapsed=0.002,
        exception=exception,
        conn_addr=("127.0.0.1", 5432),
        conn_params=cast(Any, SimpleNamespace(database="gov")),
    )


def envelope(traceparent: str | None = INCOMING) -> CloudEvent:
    return CloudEvent(type="gov.case.reported.v2", source="cases", subject="c-1", traceparent=traceparent)


def record(topic: str = "gov.cases.v1") -> ConsumerRecord:
    return ConsumerRecord(topic, 2, 41, 0, 0, b"c-1", b"{}", None, 3, 2, [])


def values_of(span) -> str:
    return " ".join(str(v) for v in span.attributes.values())


async def test_tracing_off_exports_nothing_and_requests_work(monkeypatch):
    # anything reaching for OpenTelemetry's global provider would record here
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    assert telemetry.setup("cases", settings.load("cases", ENV)) is None
    assert telemetry.tracer is None

    app, seen = small_app()
    r = await get(app, "/things/7", traceparent=INCOMING)
    assert r.status_code == 200 and r.json() == {"id": "7"}
    assert r.headers["traceparent"].split("-")[1] == TRACE_ID  # the trace id still travels
    assert seen["trace"].trace_id == TRACE_ID and not seen["trace"].is_span
    assert seen["cause"] != seen["trace"].traceparent  # events get a span id of their own, as before
    assert not seen["otel"].is_valid

    telemetry.statement_logged(statement("select 1"))
    records = [("gov.cases.v1", b"k", b"{}", [("traceparent", INCOMING.encode())])]
    assert telemetry.publishing(records) == (records, [])
    assert spans.get_finished_spans() == ()


async def test_a_request_is_a_server_span_in_the_callers_trace_and_the_logs_show_it(exporter):
    app, seen = small_app()
    r = await get(app, "/things/7", traceparent=INCOMING)
    assert r.status_code == 200
    [span] = exporter.get_finished_spans()
    assert span.kind == SpanKind.SERVER
    assert span.name == "GET /things/{thing_id}"
    assert dict(span.attributes) == {
        "http.request.method": "GET",
        "http.route": "/things/{thing_id}",
        "http.response.status_code": 200,
    }
    assert f"{span.context.trace_id:032x}" == TRACE_ID
    assert f"{span.parent.span_id:016x}" == PARENT_ID
    span_id = f"{span.context.span_id:016x}"
    # govkit.tracing (the logs' trace_id and span_id), OpenTelemetry's current span and the response agree
    assert (seen["trace"].trace_id, seen["trace"].span_id) == (TRACE_ID, span_id)
    assert seen["otel"].span_id == span.context.span_id
    assert r.headers["traceparent"] == f"00-{TRACE_ID}-{span_id}-01"
    # an event written in the request names the request's span as its cause
    assert seen["cause"] == f"00-{TRACE_ID}-{span_id}-01"


async def test_a_request_without_traceparent_starts_a_trace_and_a_500_is_an_error(exporter):
    app, _ = small_app()
    r = await get(app, "/broken")
    assert r.status_code == 500
    [span] = exporter.get_finished_spans()
    assert span.parent is None
    assert span.name == "GET /broken"
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["http.response.status_code"] == 500
    assert r.json()["trace_id"] == f"{span.context.trace_id:032x}"


def test_a_statement_is_a_client_span_of_the_current_span_without_values(exporter):
    tracer = trace.get_tracer("tests", tracer_provider=_provider_of(exporter))
    with tracer.start_as_current_span("request") as parent:
        telemetry.statement_logged(statement("insert into outbox (event_id, topic, payload)\n values ($1, $2, $3)"))
        telemetry.statement_logged(statement("BEGIN;"))
        failure = ValueError(f"invalid input syntax for type integer: {SECRET!r}")
        telemetry.statement_logged(statement("update cases set title = $1 where id = $2", failure))
        telemetry.statement_logged(statement("SELECT pg_advisory_unlock_all();\nCLOSE ALL;"))  # the pool's reset
    telemetry.statement_logged(statement("select count(*) from outbox"))  # no current span: not traced
    insert, begin, update = (s for s in exporter.get_finished_spans() if s.name != "request")
    assert [insert.name, begin.name, update.name] == ["INSERT outbox", "BEGIN", "UPDATE cases"]
    assert all(s.parent.span_id == parent.get_span_context().span_id for s in (insert, begin, update))
    assert insert.kind == SpanKind.CLIENT
    assert insert.attributes["db.system"] == "postgresql"
    assert insert.attributes["db.query.text"] == "insert into outbox (event_id, topic, payload) values ($1,"
    assert insert.attributes["db.namespace"] == "gov" and insert.attributes["server.port"] == 5432
    assert insert.end_time - insert.start_time == pytest.approx(2_000_000, rel=0.01)
    assert update.status.status_code == StatusCode.ERROR and update.attributes["error.type"] == "ValueError"
    for span in (insert, begin, update):
        assert SECRET not in values_of(span) and SECRET not in (span.status.description or "")
    assert len(exporter.get_finished_spans()) == 4


@pytest.mark.parametrize(
    "query, summary",
    [
        (
            "with batch as (select * from unnest($1::text[])), fresh as (\n insert into inbox (a) select a from batch)"
            " select 1",
            "WITH inbox",
        ),
        ("select id from cases where id = $1 for update", "SELECT cases"),
        ("insert into w (k) values ($1) on conflict (k) do update set v = excluded.v", "INSERT w"),
        ("select count(*) from unnest($1::int[]) u join areas a on a.id = u", "SELECT areas"),
        (
            "\n  SELECT\n current_setting('jit') AS cur, set_config('jit', 'off', false) AS new",
            "asyncpg type introspection",
        ),
        ("set local synchronous_commit = off", "SET"),
    ],
)
def test_a_statement_is_named_by_its_operation_and_the_table_it_writes_or_reads(query, summary):
    assert telemetry.statement_summary(query)[0] == summary


async def test_the_relay_publishes_each_event_in_a_producer_span_the_consumer_continues(exporter):
    stored = [
        (
            "gov.cases.v1",
            b"c-1",
            b"{}",
            [("ce_id", b"e-1"), ("ce_type", b"gov.case.reported.v2"), ("traceparent", INCOMING.encode())],
        ),
        ("gov.cases.v1", b"c-2", b"{}", [("ce_id", b"e-2"), ("ce_type", b"gov.case.accepted.v1")]),
    ]
    records, spans = telemetry.publishing(stored)
    acked = asyncio.get_running_loop().create_future()
    telemetry.published(spans, acked)
    assert exporter.get_finished_spans() == ()  # open until Kafka acknowledges
    acked.set_result(None)
    await asyncio.sleep(0)
    first, second = exporter.get_finished_spans()
    assert first.kind == SpanKind.PRODUCER and first.name == "publish gov.case.reported.v2"
    assert f"{first.context.trace_id:032x}" == TRACE_ID and f"{first.parent.span_id:016x}" == PARENT_ID
    assert first.attributes["messaging.destination.name"] == "gov.cases.v1"
    assert first.attributes["messaging.message.id"] == "e-1"
    assert second.parent is None  # no stored traceparent: a trace of its own
    # the published traceparent is the producer span's: a consumer's span becomes its child
    headers = dict(list(records)[0][3])
    assert headers["traceparent"].decode() == f"00-{TRACE_ID}-{first.context.span_id:016x}-01"
    assert headers["ce_id"] == b"e-1"

    refused, spans = telemetry.publishing(stored[:1])
    telemetry.published(spans, None, RuntimeError("broker down"))
    assert exporter.get_finished_spans()[-1].status.status_code == StatusCode.ERROR


def test_a_record_is_handled_in_a_consumer_span_child_of_its_traceparent(exporter):
    with telemetry.consuming([(record(), envelope())], "reporting"):
        inside = tracing.current.get()
        assert inside is not None and inside.is_span and inside.trace_id == TRACE_ID
    [span] = exporter.get_finished_spans()
    assert span.kind == SpanKind.CONSUMER and span.name == "process gov.case.reported.v2"
    assert f"{span.parent.span_id:016x}" == PARENT_ID
    assert inside.span_id == f"{span.context.span_id:016x}"
    assert dict(span.attributes) == {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": "gov.cases.v1",
        "messaging.destination.partition.id": "2",
        "messaging.kafka.offset": 41,
        "messaging.consumer.group.name": "reporting",
        "messaging.message.id": span.attributes["messaging.message.id"],
        "cloudevents.event_type": "gov.case.reported.v2",
    }
    assert tracing.current.get() is None


def test_a_failing_handler_fails_every_span_of_its_run_and_a_batch_links_its_records(exporter):
    run = [(record(), envelope()), (record(), envelope(None))]
    with pytest.raises(RuntimeError), telemetry.consuming(run, "reporting"):
        raise RuntimeError("handler")
    assert [s.status.status_code for s in exporter.get_finished_spans()] == [StatusCode.ERROR] * 2
    with telemetry.consuming_batch([envelope(), envelope(None)], "reporting"):
        pass
    batch = exporter.get_finished_spans()[-1]
    assert batch.parent is None and batch.attributes["messaging.batch.message_count"] == 2
    assert [f"{link.context.span_id:016x}" for link in batch.links] == [PARENT_ID]


@pytest.mark.parametrize(
    "env, endpoint",
    [
        ({}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "http://collector:4318/v1/traces"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://tempo.gov/otlp/"}, "https://tempo.gov/otlp/v1/traces"),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, "http://localhost:4318/v1/traces"),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, None),
    ],
)
def test_the_settings_turn_export_on(env, endpoint):
    assert settings.load("cases", {**ENV, **env}).otlp_traces_endpoint == endpoint


@pytest.mark.parametrize(
    "env, line",
    [
        ({"OTEL_TRACES_EXPORTER": "jaeger"}, "config error: OTEL_TRACES_EXPORTER: Input should be 'otlp' or 'none'"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
            "config error: OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318'",
        ),
    ],
)
def test_a_bad_value_stops_the_program_with_one_line_naming_it(env, line, monkeypatch, capsys):
    for name, value in {**ENV, **env}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        settings.load_or_exit("cases")
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(line) and err.count("\n") == 1


def test_setup_installs_an_otlp_exporter_named_after_the_service():
    provider = telemetry.setup("cases", settings.load("cases", {**ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}))
    try:
        assert provider is not None and telemetry.tracer is not None
        assert provider.resource.attributes["service.name"] == "cases"
        [processor] = provider._active_span_processor._span_processors
        assert type(processor).__name__ == "BatchSpanProcessor"
        exporter = processor._batch_processor._exporter  # type: ignore[attr-defined]
        assert exporter._endpoint == "http://c:4318/v1/traces"
    finally:
        telemetry.shutdown(provider)
    assert telemetry.tracer is None


def _provider_of(exporter: InMemorySpanExporter) -> TracerProvider:
    """The provider the `exporter` fixture installed (spans of the test's own go to the same exporter)."""
    assert telemetry.tracer is not None
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider

"""OpenTelemetry spans in the W3C trace context govkit.tracing carries: the server span of an HTTP request, a span
per database statement inside a request, a record or a consumer batch, the outbox relay's producer span per event
and the consumer's span per record, so one trace runs from an HTTP create through Kafka to the projections.

Off unless a tracer provider is installed (`setup` from the OTEL_* settings, or `install`): every hook checks
`tracer` first, so with tracing off a request or a record costs a global lookup and nothing of OpenTelemetry runs.
While a span is current, govkit.tracing.current holds its ids too, so the logs show the span's trace and span id.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from govkit import tracing

if TYPE_CHECKING:
    import asyncio

    from aiokafka import ConsumerRecord
    from asyncpg.connection import LoggedQuery
    from opentelemetry.sdk.trace import TracerProvider

    from gov_contracts import CloudEvent
    from govkit.kafka import Record
    from govkit.settings import ServiceSettings

tracer: trace.Tracer | None = None  # None: tracing is off (the default)

_RESET_QUERY = "SELECT pg_advisory_unlock_all();"  # asyncpg's own, on every release to the pool: not ours to trace
# asyncpg's look-ups of the types of a statement it prepares the first time on a connection
_INTROSPECTION = ("SELECT current_setting('jit')", "WITH RECURSIVE typeinfo_tree", "SELECT set_config('jit'")
# the table a statement writes (an update at the start of the statement or of a CTE: `do update set` and
# `for update` are not one), else the first it reads (a table, not a function such as unnest(...))
_TARGETS = (
    re.compile(r"\b(?:insert into|delete from)\s+([a-z_][\w.]*)", re.IGNORECASE),
    re.compile(r"(?:^|\()\s*update\s+([a-z_][\w.]*)", re.IGNORECASE),
    re.compile(r"\b(?:from|join)\s+([a-z_][\w.]*)\b(?!\s*\()", re.IGNORECASE),
)
_NO_TARGET = frozenset({"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "SET", "RESET", "SHOW"})


def install(provider: trace.TracerProvider) -> None:
    """Send govkit's spans to `provider` (an SDK TracerProvider with its processors and exporters)."""
    global tracer
    tracer = provider.get_tracer("govkit")


def uninstall() -> None:
    global tracer
    tracer = None


def setup(service: str, settings: ServiceSettings) -> TracerProvider | None:
    """The OTLP exporter the settings ask for, installed; None when they ask for none (or spans already go to a
    provider installed before, as in tests running several services in one process)."""
    endpoint = settings.otlp_traces_endpoint
    if endpoint is None or tracer is not None:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    install(provider)
    return provider


def shutdown(provider: TracerProvider | None) -> None:
    """Export what is left and stop `provider` (the one `setup` returned)."""
    if provider is not None:
        uninstall()
        provider.shutdown()


def _context_of(parent: tracing.TraceContext | None) -> otel_context.Context:
    """A context whose current span is `parent` (a remote one), or none: a span started in it begins a trace."""
    if parent is None:
        return otel_context.Context()
    remote = SpanContext(
        int(parent.trace_id, 16), int(parent.span_id, 16), is_remote=True, trace_flags=TraceFlags(int(parent.flags, 16))
    )
    return trace.set_span_in_context(NonRecordingSpan(remote), otel_context.Context())


def _trace_context(span: trace.Span) -> tracing.TraceContext:
    sc = span.get_span_context()
    return tracing.TraceContext(f"{sc.trace_id:032x}", f"{sc.span_id:016x}", f"{sc.trace_flags:02x}", is_span=True)


def _link(traceparent: str | None) -> Link | None:
    parent = tracing.parse(traceparent)
    if parent is None:
        return None
    return Link(trace.get_current_span(_context_of(parent)).get_span_context())


def _failed(span: trace.Span, exc: BaseException) -> None:
    # the type only: a database error's message may quote the values it refused
    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
    span.set_attribute("error.type", type(exc).__qualname__)


@contextmanager
def _current(span: trace.Span, *others: trace.Span) -> Iterator[trace.Span]:
    """`span` current (in OpenTelemetry's context and govkit.tracing's) while the block runs; it and `others`
    end with the block, marked failed if it raises."""
    otel_token = otel_context.attach(trace.set_span_in_context(span))
    token = tracing.current.set(_trace_context(span))
    try:
        yield span
    except BaseException as exc:
        for s in (span, *others):
            _failed(s, exc)
        raise
    finally:
        tracing.current.reset(token)
        otel_context.detach(otel_token)
        for s in (span, *others):
            s.end()


# HTTP ------------------------------------------------------------------------------------------------------------


class ServerSpan:
    """The server span of a request, child of the caller's traceparent, current from `start` to `end`;
    `context` is its trace context (for govkit.tracing and the response's traceparent)."""

    def __init__(self, traceparent: str | None, method: str) -> None:
        assert tracer is not None
        self.span = tracer.start_span(
            method,
            context=_context_of(tracing.parse(traceparent)),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method},
        )
        self.context = _trace_context(self.span)
        self._token = otel_context.attach(trace.set_span_in_context(self.span))

    def end(self, method: str, route: str, status: int) -> None:
        otel_context.detach(self._token)
        self.span.update_name(f"{method} {route}")
        self.span.set_attribute("http.route", route)
        self.span.set_attribute("http.response.status_code", status)
        if status >= 500:
            self.span.set_status(Status(StatusCode.ERROR))
            self.span.set_attribute("error.type", str(status))
        self.span.end()


# PostgreSQL ------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=2048)
def statement_summary(query: str) -> tuple[str, str, str]:
    """(summary, operation, first words) of a statement: `INSERT outbox`, `INSERT`, `insert into outbox (event_id,
    topic, key,`. The statements are constants with $n parameters, so none of this holds a value."""
    words = query.split()
    text = " ".join(words)
    if text.startswith(_INTROSPECTION):
        return "asyncpg type introspection", "SELECT", text[:40]
    operation = words[0].rstrip(";").upper() if words else ""
    target = None
    if operation not in _NO_TARGET:
        target = next((m.group(1) for m in (t.search(text) for t in _TARGETS) if m), None)
    return (f"{operation} {target}" if target else operation), operation, " ".join(words[:8])[:120]


def statement_logged(record: LoggedQuery) -> None:
    """asyncpg's query logger (govkit.db adds it to every connection while tracing is on): a client span for the
    statement, child of the current span; statements outside a request, a record or a batch (polls, timers) are
    not traced. asyncpg schedules it (call_soon) as the statement returns, in the caller's context, so the span
    ends when it runs: at most a turn of the event loop late."""
    if tracer is None or record.query.startswith(_RESET_QUERY):
        return
    parent = trace.get_current_span().get_span_context()
    if not parent.is_valid:
        return
    end = time.time_ns()
    summary, operation, first_words = statement_summary(record.query)
    attributes: dict[str, Any] = {
        "db.system": "postgresql",
        "db.operation.name": operation,
        "db.query.text": first_words,
    }
    database = getattr(record.conn_params, "database", None)
    if database:
        attributes["db.namespace"] = database
    if isinstance(record.conn_addr, tuple):
        attributes["server.address"], attributes["server.port"] = record.conn_addr[0], record.conn_addr[1]
    span = tracer.start_span(
        summary, kind=SpanKind.CLIENT, start_time=end - int(record.elapsed * 1e9), attributes=attributes
    )
    if record.exception is not None:
        _failed(span, record.exception)
    span.end(end_time=end)


# the outbox relay ------------------------------------------------------------------------------------------------


def publishing(records: Iterable[Record]) -> tuple[Iterable[Record], list[trace.Span]]:
    """The relay's records, each with a producer span (child of the traceparent the event was stored with) whose
    traceparent replaces the stored one, so the consumers' spans are its children; with tracing off the records
    as they are and no spans."""
    if tracer is None:
        return records, []
    out: list[Record] = []
    spans: list[trace.Span] = []
    for topic, key, value, headers in records:
        named = dict(headers)
        event_type = named.get("ce_type", b"").decode()
        traceparent = named.get("traceparent")
        span = tracer.start_span(
            f"publish {event_type}",
            context=_context_of(tracing.parse(traceparent.decode() if traceparent else None)),
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.destination.name": topic,
                "messaging.message.id": named.get("ce_id", b"").decode(),
                "cloudevents.event_type": event_type,
            },
        )
        own = _trace_context(span).traceparent.encode()
        spans.append(span)
        out.append((topic, key, value, [(k, own if k == "traceparent" else v) for k, v in headers]))
    return out, spans


def published(
    spans: Sequence[trace.Span], acked: asyncio.Future[Any] | None, error: BaseException | None = None
) -> None:
    """End the producer spans when Kafka acknowledged the batch (or refused it, or it never got there)."""
    if not spans:
        return
    if acked is None:
        _end_all(spans, error)
        return
    acked.add_done_callback(lambda f: _end_all(spans, None if f.cancelled() else f.exception()))


def _end_all(spans: Sequence[trace.Span], error: BaseException | None) -> None:
    for span in spans:
        if error is not None:
            _failed(span, error)
        span.end()


# consumers -------------------------------------------------------------------------------------------------------


def _consumer_span(record: ConsumerRecord[Any, Any], envelope: CloudEvent, group: str) -> trace.Span:
    assert tracer is not None
    return tracer.start_span(
        f"process {envelope.type}",
        context=_context_of(tracing.parse(envelope.traceparent)),
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": record.topic,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset,
            "messaging.consumer.group.name": group,
            "messaging.message.id": envelope.id,
            "cloudevents.event_type": envelope.type,
        },
    )


@contextmanager
def consuming(records: Sequence[tuple[ConsumerRecord[Any, Any], CloudEvent]], group: str) -> Iterator[trace.Span]:
    """A consumer span per record, each the child of its record's traceparent, for a handler applying them (one
    record, or a run of records a batch handler takes in one call). The first one is current while the block runs:
    the handler's statements and logs are in its trace."""
    first, *rest = [_consumer_span(record, envelope, group) for record, envelope in records]
    with _current(first, *rest) as span:
        yield span


@contextmanager
def consuming_batch(envelopes: Sequence[CloudEvent], group: str) -> Iterator[trace.Span]:
    """The span of a consumer batch's transaction (the inbox claim, the commit): a trace of its own, linked to each
    record's trace."""
    assert tracer is not None
    links = [link for link in (_link(e.traceparent) for e in envelopes) if link is not None]
    span = tracer.start_span(
        "process batch",
        context=otel_context.Context(),
        kind=SpanKind.CONSUMER,
        links=links,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.batch.message_count": len(envelopes),
            "messaging.consumer.group.name": group,
        },
    )
    with _current(span):
        yield span

"""W3C trace context (traceparent) carried through HTTP, the outbox and Kafka."""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar
from dataclasses import dataclass

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True)
class TraceContext:
    trace_id: str
    span_id: str
    flags: str = "01"
    # the span id is an OpenTelemetry span's (govkit.telemetry), not one made up here: events name it as their cause
    is_span: bool = False

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    def child(self) -> TraceContext:
        return TraceContext(self.trace_id, secrets.token_hex(8), self.flags)


current: ContextVar[TraceContext | None] = ContextVar("trace", default=None)


def parse(traceparent: str | None) -> TraceContext | None:
    if not traceparent:
        return None
    m = _TRACEPARENT.match(traceparent.strip().lower())
    if not m or m.group(1) == "0" * 32 or m.group(2) == "0" * 16:
        return None
    return TraceContext(m.group(1), m.group(2), m.group(3))


def new() -> TraceContext:
    return TraceContext(secrets.token_hex(16), secrets.token_hex(8))


def continue_or_start(traceparent: str | None) -> TraceContext:
    """A new span in the caller's trace, or a new trace when there is none."""
    parent = parse(traceparent)
    return parent.child() if parent else new()


def current_traceparent() -> str:
    """The traceparent an event records as its cause: the current span when tracing exports spans, else a new
    span id in the current trace."""
    ctx = current.get() or new()
    return ctx.traceparent if ctx.is_span else ctx.child().traceparent

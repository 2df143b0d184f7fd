"""CloudEvents 1.0, Kafka protocol binding, binary content mode.

The Kafka record value is the JSON of the event model; the attributes travel
as headers prefixed `ce_`, plus `content-type` and the W3C `traceparent`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
REQUIRED = ("ce_id", "ce_source", "ce_type", "ce_specversion")


class EnvelopeError(ValueError):
    """The record's headers are not a valid CloudEvents binary-mode envelope."""


@dataclass(frozen=True)
class CloudEvent:
    type: str
    source: str
    subject: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    traceparent: str | None = None

    def headers(self) -> list[tuple[str, bytes]]:
        h = [
            ("ce_specversion", SPECVERSION),
            ("ce_id", self.id),
            ("ce_source", self.source),
            ("ce_type", self.type),
            ("ce_time", self.time.astimezone(UTC).isoformat().replace("+00:00", "Z")),
            ("content-type", CONTENT_TYPE),
        ]
        if self.subject is not None:
            h.append(("ce_subject", self.subject))
        if self.traceparent:
            h.append(("traceparent", self.traceparent))
        return [(k, v.encode()) for k, v in h]

    @classmethod
    def from_headers(cls, headers: Iterable[tuple[str, bytes]]) -> CloudEvent:
        raw: dict[str, str] = {}
        for k, v in headers:
            if v is None:  # a null header value is no value
                continue
            try:
                raw[k] = v.decode() if isinstance(v, (bytes, bytearray)) else str(v)
            except UnicodeDecodeError as e:
                raise EnvelopeError(f"header {k} is not UTF-8") from e
        missing = [k for k in REQUIRED if not raw.get(k)]
        if missing:
            raise EnvelopeError(f"missing CloudEvents header(s): {', '.join(missing)}")
        if raw["ce_specversion"] != SPECVERSION:
            raise EnvelopeError(f"ce_specversion {raw['ce_specversion']!r} is not {SPECVERSION}")
        ctype = raw.get("content-type", CONTENT_TYPE)
        if not ctype.startswith(CONTENT_TYPE):
            raise EnvelopeError(f"content-type {ctype!r} is not {CONTENT_TYPE}")
        t = raw.get("ce_time")
        try:
            when = datetime.fromisoformat(t.replace("Z", "+00:00")) if t else datetime.now(UTC)
        except ValueError as e:
            raise EnvelopeError(f"ce_time {t!r} is not RFC 3339") from e
        return cls(
            type=raw["ce_type"],
            source=raw["ce_source"],
            subject=raw.get("ce_subject"),
            id=raw["ce_id"],
            time=when,
            traceparent=raw.get("traceparent"),
        )

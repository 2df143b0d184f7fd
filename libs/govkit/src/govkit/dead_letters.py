"""What goes to gov.deadletter.v1 for a record a consumer gives up on, and how
a failure to store it is classified.

A dead letter must always be storable: the original record may already be
close to the largest size the broker accepts, and the `dlq_*` headers come on
top. Such a record is stored truncated (a prefix of its value, headers and key
cut short) and marked `dlq_truncated`, with the original value's size and
sha256; its coordinates (`dlq_topic`, `dlq_partition`, `dlq_offset`) say where
the whole record is for as long as its topic keeps it.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import ConsumerRecord
from aiokafka.errors import (
    CorruptRecordException,
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NodeNotReadyError,
    RecordListTooLargeError,
    RecordTooLargeError,
)
from aiokafka.record.default_records import DefaultRecordBatchBuilder

Headers = list[tuple[str, bytes | None]]

# In a truncated dead letter: at most this much of the key and of each original
# header value, and the original headers together at most an eighth of the budget.
KEY_MAX = 1024
HEADER_VALUE_MAX = 1024
ERROR_MAX = 2000
# Sizes tried in turn when the broker refuses a dead letter as too large (its
# message.max.bytes or the topic's max.message.bytes is below the producer's limit).
FALLBACK_BUDGETS = (64 * 1024, 8 * 1024)
_SLACK = 64  # varint growth and rounding in the size estimate


def dead_letter_headers(record: ConsumerRecord, *, consumer: str, reason: str, error: str) -> Headers:
    original = [(k, v) for k, v in (record.headers or ()) if not k.startswith("dlq_")]
    return original + [
        ("dlq_reason", reason.encode()),
        ("dlq_error", error[:ERROR_MAX].encode("utf-8", "replace")),
        ("dlq_topic", record.topic.encode()),
        ("dlq_partition", str(record.partition).encode()),
        ("dlq_offset", str(record.offset).encode()),
        ("dlq_consumer_group", consumer.encode()),
    ]


@dataclass(frozen=True)
class DeadLetter:
    key: bytes | None
    value: bytes
    headers: Headers
    truncated: bool


def record_size(key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes | None]]) -> int:
    """The producer's own upper bound for one record sent alone (what it checks against max_request_size)."""
    size: int = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, list(headers))
    return size


def fit(record: ConsumerRecord, headers: Headers, budget: int) -> DeadLetter:
    """The dead letter of `record` with `headers`, truncated if needed so that it takes at most `budget` bytes."""
    value = record.value or b""
    if record_size(record.key, value, headers) <= budget:
        return DeadLetter(record.key, value, headers, truncated=False)
    key = record.key[:KEY_MAX] if record.key is not None else None
    ours = [(k, v) for k, v in headers if k.startswith("dlq_")]
    ours = [(k, v[: min(len(v), budget // 8)] if k == "dlq_error" and v else v) for k, v in ours]
    ours += [
        ("dlq_truncated", b"true"),
        ("dlq_original_size", str(len(value)).encode()),
        ("dlq_original_sha256", hashlib.sha256(value).hexdigest().encode()),
    ]
    kept: Headers = []
    room = budget // 8
    for k, v in headers:
        if k.startswith("dlq_"):
            continue
        cut = v[:HEADER_VALUE_MAX] if v is not None else None
        cost = len(k.encode()) + len(cut or b"") + 10
        if cost > room:
            continue
        kept.append((k, cut))
        room -= cost
    out = kept + ours
    space = budget - record_size(key, b"", out) - _SLACK
    return DeadLetter(key, value[: max(space, 0)], out, truncated=True)


# Refusals caused by the dead letter itself: a smaller dead letter may be accepted.
_TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError, CorruptRecordException)
# Broker or network unavailable: retried for as long as it takes.
_TRANSIENT = (KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, asyncio.TimeoutError, OSError)


def too_large(exc: BaseException) -> bool:
    return isinstance(exc, _TOO_LARGE)


def transient(exc: BaseException) -> bool:
    """A failure that goes away by itself (aiokafka marks most such errors `retriable`)."""
    return isinstance(exc, _TRANSIENT) or bool(getattr(exc, "retriable", False))

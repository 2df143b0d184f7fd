"""Consuming events: FastStream subscriber with manual acknowledgement.

For each record, in partition order:
  1. envelope, type, JSON and schema are checked; a record that can never be
     processed goes to the dead-letter topic with the reason (poison);
  2. the handler runs in one database transaction together with the inbox
     claim (event id, and the partition's applied-offset watermark); a
     redelivered or replayed event is a no-op;
  3. connection failures are retried with backoff for as long as it takes;
     errors caused by the event's values (data_fault) and the domain's
     rejections (gov_contracts.errors, reason `rejected`) are dead-lettered
     at once; other handler errors are retried `max_attempts` times, then
     dead-lettered;
  4. only then is the offset committed (FastStream's Kafka default commits
     before handling, which would lose events on a crash).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError

from gov_contracts import REGISTRY, CloudEvent, EventType
from gov_contracts.base import EventModel
from gov_contracts.envelope import EnvelopeError
from gov_contracts.errors import DomainError
from gov_contracts.topics import DEADLETTER
from govkit import dead_letters, inbox, metrics, tracing
from govkit.consumer_health import InFlightRecords
from govkit.db import TRANSIENT_ERRORS, Connection
from govkit.dead_letters import dead_letter_headers  # noqa: F401  (part of this module's interface)
from govkit.kafka import Producer

if TYPE_CHECKING:
    from faststream.kafka.subscriber.usecase import DefaultSubscriber

log = logging.getLogger(__name__)

# The consumer hands a handler a pooled connection inside the inbox claim's transaction; a rebuild or a
# test may hand it a plain one (govkit.db.Connection covers both).
Handler = Callable[[Connection, EventModel, CloudEvent], Awaitable[None]]


class PoisonEvent(Exception):
    """Raised by a handler for an event that can never be applied."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


# Errors caused by the values a statement was given: the same event fails the
# same way every time. asyncpg.DataError covers Postgres class 22 ("data
# exception": numeric out of range, invalid text representation, string too
# long, NUL in text, ...) and asyncpg's own refusal to encode an argument
# (3,000,000,000 for an int4). ltree input errors are not class 22: they come
# as syntax_error 42601 ("ltree syntax error at character 11" for
# `changping..x`, "... Unexpected end of input" for `changping.`),
# name_too_long 42622 (a label over 1,000 characters) or
# program_limit_exceeded 54000 (over 65,535 labels), told apart from our own
# SQL mistakes by the message.
_DATA_FAULT_MESSAGES = (
    "ltree syntax error",
    "lquery syntax error",
    "label string is too long",
    "number of ltree labels",
    "number of lquery items",
)


def data_fault(exc: BaseException) -> str | None:
    """A one-line reason when `exc` was caused by the event's data, else None."""
    if isinstance(exc, asyncpg.DataError):
        return f"{type(exc).__name__}: {exc}"
    if isinstance(exc, asyncpg.PostgresError):
        text = str(exc)
        if any(text.startswith(m) for m in _DATA_FAULT_MESSAGES):
            return f"{type(exc).__name__}: {text}"
    return None


@dataclass(frozen=True)
class Decoded:
    envelope: CloudEvent
    event_type: EventType
    event: EventModel


def _why(e: BaseException) -> str:
    return str(e) if isinstance(e, EnvelopeError) else f"{type(e).__name__}: {e}"


def decode(record: ConsumerRecord, registry: Mapping[str, EventType]) -> Decoded:
    """Raises PoisonEvent when the record can never be processed.

    Whatever a record makes the parsing raise is the record's fault (a value of
    1,100 `[` makes json.loads raise RecursionError), except MemoryError: a
    record the broker accepted cannot exhaust memory by being parsed, a starved
    process can, so that one propagates and the record is tried again."""
    try:
        env = CloudEvent.from_headers(record.headers or ())
    except MemoryError:
        raise
    except Exception as e:
        raise PoisonEvent("invalid_envelope", _why(e)) from e
    et = registry.get(env.type)
    if et is None:
        raise PoisonEvent("unknown_type", f"event type {env.type!r} is not in the contract catalogue")
    if et.topic != record.topic:
        raise PoisonEvent("wrong_topic", f"event type {env.type} belongs on {et.topic}, not {record.topic}")
    try:
        payload = json.loads(record.value)
    except MemoryError:
        raise
    except Exception as e:
        raise PoisonEvent("invalid_json", f"value is not JSON: {_why(e)}") from e
    try:
        event = et.model.model_validate(payload)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise PoisonEvent("schema_violation", f"{env.type}: {where}: {first['msg']}") from e
    except MemoryError:
        raise
    except Exception as e:
        raise PoisonEvent("schema_violation", f"{env.type}: {_why(e)}") from e
    return Decoded(env, et, event)


async def _raw(msg: KafkaMessage) -> bytes:  # decoder: hand the handler the record's bytes untouched
    return msg.body


async def _tolerant_parse(
    record: ConsumerRecord, default_parser: Callable[[ConsumerRecord], Awaitable[KafkaMessage]]
) -> KafkaMessage:
    """FastStream's parser decodes every header as UTF-8; when that fails the
    record never reaches our handler and the next acknowledgement commits past
    it. Parse a copy without the undecodable headers instead and keep the
    untouched record as `raw_message`, so that decode() dead-letters it."""
    try:
        return await default_parser(record)
    except Exception:
        readable = dataclasses.replace(record, headers=[(k, v) for k, v in (record.headers or ()) if _utf8(v)])
        if hasattr(record, "consumer"):
            readable.consumer = record.consumer
        msg = await default_parser(readable)
        msg.raw_message = record
        return msg


def _utf8(v: bytes | None) -> bool:
    if v is None:  # a header without a value (as `None.decode()` would, it fails)
        return False
    try:
        v.decode()
        return True
    except Exception:
        return False


class EventConsumer:
    def __init__(
        self,
        *,
        service: str,
        group_id: str,
        topics: list[str],
        pool: asyncpg.Pool,
        producer: Producer,
        handlers: Mapping[str, Handler],
        registry: Mapping[str, EventType] = REGISTRY,
        max_attempts: int = 5,
        max_backoff: float = 10.0,
    ):
        self.service, self.group_id, self.topics = service, group_id, topics
        self.pool, self.producer, self.handlers = pool, producer, dict(handlers)
        self.registry, self.max_attempts, self.max_backoff = registry, max_attempts, max_backoff
        self.in_flight = InFlightRecords()  # read by consumer_health.ConsumerMonitor
        self.subscriber: DefaultSubscriber | None = None

    def kafka_consumer(self) -> AIOKafkaConsumer | None:
        """The subscriber's aiokafka consumer while the broker runs, else None."""
        return getattr(self.subscriber, "consumer", None)

    def attach(self, broker: KafkaBroker) -> None:
        sub = broker.subscriber(
            *self.topics,
            group_id=self.group_id,
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset="earliest",
            parser=_tolerant_parse,
            decoder=_raw,
            title=f"{self.group_id}",
            description=f"{self.service} consumer",
        )
        sub(self.on_message)
        self.subscriber = sub

    async def on_message(self, body: bytes, msg: KafkaMessage) -> None:
        record: ConsumerRecord = msg.raw_message
        self.in_flight.taken(record)  # lag and stalls are measured by consumer_health on a timer
        try:
            await self.process(record)
        except Exception:
            # a bug of ours, not of the event: rewind so the record is delivered again
            log.exception(
                "unexpected failure processing %s/%s@%s; will retry", record.topic, record.partition, record.offset
            )
            await msg.nack()
            await asyncio.sleep(1)
            return
        await msg.ack()
        self.in_flight.done(record)

    async def process(self, record: ConsumerRecord) -> str:
        """Returns the outcome: applied, duplicate, ignored or dead_lettered."""
        try:
            d = decode(record, self.registry)
        except PoisonEvent as p:
            return await self._dead_letter(record, p.reason, str(p))
        handler = self.handlers.get(d.envelope.type)
        if handler is None:
            metrics.EVENTS_CONSUMED.labels(self.service, record.topic, "ignored").inc()
            return "ignored"
        token = tracing.current.set(tracing.continue_or_start(d.envelope.traceparent))
        try:
            return await self._apply(record, d, handler)
        finally:
            tracing.current.reset(token)

    async def _apply(self, record: ConsumerRecord, d: Decoded, handler: Handler) -> str:
        attempts, backoff = 0, 0.1
        while True:
            try:
                async with self.pool.acquire() as con, con.transaction():
                    fresh = await inbox.claim(
                        con,
                        consumer=self.group_id,
                        event_id=d.envelope.id,
                        event_type=d.envelope.type,
                        topic=record.topic,
                        partition=record.partition,
                        offset=record.offset,
                    )
                    if fresh:
                        await handler(con, d.event, d.envelope)
                outcome = "applied" if fresh else "duplicate"
                metrics.EVENTS_CONSUMED.labels(self.service, record.topic, outcome).inc()
                return outcome
            except PoisonEvent as p:
                return await self._dead_letter(record, p.reason, str(p))
            except DomainError as e:  # the domain refused the event: the same event is refused every time
                return await self._dead_letter(record, "rejected", f"{type(e).__name__}: {e.detail}")
            except TRANSIENT_ERRORS as e:
                metrics.HANDLER_RETRIES.labels(self.service, "transient").inc()
                log.warning(
                    "transient failure on %s@%s/%s: %s: %s; retrying in %.1fs",
                    d.envelope.type,
                    record.topic,
                    record.offset,
                    type(e).__name__,
                    e,
                    backoff,
                )
            except Exception as e:
                fault = data_fault(e)
                if fault:  # the event's values: failing again would change nothing
                    return await self._dead_letter(record, "data_error", fault)
                attempts += 1
                metrics.HANDLER_RETRIES.labels(self.service, "error").inc()
                if attempts >= self.max_attempts:
                    log.error("handler failed %d times on %s; dead-lettering", attempts, d.envelope.id, exc_info=True)
                    return await self._dead_letter(
                        record, "handler_error", "".join(traceback.format_exception_only(e)).strip()
                    )
                log.warning("handler error on %s (attempt %d): %s", d.envelope.id, attempts, e)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    async def _dead_letter(self, record: ConsumerRecord, reason: str, error: str) -> str:
        """Stores the dead letter, truncated if it would not fit, and only then returns: the
        caller acknowledges the record. Broker outages are waited out; a dead letter the broker
        refuses as too large is cut smaller; any other refusal (the dead-letter topic missing
        from the ACLs, say) cannot be helped by this record and is waited out too, loudly,
        rather than losing the record."""
        headers = dead_letter_headers(record, consumer=self.group_id, reason=reason, error=error)
        budgets = iter((self.producer.max_request_size, *dead_letters.FALLBACK_BUDGETS))
        letter = dead_letters.fit(record, headers, next(budgets))
        backoff = 0.2
        while True:
            try:
                await self.producer.send_and_wait(DEADLETTER, letter.value, key=letter.key, headers=letter.headers)
                break
            except Exception as e:
                await self.producer.reset()
                smaller = next(budgets, None) if dead_letters.too_large(e) else None
                if smaller is not None:
                    log.warning(
                        "dead letter of %s/%s@%s refused as too large (%s); storing it truncated to %d bytes",
                        record.topic,
                        record.partition,
                        record.offset,
                        e,
                        smaller,
                    )
                    letter = dead_letters.fit(record, headers, smaller)
                    continue
                kind = "transient" if dead_letters.transient(e) else "refused"
                metrics.DEAD_LETTER_FAILURES.labels(self.service, kind).inc()
                (log.warning if kind == "transient" else log.error)(
                    "dead-letter publish failed (%s): %s: %s; retrying in %.1fs", kind, type(e).__name__, e, backoff
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
        log.error(
            "dead-lettered %s/%s@%s: %s: %s%s",
            record.topic,
            record.partition,
            record.offset,
            reason,
            error,
            f" (stored truncated to {len(letter.value)} of {len(record.value or b'')} bytes)"
            if letter.truncated
            else "",
        )
        metrics.DEAD_LETTERS.labels(self.service, reason).inc()
        metrics.EVENTS_CONSUMED.labels(self.service, record.topic, "dead_lettered").inc()
        return "dead_lettered"

"""Consuming events: FastStream batch subscriber with manual acknowledgement.

Records come in batches (at most `batch_max` records, what the broker has
ready; a batch never waits to fill). A batch is applied in ONE database
transaction: one multi-row inbox claim, the handlers in partition order (a
run of consecutive events with a batch handler in one call), one commit, then
one offset commit. When anything in the batch fails other than a lost
connection, the transaction is rolled back and the batch is applied again
record by record, each as below, so that the one record that cannot be applied
is dead-lettered and the rest apply.

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
import contextlib
import dataclasses
import json
import logging
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
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
from govkit import dead_letters, inbox, metrics, telemetry, tracing
from govkit.consumer_health import InFlightRecords
from govkit.db import TRANSIENT_ERRORS, Connection
from govkit.dead_letters import dead_letter_headers  # noqa: F401  (part of this module's interface)
from govkit.kafka import Producer

if TYPE_CHECKING:
    from faststream.kafka.subscriber.usecase import BatchSubscriber

log = logging.getLogger(__name__)

# The consumer hands a handler a pooled connection inside the inbox claim's transaction; a rebuild or a
# test may hand it a plain one (govkit.db.Connection covers both).
Handler = Callable[[Connection, EventModel, CloudEvent], Awaitable[None]]
# a run of consecutive events in a batch, in order, each with its envelope (govkit.handlers.handles_batch)
BatchHandler = Callable[[Connection, Sequence[tuple[EventModel, CloudEvent]]], Awaitable[None]]


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
    records: tuple[ConsumerRecord, ...],
    default_parser: Callable[[tuple[ConsumerRecord, ...]], Awaitable[KafkaMessage]],
) -> KafkaMessage:
    """FastStream's parser decodes every header as UTF-8; when that fails the
    batch never reaches our handler and the next acknowledgement commits past
    it. Parse copies without the undecodable headers instead and keep the
    untouched records as `raw_message`, so that decode() dead-letters them."""
    try:
        return await default_parser(records)
    except Exception:
        readable = tuple(
            dataclasses.replace(r, headers=[(k, v) for k, v in (r.headers or ()) if _utf8(v)]) for r in records
        )
        msg = await default_parser(readable)
        msg.raw_message = records
        return msg


def _utf8(v: bytes | None) -> bool:
    if v is None:  # a header without a value (as `None.decode()` would, it fails)
        return False
    try:
        v.decode()
        return True
    except Exception:
        return False


@dataclass(frozen=True)
class Item:
    index: int  # in the batch of records
    record: ConsumerRecord
    decoded: Decoded


class _HandlerFailed(Exception):
    """A handler failed on one of the batch's items [start, stop) (positions in the items applied)."""

    def __init__(self, start: int, stop: int):
        super().__init__(f"items {start}..{stop - 1}")
        self.start, self.stop = start, stop


def _coordinates(record: ConsumerRecord) -> tuple[str, int, int]:
    return record.topic, record.partition, record.offset


def _verdict(exc: BaseException) -> tuple[str, str] | None:
    """(reason, error) for a failure that says the event can never apply, else None."""
    if isinstance(exc, PoisonEvent):
        return exc.reason, str(exc)
    if isinstance(exc, DomainError):
        return "rejected", f"{type(exc).__name__}: {exc.detail}"
    fault = data_fault(exc)
    return ("data_error", fault) if fault else None


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
        batch_handlers: Mapping[str, BatchHandler] | None = None,
        registry: Mapping[str, EventType] = REGISTRY,
        max_attempts: int = 5,
        max_backoff: float = 10.0,
        batch_max: int = 500,
        batch_wait_ms: int = 50,
        fetch_min_bytes: int = 1,
        fetch_max_wait_ms: int = 500,
    ):
        self.service, self.group_id, self.topics = service, group_id, topics
        self.pool, self.producer, self.handlers = pool, producer, dict(handlers)
        self.batch_handlers = dict(batch_handlers or {})
        self.registry, self.max_attempts, self.max_backoff = registry, max_attempts, max_backoff
        self.batch_max, self.batch_wait_ms = batch_max, batch_wait_ms
        self.fetch_min_bytes, self.fetch_max_wait_ms = fetch_min_bytes, fetch_max_wait_ms
        self.in_flight = InFlightRecords()  # read by consumer_health.ConsumerMonitor
        self.subscriber: BatchSubscriber | None = None

    def kafka_consumer(self) -> AIOKafkaConsumer | None:
        """The subscriber's aiokafka consumer while the broker runs, else None."""
        return getattr(self.subscriber, "consumer", None)

    def attach(self, broker: KafkaBroker) -> None:
        sub = broker.subscriber(
            *self.topics,
            group_id=self.group_id,
            batch=True,
            max_records=self.batch_max,
            # how long an idle poll waits (FastStream then sleeps as long again): the added latency after a pause
            batch_timeout_ms=self.batch_wait_ms,
            # the broker answers a fetch once it holds this much or this long has passed: fewer, fuller fetches
            # (and so fewer transactions and offset commits) when events trickle in
            fetch_min_bytes=self.fetch_min_bytes,
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            ack_policy=AckPolicy.MANUAL,
            auto_offset_reset="earliest",
            parser=_tolerant_parse,
            decoder=_raw,
            title=f"{self.group_id}",
            description=f"{self.service} consumer",
        )
        sub(self.on_batch)
        self.subscriber = sub

    async def on_batch(self, body: list[bytes], msg: KafkaMessage) -> None:
        records: tuple[ConsumerRecord, ...] = msg.raw_message
        if not records:
            return
        firsts = list({(r.topic, r.partition): r for r in reversed(records)}.values())
        for record in firsts:
            self.in_flight.taken(record)  # lag and stalls are measured by consumer_health on a timer
        try:
            await self.process_batch(records)
        except Exception:
            # a bug of ours, not of the events: rewind so the batch is delivered again
            first = records[0]
            log.exception(
                "unexpected failure processing a batch of %d from %s/%s@%s; will retry",
                len(records),
                first.topic,
                first.partition,
                first.offset,
            )
            await msg.nack()
            await asyncio.sleep(1)
            return
        await msg.ack()
        for record in firsts:
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
        return await self._apply_traced(record, d, handler)

    async def _apply_traced(self, record: ConsumerRecord, d: Decoded, handler: Handler) -> str:
        if telemetry.tracer is not None:
            with telemetry.consuming([(record, d.envelope)], self.group_id) as span:
                outcome = await self._apply(record, d, handler)
                span.set_attribute("gov.outcome", outcome)
                return outcome
        token = tracing.current.set(tracing.continue_or_start(d.envelope.traceparent))
        try:
            return await self._apply(record, d, handler)
        finally:
            tracing.current.reset(token)

    async def process_batch(self, records: Sequence[ConsumerRecord]) -> list[str]:
        """Applies the records (several partitions' records, each partition's in order) and returns each
        one's outcome. Poison records are dead-lettered after the others' transaction commits."""
        outcomes = [""] * len(records)
        poison: list[tuple[int, PoisonEvent]] = []
        work: list[Item] = []
        for i, record in enumerate(records):
            try:
                d = decode(record, self.registry)
            except PoisonEvent as p:
                poison.append((i, p))
                continue
            if d.envelope.type in self.handlers:
                work.append(Item(i, record, d))
            else:
                outcomes[i] = "ignored"
        for item, outcome in zip(work, await self._apply_batch(work), strict=True):
            outcomes[item.index] = outcome
        for topic, n in Counter(records[i].topic for i, o in enumerate(outcomes) if o == "ignored").items():
            metrics.EVENTS_CONSUMED.labels(self.service, topic, "ignored").inc(n)
        for i, bad in poison:
            outcomes[i] = await self._dead_letter(records[i], bad.reason, str(bad))
        return outcomes

    async def _apply_batch(self, work: Sequence[Item]) -> list[str]:
        """One transaction for the items; each one's outcome. When a handler fails for a reason other than a
        lost connection, the items before the one that failed are applied as a batch, that one on its own
        (dead-lettered at once when the failure says it can never apply, else tried as a single record is),
        then the rest as a batch."""
        if not work:
            return []
        claims = [
            inbox.Claim(it.decoded.envelope.id, it.decoded.envelope.type, *_coordinates(it.record)) for it in work
        ]
        backoff = 0.1
        while True:
            try:
                with (
                    telemetry.consuming_batch([it.decoded.envelope for it in work], self.group_id)
                    if telemetry.tracer is not None
                    else contextlib.nullcontext()
                ):
                    async with self.pool.acquire() as con, con.transaction():
                        fresh = await inbox.claim_batch(con, consumer=self.group_id, records=claims)
                        await self._run_handlers(
                            con, [(pos, it) for pos, (it, new) in enumerate(zip(work, fresh, strict=True)) if new]
                        )
            except TRANSIENT_ERRORS as e:
                metrics.HANDLER_RETRIES.labels(self.service, "transient").inc()
                log.warning(
                    "transient failure on a batch of %d: %s: %s; retrying in %.1fs",
                    len(work),
                    type(e).__name__,
                    e,
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            except _HandlerFailed as f:
                return await self._around_failure(work, f)
            except Exception as e:  # not a handler's failure (the claim itself): the record-by-record path
                log.warning(
                    "batch of %d not applied (%s: %s); applying it record by record", len(work), type(e).__name__, e
                )
                return [await self._apply_traced(it.record, it.decoded, self._handler(it)) for it in work]
            outcomes = ["applied" if new else "duplicate" for new in fresh]
            for (topic, outcome), n in Counter(
                (it.record.topic, o) for it, o in zip(work, outcomes, strict=True)
            ).items():
                metrics.EVENTS_CONSUMED.labels(self.service, topic, outcome).inc(n)
            return outcomes

    async def _around_failure(self, work: Sequence[Item], failed: _HandlerFailed) -> list[str]:
        cause = failed.__cause__
        head = await self._apply_batch(work[: failed.start])
        suspects = work[failed.start : failed.stop]
        verdict = _verdict(cause) if cause is not None and len(suspects) == 1 else None
        if verdict is not None:
            middle = [await self._dead_letter(suspects[0].record, *verdict)]
        else:
            middle = [await self._apply_traced(it.record, it.decoded, self._handler(it)) for it in suspects]
        return head + middle + await self._apply_batch(work[failed.stop :])

    def _handler(self, item: Item) -> Handler:
        return self.handlers[item.decoded.envelope.type]

    async def _run_handlers(self, con: Connection, fresh: Sequence[tuple[int, Item]]) -> None:
        """Each event's handler in order; a run of consecutive events with the same batch handler in one call.
        A failure is raised as _HandlerFailed naming the positions (in the batch) of the events it may be from."""
        i = 0
        while i < len(fresh):
            pos, item = fresh[i]
            envelope = item.decoded.envelope
            batch = self.batch_handlers.get(envelope.type)
            j = i + 1
            if batch is not None:
                while j < len(fresh) and self.batch_handlers.get(fresh[j][1].decoded.envelope.type) == batch:
                    j += 1
            run = [it for _, it in fresh[i:j]]
            try:
                if telemetry.tracer is None:
                    token = tracing.current.set(tracing.continue_or_start(envelope.traceparent))
                    try:
                        await self._call(con, run, batch)
                    finally:
                        tracing.current.reset(token)
                else:
                    with telemetry.consuming([(it.record, it.decoded.envelope) for it in run], self.group_id):
                        await self._call(con, run, batch)
            except TRANSIENT_ERRORS:
                raise
            except Exception as e:
                raise _HandlerFailed(pos, fresh[j - 1][0] + 1) from e
            i = j

    async def _call(self, con: Connection, run: Sequence[Item], batch: BatchHandler | None) -> None:
        """One event's handler, or the batch handler of a run of events."""
        if batch is None:
            await self._handler(run[0])(con, run[0].decoded.event, run[0].decoded.envelope)
        else:
            await batch(con, [(it.decoded.event, it.decoded.envelope) for it in run])

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

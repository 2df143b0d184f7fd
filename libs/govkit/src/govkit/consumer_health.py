"""Is the consumer keeping up? Measured on a timer rather than when a record
arrives, so that a partition stuck on one record shows its lag and how long it
has been stuck.

Every `interval` seconds, for each partition assigned to this process:

- lag: the partition's end offset minus the group's committed offset (the log
  start when the group has committed nothing yet);
- stalled: how long the committed offset has not moved while lag > 0, or how
  long the record now in the handler has been there, whichever is longer;
- oldest unprocessed age: the age of the record in the handler by its
  timestamp when it is the oldest unprocessed one, else the stall time (a
  lower bound: records the consumer has not fetched yet are not seen).

The committed offsets and end offsets are asked of the FastStream
subscriber's own aiokafka consumer (read-only calls; its position, assignment
and fetching are not touched).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from aiokafka import ConsumerRecord, TopicPartition

from govkit import metrics
from govkit.periodic import Periodic

if TYPE_CHECKING:
    from govkit.consumer import EventConsumer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InFlight:
    offset: int
    timestamp_ms: int  # the record's own timestamp
    since: float  # monotonic: when the handler first took it


class InFlightRecords:
    """The record each partition's handler is working on, kept by EventConsumer.on_message."""

    def __init__(self) -> None:
        self.by_partition: dict[tuple[str, int], InFlight] = {}

    def taken(self, record: ConsumerRecord) -> None:
        key = (record.topic, record.partition)
        current = self.by_partition.get(key)
        if current is None or current.offset != record.offset:  # a redelivery keeps its first time
            self.by_partition[key] = InFlight(record.offset, record.timestamp or 0, time.monotonic())

    def done(self, record: ConsumerRecord) -> None:
        key = (record.topic, record.partition)
        current = self.by_partition.get(key)
        if current is not None and current.offset == record.offset:
            del self.by_partition[key]


@dataclass(frozen=True)
class PartitionState:
    topic: str
    partition: int
    next_offset: int  # the committed offset, or the log start when the group has committed nothing
    end: int | None  # None (and lag None) for a record still in the handler of a partition no longer assigned
    lag: int | None
    stalled_s: float
    oldest_unprocessed_age_s: float


ConsumerStatus = Literal["ok", "stalled", "unknown"]


class ConsumerReport(TypedDict):
    """ConsumerMonitor.report(): the body of /healthz/consumer, summed up in /readyz."""

    status: ConsumerStatus
    detail: str
    stall_after_s: float
    checked_s_ago: float | None
    assigned_partitions: int
    lag: int
    behind: list[dict[str, Any]]  # PartitionState as a dict, for each partition behind or stalled


class ConsumerMonitor:
    def __init__(self, consumer: EventConsumer, *, interval: float = 10.0, stall_after: float = 300.0):
        self.consumer, self.interval, self.stall_after = consumer, interval, stall_after
        self.states: list[PartitionState] = []
        self.last_check: float | None = None  # monotonic time of the last complete check
        self._created = time.monotonic()
        self._behind: dict[TopicPartition, tuple[int, float]] = {}  # committed offset, since when unmoved
        self._labelled: set[tuple[str, str]] = set()
        self._reported: set[tuple[str, int]] = set()  # stalls already logged
        self._timer = Periodic(f"consumer-monitor-{consumer.group_id}", self._check_in_time, interval)

    def start(self) -> None:
        self._timer.start()

    async def stop(self) -> None:
        await self._timer.stop()

    async def _check_in_time(self) -> None:
        # Kafka unreachable: /readyz says so; the state goes stale and then unknown
        await asyncio.wait_for(self.check(), max(self.interval, 5.0))

    async def check(self) -> list[PartitionState]:
        """One measurement of every assigned partition; sets the gauges."""
        kafka = self.consumer.kafka_consumer()
        parts = sorted(kafka.assignment(), key=lambda tp: (tp.topic, tp.partition)) if kafka else []
        committed: dict[TopicPartition, int | None] = {}
        end: dict[TopicPartition, int] = {}
        start: dict[TopicPartition, int] = {}
        if kafka and parts:
            end = await kafka.end_offsets(parts)
            for tp in parts:
                committed[tp] = await kafka.committed(tp)
            never = [tp for tp in parts if committed[tp] is None]
            start = await kafka.beginning_offsets(never) if never else {}
        now, wall = time.monotonic(), time.time()
        in_flight = dict(self.consumer.in_flight.by_partition)
        states = []
        for tp in parts:
            offset = committed[tp]
            base = offset if offset is not None else start[tp]
            lag = max(end[tp] - base, 0)
            flight = in_flight.pop((tp.topic, tp.partition), None)
            since: float | None = None
            if lag > 0:
                previous = self._behind.get(tp)
                since = previous[1] if previous and previous[0] == base else now
                self._behind[tp] = (base, since)
            else:
                self._behind.pop(tp, None)
            oldest = None
            if flight is not None and flight.offset == base:
                since = min(since if since is not None else now, flight.since)
                if flight.timestamp_ms > 0:
                    oldest = max(wall - flight.timestamp_ms / 1000, 0.0)
            stalled = now - since if since is not None else 0.0
            states.append(
                PartitionState(
                    tp.topic, tp.partition, base, end[tp], lag, round(stalled, 1), round(max(oldest or 0.0, stalled), 1)
                )
            )
        for (topic, partition), flight in in_flight.items():
            # in the handler but no longer assigned (the group moved on while it was stuck): still a stall
            stalled = round(now - flight.since, 1)
            states.append(PartitionState(topic, partition, flight.offset, None, None, stalled, stalled))
        for tp in [tp for tp in self._behind if tp not in end]:
            del self._behind[tp]
        self.states = states
        self.last_check = now
        self._publish(states)
        return states

    def _publish(self, states: list[PartitionState]) -> None:
        service = self.consumer.service
        labelled = set()
        for s in states:
            labels = (s.topic, str(s.partition))
            labelled.add(labels)
            if s.lag is not None:
                metrics.CONSUMER_LAG.labels(service, *labels).set(s.lag)
            metrics.CONSUMER_STALLED.labels(service, *labels).set(s.stalled_s)
            metrics.CONSUMER_OLDEST_UNPROCESSED.labels(service, *labels).set(s.oldest_unprocessed_age_s)
            key = (s.topic, s.partition)
            if s.stalled_s >= self.stall_after and key not in self._reported:
                self._reported.add(key)
                log.error(
                    "consumer %s stalled on %s/%s at offset %s for %.0fs (lag %s)",
                    self.consumer.group_id,
                    s.topic,
                    s.partition,
                    s.next_offset,
                    s.stalled_s,
                    s.lag,
                )
            elif s.stalled_s < self.stall_after and key in self._reported:
                self._reported.discard(key)
                log.info("consumer %s moves again on %s/%s", self.consumer.group_id, s.topic, s.partition)
        for labels in self._labelled - labelled:  # partitions this process no longer holds
            for gauge in (metrics.CONSUMER_LAG, metrics.CONSUMER_STALLED, metrics.CONSUMER_OLDEST_UNPROCESSED):
                with contextlib.suppress(KeyError):
                    gauge.remove(service, *labels)
        self._labelled = labelled

    def stalled(self) -> list[PartitionState]:
        return [s for s in self.states if s.stalled_s >= self.stall_after]

    def report(self) -> ConsumerReport:
        """The consumer's health for /healthz/consumer and /readyz: status ok, stalled or unknown."""
        now = time.monotonic()
        unchecked_for = now - (self.last_check if self.last_check is not None else self._created)
        stalled = self.stalled()
        status: ConsumerStatus
        if stalled:
            status = "stalled"
            detail = "; ".join(
                f"{s.topic}/{s.partition} stuck at offset {s.next_offset} for {s.stalled_s:.0f}s"
                + (f" (lag {s.lag})" if s.lag is not None else "")
                for s in stalled
            )
        elif unchecked_for > max(self.stall_after, 3 * self.interval):
            status, detail = "unknown", f"lag not measured for {unchecked_for:.0f}s (Kafka unreachable?)"
        else:
            status, detail = "ok", ""
        report: ConsumerReport = {
            "status": status,
            "detail": detail,
            "stall_after_s": self.stall_after,
            "checked_s_ago": round(unchecked_for, 1) if self.last_check is not None else None,
            "assigned_partitions": sum(1 for s in self.states if s.lag is not None),
            "lag": sum(s.lag or 0 for s in self.states),
            "behind": [asdict(s) for s in self.states if (s.lag or 0) > 0 or s.stalled_s > 0],
        }
        return report

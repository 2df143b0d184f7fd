"""Dead letters (gov.deadletter.v1): list them, and re-drive them to the topic
they came from once the cause is fixed.

A dead letter is the original record (key, value, headers) plus `dlq_*`
headers saying why and where from (docs/events.md, "Dead letters").
Re-driving publishes the original key, value and headers (without `dlq_*`)
to the original topic; the producer places it by key like any producer, so it
follows the events of the same aggregate published before it. Every consumer
group of that topic receives it again: the group that gave up processes it,
the others find its `ce_id` in their inbox and do nothing.

What was re-driven is recorded in <GOV_HOME>/dlq-redriven.json (dead-letter
partition, offset and timestamp; when; where to), written after each record,
so a second `redrive` does not send the same dead letters again. The state is
a file of the operator's machine rather than a marker on Kafka: the dead-letter
topic stays a log of failures only, and a re-drive sent twice (another
machine, a lost file) is harmless because consumers deduplicate on `ce_id`.

Never re-driven: records that are not a valid event at all
(`invalid_envelope`, `invalid_json`, `wrong_topic`: sent again, they fail the
same way), and dead letters stored truncated (`dlq_truncated`: the original
value is not in them).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from gov_contracts.topics import DEADLETTER
from govctl import kafka_client
from govctl.errors import StackError

STATE_FILE = "dlq-redriven.json"
DLQ_PREFIX = "dlq_"
# reason -> why re-driving cannot help
NOT_REDRIVABLE = {
    "invalid_envelope": "the headers are not a CloudEvents envelope; fix the producer and have it send the event anew",
    "invalid_json": "the value is not JSON; fix the producer and have it send the event anew",
    "wrong_topic": "the event type belongs on another topic; fix the producer and have it send the event anew",
}


def _text(v) -> str:
    if v is None:
        return ""
    return v.decode("utf-8", "replace") if isinstance(v, (bytes, bytearray)) else str(v)


@dataclass(frozen=True)
class DeadLetter:
    partition: int  # on gov.deadletter.v1
    offset: int
    timestamp: int  # ms
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str:
        for k, v in self.headers:
            if k == name:
                return _text(v)
        return ""

    @property
    def ref(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def reason(self) -> str:
        return self.header("dlq_reason")

    @property
    def error(self) -> str:
        return self.header("dlq_error")

    @property
    def group(self) -> str:
        return self.header("dlq_consumer_group")

    @property
    def topic(self) -> str:
        return self.header("dlq_topic")

    @property
    def origin(self) -> str:
        return f"{self.topic or '?'}/{self.header('dlq_partition') or '?'}@{self.header('dlq_offset') or '?'}"

    @property
    def event_type(self) -> str:
        return self.header("ce_type")

    @property
    def event_id(self) -> str:
        return self.header("ce_id")

    @property
    def when(self) -> str:
        return datetime.fromtimestamp(self.timestamp / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def truncated(self) -> bool:
        return self.header("dlq_truncated") == "true"

    @property
    def stored(self) -> str:
        """How much of the original value the dead letter holds."""
        if not self.truncated:
            return "whole"
        return f"{len(self.value or b'')} of {self.header('dlq_original_size') or '?'} B"

    def why_not_redrivable(self, max_age_days: float | None = None, now_ms: int | None = None) -> str | None:
        if max_age_days is not None:
            now_ms = now_ms if now_ms is not None else int(datetime.now(UTC).timestamp() * 1000)
            age_days = (now_ms - self.timestamp) / 86_400_000
            if age_days > max_age_days:
                return (
                    f"dead-lettered {age_days:.0f} days ago, beyond the {max_age_days:g} days the other consumer "
                    "groups keep event ids (INBOX_RETENTION_DAYS less a day): a group that applied it then "
                    "would apply it again; send the event anew from its producer if it is still wanted"
                )
        if self.truncated:
            return (
                f"stored truncated ({self.stored}, sha256 {self.header('dlq_original_sha256')[:12]}...): the "
                f"original value is not in the dead letter; the whole record is at {self.origin} while that "
                "topic keeps it"
            )
        if self.reason in NOT_REDRIVABLE:
            return f"{self.reason}: {NOT_REDRIVABLE[self.reason]}"
        return None

    def original_headers(self) -> list[tuple[str, bytes]]:
        return [(k, bytes(v) if v is not None else b"") for k, v in self.headers if not k.startswith(DLQ_PREFIX)]


def redrive_max_age_days(env: Mapping[str, str] | None = None) -> float:
    """Dead letters older than the inbox retention, less a day's margin, are not re-driven."""
    raw = (os.environ if env is None else env).get("INBOX_RETENTION_DAYS", "30")
    try:
        days = float(raw)
    except ValueError:
        raise StackError(f"INBOX_RETENTION_DAYS={raw!r} is not a number of days") from None
    return max(days - 1, 0)


def matches(dl: DeadLetter, group: str | None, reason: str | None) -> bool:
    return (group is None or dl.group == group) and (reason is None or dl.reason == reason)


async def read_all(bootstrap: str, topic: str = DEADLETTER, timeout: float = 60.0) -> list[DeadLetter]:
    """Every record of the topic up to its end at the time of the call, in (partition, offset) order."""
    c = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="govctl-dlq",
        **kafka_client.client_security(),
    )
    try:
        await c.start()
    except Exception as e:
        await c.stop()
        raise await kafka_client.unreachable(bootstrap, e) from None
    try:
        await c._client.force_metadata_update()
        parts = sorted(c.partitions_for_topic(topic) or ())
        if not parts:
            raise StackError(f"topic {topic} does not exist on {bootstrap}")
        tps = [TopicPartition(topic, p) for p in parts]
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        end = await c.end_offsets(tps)
        out: list[DeadLetter] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pending = {tp for tp in tps if end[tp] > 0}
        while pending:
            if loop.time() > deadline:
                raise StackError(f"reading {topic} took longer than {timeout:.0f}s")
            batch = await c.getmany(*pending, timeout_ms=500)
            for tp, recs in batch.items():
                for r in recs:
                    if r.offset < end[tp]:
                        out.append(
                            DeadLetter(r.partition, r.offset, r.timestamp, r.key, r.value, tuple(r.headers or ()))
                        )
            for tp in list(pending):
                if await c.position(tp) >= end[tp]:
                    pending.discard(tp)
        return sorted(out, key=lambda d: (d.partition, d.offset))
    finally:
        await c.stop()


class RedriveState:
    """<GOV_HOME>/dlq-redriven.json: {"redriven": {"<partition>:<offset>": {...}}} for gov.deadletter.v1.

    An entry counts only while the record at that position has the same timestamp, so a
    re-created dead-letter topic (offsets from 0 again) is not mistaken for the old one."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.data: dict = {"topic": DEADLETTER, "redriven": {}}
        if self.path.exists():
            try:
                self.data = json.loads(self.path.read_text(encoding="utf-8"))
            except ValueError as e:
                raise StackError(f"{self.path}: not JSON ({e}); move it aside to start afresh") from None
            self.data.setdefault("redriven", {})

    def done(self, dl: DeadLetter) -> dict | None:
        entry = self.data["redriven"].get(dl.ref)
        return entry if entry and entry.get("timestamp") == dl.timestamp else None

    def mark(self, dl: DeadLetter, to: str) -> None:
        self.data["redriven"][dl.ref] = {
            "timestamp": dl.timestamp,
            "group": dl.group,
            "reason": dl.reason,
            "event_id": dl.event_id,
            "to": to,
            "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


def _short(s: str, n: int) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def format_rows(letters: Iterable[DeadLetter], state: RedriveState) -> list[str]:
    rows = [
        f"{'dead letter':<12} {'time (UTC)':<20} {'reason':<17} {'group':<14} {'original topic/partition@offset':<32} "
        f"{'event type':<34} {'event id':<36} {'re-driven':<9} {'stored':<20} error"
    ]
    for dl in letters:
        done = state.done(dl)
        rows.append(
            f"{dl.ref:<12} {dl.when:<20} {dl.reason or '?':<17} {dl.group or '?':<14} {dl.origin:<32} "
            f"{dl.event_type or '-':<34} {dl.event_id or '-':<36} {('yes' if done else 'no'):<9} "
            f"{dl.stored:<20} {_short(dl.error, 120)}"
        )
    return rows


async def list_letters(
    bootstrap: str,
    state_path: Path,
    *,
    group: str | None = None,
    reason: str | None = None,
    limit: int = 50,
    out: Callable[[str], None] = print,
) -> list[DeadLetter]:
    letters = [d for d in await read_all(bootstrap) if matches(d, group, reason)]
    shown = sorted(letters, key=lambda d: (d.timestamp, d.partition, d.offset))[-limit:] if limit > 0 else []
    if not letters:
        out("no dead letters" + (f" of group {group}" if group else "") + (f" with reason {reason}" if reason else ""))
        return []
    for row in format_rows(shown, RedriveState(state_path)):
        out(row)
    if len(shown) < len(letters):
        out(f"({len(shown)} most recent of {len(letters)}; --limit N shows more)")
    truncated = sum(dl.truncated for dl in shown)
    if truncated:
        out(
            f"({truncated} stored truncated, too large to store whole: never re-driven; the whole record is at its "
            "original topic/partition@offset while that topic keeps it)"
        )
    return shown


@dataclass
class RedriveResult:
    sent: list[tuple[DeadLetter, str]]
    skipped_done: list[DeadLetter]
    skipped_bad: list[tuple[DeadLetter, str]]


async def redrive(
    bootstrap: str,
    state_path: Path,
    *,
    group: str,
    reason: str | None = None,
    dry_run: bool = False,
    max_age_days: float | None = None,
    out: Callable[[str], None] = print,
) -> RedriveResult:
    if reason in NOT_REDRIVABLE:
        raise StackError(f"dead letters with reason {reason} are never re-driven: {NOT_REDRIVABLE[reason]}")
    state = RedriveState(state_path)
    max_age = redrive_max_age_days() if max_age_days is None else max_age_days
    letters = [d for d in await read_all(bootstrap) if matches(d, group, reason)]
    result = RedriveResult([], [], [])
    todo = []
    for dl in letters:
        if state.done(dl):
            result.skipped_done.append(dl)
        elif not dl.topic or dl.topic == DEADLETTER:
            result.skipped_bad.append((dl, f"no usable dlq_topic header ({dl.topic or 'missing'})"))
        elif why := dl.why_not_redrivable(max_age):
            result.skipped_bad.append((dl, why))
        else:
            todo.append(dl)
    verb = "would re-drive" if dry_run else "re-drove"
    if todo and not dry_run:
        p = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            client_id="govctl-dlq-redrive",
            **kafka_client.client_security(),
        )
        try:
            await p.start()
        except Exception as e:
            await p.stop()
            raise await kafka_client.unreachable(bootstrap, e) from None
        try:
            for dl in todo:
                meta = await p.send_and_wait(dl.topic, dl.value, key=dl.key, headers=dl.original_headers())
                to = f"{meta.topic}/{meta.partition}@{meta.offset}"
                state.mark(dl, to)  # recorded only once the broker has it
                result.sent.append((dl, to))
        finally:
            await p.stop()
    else:
        result.sent = [(dl, f"{dl.topic}/(by key)") for dl in todo]

    what = f"group {group}" + (f", reason {reason}" if reason else "")
    for dl, to in result.sent:
        out(f"  {dl.ref:<10} {dl.reason:<17} {dl.event_type or '-':<34} {dl.event_id or '-':<36} {dl.origin} -> {to}")
    for dl, why in result.skipped_bad:
        out(f"  {dl.ref:<10} skipped: {why}")
    out(
        f"{verb} {len(result.sent)} dead letter(s) of {what}"
        + (f"; {len(result.skipped_done)} already re-driven before (see {state_path})" if result.skipped_done else "")
        + (f"; {len(result.skipped_bad)} cannot be re-driven" if result.skipped_bad else "")
    )
    return result

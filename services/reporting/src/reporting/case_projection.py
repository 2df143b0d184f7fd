"""The case events' projection, set-based: a run of case events in a few statements.

`apply` reads the rows of the run's cases once (locked), applies every event
in order in Python with exactly the rules of one event at a time (the
statements in reporting.projection_queries: ADVANCE_CASE and the column each
transition sets; events of a case not in the projection change nothing), then
writes the new cases with one multi-row insert, the changed ones with one
multi-row update, and every rollup delta of the run, summed per key, in one
statement (reporting.projection_queries.CASE_ROLLUPS).

Besides the counts per week (r_rollup) and the open cases (r_open) the run
keeps the rollups the weekly report reads instead of scanning r_cases
(migration V006): r_closed, r_resolve, r_open_at, r_repeat_address and
r_repeat_party; and the cases due per week of their resolve deadline, r_due
(migration V007: a deadline that moves takes the case to its new week, and one
approved extension makes it count as extended, V008). Each is a function of a
case's row (`_derived`); an event that changes what a row contributes
subtracts the old contribution and adds the new.
The case operations (V008): a dispatch and a return (退单) count as metrics
`dispatched` and `returned`, a supervision (督办) as `supervised` once per case
and week; a case whose status becomes `suspended` keeps the time in
`suspended_at` until an event gives it another status, and then the week ends
it was suspended at are counted in r_suspended_at.
A key an event touched is written even when the run's deltas cancel out, so a
run leaves the same rows (some with zeros) as its events applied one per
transaction.

A run's cases are read `for update`: the events of one case come from one
partition (keyed by case id), so one consumer applies them at a time; the lock
only keeps a concurrent writer (a second replica after a rebalance) waiting.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from gov_contracts import CloudEvent
from gov_contracts.cases import (
    FACT_EVENTS,
    CaseAccepted,
    CaseClosed,
    CaseDispatched,
    CaseEscalated,
    CaseExtensionDecided,
    CaseExtensionRequested,
    CaseFacts,
    CaseMerged,
    CaseOverdue,
    CaseRated,
    CaseReferralOutcomeRecorded,
    CaseReferred,
    CaseRejected,
    CaseReopened,
    CaseReportCountRaised,
    CaseReported,
    CaseReportedV2,
    CaseResolved,
    CaseReturned,
    CaseSupervised,
    CaseWithdrawn,
)
from gov_contracts.vocabulary import LEVELS, LOCAL_TZ, area_chain
from govkit.consumer import PoisonEvent
from reporting import projection_queries as queries

CASE_EVENTS = FACT_EVENTS  # every case event: each carries the case's facts after its transition
LEVEL_POSITION = {level.value: i for i, level in enumerate(LEVELS)}
GRASSROOTS = ("grid", "village")
REPEAT_DAYS = 30  # the report's window for repeat addresses and parties, ending at the week's end
SUSPENDED = "suspended"  # an open case whose clock is stopped: never overdue while it is

# columns read and written (grid_path is grid_id as an ltree, written with the row)
FIXED = ("case_id", "number", "category", "severity", "grid_id", "title", "tags", "reporter_ref", "address_ref")
MUTABLE = (
    "status",
    "level",
    "max_level",
    "report_count",
    "reported_at",
    "accepted_at",
    "resolved_at",
    "closed_at",
    "ended_at",
    "rated_at",
    "overdue",
    "escalations",
    "referred",
    "reopen_count",
    "on_time",
    "satisfaction",
    "updated_at",
    "resolve_due",
    "extensions",
    "supervised_at",
    "supervised_last",
    "suspended_at",
)
SELECT_CASES = (
    f"select {', '.join(FIXED + ('party_refs',) + MUTABLE)} from r_cases where case_id = any($1::uuid[]) for update"
)

Row = dict[str, Any]
Key = tuple[Any, ...]


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (TypeError, ValueError):
        raise PoisonEvent("schema_violation", f"{value!r} is not a UUID") from None


def _utc(at: datetime) -> datetime:
    """As asyncpg sends it (a naive time is taken as the machine's local time)."""
    return at.astimezone(UTC)


def local_day(at: datetime) -> date:
    return at.astimezone(LOCAL_TZ).date()


def week_of(at: datetime) -> date:
    """Monday of the ISO week of `at`, China Standard Time (date_trunc('week', at at time zone ...))."""
    d = local_day(at)
    return d - timedelta(days=d.weekday())


def week_ends(after: date, until: date) -> Iterator[date]:
    """The Mondays in [after + 1 day, until]: the week ends (Monday 00:00) later than a time on day `after`
    and not later than a time on day `until`."""
    monday = after + timedelta(days=7 - after.weekday())
    while monday <= until:
        yield monday
        monday += timedelta(days=7)


def kind_of(category: str) -> str:
    if category.startswith("dispute."):
        return "dispute"
    return "petition" if category == "petition" else "other"


def _derived(row: Row) -> Iterator[tuple[str, Key, tuple[int, ...]]]:
    """What the case contributes to r_closed, r_resolve, r_open_at and r_due: (table, key, values)."""
    chain = row["chain"]
    closed_at = row["closed_at"]
    if closed_at is not None:
        values = (
            1,
            1 if row["on_time"] else 0,
            1 if row["reopen_count"] > 0 else 0,
            1 if row["max_level"] in GRASSROOTS else 0,
        )
        week = week_of(closed_at)
        for area in chain:
            yield "closed", (area, week, row["category"]), values
    reported_at, resolved_at, ended_at = row["reported_at"], row["resolved_at"], row["ended_at"]
    if resolved_at is not None and reported_at is not None:
        week, took = week_of(resolved_at), resolved_at - reported_at
        for area in chain:
            yield "resolve", (area, week, took), (1,)
    if ended_at is not None and reported_at is not None:
        open_values = (1, 1 if row["overdue"] else 0, 1 if row["report_count"] > 1 else 0)
        kind = kind_of(row["category"])
        for monday in week_ends(local_day(reported_at), local_day(ended_at)):
            yield "open_at", (monday, row["grid_id"], kind, row["severity"]), open_values
    resolve_due = row["resolve_due"]
    if resolve_due is not None and (ended_at is None or closed_at is not None):
        # 应结案数: due in the week of its (latest) resolve deadline, unless it ended without being closed
        # (rejected, withdrawn, merged); 按期办结: closed, and on time as the cases service judged it
        due_values = (1, 1 if closed_at is not None and row["on_time"] else 0, 1 if row["extensions"] > 0 else 0)
        week = week_of(resolve_due)
        for area in chain:
            yield "due", (area, week, row["category"]), due_values


def _derived_facts(row: Row) -> tuple[Any, ...]:
    """The columns `_derived` reads that events change."""
    return (
        row["closed_at"],
        row["on_time"],
        row["reopen_count"],
        row["max_level"],
        row["resolved_at"],
        row["ended_at"],
        row["overdue"],
        row["report_count"],
        row["resolve_due"],
        row["extensions"],
    )


class Deltas:
    """Rollup deltas of a run, summed per key; a key once touched stays (with a zero sum, if it comes to that)."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[Key, list[int]]] = {
            t: {}
            for t in (
                "rollup",
                "open",
                "closed",
                "resolve",
                "open_at",
                "repeat_address",
                "repeat_party",
                "due",
                "suspended_at",
            )
        }

    def add(self, table: str, key: Key, values: Sequence[int], sign: int = 1) -> None:
        acc = self.tables[table].get(key)
        if acc is None:
            self.tables[table][key] = [sign * v for v in values]
        else:
            for i, v in enumerate(values):
                acc[i] += sign * v

    def bump(self, at: datetime, grid_id: str, category: str, metric: str) -> None:
        week = week_of(at)
        for area in area_chain(grid_id):
            self.add("rollup", (week, area, category, metric), (1,))

    def count_open(self, event: CaseFacts, delta: int) -> None:
        for area in area_chain(event.grid_id):
            self.add("open", (area, event.category), (delta,))

    def derived(self, before: Row | None, after: Row) -> None:
        if before is not None:
            for table, key, values in _derived(before):
                self.add(table, key, values, -1)
        for table, key, values in _derived(after):
            self.add(table, key, values)

    def suspension_over(self, row: Row, since: datetime, until: datetime) -> None:
        """The week ends a suspension from `since` to `until` spanned (as r_open_at counts the weeks open)."""
        for monday in week_ends(local_day(since), local_day(until)):
            for area in row["chain"]:
                self.add("suspended_at", (area, monday), (1,))

    def repeats(self, row: Row) -> None:
        reported_on = local_day(row["reported_at"])
        mondays = list(week_ends(reported_on, reported_on + timedelta(days=REPEAT_DAYS)))
        if row["address_ref"] is not None:
            for monday in mondays:
                self.add("repeat_address", (monday, row["grid_id"], row["address_ref"]), (1,))
        for party in row["party_refs"]:
            for area in row["chain"]:
                for monday in mondays:
                    self.add("repeat_party", (area, monday, party), (1,))

    def columns(self, table: str, width: int) -> list[list[Any]]:
        """The table's keys and values as one list per column (for unnest)."""
        rows = [(*key, *values) for key, values in self.tables[table].items()]
        return [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


def _new_row(event: CaseReported | CaseReportedV2, case_id: uuid.UUID) -> Row:
    at = _utc(event.occurred_at)
    return {
        "case_id": case_id,
        "number": event.number,
        "category": event.category,
        "severity": event.severity,
        "grid_id": event.grid_id,
        "title": event.title,
        "tags": list(event.tags),
        "reporter_ref": event.reporter_ref,
        "address_ref": event.address_ref,
        "party_refs": list(event.party_refs),
        "status": event.status,
        "level": event.level,
        "max_level": event.level,
        "report_count": 1,
        "reported_at": at,
        "accepted_at": None,
        "resolved_at": None,
        "closed_at": None,
        "ended_at": None,
        "rated_at": None,
        "overdue": False,
        "escalations": 0,
        "referred": False,
        "reopen_count": 0,
        "on_time": None,
        "satisfaction": None,
        "updated_at": at,
        "resolve_due": _due(event.resolve_due),
        "extensions": 0,
        "supervised_at": None,
        "supervised_last": None,
        "suspended_at": None,
        "chain": area_chain(event.grid_id),
    }


def _due(at: datetime | None) -> datetime | None:
    return None if at is None else _utc(at)


ENDED = {CaseRejected: "rejected", CaseWithdrawn: "withdrawn", CaseMerged: "merged"}


def _transition(row: Row, event: CaseFacts, deltas: Deltas) -> None:
    """One event of a case in the projection: ADVANCE_CASE, the event's own column, its counts."""
    at = _utc(event.occurred_at)
    row["status"], row["level"] = event.status, event.level
    new, top = LEVEL_POSITION.get(event.level), LEVEL_POSITION.get(row["max_level"])
    if new is not None and top is not None and new > top:
        row["max_level"] = event.level
    row["updated_at"], row["resolve_due"] = at, _due(event.resolve_due)
    _suspension(row, event.status, at, deltas)
    if isinstance(event, CaseClosed):
        row["closed_at"], row["ended_at"], row["on_time"] = at, at, event.on_time
        metric = "closed"
    elif isinstance(event, CaseRejected | CaseWithdrawn | CaseMerged):
        row["ended_at"], metric = at, ENDED[type(event)]
    else:
        counted = _set_column(row, event, at)
        if counted is not None:
            deltas.bump(at, event.grid_id, event.category, counted)
        return
    deltas.bump(at, event.grid_id, event.category, metric)
    deltas.bump(at, event.grid_id, event.category, "ended")
    deltas.count_open(event, -1)


def _suspension(row: Row, status: str, at: datetime, deltas: Deltas) -> None:
    """Suspended from the first event that says so until the first that does not (resumed, or ended)."""
    since = row["suspended_at"]
    if status == SUSPENDED and since is None:
        row["suspended_at"] = at
    elif status != SUSPENDED and since is not None:
        row["suspended_at"] = None
        deltas.suspension_over(row, since, at)


def supervised_anew(last: datetime | None, at: datetime) -> bool:
    """A supervision counts unless the case's previous one was in the same week (a case counts once a week)."""
    return last is None or week_of(last) != week_of(at)


def _set_column(row: Row, event: CaseFacts, at: datetime) -> str | None:
    """The column a transition that does not end the case sets; the metric it counts, if any."""
    if isinstance(event, CaseAccepted):
        row["accepted_at"] = at
        return "accepted"
    if isinstance(event, CaseResolved | CaseReferralOutcomeRecorded):
        row["resolved_at"] = at
        return "resolved"
    if isinstance(event, CaseEscalated):
        row["escalations"] += 1
        return "escalated"
    if isinstance(event, CaseOverdue):
        row["overdue"] = True
        return "overdue"
    if isinstance(event, CaseReferred):
        row["referred"] = True
        return "referred"
    if isinstance(event, CaseReopened):
        row["reopen_count"] = event.reopen_count
        return "reopened"
    if isinstance(event, CaseReportCountRaised):
        row["report_count"] = event.report_count
        return "repeat"
    if isinstance(event, CaseRated):
        row["satisfaction"], row["rated_at"] = event.satisfaction, at
        return None
    return _set_operation(row, event, at)


def _set_operation(row: Row, event: CaseFacts, at: datetime) -> str | None:
    """The case operations of issue 14 (V008)."""
    if isinstance(event, CaseDispatched):
        return "dispatched"
    if isinstance(event, CaseReturned):
        return "returned"
    if isinstance(event, CaseExtensionRequested | CaseExtensionDecided):
        row["extensions"] = event.extensions
        return None
    if isinstance(event, CaseSupervised):
        anew = supervised_anew(row["supervised_last"], at)
        if row["supervised_at"] is None:
            row["supervised_at"] = at
        row["supervised_last"] = at
        return "supervised" if anew else None
    # CaseStarted, CaseVerified, the suspension's request and decision, CaseResumed, CaseCallbackRecorded: the
    # status (suspended or not) and level only
    return None


async def apply(con: asyncpg.Connection, items: Sequence[tuple[CaseFacts, CloudEvent]]) -> None:
    """Apply a run of case events, in order, as if one at a time."""
    ids = [_uuid(event.case_id) for event, _ in items]  # a malformed id is poison before anything is written
    found = await con.fetch(SELECT_CASES, list(set(ids)))
    cases: dict[uuid.UUID, Row] = {}
    for r in found:
        cases[r["case_id"]] = {**r, "chain": area_chain(r["grid_id"])}
    existing = set(cases)
    changed: set[uuid.UUID] = set()
    deltas = Deltas()
    for (event, _), case_id in zip(items, ids, strict=True):
        if isinstance(event, CaseReported | CaseReportedV2):
            if case_id not in cases:  # insert ... on conflict (case_id) do nothing
                fresh = cases[case_id] = _new_row(event, case_id)
                deltas.derived(None, fresh)
                deltas.repeats(fresh)
            deltas.bump(_utc(event.occurred_at), event.grid_id, event.category, "new")
            deltas.count_open(event, 1)
            continue
        row = cases.get(case_id)
        if row is None:  # a case reported before this projection's history: nothing to attach it to
            continue
        facts = _derived_facts(row)
        before = dict(row)
        _transition(row, event, deltas)
        if _derived_facts(row) != facts:
            deltas.derived(before, row)
        changed.add(case_id)
    new = [cases[i] for i in cases if i not in existing]
    if new:
        await _insert(con, new)
    updated = [cases[i] for i in changed if i in existing]
    if updated:
        await _update(con, updated)
    await write_rollups(con, deltas)


def _column(rows: list[Row], name: str) -> list[Any]:
    return [r[name] for r in rows]


def _flat(rows: list[Row], name: str) -> tuple[list[str], list[int]]:
    """An array column as one flat array and where each row's elements start in it (1-based), and one more:
    row i's are flat[starts[i]:starts[i + 1] - 1] (unnest cannot take an array of arrays of different lengths)."""
    flat: list[str] = []
    offsets: list[int] = []
    for r in rows:
        offsets.append(len(flat) + 1)
        flat.extend(r[name])
    offsets.append(len(flat) + 1)
    return flat, offsets


async def _insert(con: asyncpg.Connection, rows: list[Row]) -> None:
    tags, tag_at = _flat(rows, "tags")
    parties, party_at = _flat(rows, "party_refs")
    await con.execute(
        queries.INSERT_CASES,
        *(_column(rows, c) for c in FIXED if c != "tags"),
        *(_column(rows, c) for c in MUTABLE),
        tags,
        tag_at,
        parties,
        party_at,
    )


async def _update(con: asyncpg.Connection, rows: list[Row]) -> None:
    await con.execute(queries.UPDATE_CASES, _column(rows, "case_id"), *(_column(rows, c) for c in MUTABLE))


async def write_rollups(con: asyncpg.Connection, deltas: Deltas) -> None:
    await con.execute(
        queries.CASE_ROLLUPS,
        *deltas.columns("rollup", 5),
        *deltas.columns("open", 3),
        *deltas.columns("closed", 7),
        *deltas.columns("resolve", 4),
        *deltas.columns("open_at", 7),
        *deltas.columns("repeat_address", 4),
        *deltas.columns("repeat_party", 4),
        *deltas.columns("due", 6),
        *deltas.columns("suspended_at", 3),
    )

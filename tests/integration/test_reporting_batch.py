"""The case events applied as runs (reporting.case_projection) leave exactly the tables that applying them one per
transaction leaves, for random sequences in any order; the same r_cases (resolve_due included), r_rollup and r_open
as the per-event handlers the projection had before (reporting.per_event_cases); the report's rollups equal to the
backfill of migrations V006 to V008 from r_cases (the per-event handlers do not keep them: the backfill is their
reference); and the weekly report's figures read from those rollups equal to the scans of r_cases they replace.

Each way of applying runs in its own session against temporary copies of the tables (unqualified names resolve to
them first), so nothing here touches the shared reporting tables.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from gov_contracts import REGISTRY, CloudEvent
from govkit import db
from reporting import kpis, per_event_cases, projections

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = [
    ROOT / "services" / "reporting" / "migrations" / f
    for f in ("V006__report_rollups.sql", "V007__due_rollup.sql", "V008__case_operations.sql")
]
REFERENCE_TABLES = ("r_cases", "r_rollup", "r_open")
REPORT_TABLES = ("r_closed", "r_resolve", "r_open_at", "r_repeat_address", "r_repeat_party", "r_due")
# the weeks a case was suspended at are not in r_cases once it resumes, so no backfill can derive them: runs and
# single events are compared, and tests/integration/test_reporting_kpis.py checks the figures
HISTORY_TABLES = ("r_suspended_at",)
TABLES = REFERENCE_TABLES + REPORT_TABLES + HISTORY_TABLES
GRIDS = ["bt.v1.g1", "bt.v1.g2", "bt.v2.g1"]
AREAS = ["bt", "bt.v1", "bt.v2", "bt.v1.g1"]
CATEGORIES = ["dispute.land", "dispute.family", "petition", "other", "hazard.fire"]
START = datetime(2026, 9, 7, tzinfo=UTC)  # a Monday 08:00 in China
CST = timezone(timedelta(hours=8))

KINDS: dict[str, dict[str, object]] = {  # event type suffix -> extra fields
    "accepted.v1": {},
    "rejected.v1": {},
    "withdrawn.v1": {},
    "dispatched.v1": dict(unit_level="village", unit_id="bt.v1"),
    "started.v1": {},
    "resolved.v1": dict(resolution="ok"),
    "verified.v1": {},
    "reopened.v1": dict(reopen_count=1),
    "closed.v1": dict(on_time=True, escalations=0, reopen_count=0),
    "escalated.v1": dict(from_level="grid", automatic=False),
    "overdue.v1": dict(deadline="resolve", due_at=START),
    "referred.v1": dict(court="南漳县人民法院"),
    "referral_outcome_recorded.v1": dict(outcome="调解成功"),
    "merged.v1": dict(into_case_id=str(uuid.uuid4()), into_number="CP-X"),
    "report_count_raised.v1": dict(report_count=2, merged_case_id=str(uuid.uuid4())),
    "rated.v1": dict(satisfaction=4),
    # the case operations of issue 14
    "extension_requested.v1": dict(requested_due=START, extensions=0),
    "extension_decided.v1": dict(approved=True, requested_due=START, previous_due=None, extensions=1),
    "suspension_requested.v1": {},
    "suspension_decided.v1": dict(approved=True),
    "resumed.v1": dict(suspended_at=START, suspended_seconds=3600),
    "returned.v1": dict(unit_id="bt.v1", returns=1),
    "supervised.v1": dict(supervising_level="town"),
    "callback_recorded.v1": dict(result="satisfied"),
}
LEVELS = ["grid", "village", "town", "county", "department"]


def history(seed: int, n_cases: int = 40, n_events: int = 400) -> list[tuple[Any, CloudEvent]]:
    """Random case events: reports (some twice, v1 and v2), transitions in any order, events of unknown cases,
    times over ten weeks in two time zones, addresses and parties that repeat."""
    rng = random.Random(seed)
    cases = [
        dict(
            case_id=str(uuid.uuid4()),
            number=f"CP-BT-{i}",
            category=rng.choice(CATEGORIES),
            severity=rng.choice(["low", "medium", "high", "critical"]),
            grid_id=rng.choice(GRIDS),
        )
        for i in range(n_cases)
    ]
    out = []
    for _ in range(n_events):
        case = rng.choice(cases) if rng.random() > 0.03 else {**rng.choice(cases), "case_id": str(uuid.uuid4())}
        at = START + timedelta(minutes=rng.randrange(60 * 24 * 70))
        facts = dict(
            case,
            status=rng.choice(["reported", "accepted", "resolved", "closed", "suspended"]),
            level=rng.choice(LEVELS),
            occurred_at=at.astimezone(CST) if rng.random() < 0.5 else at,
            actor="tests",
            # the deadline each event carries: none, or one that moves (a week boundary is crossed now and then)
            resolve_due=None if rng.random() < 0.3 else at + timedelta(hours=rng.randrange(-48, 24 * 10)),
        )
        if rng.random() < 0.3:
            name = rng.choice(["gov.case.reported.v1", "gov.case.reported.v2"])
            fields: dict[str, object] = dict(
                title="批量测试",
                source="grid_patrol",
                reporter_ref=f"person_{rng.randrange(9)}",
                address_ref=rng.choice([None, "addr_1", "addr_2", "addr_3"]),
                party_refs=rng.sample(["p1", "p2", "p3", "p1"], rng.randrange(4)),
                tags=rng.sample(["路灯", "噪音", "漏水"], rng.randrange(3)),
            )
        else:
            kind = rng.choice(list(KINDS))
            name, fields = f"gov.case.{kind}", dict(KINDS[kind])
            if kind == "reopened.v1":
                fields["reopen_count"] = rng.randrange(1, 3)
            if kind == "closed.v1":
                fields["on_time"] = rng.random() < 0.5
            if kind == "report_count_raised.v1":
                fields["report_count"] = rng.randrange(1, 4)
            if kind == "rated.v1":
                fields["satisfaction"] = rng.randrange(1, 6)
            if kind == "extension_decided.v1":
                fields["approved"] = rng.random() < 0.6
                fields["extensions"] = rng.randrange(0, 3)
        et = REGISTRY[name]
        out.append((et.model(**facts, **fields), CloudEvent(type=name, source="cases")))
    return out


async def session(stack):
    con = await db.connect(stack.service_dsn("reporting"), "reporting")
    for t in TABLES:
        await con.execute(f"create temporary table {t} (like reporting.{t} including all)")
    return con


async def dump(con, tables=TABLES) -> dict[str, list[tuple]]:
    return {t: sorted((tuple(r) for r in await con.fetch(f"select * from {t}")), key=repr) for t in tables}


def without_zeros(rows: list[tuple], values: int) -> list[tuple]:
    return [r for r in rows if any(r[-values:])]


VALUES = {"r_closed": 4, "r_resolve": 1, "r_open_at": 3, "r_repeat_address": 1, "r_repeat_party": 1, "r_due": 3}


async def one_by_one(con, handlers, events) -> None:
    for event, envelope in events:
        async with con.transaction():
            await handlers[envelope.type](con, event, envelope)


async def in_runs(con, events, rng: random.Random) -> None:
    batch = projections.batch_handlers()
    i = 0
    while i < len(events):
        j = i + rng.choice([1, 2, 5, 17, 60, 500])
        run = events[i:j]
        async with con.transaction():
            await batch[run[0][1].type](con, run)
        i = j


def backfill_statements() -> list[str]:
    out = []
    for migration in MIGRATIONS:
        text = migration.read_text(encoding="utf-8").split("-- backfill", 1)[1].split("\n", 1)[1]
        text = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
        out += [s.strip() for s in text.split(";") if s.strip()]
    return out


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_runs_leave_the_tables_one_event_per_transaction_leaves(stack, seed):
    events = history(seed)
    runs, single, reference = await session(stack), await session(stack), await session(stack)
    try:
        await in_runs(runs, events, random.Random(seed))
        await one_by_one(single, projections.handlers(), events)
        await one_by_one(reference, per_event_cases.handlers(), events)
        got = await dump(runs)
        assert got["r_cases"] and got["r_closed"] and got["r_open_at"] and got["r_repeat_party"] and got["r_due"]
        assert got["r_suspended_at"] and any(r[-1] for r in got["r_due"])  # r_due's last column: extended
        assert {"dispatched", "returned", "supervised"} <= {r[3] for r in got["r_rollup"]}
        assert got == await dump(single)
        assert {t: got[t] for t in REFERENCE_TABLES} == await dump(reference, REFERENCE_TABLES)

        # the report's rollups are what the migration's backfill derives from the cases
        await runs.execute("truncate " + ", ".join(REPORT_TABLES))
        for sql in backfill_statements():
            await runs.execute(sql)
        backfilled = await dump(runs, REPORT_TABLES)
        for t in REPORT_TABLES:
            assert without_zeros(got[t], VALUES[t]) == backfilled[t], t
    finally:
        for con in (runs, single, reference):
            await con.close()


# the scans of r_cases the weekly report made before the rollups of V006 ($2/$3 the week, $2 the end for open)
OLD_CLOSED = """
select category, count(*)::int as closed, count(*) filter (where on_time)::int as on_time,
       count(*) filter (where reopen_count > 0)::int as reworked,
       count(*) filter (where max_level in ('grid', 'village'))::int as grassroots
from r_cases where grid_path <@ $1::ltree and closed_at >= $2 and closed_at < $3 group by 1
"""
OLD_RESOLVE_HOURS = """
select percentile_cont(0.5) within group (order by h) as p50, percentile_cont(0.9) within group (order by h) as p90
from (select extract(epoch from resolved_at - reported_at) / 3600 as h from r_cases
      where grid_path <@ $1::ltree and resolved_at >= $2 and resolved_at < $3) x
"""
OLD_OPEN_AT_END = """
select grid_id, case when category like 'dispute.%' then 'dispute' when category = 'petition' then 'petition'
                     else 'other' end as kind,
       severity, count(*)::int as n, count(*) filter (where overdue)::int as overdue,
       count(*) filter (where report_count > 1)::int as repeats
from (select grid_id, category, severity, overdue and status <> 'suspended' as overdue, report_count from r_cases
      where ended_at is null and reported_at < $2 and grid_path <@ $1::ltree
      union all
      select grid_id, category, severity, overdue, report_count from r_cases
      where ended_at >= $2 and reported_at < $2 and grid_path <@ $1::ltree) open_cases
group by 1, 2, 3
"""
OLD_REPEAT_ADDRESSES = """
select grid_id, address_ref, count(*)::int as n from r_cases
where grid_path <@ $1::ltree and reported_at >= $2 and reported_at < $3 and address_ref is not null
group by 1, 2 having count(*) >= 2
"""
# 应结案数 and 按期办结数 as a scan of the cases whose resolve deadline is in the week ($2/$3)
DUE_SCAN = """
select count(*)::int as due, count(*) filter (where closed_at is not null and on_time)::int as on_time,
       count(*) filter (where extensions > 0)::int as extended from r_cases
where grid_path <@ $1::ltree and resolve_due >= $2 and resolve_due < $3 and (ended_at is null or closed_at is not null)
"""
OLD_REPEAT_PARTIES = """
select p as party_ref, count(*)::int as n from r_cases, unnest(party_refs) p
where grid_path <@ $1::ltree and reported_at >= $2 and reported_at < $3
group by 1 having count(*) >= 2
"""


def rows(records) -> list[tuple]:
    return sorted(tuple(r) for r in records)


async def test_report_figures_from_the_rollups_equal_the_scans_they_replace(stack):
    events = history(11, n_cases=60, n_events=700)
    con = await session(stack)
    try:
        await in_runs(con, events, random.Random(11))
        for i in range(-1, 13):
            week = kpis.Week.of(START.date()).shift(i)
            ts, te = kpis.at_midnight(week.monday), kpis.at_midnight(week.end)
            for area in AREAS:
                assert rows(await con.fetch(kpis.Q_CLOSED, area, week.monday)) == rows(
                    await con.fetch(OLD_CLOSED, area, ts, te)
                )
                assert tuple(await con.fetchrow(kpis.Q_DUE, area, week.monday)) == tuple(
                    await con.fetchrow(DUE_SCAN, area, ts, te)
                )
                assert tuple(await con.fetchrow(kpis.Q_RESOLVE_HOURS, area, week.monday)) == tuple(
                    await con.fetchrow(OLD_RESOLVE_HOURS, area, ts, te)
                )
                assert rows(await con.fetch(kpis.Q_OPEN_AT_END, area, te, week.end)) == rows(
                    await con.fetch(OLD_OPEN_AT_END, area, te)
                )
                month = te - timedelta(days=30)
                assert rows(await con.fetch(kpis.Q_REPEAT_ADDRESSES, area, week.end)) == rows(
                    await con.fetch(OLD_REPEAT_ADDRESSES, area, month, te)
                )
                assert rows(await con.fetch(kpis.Q_REPEAT_PARTIES, area, week.end)) == rows(
                    await con.fetch(OLD_REPEAT_PARTIES, area, month, te)
                )  # three parties: the report's first 10 are all
    finally:
        await con.close()

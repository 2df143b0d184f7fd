"""The case operations of issue 14 in the reporting projection, pure: what an extension, a return, a supervision
and a suspension add to the rollups (docs/kpis.md), applied to one case's row as the batch projection does."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from gov_contracts import REGISTRY
from gov_contracts.vocabulary import LOCAL_TZ
from reporting import case_projection as cp
from reporting import kpis

GRID = "t.v.g1"
CHAIN = ["t", "t.v", GRID]
MON = datetime(2026, 12, 14, tzinfo=LOCAL_TZ)  # a Monday 00:00, China Standard Time


def facts(**extra):
    return dict(
        case_id=str(uuid.uuid4()),
        number="CP-U",
        category="other",
        severity="medium",
        grid_id=GRID,
        status="accepted",
        level="grid",
        actor="t",
        **extra,
    )


def event(kind: str, at: datetime, **fields):
    fields.setdefault("status", "accepted")
    base = facts(occurred_at=at)
    base.update(fields)
    return REGISTRY[f"gov.case.{kind}.v1"].model(**base)


def reported(at: datetime):
    return event("reported", at, status="reported", title="t", source="grid_patrol", reporter_ref="r")


def run(*events) -> tuple[cp.Row, cp.Deltas]:
    """The row and the deltas after the events, the first a report."""
    first, *rest = events
    row = cp._new_row(first, uuid.UUID(first.case_id))
    deltas = cp.Deltas()
    for e in rest:
        before, known = dict(row), cp._derived_facts(row)
        cp._transition(row, e, deltas)
        if cp._derived_facts(row) != known:
            deltas.derived(before, row)
    return row, deltas


def metric(deltas: cp.Deltas, name: str) -> dict[tuple, int]:
    return {k: v[0] for k, v in deltas.tables["rollup"].items() if k[3] == name}


def test_a_dispatch_and_a_return_count_in_their_week_for_every_area():
    _, deltas = run(
        reported(MON),
        event("dispatched", MON + timedelta(hours=1), unit_level="grid", unit_id=GRID),
        event("returned", MON + timedelta(hours=2), unit_id=GRID, returns=1),
        event("dispatched", MON + timedelta(days=7), unit_level="village", unit_id="t.v"),
    )
    week, nxt = MON.date(), MON.date() + timedelta(days=7)
    assert metric(deltas, "dispatched") == {(w, a, "other", "dispatched"): 1 for w in (week, nxt) for a in CHAIN}
    assert metric(deltas, "returned") == {(week, a, "other", "returned"): 1 for a in CHAIN}


def test_a_case_supervised_twice_in_a_week_counts_once_and_again_the_week_after():
    row, deltas = run(
        reported(MON),
        event("supervised", MON + timedelta(days=1), supervising_level="town"),
        event("supervised", MON + timedelta(days=6, hours=23), supervising_level="county"),
        event("supervised", MON + timedelta(days=7), supervising_level="county"),
    )
    counted = metric(deltas, "supervised")
    assert counted == {(w, a, "other", "supervised"): 1 for w in (MON.date(), MON.date() + timedelta(7)) for a in CHAIN}
    assert row["supervised_at"] == MON + timedelta(days=1)  # the first: supervision lasts until the case ends
    assert row["supervised_last"] == MON + timedelta(days=7)
    assert cp.supervised_anew(None, MON) and not cp.supervised_anew(MON, MON + timedelta(days=6))


def test_only_an_approved_extension_makes_a_due_case_extended():
    due, later = MON + timedelta(days=2), MON + timedelta(days=4)
    accepted = event("accepted", MON, resolve_due=due)
    refused = event(
        "extension_decided", MON + timedelta(hours=5), approved=False, requested_due=later, previous_due=due,
        extensions=0, resolve_due=due,
    )  # fmt: skip
    row, deltas = run(reported(MON - timedelta(hours=1)), accepted, refused)
    assert deltas.tables["due"] == {(a, MON.date(), "other"): [1, 0, 0] for a in CHAIN}
    approved = event(
        "extension_decided", MON + timedelta(hours=6), approved=True, requested_due=later, previous_due=due,
        extensions=1, resolve_due=later + timedelta(days=7),
    )  # fmt: skip
    row, deltas = run(reported(MON - timedelta(hours=1)), accepted, approved)
    # the deadline moved to next week, extended: this week's count is taken back
    nxt = MON.date() + timedelta(days=7)
    assert {k: v for k, v in deltas.tables["due"].items() if any(v)} == {(a, nxt, "other"): [1, 0, 1] for a in CHAIN}
    assert row["extensions"] == 1


def test_a_suspension_counts_at_every_week_end_it_spans_once_it_is_over():
    suspended = event("suspension_decided", MON + timedelta(days=2), status="suspended", approved=True)
    row, deltas = run(reported(MON), suspended)
    assert row["suspended_at"] == MON + timedelta(days=2) and deltas.tables["suspended_at"] == {}
    resumed = event(
        "resumed", MON + timedelta(days=15), status="accepted", suspended_at=MON + timedelta(days=2),
        suspended_seconds=13 * 86400,
    )  # fmt: skip
    row, deltas = run(reported(MON), suspended, resumed)
    week_ends = [MON.date() + timedelta(days=7), MON.date() + timedelta(days=14)]
    assert row["suspended_at"] is None
    assert deltas.tables["suspended_at"] == {(a, m): [1] for a in CHAIN for m in week_ends}
    # a case withdrawn while suspended: its suspension ends with it
    withdrawn = event("withdrawn", MON + timedelta(days=8), status="withdrawn")
    row, deltas = run(reported(MON), suspended, withdrawn)
    assert row["suspended_at"] is None and deltas.tables["suspended_at"] == {(a, week_ends[0]): [1] for a in CHAIN}


def test_the_rates_of_the_case_operations():
    assert kpis.ratio(1, 3) == 0.3333  # 延期率: 1 of 3 due cases extended
    assert kpis.ratio(2, 5) == 0.4  # 退单率: 2 returns of 5 dispatches
    assert kpis.ratio(0, 4) == 0.0 and kpis.ratio(3, 0) is None  # nothing dispatched: no rate
    assert kpis.OPERATIONS == ("dispatched", "returned", "supervised")

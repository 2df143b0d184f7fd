"""The case events applied one at a time, as the projection did before batch handlers (reporting.case_projection).

Kept as the reference the set-based projection is tested against
(tests/integration/test_reporting_batch.py: the same r_cases, r_rollup and
r_open for any sequence of events, resolve_due included) and as the per-event
path of bench/reporting_bench.py. It does not keep the report's rollups of
migrations V006 to V008 (r_closed, r_resolve, r_open_at, r_repeat_*, r_due, r_suspended_at):
the test checks those against their backfill from r_cases; the service does
not use it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from gov_contracts import CloudEvent
from gov_contracts.cases import (
    CaseAccepted,
    CaseCallbackRecorded,
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
    CaseResumed,
    CaseReturned,
    CaseStarted,
    CaseSupervised,
    CaseSuspensionDecided,
    CaseSuspensionRequested,
    CaseVerified,
    CaseWithdrawn,
)
from gov_contracts.vocabulary import LEVELS, area_chain
from govkit.consumer import Handler
from govkit.handlers import HandlerRegistry
from reporting import projection_queries as queries
from reporting.case_projection import _uuid, supervised_anew

LEVEL_ORDER = [level.value for level in LEVELS]

projection = HandlerRegistry()


def handlers() -> dict[str, Handler]:
    return projection.handlers()


async def _bump(con: asyncpg.Connection, at: datetime, grid_id: str, category: str, metric: str) -> None:
    """Count one `metric` in the week of `at`, for the grid and every area above it."""
    await con.execute(queries.BUMP, at, area_chain(grid_id), category, metric, 1)


async def _count_open(con: asyncpg.Connection, event: CaseFacts, delta: int) -> None:
    await con.execute(queries.OPEN_DELTA, area_chain(event.grid_id), event.category, delta)


# -- cases --------------------------------------------------------------------------------------------------------


@projection.handles(CaseReported, CaseReportedV2)
async def on_case_reported(con: asyncpg.Connection, event: CaseReported | CaseReportedV2, envelope: CloudEvent) -> None:
    await con.execute(
        queries.INSERT_CASE,
        _uuid(event.case_id),
        event.number,
        event.category,
        event.severity,
        event.grid_id,
        event.title,
        event.tags,
        event.status,
        event.level,
        event.reporter_ref,
        event.address_ref,
        event.party_refs,
        event.occurred_at,
        event.resolve_due,
    )
    await _bump(con, event.occurred_at, event.grid_id, event.category, "new")
    await _count_open(con, event, 1)


async def _advance(con: asyncpg.Connection, event: CaseFacts) -> uuid.UUID | None:
    """The case's status and level after the transition; None when the case is not in this projection
    (an event of a case reported before this projection's history: nothing to attach it to)."""
    case_id: uuid.UUID | None = await con.fetchval(
        queries.ADVANCE_CASE,
        _uuid(event.case_id),
        event.status,
        event.level,
        LEVEL_ORDER,
        event.occurred_at,
        event.resolve_due,
    )
    return case_id


async def _case_changed(
    con: asyncpg.Connection, event: CaseFacts, statement: str, *values: object, metric: str | None = None
) -> bool:
    """Advance the case, run `statement` ($1 the case id, then `values`) and count `metric`;
    False when the case is not in this projection."""
    case_id = await _advance(con, event)
    if case_id is None:
        return False
    await con.execute(statement, case_id, *values)
    if metric is not None:
        await _bump(con, event.occurred_at, event.grid_id, event.category, metric)
    return True


async def _case_ended(con: asyncpg.Connection, event: CaseFacts, statement: str, *values: object, metric: str) -> None:
    if await _case_changed(con, event, statement, *values, metric=metric):
        await _bump(con, event.occurred_at, event.grid_id, event.category, "ended")
        await _count_open(con, event, -1)


@projection.handles(
    CaseStarted, CaseVerified, CaseSuspensionRequested, CaseSuspensionDecided, CaseResumed, CaseCallbackRecorded
)
async def on_case_moved(con: asyncpg.Connection, event: CaseFacts, envelope: CloudEvent) -> None:
    await _advance(con, event)


@projection.handles(CaseDispatched)
async def on_case_dispatched(con: asyncpg.Connection, event: CaseDispatched, envelope: CloudEvent) -> None:
    if await _advance(con, event) is not None:
        await _bump(con, event.occurred_at, event.grid_id, event.category, "dispatched")


@projection.handles(CaseReturned)
async def on_case_returned(con: asyncpg.Connection, event: CaseReturned, envelope: CloudEvent) -> None:
    if await _advance(con, event) is not None:
        await _bump(con, event.occurred_at, event.grid_id, event.category, "returned")


@projection.handles(CaseExtensionRequested, CaseExtensionDecided)
async def on_case_extension(
    con: asyncpg.Connection, event: CaseExtensionRequested | CaseExtensionDecided, envelope: CloudEvent
) -> None:
    await _case_changed(con, event, queries.SET_EXTENSIONS, event.extensions)


@projection.handles(CaseSupervised)
async def on_case_supervised(con: asyncpg.Connection, event: CaseSupervised, envelope: CloudEvent) -> None:
    case_id = await _advance(con, event)
    if case_id is None:
        return
    # the row is there: _advance just updated it
    previous: datetime | None = await con.fetchval(queries.SUPERVISE_CASE, case_id, event.occurred_at)
    if supervised_anew(previous, event.occurred_at):
        await _bump(con, event.occurred_at, event.grid_id, event.category, "supervised")


@projection.handles(CaseAccepted)
async def on_case_accepted(con: asyncpg.Connection, event: CaseAccepted, envelope: CloudEvent) -> None:
    await _case_changed(con, event, queries.SET_ACCEPTED_AT, event.occurred_at, metric="accepted")


@projection.handles(CaseResolved, CaseReferralOutcomeRecorded)
async def on_case_resolved(
    con: asyncpg.Connection, event: CaseResolved | CaseReferralOutcomeRecorded, envelope: CloudEvent
) -> None:
    await _case_changed(con, event, queries.SET_RESOLVED_AT, event.occurred_at, metric="resolved")


@projection.handles(CaseClosed)
async def on_case_closed(con: asyncpg.Connection, event: CaseClosed, envelope: CloudEvent) -> None:
    await _case_ended(con, event, queries.CLOSE_CASE, event.occurred_at, event.on_time, metric="closed")


@projection.handles(CaseRejected)
async def on_case_rejected(con: asyncpg.Connection, event: CaseRejected, envelope: CloudEvent) -> None:
    await _case_ended(con, event, queries.SET_ENDED_AT, event.occurred_at, metric="rejected")


@projection.handles(CaseWithdrawn)
async def on_case_withdrawn(con: asyncpg.Connection, event: CaseWithdrawn, envelope: CloudEvent) -> None:
    await _case_ended(con, event, queries.SET_ENDED_AT, event.occurred_at, metric="withdrawn")


@projection.handles(CaseMerged)
async def on_case_merged(con: asyncpg.Connection, event: CaseMerged, envelope: CloudEvent) -> None:
    await _case_ended(con, event, queries.SET_ENDED_AT, event.occurred_at, metric="merged")


@projection.handles(CaseEscalated)
async def on_case_escalated(con: asyncpg.Connection, event: CaseEscalated, envelope: CloudEvent) -> None:
    await _case_changed(con, event, queries.COUNT_ESCALATION, metric="escalated")


@projection.handles(CaseOverdue)
async def on_case_overdue(con: asyncpg.Connection, event: CaseOverdue, envelope: CloudEvent) -> None:
    await _case_changed(con, event, queries.MARK_OVERDUE, metric="overdue")


@projection.handles(CaseReferred)
async def on_case_referred(con: asyncpg.Connection, event: CaseReferred, envelope: CloudEvent) -> None:
    await _case_changed(con, event, queries.MARK_REFERRED, metric="referred")


@projection.handles(CaseReopened)
async def on_case_reopened(con: asyncpg.Connection, event: CaseReopened, envelope: CloudEvent) -> None:
    await _case_changed(con, event, queries.SET_REOPEN_COUNT, event.reopen_count, metric="reopened")


@projection.handles(CaseRated)
async def on_case_rated(con: asyncpg.Connection, event: CaseRated, envelope: CloudEvent) -> None:
    await _case_changed(con, event, queries.RATE_CASE, event.satisfaction, event.occurred_at)


@projection.handles(CaseReportCountRaised)
async def on_case_report_count_raised(
    con: asyncpg.Connection, event: CaseReportCountRaised, envelope: CloudEvent
) -> None:
    await _case_changed(con, event, queries.SET_REPORT_COUNT, event.report_count, metric="repeat")

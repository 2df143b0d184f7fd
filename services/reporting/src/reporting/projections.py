"""Projections of case, task, volunteer and livelihood-project events into the reporting schema.

One handler per event class (govkit.handlers), each running inside the
consumer's inbox transaction; the case events have one batch handler that
applies a run of them in a few statements (reporting.case_projection), which
is also their per-event handler. Rollups are updated incrementally per ISO
week and per area level (r_rollup, r_open, and the report's rollups of
migration V006), so a weekly report reads a few rows of its own area. The
statements are in reporting.projection_queries; `rebuild` runs the same
handlers against shadow tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import asyncpg

from gov_contracts import CloudEvent
from gov_contracts.cases import (
    CaseAccepted,
    CaseClosed,
    CaseDispatched,
    CaseEscalated,
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
    CaseStarted,
    CaseVerified,
    CaseWithdrawn,
)
from gov_contracts.livelihood import (
    BudgetChanged,
    ImplementationStarted,
    MeetingNoticed,
    MilestoneRecorded,
    NoticePublished,
    ObjectionAnswered,
    ObjectionLodged,
    ProjectAccepted,
    ProposalDecided,
    ProposalFacts,
    ProposalReviewed,
    ProposalStepped,
    ProposalSubmitted,
    ResultsPublished,
    SpendingRecorded,
)
from gov_contracts.tasks import (
    TaskAssigned,
    TaskCancelled,
    TaskCheckedIn,
    TaskCompleted,
    TaskCreated,
    TaskFacts,
    TaskOfferDeclined,
    TaskOffered,
    TaskOfferExpired,
    TaskUnfilled,
)
from gov_contracts.vocabulary import area_chain
from gov_contracts.volunteers import HoursCorrected, VolunteerRegistered, VolunteerRegisteredV2, VolunteerUpdated
from govkit.consumer import BatchHandler, Handler, PoisonEvent
from govkit.handlers import HandlerRegistry
from reporting import case_projection
from reporting import projection_queries as queries
from reporting.domain.livelihood import stage_rank

PROJECTION_TABLES = (
    "r_cases",
    "r_rollup",
    "r_open",
    "r_closed",
    "r_resolve",
    "r_open_at",
    "r_repeat_address",
    "r_repeat_party",
    "r_due",
    "r_suspended_at",
    "r_tasks",
    "r_volunteers",
    "r_hours",
    "r_livelihood_projects",
    "r_livelihood_steps",
    "r_livelihood_milestones",
    "r_livelihood_meetings",
)
projection = HandlerRegistry()


def handlers() -> dict[str, Handler]:
    """{type name: handler} for the consumer and the rebuild."""
    return projection.handlers()


def batch_handlers() -> dict[str, BatchHandler]:
    """{type name: batch handler}: the case events (reporting.case_projection)."""
    return projection.batch_handlers()


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (TypeError, ValueError):
        raise PoisonEvent("schema_violation", f"{value!r} is not a UUID") from None


# -- cases: a run of case events in a few statements (reporting.case_projection) ------------------------------------

CaseEvent = (
    CaseReported
    | CaseReportedV2
    | CaseAccepted
    | CaseRejected
    | CaseWithdrawn
    | CaseDispatched
    | CaseStarted
    | CaseResolved
    | CaseVerified
    | CaseReopened
    | CaseClosed
    | CaseEscalated
    | CaseOverdue
    | CaseReferred
    | CaseReferralOutcomeRecorded
    | CaseMerged
    | CaseReportCountRaised
    | CaseRated
)


@projection.handles_batch(*case_projection.CASE_EVENTS)
async def on_case_events(con: asyncpg.Connection, items: Sequence[tuple[CaseEvent, CloudEvent]]) -> None:
    await case_projection.apply(con, items)


async def _bump(con: asyncpg.Connection, at: datetime, grid_id: str, category: str, metric: str) -> None:
    """Count one `metric` in the week of `at`, for the grid and every area above it."""
    await con.execute(queries.BUMP, at, area_chain(grid_id), category, metric, 1)


# -- tasks: every event upserts the task; some are also counted -----------------------------------------------------


async def _upsert_task(con: asyncpg.Connection, event: TaskFacts) -> datetime | None:
    """The task's state after the event; returns when it was first filled, if it was."""
    filled_at: datetime | None = await con.fetchval(
        queries.UPSERT_TASK,
        _uuid(event.task_id),
        event.task_type,
        event.grid_id,
        _uuid(event.case_id) if event.case_id else None,
        event.status,
        event.occurred_at,
    )
    return filled_at


async def _bump_task(con: asyncpg.Connection, event: TaskFacts, metric: str) -> None:
    await _bump(con, event.occurred_at, event.grid_id, f"task:{event.task_type}", metric)


@projection.handles(TaskOffered, TaskOfferDeclined, TaskOfferExpired, TaskCheckedIn, TaskCancelled)
async def on_task_changed(
    con: asyncpg.Connection,
    event: TaskOffered | TaskOfferDeclined | TaskOfferExpired | TaskCheckedIn | TaskCancelled,
    envelope: CloudEvent,
) -> None:
    await _upsert_task(con, event)


@projection.handles(TaskCreated)
async def on_task_created(con: asyncpg.Connection, event: TaskCreated, envelope: CloudEvent) -> None:
    await _upsert_task(con, event)
    await _bump_task(con, event, "task_created")


@projection.handles(TaskAssigned)
async def on_task_assigned(con: asyncpg.Connection, event: TaskAssigned, envelope: CloudEvent) -> None:
    filled_at = await _upsert_task(con, event)
    if event.status == "assigned" and filled_at is None:  # the first assignment fills the task
        await con.execute(queries.SET_TASK_FILLED_AT, _uuid(event.task_id), event.occurred_at)
        await _bump_task(con, event, "task_filled")


@projection.handles(TaskUnfilled)
async def on_task_unfilled(con: asyncpg.Connection, event: TaskUnfilled, envelope: CloudEvent) -> None:
    await _upsert_task(con, event)
    await _bump_task(con, event, "task_unfilled")


@projection.handles(TaskCompleted)
async def on_task_completed(con: asyncpg.Connection, event: TaskCompleted, envelope: CloudEvent) -> None:
    await _upsert_task(con, event)
    if event.volunteer_ref:
        await con.execute(
            queries.INSERT_HOURS,
            event.occurred_at,
            envelope.id,
            event.grid_id,
            event.volunteer_ref,
            event.task_type,
            event.hours,
        )


# -- volunteers ---------------------------------------------------------------------------------------------------


# registered.v1: records from before v2 stay on the topic
@projection.handles(VolunteerRegistered, VolunteerRegisteredV2, VolunteerUpdated)
async def on_volunteer(
    con: asyncpg.Connection, event: VolunteerRegistered | VolunteerRegisteredV2 | VolunteerUpdated, envelope: CloudEvent
) -> None:
    await con.execute(queries.UPSERT_VOLUNTEER, event.volunteer_ref, event.roles, event.party_member, event.home_grid)


@projection.handles(HoursCorrected)
async def on_hours_corrected(con: asyncpg.Connection, event: HoursCorrected, envelope: CloudEvent) -> None:
    grid_id = await con.fetchval(queries.VOLUNTEER_HOME_GRID, event.volunteer_ref)
    if grid_id:
        await con.execute(
            queries.INSERT_HOURS,
            event.occurred_at,
            envelope.id,
            grid_id,
            event.volunteer_ref,
            "correction",
            event.hours_delta,
        )


# -- livelihood projects: each event upserts the proposal's facts and adds a step (its stage, budget and spent
# total at that moment); facts, decisions and dates are ordered by occurred_at, not by arrival ------------------------


async def _proposal(
    con: asyncpg.Connection, event: ProposalFacts, envelope: CloudEvent, spent_total: Decimal | None = None
) -> uuid.UUID:
    proposal_id = _uuid(event.proposal_id)
    rank = stage_rank(event.stage)
    await con.execute(
        queries.UPSERT_PROPOSAL,
        proposal_id,
        event.number,
        event.village_id,
        event.grid_ids,
        event.category,
        event.flow,
        event.stage,
        rank,
        event.budget_yuan,
        event.occurred_at,
    )
    await con.execute(queries.PROPOSAL_SEEN, proposal_id, event.occurred_at)
    await con.execute(
        queries.INSERT_STEP,
        envelope.id,
        proposal_id,
        event.occurred_at,
        event.stage,
        rank,
        event.budget_yuan,
        spent_total,
    )
    if spent_total is not None:
        await con.execute(queries.SET_SPENT, proposal_id, spent_total, event.occurred_at)
    return proposal_id


@projection.handles(ProposalSubmitted)
async def on_proposal_submitted(con: asyncpg.Connection, event: ProposalSubmitted, envelope: CloudEvent) -> None:
    proposal_id = await _proposal(con, event, envelope)
    await con.execute(
        queries.SET_SUBMITTED,
        proposal_id,
        event.occurred_at,
        event.title,
        event.funding_source,
        event.households,
        event.people,
        len(event.case_ids),
    )


@projection.handles(
    ProposalStepped, ProposalReviewed, NoticePublished, ObjectionLodged, ObjectionAnswered, BudgetChanged
)
async def on_proposal_moved(
    con: asyncpg.Connection,
    event: ProposalStepped | ProposalReviewed | NoticePublished | ObjectionLodged | ObjectionAnswered | BudgetChanged,
    envelope: CloudEvent,
) -> None:
    await _proposal(con, event, envelope)


@projection.handles(ProposalDecided)
async def on_proposal_decided(con: asyncpg.Connection, event: ProposalDecided, envelope: CloudEvent) -> None:
    proposal_id = await _proposal(con, event, envelope)
    await con.execute(queries.SET_DECIDED, proposal_id, event.adopted, event.occurred_at, event.meeting_kind)


@projection.handles(ImplementationStarted)
async def on_implementation_started(
    con: asyncpg.Connection, event: ImplementationStarted, envelope: CloudEvent
) -> None:
    proposal_id = await _proposal(con, event, envelope)
    await con.execute(queries.SET_IMPLEMENTATION_STARTED, proposal_id, event.occurred_at)


@projection.handles(MilestoneRecorded)
async def on_milestone_recorded(con: asyncpg.Connection, event: MilestoneRecorded, envelope: CloudEvent) -> None:
    proposal_id = await _proposal(con, event, envelope)
    await con.execute(
        queries.UPSERT_MILESTONE,
        event.milestone_id,
        proposal_id,
        event.title,
        event.due_on,
        event.done_on,
        event.occurred_at,
    )
    await con.execute(queries.MILESTONE_SEEN, event.milestone_id, event.occurred_at)


@projection.handles(SpendingRecorded)
async def on_spending_recorded(con: asyncpg.Connection, event: SpendingRecorded, envelope: CloudEvent) -> None:
    await _proposal(con, event, envelope, spent_total=event.spent_total_yuan)


@projection.handles(ProjectAccepted)
async def on_project_accepted(con: asyncpg.Connection, event: ProjectAccepted, envelope: CloudEvent) -> None:
    proposal_id = await _proposal(con, event, envelope, spent_total=event.spent_total_yuan)
    await con.execute(queries.SET_ACCEPTED, proposal_id, event.occurred_at)


@projection.handles(ResultsPublished)
async def on_results_published(con: asyncpg.Connection, event: ResultsPublished, envelope: CloudEvent) -> None:
    proposal_id = await _proposal(con, event, envelope, spent_total=event.spent_total_yuan)
    await con.execute(queries.SET_RESULTS_PUBLISHED, proposal_id, event.occurred_at)


@projection.handles(MeetingNoticed)
async def on_meeting_noticed(con: asyncpg.Connection, event: MeetingNoticed, envelope: CloudEvent) -> None:
    await con.execute(
        queries.UPSERT_MEETING,
        event.meeting_id,
        event.village_id,
        event.kind,
        event.starts_at,
        event.proposal_ids,
        event.occurred_at,
    )

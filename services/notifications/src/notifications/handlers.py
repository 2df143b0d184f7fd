"""What the service does with each fact on the bus: keep its copies of cases, tasks and offers up to date, and
turn the facts people must hear of into deliveries (planner.store), in the consumer's inbox transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta

from gov_contracts import CloudEvent, cases, livelihood, reports, tasks
from gov_contracts.volunteers import PairingVisitOverdue
from govkit.consumer import Handler
from govkit.db import Connection
from govkit.handlers import HandlerRegistry
from notifications import planner, queries
from notifications.context import Context
from notifications.domain import operations, triggers

OFFER_ENDINGS = {
    tasks.TaskAssigned: "accepted",
    tasks.TaskOfferDeclined: "declined",
    tasks.TaskOfferExpired: "expired",
}
# the case facts someone must hear of, each with the trigger it makes (a reported case only when critical)
CASE_TRIGGERS: dict[type[cases.CaseFacts], Callable[..., triggers.Trigger | None]] = {
    cases.CaseEscalated: triggers.case_escalated,
    cases.CaseDispatched: triggers.case_dispatched,
    cases.CaseResolved: triggers.case_resolved,
    cases.CaseReturned: operations.case_returned,
}
# requests the approving level decides: which level that is, the cases policy file says (config.approvers)
REQUESTS = (cases.CaseExtensionRequested, cases.CaseSuspensionRequested)
# those whose audience is the handling unit, which the case copy knows (after the copy of the event is written)
UNIT_TRIGGERS: dict[type[cases.CaseFacts], Callable[..., triggers.Trigger | None]] = {
    cases.CaseSupervised: operations.case_supervised,
    cases.CaseExtensionDecided: operations.approval_decided,
    cases.CaseSuspensionDecided: operations.approval_decided,
}


def report_link(ctx: Context, event: reports.WeeklyReportPublished) -> str:
    """The report's signed share link from the event (it opens without signing in, until it expires); for an
    event from before share links, the report's address under NOTIFICATIONS_REPORT_URL (which needs a token)."""
    if event.share_url:
        return event.share_url
    base = ctx.config.report_url.rstrip("/")
    return f"{base}/v1/reports/weekly.html?area={event.area_id}&week={event.week}" if base else ""


class NotificationHandlers:
    """One typed handler per event class, bound to the service's context."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    async def _store(self, con: Connection, trigger: triggers.Trigger | None) -> None:
        if trigger is not None:
            await planner.store(con, self.ctx, trigger)

    async def on_case(self, con: Connection, event: cases.CaseFacts, env: CloudEvent) -> None:
        await self.on_cases(con, [(event, env)])

    async def on_cases(self, con: Connection, items: Sequence[tuple[cases.CaseFacts, CloudEvent]]) -> None:
        """Copies of a run of case events in one pipelined statement; the copies written up to an event that
        someone must hear of before it is planned, so that planning sees what it would see event by event."""
        copies: list[tuple[object, ...]] = []
        for event, env in items:
            copies.append(_case_copy(event))
            if not self._tells(event):  # most events tell nobody: no lookups for them
                continue
            await _write_copies(con, copies)
            await self._store(con, await self._case_trigger(con, event, env))
        await _write_copies(con, copies)

    def _tells(self, event: cases.CaseFacts) -> bool:
        if isinstance(event, cases.CaseReported | cases.CaseReportedV2):
            return triggers.is_critical(event, self.ctx.rules.critical_categories)
        return type(event) in CASE_TRIGGERS or type(event) in UNIT_TRIGGERS or isinstance(event, REQUESTS)

    async def _case_trigger(self, con: Connection, event: cases.CaseFacts, env: CloudEvent) -> triggers.Trigger | None:
        labels = await planner.labels(con, self.ctx, _areas_named(event))
        if isinstance(event, cases.CaseReported | cases.CaseReportedV2):
            return triggers.case_reported(env.id, event, labels, self.ctx.rules.critical_categories)
        if isinstance(event, REQUESTS):
            return operations.approval_requested(env.id, event, labels, self.ctx.config.approvers)
        if type(event) in UNIT_TRIGGERS:
            unit = await _handling_unit(con, event.case_id)
            return UNIT_TRIGGERS[type(event)](env.id, event, labels, unit)
        return CASE_TRIGGERS[type(event)](env.id, event, labels)

    async def on_task_created(self, con: Connection, event: tasks.TaskCreated, env: CloudEvent) -> None:
        await con.execute(
            queries.UPSERT_TASK,
            uuid.UUID(event.task_id),
            event.task_type,
            event.grid_id,
            uuid.UUID(event.case_id) if event.case_id else None,
            event.urgent,
            event.window_start,
            event.window_end,
        )

    async def on_task_offered(self, con: Connection, event: tasks.TaskOffered, env: CloudEvent) -> None:
        if not event.volunteer_ref:
            return
        task = await con.fetchrow(queries.GET_TASK, uuid.UUID(event.task_id))
        urgent = bool(task and task["urgent"])
        window = (task["window_start"], task["window_end"]) if task and task["window_start"] else None
        lead = timedelta(minutes=self.ctx.rules.offer_reminder_minutes)
        remind_at = triggers.offer_reminder_at(event.occurred_at, event.expires_at, lead)
        await con.execute(
            queries.UPSERT_OFFER,
            uuid.UUID(event.task_id),
            event.volunteer_ref,
            event.occurred_at,
            event.expires_at,
            remind_at,
        )
        labels = await planner.labels(con, self.ctx, [event.grid_id])
        await self._store(con, triggers.task_offered(env.id, event, labels, urgent, window))

    async def on_offer_answered(
        self,
        con: Connection,
        event: tasks.TaskAssigned | tasks.TaskOfferDeclined | tasks.TaskOfferExpired,
        env: CloudEvent,
    ) -> None:
        if event.volunteer_ref:
            await con.execute(
                queries.CLOSE_OFFER, uuid.UUID(event.task_id), event.volunteer_ref, OFFER_ENDINGS[type(event)]
            )

    async def on_task_ended(
        self, con: Connection, event: tasks.TaskUnfilled | tasks.TaskCancelled | tasks.TaskCompleted, env: CloudEvent
    ) -> None:
        task_id = uuid.UUID(event.task_id)
        await con.execute(queries.CLOSE_OFFERS_OF_TASK, task_id)
        if not isinstance(event, tasks.TaskUnfilled):
            return
        task = await con.fetchrow(queries.GET_TASK, task_id)
        level = await con.fetchval(queries.CASE_LEVEL, uuid.UUID(event.case_id)) if event.case_id else None
        window = triggers.window_text(task["window_start"], task["window_end"]) if task else ""
        labels = await planner.labels(con, self.ctx, [event.grid_id])
        await self._store(con, triggers.task_unfilled(env.id, event, labels, level, window))

    async def on_weekly_report(self, con: Connection, event: reports.WeeklyReportPublished, env: CloudEvent) -> None:
        labels = await planner.labels(con, self.ctx, [event.area_id])
        await self._store(con, triggers.weekly_report(env.id, event, labels, report_link(self.ctx, event)))

    async def on_meeting_noticed(self, con: Connection, event: livelihood.MeetingNoticed, env: CloudEvent) -> None:
        labels = await planner.labels(con, self.ctx, [event.village_id])
        await self._store(con, triggers.meeting_noticed(env.id, event, labels))

    async def on_pairing_overdue(self, con: Connection, event: PairingVisitOverdue, env: CloudEvent) -> None:
        labels = await planner.labels(con, self.ctx, [event.grid_id])
        trigger = triggers.pairing_overdue(
            env.id, event.pairing_id, event.volunteer_ref, event.grid_id, event.days_overdue, event.occurred_at, labels
        )
        await self._store(con, trigger)


def _areas_named(event: cases.CaseFacts) -> list[str]:
    """The areas a case's message names: its grid, and the unit that returned it when that is an area."""
    if isinstance(event, cases.CaseReturned) and not event.unit_id.startswith("dept."):
        return [event.grid_id, event.unit_id]
    return [event.grid_id]


async def _handling_unit(con: Connection, case_id: str) -> operations.HandlingUnit:
    row = await con.fetchrow(queries.CASE_UNIT, uuid.UUID(case_id))
    if row is None:
        return operations.HandlingUnit()
    return operations.HandlingUnit(row["unit_id"], row["unit_level"], row["assignee"])


def _unit_of(event: cases.CaseFacts) -> tuple[object, ...]:
    """(says the unit, unit id, its level, assignee): a dispatch sets them, a return or an escalation clears them
    (as the cases service does: the level above dispatches anew), others keep them."""
    if isinstance(event, cases.CaseDispatched):
        return (True, event.unit_id, event.unit_level, event.assignee)
    if isinstance(event, cases.CaseReturned | cases.CaseEscalated):
        return (True, None, None, None)
    return (False, None, None, None)


def _case_copy(event: cases.CaseFacts) -> tuple[object, ...]:
    return (
        uuid.UUID(event.case_id),
        event.number,
        event.category,
        event.severity,
        event.grid_id,
        event.level,
        event.status,
        event.accept_due,
        event.resolve_due,
        event.occurred_at,
        *_unit_of(event),
    )


async def _write_copies(con: Connection, copies: list[tuple[object, ...]]) -> None:
    if copies:
        await con.executemany(queries.UPSERT_CASE, copies)
        copies.clear()


def build(ctx: Context) -> dict[str, Handler]:
    """{event type: handler} bound to this service's context."""
    return registry(ctx).handlers()


def registry(ctx: Context) -> HandlerRegistry:
    """The handlers bound to this service's context; case events also as one batch handler."""
    h = NotificationHandlers(ctx)
    registry = HandlerRegistry()
    registry.handles_batch(*cases.FACT_EVENTS)(h.on_cases)
    registry.handles(tasks.TaskCreated)(h.on_task_created)
    registry.handles(tasks.TaskOffered)(h.on_task_offered)
    registry.handles(tasks.TaskAssigned, tasks.TaskOfferDeclined, tasks.TaskOfferExpired)(h.on_offer_answered)
    registry.handles(tasks.TaskUnfilled, tasks.TaskCancelled, tasks.TaskCompleted)(h.on_task_ended)
    registry.handles(reports.WeeklyReportPublished)(h.on_weekly_report)
    registry.handles(PairingVisitOverdue)(h.on_pairing_overdue)
    registry.handles(livelihood.MeetingNoticed)(h.on_meeting_noticed)
    return registry

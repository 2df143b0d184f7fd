"""A case and what an action does to it: `apply` returns the new case and the event that
tells the other services, `mark_overdue` does the same for a passed deadline. No I/O.

model.transition decides the state and level; this module adds what goes with them
(deadlines, who resolved it and when, counters, the unit, the merge target) and the
event's type-specific fields.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from cases.domain.model import DECISIONS, REQUESTS, TERMINAL, Action, Level, Status, allowed_actions, transition
from cases.domain.policy import Operations, Policy
from gov_contracts import cases as events
from gov_contracts import errors
from gov_contracts.vocabulary import area_at_depth

SYSTEM = "system"


@dataclass(frozen=True)
class Case:
    """The fields of a case its lifecycle reads or changes (the rest of the row is written once, at report)."""

    id: uuid.UUID
    number: str
    category: str
    severity: str
    grid_id: str
    status: Status
    level: Level
    assigned_unit: str | None
    assignee: str | None
    accept_due: datetime | None
    resolve_due: datetime | None
    due_at: datetime | None
    overdue: bool
    escalations: int
    reopen_count: int
    resolved_by: str | None
    resolved_at: datetime | None
    resolution: str | None
    referral_court: str | None
    merged_into: uuid.UUID | None
    closed_at: datetime | None
    updated_at: datetime
    report_count: int = 1
    extensions: int = 0  # approved extensions (延期)
    returns: int = 0  # times returned to the dispatcher (退单)
    # the request awaiting the level above: its kind (extension, suspension), date (new deadline, until), why, who, when
    pending_kind: str | None = None
    pending_due: datetime | None = None
    pending_reason: str | None = None
    pending_by: str | None = None
    pending_at: datetime | None = None
    # while suspended: since when, the state to go back to, and the deadline (due_at) the clock stopped at
    suspended_at: datetime | None = None
    suspended_from: str | None = None
    held_due: datetime | None = None
    suspended_seconds: int = 0  # all the time the clock stood still
    dispatched_at: datetime | None = None
    dispatched_from: str | None = None  # the level that dispatched it, where a return (退单) sends it back
    supervised_at: datetime | None = None
    supervising_level: str | None = None
    supervise_due: datetime | None = None


@dataclass(frozen=True)
class ActionInput:
    """What the client says with an action (ActionBody); `into` is the id or number of the case to merge into."""

    reason: str | None = None
    unit_level: str | None = None
    unit_id: str | None = None
    assignee: str | None = None
    resolution: str | None = None
    court: str | None = None
    outcome: str | None = None
    into: str | None = None
    due: datetime | None = None  # an extension's new deadline, a suspension's until, a supervision's report-by


@dataclass(frozen=True)
class Actor:
    """Who acts: an account, or the deadline timer (`automatic`). `level` is the highest level a staff member
    acts at; None sets no limit (the timer; the reporter or an assignee, whom authorization already limits)."""

    id: str
    level: Level | None = None
    automatic: bool = False


TIMER = Actor(SYSTEM, automatic=True)


class InvalidCaseInput(errors.InvalidInput):
    """InvalidInput whose detail says more than the short message of the `errors` list."""

    def __init__(self, field: str, message: str, *, detail: str):
        super().__init__(field, message)
        self.detail = f"{field}: {detail}"
        self.args = (self.detail,)


# the field of ActionInput an action cannot do without
REQUIRED: dict[Action, str] = {
    Action.reject: "reason",
    Action.resolve: "resolution",
    Action.reopen: "reason",
    Action.escalate: "reason",
    Action.refer: "court",
    Action.record_outcome: "outcome",
    Action.merge: "into",
    Action.request_extension: "reason",
    Action.refuse_extension: "reason",
    Action.request_suspension: "reason",
    Action.refuse_suspension: "reason",
    Action.return_: "reason",
    Action.supervise: "reason",
}

EVENT_FOR: dict[Action, type[events.CaseFacts]] = {
    Action.accept: events.CaseAccepted,
    Action.reject: events.CaseRejected,
    Action.withdraw: events.CaseWithdrawn,
    Action.dispatch: events.CaseDispatched,
    Action.start: events.CaseStarted,
    Action.resolve: events.CaseResolved,
    Action.verify: events.CaseVerified,
    Action.reopen: events.CaseReopened,
    Action.close: events.CaseClosed,
    Action.escalate: events.CaseEscalated,
    Action.refer: events.CaseReferred,
    Action.record_outcome: events.CaseReferralOutcomeRecorded,
    Action.merge: events.CaseMerged,
    Action.request_extension: events.CaseExtensionRequested,
    Action.approve_extension: events.CaseExtensionDecided,
    Action.refuse_extension: events.CaseExtensionDecided,
    Action.request_suspension: events.CaseSuspensionRequested,
    Action.approve_suspension: events.CaseSuspensionDecided,
    Action.refuse_suspension: events.CaseSuspensionDecided,
    Action.resume: events.CaseResumed,
    Action.return_: events.CaseReturned,
    Action.supervise: events.CaseSupervised,
}


def require_input(action: Action, inp: ActionInput) -> None:
    field = REQUIRED.get(action)
    if field and not getattr(inp, field):
        raise errors.InvalidInput(f"body.{field}", f"required for {action.value}")


def facts(case: Case, actor: str, reason: str | None) -> dict[str, Any]:
    """The CaseFacts every case event carries: the case after the change."""
    return dict(
        case_id=str(case.id),
        number=case.number,
        category=case.category,
        severity=case.severity,
        grid_id=case.grid_id,
        status=case.status.value,
        level=case.level.value,
        occurred_at=case.updated_at,
        actor=actor,
        reason=reason,
        accept_due=case.accept_due,
        resolve_due=case.resolve_due,
    )


def unit_for(grid_id: str, level: Level) -> str:
    """The area unit of `level` that a case in `grid_id` belongs to; the county is one unit."""
    if level is Level.grid:
        return grid_id
    if level is Level.county:
        return "county"
    return area_at_depth(grid_id, 2 if level is Level.village else 1)


@dataclass(frozen=True)
class _Step:
    """One action being applied: the case before it and everything the changes and the event read."""

    action: Action
    before: Case
    inp: ActionInput
    now: datetime
    actor: Actor
    accept_due: datetime  # the deadlines of clocks started now (Policy.due)
    resolve_due: datetime
    field_work: str | None
    target: Case | None


def apply(
    case: Case,
    action: Action,
    inp: ActionInput,
    now: datetime,
    policy: Policy,
    *,
    actor: Actor = TIMER,
    target: Case | None = None,
) -> tuple[Case, events.CaseFacts]:
    """The case after `action` and the event that records it; else InvalidInput, Conflict or IllegalAction.

    `target` is the case to merge into (merge only); `now` is the service's clock (service.Context.clock).
    """
    require_input(action, inp)
    rules = policy.get(case.category)
    to_level = _dispatch_level(case, inp, rules.level, actor.level) if action is Action.dispatch else None
    if action is Action.return_ and case.dispatched_from:
        to_level = Level(case.dispatched_from)
    if action is Action.merge:
        _check_merge_target(case, target)
    out = transition(
        case.status,
        action,
        level=case.level,
        category=case.category,
        to_level=to_level,
        pending=case.pending_kind,
        resume_to=Status(case.suspended_from) if case.suspended_from else None,
    )
    _check_operation(case, action, inp, now, actor, policy.operations)
    accept_due, resolve_due = policy.due(case.category, case.severity, now)
    step = _Step(action, case, inp, now, actor, accept_due, resolve_due, rules.field_work, target)
    new = replace(case, status=out.status, level=out.level, updated_at=now)
    new = _CHANGES.get(action, _unchanged)(new, step)
    if (new.status, new.level) != (case.status, case.level) and action not in DECISIONS:
        new = _no_request(new)  # a request is about the handling it was made in: a new state or level ends it
    if new.status in TERMINAL:
        new = replace(new, due_at=None, closed_at=now if new.status is Status.closed else new.closed_at)
    event = EVENT_FOR[action](**facts(new, actor.id, inp.reason), **_EVENT_FIELDS.get(action, _no_fields)(new, step))
    return new, event


def mark_overdue(case: Case, now: datetime) -> tuple[Case, events.CaseOverdue, bool]:
    """The case past its deadline, marked overdue, its event, and whether the timer escalates it now. Where it
    cannot be escalated (county level, or its state) the clock stops: due_at is cleared, overdue stays."""
    assert case.due_at is not None, "only a case with a deadline is overdue"
    assert case.status is not Status.suspended, "a suspended case has no deadline running"
    deadline = "accept" if case.status is Status.reported else "resolve"
    escalate = Action.escalate in allowed_actions(case.status, case.level, case.category)
    new = replace(case, overdue=True, due_at=case.due_at if escalate else None, updated_at=now)
    event = events.CaseOverdue(
        **facts(new, SYSTEM, f"{deadline} deadline passed"), deadline=deadline, due_at=case.due_at
    )
    return new, event, escalate


def check_rateable(case: Case, satisfaction: int | None) -> None:
    """A closed case is rated once."""
    if case.status is not Status.closed:
        raise errors.IllegalAction(
            "satisfaction is recorded after the case is closed",
            status=case.status.value,
            action="rate",
            allowed=[a.value for a in allowed_actions(case.status, case.level, case.category)],
        )
    if satisfaction is not None:
        raise errors.Conflict(f"case {case.number} was rated {satisfaction}", title="Already rated")


def check_callback(case: Case, external_id: str | None, earlier: str | None) -> None:
    """The hotline's call-back (回访) is of a ticket's case once it is resolved; once, unless nobody was reached."""
    if external_id is None:
        raise errors.Conflict(f"case {case.number} did not come as a ticket", title="Not an external ticket")
    if case.status not in (Status.resolved, Status.verified, Status.closed):
        raise errors.IllegalAction(
            "the call-back follows the resolution",
            status=case.status.value,
            action="callback",
            allowed=[a.value for a in allowed_actions(case.status, case.level, case.category, case.pending_kind)],
        )
    if earlier is not None and earlier != "unreachable":
        raise errors.Conflict(f"the call-back of case {case.number} was recorded: {earlier}", title="Already recorded")


def report_count_raised(target: Case, merged: Case, actor: str, reason: str | None) -> events.CaseReportCountRaised:
    """The event of the case another was merged into, `target` with its raised count."""
    return events.CaseReportCountRaised(
        **facts(target, actor, reason), report_count=target.report_count, merged_case_id=str(merged.id)
    )


# -- the checks that need more than the state ----------------------------------------------------------------


def _dispatch_level(case: Case, inp: ActionInput, policy_level: Level, actor_level: Level | None) -> Level:
    if not inp.unit_level:
        raise errors.InvalidInput("body.unit_level", "required for dispatch")
    try:
        level = Level(inp.unit_level)
    except ValueError:
        raise errors.InvalidInput("body.unit_level", "one of grid, village, town, county") from None
    if level.rank < policy_level.rank:
        raise errors.InvalidInput(
            "body.unit_level", f"{case.category} is handled at {policy_level.value} level or above"
        )
    if actor_level is not None and level.rank > actor_level.rank:
        raise errors.InvalidInput("body.unit_level", "dispatch within your level; escalate to hand a case upwards")
    if not inp.unit_id:
        raise errors.InvalidInput("body.unit_id", "required for dispatch")
    unit = unit_for(case.grid_id, level)
    if not inp.unit_id.startswith("dept.") and inp.unit_id != unit:
        raise errors.InvalidInput(
            "body.unit_id", f"the {level.value} unit of this case is {unit} (or a dept.* department)"
        )
    return level


def _check_operation(
    case: Case, action: Action, inp: ActionInput, now: datetime, actor: Actor, ops: Operations
) -> None:
    """The rules of the operations beside the main loop that the state alone does not decide."""
    if action in DECISIONS:
        _check_decider(case, DECISIONS[action], actor, ops)
    check = _OPERATION_CHECKS.get(action)
    if check is not None:
        check(case, inp, now, actor, ops)


def _check_extension_request(case: Case, inp: ActionInput, now: datetime, actor: Actor, ops: Operations) -> None:
    if inp.due is None:
        raise InvalidCaseInput("body.due", "Field required", detail="the new deadline asked for is required")
    floor = max(filter(None, (case.resolve_due, now)))
    if inp.due <= floor:
        raise InvalidCaseInput(
            "body.due", "not later", detail=f"the new deadline must be later than {floor.isoformat()}"
        )
    if case.extensions >= ops.max_extensions:
        raise errors.Conflict(
            f"case {case.number} was extended {case.extensions} times, the most allowed", title="No more extensions"
        )


def _check_extension_approval(case: Case, inp: ActionInput, now: datetime, actor: Actor, ops: Operations) -> None:
    # never refused while a new state or level ends a request: kept so that no approval moves a deadline back
    if case.pending_due and case.resolve_due and case.pending_due <= case.resolve_due:
        raise errors.Conflict("the deadline is already later than the one asked for", title="Nothing to extend")


def _check_future_due(case: Case, inp: ActionInput, now: datetime, actor: Actor, ops: Operations) -> None:
    if inp.due is not None and inp.due <= now:
        raise InvalidCaseInput("body.due", "in the past", detail="body.due must be in the future")


def _check_return(case: Case, inp: ActionInput, now: datetime, actor: Actor, ops: Operations) -> None:
    window = timedelta(hours=ops.return_window_hours)
    if case.dispatched_at is not None and now - case.dispatched_at > window:
        raise errors.Conflict(
            f"case {case.number} was dispatched at {case.dispatched_at.isoformat()}; a return is allowed "
            f"within {ops.return_window_hours:g} hours of the dispatch",
            title="Return window passed",
        )


def _check_supervision(case: Case, inp: ActionInput, now: datetime, actor: Actor, ops: Operations) -> None:
    if actor.level is None or (actor.level.rank <= case.level.rank and actor.level is not Level.county):
        raise errors.Forbidden(f"supervision (督办) is by a level above the case's ({case.level.value})")
    _check_future_due(case, inp, now, actor, ops)


_OPERATION_CHECKS: dict[Action, Callable[[Case, ActionInput, datetime, Actor, Operations], None]] = {
    Action.request_extension: _check_extension_request,
    Action.approve_extension: _check_extension_approval,
    Action.request_suspension: _check_future_due,
    Action.return_: _check_return,
    Action.supervise: _check_supervision,
}


def _check_decider(case: Case, kind: str, actor: Actor, ops: Operations) -> None:
    needed = ops.approver_level(kind, case.level)
    if actor.automatic or actor.level is None or actor.level.rank < needed.rank:
        raise errors.Forbidden(
            f"a {kind} request of a {case.level.value}-level case is decided at {needed.value} level or above"
        )
    if actor.id == case.pending_by:
        raise errors.Forbidden(f"the {kind} request is decided by someone other than who made it")


def _check_merge_target(case: Case, target: Case | None) -> None:
    if target is None:
        raise InvalidCaseInput("body.into", "required", detail="the case to merge into is required")
    if target.id == case.id:
        raise InvalidCaseInput("body.into", "same case", detail="a case cannot be merged into itself")
    if target.status in TERMINAL:
        raise errors.Conflict(f"case {target.number} is {target.status.value}", title="Target case is not open")


# -- what each action changes besides state and level ----------------------------------------------------------


def _unchanged(new: Case, step: _Step) -> Case:
    return new


def _accepted(new: Case, step: _Step) -> Case:
    return replace(new, resolve_due=step.resolve_due, due_at=step.resolve_due)


def _dispatched(new: Case, step: _Step) -> Case:
    return replace(
        new,
        assigned_unit=step.inp.unit_id,
        assignee=step.inp.assignee,
        dispatched_at=step.now,
        dispatched_from=step.before.level.value,
    )


def _resolved(new: Case, step: _Step) -> Case:
    return replace(new, due_at=None, resolved_by=step.actor.id, resolved_at=step.now, resolution=step.inp.resolution)


def _outcome_recorded(new: Case, step: _Step) -> Case:
    return replace(new, due_at=None, resolved_by=step.actor.id, resolved_at=step.now, resolution=step.inp.outcome)


def _reopened(new: Case, step: _Step) -> Case:
    due = step.resolve_due
    return replace(
        new, reopen_count=new.reopen_count + 1, resolve_due=due, due_at=due, resolved_by=None, resolved_at=None
    )


def _escalated(new: Case, step: _Step) -> Case:
    new = replace(new, escalations=new.escalations + 1, assigned_unit=None, assignee=None)
    # the higher level has its own time: to accept a case not yet accepted, else to resolve it
    if new.status is Status.reported:
        return replace(new, accept_due=step.accept_due, due_at=step.accept_due)
    return replace(new, resolve_due=step.resolve_due, due_at=step.resolve_due)


def _referred(new: Case, step: _Step) -> Case:
    return replace(new, referral_court=step.inp.court, due_at=None)


def _merged(new: Case, step: _Step) -> Case:
    assert step.target is not None
    return replace(new, merged_into=step.target.id)


def _no_request(new: Case) -> Case:
    return replace(new, pending_kind=None, pending_due=None, pending_reason=None, pending_by=None, pending_at=None)


def _requested(new: Case, step: _Step) -> Case:
    return replace(
        new,
        pending_kind=REQUESTS[step.action],
        pending_due=step.inp.due,
        pending_reason=step.inp.reason,
        pending_by=step.actor.id,
        pending_at=step.now,
    )


def _extension_approved(new: Case, step: _Step) -> Case:
    due = step.before.pending_due
    return _no_request(replace(new, extensions=new.extensions + 1, resolve_due=due, due_at=due))


def _refused(new: Case, step: _Step) -> Case:
    return _no_request(new)


def _suspended(new: Case, step: _Step) -> Case:
    before = step.before
    return _no_request(
        replace(new, suspended_at=step.now, suspended_from=before.status.value, held_due=before.due_at, due_at=None)
    )


def _resumed(new: Case, step: _Step) -> Case:
    before = step.before
    assert before.suspended_at is not None
    stood = step.now - before.suspended_at
    return replace(
        new,
        resolve_due=before.resolve_due + stood if before.resolve_due else None,
        due_at=before.held_due + stood if before.held_due else None,
        suspended_seconds=before.suspended_seconds + int(stood.total_seconds()),
        suspended_at=None,
        suspended_from=None,
        held_due=None,
    )


def _returned(new: Case, step: _Step) -> Case:
    return replace(
        new, returns=new.returns + 1, assigned_unit=None, assignee=None, dispatched_at=None, dispatched_from=None
    )


def _supervised(new: Case, step: _Step) -> Case:
    assert step.actor.level is not None
    return replace(new, supervised_at=step.now, supervising_level=step.actor.level.value, supervise_due=step.inp.due)


_CHANGES: dict[Action, Callable[[Case, _Step], Case]] = {
    Action.accept: _accepted,
    Action.dispatch: _dispatched,
    Action.resolve: _resolved,
    Action.record_outcome: _outcome_recorded,
    Action.reopen: _reopened,
    Action.escalate: _escalated,
    Action.refer: _referred,
    Action.merge: _merged,
    Action.request_extension: _requested,
    Action.request_suspension: _requested,
    Action.approve_extension: _extension_approved,
    Action.refuse_extension: _refused,
    Action.approve_suspension: _suspended,
    Action.refuse_suspension: _refused,
    Action.resume: _resumed,
    Action.return_: _returned,
    Action.supervise: _supervised,
}


# -- the event's own fields, besides the case's facts ------------------------------------------------------------


def _no_fields(new: Case, step: _Step) -> dict[str, Any]:
    return {}


def _closed_fields(new: Case, step: _Step) -> dict[str, Any]:
    on_time = bool(new.resolved_at and new.resolve_due and new.resolved_at <= new.resolve_due and not new.overdue)
    return dict(on_time=on_time, escalations=new.escalations, reopen_count=new.reopen_count)


def _merged_fields(new: Case, step: _Step) -> dict[str, Any]:
    assert step.target is not None
    return dict(into_case_id=str(step.target.id), into_number=step.target.number)


def _extension_decided(new: Case, step: _Step) -> dict[str, Any]:
    before = step.before
    assert before.pending_due is not None
    return dict(
        approved=step.action is Action.approve_extension,
        requested_due=before.pending_due,
        previous_due=before.resolve_due,
        extensions=new.extensions,
    )


def _resumed_fields(new: Case, step: _Step) -> dict[str, Any]:
    assert step.before.suspended_at is not None
    return dict(
        suspended_at=step.before.suspended_at,
        suspended_seconds=new.suspended_seconds - step.before.suspended_seconds,
    )


_EVENT_FIELDS: dict[Action, Callable[[Case, _Step], dict[str, Any]]] = {
    Action.request_extension: lambda new, step: dict(requested_due=step.inp.due, extensions=new.extensions),
    Action.approve_extension: _extension_decided,
    Action.refuse_extension: _extension_decided,
    Action.request_suspension: lambda new, step: dict(until=step.inp.due),
    Action.approve_suspension: lambda new, step: dict(approved=True, until=step.before.pending_due),
    Action.refuse_suspension: lambda new, step: dict(approved=False, until=step.before.pending_due),
    Action.resume: _resumed_fields,
    Action.return_: lambda new, step: dict(
        unit_id=step.before.assigned_unit or unit_for(new.grid_id, step.before.level), returns=new.returns
    ),
    Action.supervise: lambda new, step: dict(
        supervising_level=new.supervising_level, supervise_due=new.supervise_due, assigned_unit=new.assigned_unit
    ),
    Action.dispatch: lambda new, step: dict(
        unit_level=new.level.value,
        unit_id=step.inp.unit_id,
        assignee=step.inp.assignee,
        field_work_task_type=step.field_work,
    ),
    Action.resolve: lambda new, step: dict(resolution=step.inp.resolution),
    Action.reopen: lambda new, step: dict(reopen_count=new.reopen_count),
    Action.close: _closed_fields,
    Action.escalate: lambda new, step: dict(from_level=step.before.level.value, automatic=step.actor.automatic),
    Action.refer: lambda new, step: dict(court=step.inp.court),
    Action.record_outcome: lambda new, step: dict(outcome=step.inp.outcome),
    Action.merge: _merged_fields,
}

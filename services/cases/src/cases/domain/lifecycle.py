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
from datetime import datetime
from typing import Any

from cases.domain.model import TERMINAL, Action, Level, Status, allowed_actions, transition
from cases.domain.policy import Policy
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

    `target` is the case to merge into (merge only); `now` is the database's clock.
    """
    require_input(action, inp)
    rules = policy.get(case.category)
    to_level = _dispatch_level(case, inp, rules.level, actor.level) if action is Action.dispatch else None
    if action is Action.merge:
        _check_merge_target(case, target)
    out = transition(case.status, action, level=case.level, category=case.category, to_level=to_level)
    accept_due, resolve_due = policy.due(case.category, case.severity, now)
    step = _Step(case, inp, now, actor, accept_due, resolve_due, rules.field_work, target)
    new = replace(case, status=out.status, level=out.level, updated_at=now)
    new = _CHANGES.get(action, _unchanged)(new, step)
    if new.status in TERMINAL:
        new = replace(new, due_at=None, closed_at=now if new.status is Status.closed else new.closed_at)
    event = EVENT_FOR[action](**facts(new, actor.id, inp.reason), **_EVENT_FIELDS.get(action, _no_fields)(new, step))
    return new, event


def mark_overdue(case: Case, now: datetime) -> tuple[Case, events.CaseOverdue, bool]:
    """The case past its deadline, marked overdue, its event, and whether the timer escalates it now. Where it
    cannot be escalated (county level, or its state) the clock stops: due_at is cleared, overdue stays."""
    assert case.due_at is not None, "only a case with a deadline is overdue"
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
    return replace(new, assigned_unit=step.inp.unit_id, assignee=step.inp.assignee)


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


_CHANGES: dict[Action, Callable[[Case, _Step], Case]] = {
    Action.accept: _accepted,
    Action.dispatch: _dispatched,
    Action.resolve: _resolved,
    Action.record_outcome: _outcome_recorded,
    Action.reopen: _reopened,
    Action.escalate: _escalated,
    Action.refer: _referred,
    Action.merge: _merged,
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


_EVENT_FIELDS: dict[Action, Callable[[Case, _Step], dict[str, Any]]] = {
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

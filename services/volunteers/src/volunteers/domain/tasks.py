"""The life of a task, pure: what an offer, an answer, an expiry, a check-in or
check-out, a cancellation or the dispatch loop's next step does to a task, and
the events it produces. No I/O: the use cases (volunteers.service) load the
values, call these functions and save what they return.

States: open → offered → assigned → in_progress → completed, or cancelled, or
unfilled (nobody eligible in the town). An assignment goes assigned →
in_progress (check-in) → completed (check-out).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from gov_contracts import tasks as task_events
from gov_contracts.errors import IllegalAction, InvalidInput
from volunteers.domain.dispatch import widen
from volunteers.domain.registry import check_grid

TERMINAL = frozenset({"completed", "cancelled", "unfilled"})
NEXT_STEP = {"assigned": "check-in", "in_progress": "check-out"}  # what an assignment in this state allows
EXPIRED_NOTE = "no answer in time"

VolunteerRef = Callable[[str], str]  # volunteer id -> pseudonymous reference (events carry no ids of people)


@dataclass(frozen=True)
class NewTask:
    task_type: str
    title: str
    grid_id: str
    window_start: datetime
    window_end: datetime
    required_skills: list[str] | None = None  # None: the task type's default skills
    headcount: int = 1
    urgent: bool = False
    beneficiary_ref: str | None = None
    origin: str = "manual"
    origin_ref: str | None = None
    case_id: str | None = None


@dataclass(frozen=True)
class Task:
    """What the rules read and change of a task; the rest of its row only travels."""

    id: str
    task_type: str
    grid_id: str
    status: str
    scope_level: str
    headcount: int
    urgent: bool = False
    case_id: str | None = None
    filled_at: datetime | None = None


@dataclass(frozen=True)
class Counts:
    assigned: int  # assignments not cancelled
    completed: int
    pending: int  # offers waiting for an answer


@dataclass(frozen=True)
class OfferToMake:
    volunteer_id: str
    rank: int
    expires_at: datetime


@dataclass(frozen=True)
class Outcome:
    """A task after a rule, the offers it makes and the events to publish; `settled` is False only when
    the dispatch loop should look again (the scope widened)."""

    task: Task
    events: list[task_events.TaskFacts] = field(default_factory=list)
    offers: list[OfferToMake] = field(default_factory=list)
    settled: bool = True


class OfferNoLongerOpen(IllegalAction):
    title = "Offer no longer open"


# -- events ----------------------------------------------------------------------------------------------------


def event(
    model: type[task_events.TaskFacts],
    task: Task,
    now: datetime,
    volunteer_ref: str | None = None,
    note: str | None = None,
    **extra: Any,
) -> task_events.TaskFacts:
    return model(
        task_id=task.id,
        task_type=task.task_type,
        grid_id=task.grid_id,
        status=task.status,
        case_id=task.case_id,
        occurred_at=now,
        volunteer_ref=volunteer_ref,
        note=note,
        **extra,
    )


# -- creation --------------------------------------------------------------------------------------------------


def check_new_task(new: NewTask, *, task_types: Sequence[str], grid_kind: str | None) -> None:
    """Raises InvalidInput for the first thing wrong: the type, the grid (`grid_kind` is what the area tree
    says the grid is), the window."""
    if new.task_type not in task_types:
        raise InvalidInput("body.task_type", f"unknown task type {new.task_type!r}")
    check_grid("body.grid_id", new.grid_id, grid_kind)
    if new.window_end <= new.window_start:
        raise InvalidInput("body.window_end", "must be after window_start")


# -- the dispatch loop -----------------------------------------------------------------------------------------


def still_needed(task: Task, counts: Counts) -> int:
    """How many more offers the task needs now: its headcount less those assigned and those waiting."""
    return task.headcount - counts.assigned - counts.pending


def dispatch_step(
    task: Task, counts: Counts, chosen: Sequence[str], now: datetime, expiry: timedelta, ref: VolunteerRef
) -> Outcome:
    """The next step once the best candidates (`chosen`, at most what is still needed) are known: offer to
    them; else wait for the offers out; else widen the scope (not settled: rank again); else give up."""
    if chosen:
        offered = replace(task, status="offered", filled_at=None)
        offers = [OfferToMake(v, i + 1, now + expiry) for i, v in enumerate(chosen)]
        return Outcome(
            offered,
            [
                event(task_events.TaskOffered, offered, now, ref(o.volunteer_id), expires_at=o.expires_at)
                for o in offers
            ],
            offers,
        )
    if counts.pending > 0:
        return Outcome(task)
    wider = widen(task.scope_level)
    if wider is None:
        unfilled = replace(task, status="unfilled", filled_at=None)
        note = f"nobody eligible in the town ({counts.assigned} of {task.headcount} filled)"
        return Outcome(unfilled, [event(task_events.TaskUnfilled, unfilled, now, note=note)])
    return Outcome(replace(task, scope_level=wider, filled_at=None), settled=False)


# -- answers to offers -----------------------------------------------------------------------------------------


def check_offer_open(offer_status: str) -> None:
    if offer_status != "pending":
        raise OfferNoLongerOpen(f"the offer is {offer_status}", status=offer_status, allowed=[])


def accept(task: Task, counts: Counts, now: datetime, volunteer_ref: str) -> Outcome:
    """The volunteer takes the offer (`counts` as they were before): the task is assigned once full."""
    full = counts.assigned + 1 >= task.headcount
    accepted = replace(task, status="assigned" if full else task.status, filled_at=now if full else None)
    return Outcome(accepted, [event(task_events.TaskAssigned, accepted, now, volunteer_ref)])


def decline(task: Task, now: datetime, volunteer_ref: str, reason: str | None) -> Outcome:
    """The offer passes on: the use case dispatches the task again."""
    return Outcome(task, [event(task_events.TaskOfferDeclined, task, now, volunteer_ref, note=reason)])


def expire(task: Task, now: datetime, volunteer_ref: str) -> Outcome:
    return Outcome(task, [event(task_events.TaskOfferExpired, task, now, volunteer_ref, note=EXPIRED_NOTE)])


# -- check-in and check-out ------------------------------------------------------------------------------------


def check_assignment(status: str, expected: str) -> None:
    """Raises IllegalAction, naming the step the assignment allows, unless it is in `expected`."""
    if status != expected:
        nxt = NEXT_STEP.get(status)
        raise IllegalAction(f"the assignment is {status}", status=status, allowed=[nxt] if nxt else [])


def check_in(task: Task, now: datetime, volunteer_ref: str) -> Outcome:
    started = replace(task, status="in_progress")
    return Outcome(started, [event(task_events.TaskCheckedIn, started, now, volunteer_ref)])


@dataclass(frozen=True)
class Credit:
    hours: float
    points: int
    note: str | None  # why the ledger entry differs from the time measured


def credit(
    checked_in_at: datetime, now: datetime, *, max_hours: float, points_for: Callable[[str, float], int], task_type: str
) -> Credit:
    """Hours from check-in to check-out, capped at `max_hours` and rounded to 0.01 h; points by the type's rule."""
    raw = (now - checked_in_at).total_seconds() / 3600
    hours = round(min(raw, max_hours), 2)
    return Credit(hours, points_for(task_type, hours), None if raw <= hours else f"capped from {raw:.2f} h")


def check_out(task: Task, counts: Counts, now: datetime, volunteer_ref: str, got: Credit) -> Outcome:
    """The volunteer's assignment completes (`counts` as they were before); the task completes with the last."""
    completed = counts.completed + 1
    done = completed >= counts.assigned and counts.assigned >= task.headcount
    after = replace(task, status="completed" if done else task.status)
    return Outcome(
        after, [event(task_events.TaskCompleted, after, now, volunteer_ref, hours=got.hours, points=got.points)]
    )


# -- cancellation ----------------------------------------------------------------------------------------------


def cancel(task: Task, now: datetime, reason: str) -> Outcome:
    if task.status in TERMINAL:
        raise IllegalAction(f"the task is {task.status}", status=task.status, allowed=[])
    cancelled = replace(task, status="cancelled")
    return Outcome(cancelled, [event(task_events.TaskCancelled, cancelled, now, note=reason)])

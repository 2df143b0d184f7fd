"""The life of a task (volunteers.domain.tasks), pure: the dispatch loop's next step, answers to offers,
check-in/out and cancellation, with the events each produces."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gov_contracts import tasks as task_events
from gov_contracts.errors import IllegalAction, InvalidInput
from volunteers.domain import tasks
from volunteers.domain.tasks import Counts, NewTask, Task

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
EXPIRY = timedelta(minutes=15)
TASK = Task(
    id="t1",
    task_type="patrol",
    grid_id="changping.kongjiafan.g03",
    status="open",
    scope_level="grid",
    headcount=2,
    case_id="c1",
)


def ref(volunteer_id: str) -> str:
    return f"volunteer_{volunteer_id}"


def test_offers_go_to_the_chosen_in_rank_order_and_expire_together():
    out = tasks.dispatch_step(TASK, Counts(0, 0, 0), ["a", "b"], NOW, EXPIRY, ref)
    assert out.settled and out.task.status == "offered" and out.task.filled_at is None
    assert [(o.volunteer_id, o.rank, o.expires_at) for o in out.offers] == [
        ("a", 1, NOW + EXPIRY),
        ("b", 2, NOW + EXPIRY),
    ]
    assert [type(e) for e in out.events] == [task_events.TaskOffered] * 2
    assert [(e.volunteer_ref, e.status, e.case_id) for e in out.events] == [
        ("volunteer_a", "offered", "c1"),
        ("volunteer_b", "offered", "c1"),
    ]


@pytest.mark.parametrize(
    "scope,pending,expected",
    [
        ("grid", 1, ("open", "grid", True, [])),  # offers are out: wait for them
        ("grid", 0, ("open", "village", False, [])),  # nobody left in the grid: widen and look again
        ("village", 0, ("open", "town", False, [])),
        ("town", 0, ("unfilled", "town", True, [task_events.TaskUnfilled])),  # nobody in the town: give up
    ],
)
def test_nobody_chosen(scope, pending, expected):
    out = tasks.dispatch_step(
        Task(**{**TASK.__dict__, "scope_level": scope}), Counts(1, 0, pending), [], NOW, EXPIRY, ref
    )
    assert (out.task.status, out.task.scope_level, out.settled, [type(e) for e in out.events]) == expected
    if out.events:
        assert out.events[0].note == "nobody eligible in the town (1 of 2 filled)"


@given(headcount=st.integers(1, 10), assigned=st.integers(0, 10), pending=st.integers(0, 10))
def test_still_needed_never_counts_a_volunteer_twice(headcount, assigned, pending):
    task = Task(**{**TASK.__dict__, "headcount": headcount})
    assert tasks.still_needed(task, Counts(assigned, 0, pending)) == headcount - assigned - pending


@pytest.mark.parametrize("assigned_before,status,filled", [(0, "offered", False), (1, "assigned", True)])
def test_an_acceptance_assigns_the_task_once_full(assigned_before, status, filled):
    offered = Task(**{**TASK.__dict__, "status": "offered"})
    out = tasks.accept(offered, Counts(assigned_before, 0, 1), NOW, "volunteer_a")
    assert (out.task.status, out.task.filled_at == NOW if filled else out.task.filled_at is None) == (status, True)
    assert [(type(e), e.volunteer_ref) for e in out.events] == [(task_events.TaskAssigned, "volunteer_a")]


@pytest.mark.parametrize("status", ["accepted", "declined", "expired", "withdrawn"])
def test_only_a_pending_offer_can_be_answered(status):
    with pytest.raises(IllegalAction) as e:
        tasks.check_offer_open(status)
    assert (e.value.title, e.value.status, e.value.allowed) == ("Offer no longer open", status, [])


@pytest.mark.parametrize(
    "status,expected,allowed",
    [
        ("in_progress", "assigned", ["check-out"]),
        ("assigned", "in_progress", ["check-in"]),
        ("completed", "assigned", []),
        ("cancelled", "in_progress", []),
    ],
)
def test_an_assignment_names_the_step_it_allows(status, expected, allowed):
    with pytest.raises(IllegalAction) as e:
        tasks.check_assignment(status, expected)
    assert (e.value.status, e.value.allowed) == (status, allowed)


def points(task_type: str, hours: float) -> int:
    return 10 + round(5 * hours)


@pytest.mark.parametrize("minutes,hours,note", [(90, 1.5, None), (600, 8.0, "capped from 10.00 h")])
def test_hours_are_capped_and_the_ledger_says_why(minutes, hours, note):
    got = tasks.credit(NOW - timedelta(minutes=minutes), NOW, max_hours=8, points_for=points, task_type="patrol")
    assert (got.hours, got.points, got.note) == (hours, points("patrol", hours), note)


@given(minutes=st.integers(0, 24 * 60))
def test_credited_hours_never_exceed_the_cap(minutes):
    got = tasks.credit(NOW - timedelta(minutes=minutes), NOW, max_hours=8, points_for=points, task_type="patrol")
    assert 0 <= got.hours <= 8


@pytest.mark.parametrize(
    "assigned,completed_before,status", [(2, 1, "completed"), (2, 0, "in_progress"), (1, 0, "in_progress")]
)
def test_the_last_check_out_completes_the_task(assigned, completed_before, status):
    started = Task(**{**TASK.__dict__, "status": "in_progress"})
    got = tasks.Credit(1.0, 15, None)
    out = tasks.check_out(started, Counts(assigned, completed_before, 0), NOW, "volunteer_a", got)
    assert out.task.status == status
    (event,) = out.events
    assert type(event) is task_events.TaskCompleted
    assert (event.hours, event.points) == (1.0, 15)


@pytest.mark.parametrize("status", sorted(tasks.TERMINAL))
def test_a_finished_task_cannot_be_cancelled(status):
    with pytest.raises(IllegalAction) as e:
        tasks.cancel(Task(**{**TASK.__dict__, "status": status}), NOW, "no longer needed")
    assert (e.value.status, e.value.allowed) == (status, [])


def test_a_cancellation_says_why():
    out = tasks.cancel(TASK, NOW, "no longer needed")
    assert out.task.status == "cancelled"
    assert [(type(e), e.note) for e in out.events] == [(task_events.TaskCancelled, "no longer needed")]


@pytest.mark.parametrize(
    "change,kind,field",
    [
        ({"task_type": "juggling"}, "grid", "body.task_type"),
        ({}, None, "body.grid_id"),
        ({}, "village", "body.grid_id"),
        ({"window_end": NOW}, "grid", "body.window_end"),
    ],
)
def test_a_new_task_is_refused_naming_the_field(change, kind, field):
    new = NewTask(
        **{
            "task_type": "patrol",
            "title": "巡查",
            "grid_id": TASK.grid_id,
            "window_start": NOW,
            "window_end": NOW + timedelta(hours=1),
            **change,
        }
    )
    with pytest.raises(InvalidInput) as e:
        tasks.check_new_task(new, task_types=["patrol"], grid_kind=kind)
    assert e.value.field == field

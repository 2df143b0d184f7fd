"""lifecycle.apply, the whole rule of an action: the new case and its event, over random sequences."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cases.config import DEFAULT_POLICY
from cases.domain import lifecycle
from cases.domain.lifecycle import ActionInput, Actor, Case, apply, mark_overdue, unit_for
from cases.domain.model import DECISIONS, TERMINAL, Action, IllegalAction, Level, Status, allowed_actions
from cases.domain.policy import load
from gov_contracts import cases as events
from gov_contracts.errors import Conflict, InvalidInput

POLICY = load(DEFAULT_POLICY)
GRID = "changping.kongjiafan.g03"
T0 = datetime(2026, 11, 29, 1, 30, tzinfo=UTC)
# states in which a clock runs: to accept (reported) or to resolve
TIMED = {Status.reported, Status.accepted, Status.dispatched, Status.in_progress, Status.reopened}


def reported(category: str = "dispute.land", severity: str = "medium", **kw) -> Case:
    accept_due, _ = POLICY.due(category, severity, T0)
    fields = dict(
        id=uuid.uuid4(),
        number="CP-2026-000001",
        category=category,
        severity=severity,
        grid_id=GRID,
        status=Status.reported,
        level=Level.grid,
        assigned_unit=None,
        assignee=None,
        accept_due=accept_due,
        resolve_due=None,
        due_at=accept_due,
        overdue=False,
        escalations=0,
        reopen_count=0,
        resolved_by=None,
        resolved_at=None,
        resolution=None,
        referral_court=None,
        merged_into=None,
        closed_at=None,
        updated_at=T0,
    )
    return Case(**{**fields, **kw})


def valid_input(draw, case: Case, action: Action, now: datetime = T0) -> ActionInput:
    """An input the action accepts for this case (dispatch: a unit at or above the category's level; a `due`
    later than the case's resolve deadline and now)."""
    if action is Action.dispatch:
        lowest = POLICY.get(case.category).level
        level = draw(st.sampled_from([lv for lv in Level if lv.rank >= lowest.rank]))
        unit = draw(st.sampled_from([unit_for(case.grid_id, level), "dept.justice"]))
        return ActionInput(unit_level=level.value, unit_id=unit, assignee=draw(st.sampled_from([None, "handler-1"])))
    text = draw(st.sampled_from(["已处理", "双方和解"]))
    due = max(filter(None, (case.resolve_due, now))) + timedelta(hours=draw(st.integers(1, 400)))
    return ActionInput(
        reason=text, resolution=text, court="南漳县人民法院", outcome=text, into="CP-2026-000002", due=due
    )


def refused_by_rule(case: Case, action: Action, now: datetime) -> bool:
    """Whether an action the state allows is refused (409) by a rule of its operation."""
    ops = POLICY.operations
    if action is Action.request_extension:
        return case.extensions >= ops.max_extensions
    if action is Action.return_ and case.dispatched_at is not None:
        return now - case.dispatched_at > timedelta(hours=ops.return_window_hours)
    return False


def assert_event_tells_the_case(event: events.CaseFacts, case: Case, action: Action, actor: str) -> None:
    assert type(event) is lifecycle.EVENT_FOR[action]
    assert (event.case_id, event.number, event.category, event.severity, event.grid_id) == (
        str(case.id),
        case.number,
        case.category,
        case.severity,
        case.grid_id,
    )
    assert (event.status, event.level) == (case.status.value, case.level.value)
    assert (event.accept_due, event.resolve_due, event.occurred_at) == (
        case.accept_due,
        case.resolve_due,
        case.updated_at,
    )
    assert event.actor == actor


def assert_step(before: Case, after: Case, action: Action, now: datetime) -> None:
    # the level climbs one step by escalation; dispatch hands the case to a unit's level (docs/cases.md), never
    # below the category's; nothing else moves it
    if action is Action.escalate:
        assert after.level.rank == before.level.rank + 1
    elif action is Action.dispatch:
        assert after.level.rank >= POLICY.get(after.category).level.rank
    elif action is Action.return_:
        assert after.level.value == before.dispatched_from and after.assigned_unit is None
    else:
        assert after.level is before.level
    assert after.updated_at == now
    assert after.escalations == before.escalations + (action is Action.escalate)
    assert after.reopen_count == before.reopen_count + (action is Action.reopen)
    if after.status in TERMINAL:
        assert after.due_at is None
    elif after.status in TIMED:
        assert after.due_at is not None and after.due_at in (after.accept_due, after.resolve_due)
    if after.status is Status.closed:
        assert after.closed_at == now and before.status is Status.verified
    if after.status is Status.resolved:
        assert after.resolved_at is not None and after.resolution
    if action in (Action.accept, Action.reopen) or (action is Action.escalate and after.status is not Status.reported):
        assert after.resolve_due == after.due_at == POLICY.due(after.category, after.severity, now)[1]
    if action is Action.escalate and after.status is Status.reported:
        assert after.accept_due == after.due_at == POLICY.due(after.category, after.severity, now)[0]


@settings(max_examples=300, deadline=None)
@given(
    st.data(),
    st.sampled_from(["dispute.land", "petition", "hazard.fire", "other"]),
    st.sampled_from(["low", "medium", "critical"]),
)
def test_every_sequence_keeps_the_invariants_and_the_event_tells_the_new_case(data, category, severity):
    case = reported(category, severity)
    target = reported(category, severity, number="CP-2026-000002")
    now = T0
    for _ in range(data.draw(st.integers(0, 25))):
        action = data.draw(st.sampled_from(list(Action)))
        now += timedelta(minutes=data.draw(st.integers(1, 10_000)))
        # a request's decider is never who made it (the requests are va-1's or ga-1's)
        who = "ta-1" if action in DECISIONS else data.draw(st.sampled_from(["va-1", "ga-1"]))
        actor = Actor(who, level=Level.county)
        inp = valid_input(data.draw, case, action, now)
        if action not in allowed_actions(case.status, case.level, case.category, case.pending_kind):
            with pytest.raises(IllegalAction):
                apply(case, action, inp, now, POLICY, actor=actor, target=target)
            continue
        if refused_by_rule(case, action, now):
            with pytest.raises(Conflict):
                apply(case, action, inp, now, POLICY, actor=actor, target=target)
            continue
        new, event = apply(case, action, inp, now, POLICY, actor=actor, target=target)
        assert_step(case, new, action, now)
        assert_event_tells_the_case(event, new, action, actor.id)
        case = new
    if case.status in TERMINAL:  # terminal states stay terminal: every action is refused
        for action in Action:
            with pytest.raises(IllegalAction):
                apply(case, action, valid_input(data.draw, case, action), now, POLICY, target=target)


@pytest.mark.parametrize("action,field", sorted(lifecycle.REQUIRED.items()))
def test_an_action_without_its_field_is_invalid_input(action, field):
    with pytest.raises(InvalidInput) as e:
        apply(reported(status=Status.in_progress), action, ActionInput(), T0, POLICY)
    assert e.value.field == f"body.{field}" and e.value.detail == f"body.{field}: required for {action.value}"


def test_dispatch_checks_the_category_level_the_actor_level_and_the_unit():
    accepted = reported(status=Status.accepted)  # dispute.land: village or above
    with pytest.raises(InvalidInput, match="village level or above"):
        apply(accepted, Action.dispatch, ActionInput(unit_level="grid", unit_id=GRID), T0, POLICY)
    with pytest.raises(InvalidInput, match="within your level"):
        apply(
            accepted,
            Action.dispatch,
            ActionInput(unit_level="town", unit_id="changping"),
            T0,
            POLICY,
            actor=Actor("va-1", level=Level.village),
        )
    with pytest.raises(InvalidInput, match="unit of this case is changping.kongjiafan") as e:
        apply(accepted, Action.dispatch, ActionInput(unit_level="village", unit_id="changping.x"), T0, POLICY)
    assert e.value.field == "body.unit_id"
    new, event = apply(
        accepted, Action.dispatch, ActionInput(unit_level="town", unit_id="dept.justice", assignee="h-1"), T0, POLICY
    )
    assert (new.level, new.assigned_unit, new.assignee) == (Level.town, "dept.justice", "h-1")
    assert isinstance(event, events.CaseDispatched)
    assert (event.unit_level, event.unit_id, event.field_work_task_type) == (
        "town",
        "dept.justice",
        "dispute_mediation",
    )


def test_the_units_of_a_grid():
    assert [unit_for(GRID, lv) for lv in Level] == [GRID, "changping.kongjiafan", "changping", "county"]


def test_merge_needs_an_open_other_case():
    case = reported()
    with pytest.raises(InvalidInput, match="itself"):
        apply(case, Action.merge, ActionInput(into=case.number), T0, POLICY, target=case)
    with pytest.raises(Conflict, match="is closed") as e:
        apply(
            case,
            Action.merge,
            ActionInput(into="x"),
            T0,
            POLICY,
            target=reported(status=Status.closed, number="CP-2026-000009"),
        )
    assert e.value.title == "Target case is not open"
    target = reported(number="CP-2026-000009")
    new, event = apply(case, Action.merge, ActionInput(into="x"), T0, POLICY, target=target)
    assert new.merged_into == target.id and new.due_at is None
    assert isinstance(event, events.CaseMerged)
    assert (event.into_case_id, event.into_number) == (str(target.id), "CP-2026-000009")


def test_close_tells_whether_it_was_on_time():
    def on_time(case: Case) -> bool:
        event = apply(case, Action.close, ActionInput(), T0, POLICY)[1]
        assert isinstance(event, events.CaseClosed)
        return event.on_time

    verified = reported(status=Status.verified, resolved_at=T0, resolve_due=T0 + timedelta(hours=1))
    assert on_time(verified) is True
    assert on_time(replace(verified, overdue=True)) is False
    assert on_time(replace(verified, resolved_at=T0 + timedelta(hours=2))) is False


@pytest.mark.parametrize("level,escalates", [(Level.grid, True), (Level.town, True), (Level.county, False)])
def test_an_overdue_case_is_escalated_below_county_else_its_clock_stops(level, escalates):
    case = reported(level=level)
    marked, event, escalate = mark_overdue(case, T0 + timedelta(days=2))
    assert escalate is escalates and marked.overdue
    assert marked.due_at == (case.due_at if escalates else None)
    assert (event.deadline, event.due_at, event.reason) == ("accept", case.due_at, "accept deadline passed")
    assert (event.status, event.level, event.occurred_at) == ("reported", level.value, T0 + timedelta(days=2))
    if escalates:
        new, up = apply(marked, Action.escalate, ActionInput(reason=event.reason), T0 + timedelta(days=2), POLICY)
        assert isinstance(up, events.CaseEscalated)
        assert new.level is level.up() and up.automatic and up.from_level == level.value and new.overdue


def test_refusals_keep_the_problem_bodies_the_api_always_gave():
    from cases.domain.lifecycle import InvalidCaseInput
    from cases.service import IdempotencyKeyReused
    from govkit.problems import from_domain

    reused = from_domain(IdempotencyKeyReused())
    assert (reused.status, reused.title, reused.detail) == (
        422,
        "Idempotency-Key reused",
        "this Idempotency-Key was used for a different request",
    )
    assert reused.extra == {"errors": [{"field": "header.Idempotency-Key", "message": "reused with a different body"}]}
    unknown = from_domain(InvalidCaseInput("body.into", "no such case", detail="no case CP-1"))
    assert (unknown.status, unknown.title, unknown.detail) == (422, "Invalid request", "body.into: no case CP-1")
    assert unknown.extra == {"errors": [{"field": "body.into", "message": "no such case"}]}
    with pytest.raises(IllegalAction) as e:
        apply(reported(), Action.close, ActionInput(), T0, POLICY)
    illegal = from_domain(e.value)
    assert (illegal.status, illegal.title, illegal.type) == (
        409,
        "Action not allowed in this state",
        "/problems/illegal-action",
    )
    assert illegal.extra == {
        "status_now": "reported",
        "action": "close",
        "allowed_actions": ["accept", "reject", "withdraw", "escalate", "merge", "supervise"],
    }

"""The operations beside the main loop (issue 14): extension, suspension, return, supervision. Rules and
property tests over random sequences of actions by actors of every level."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cases.domain.lifecycle import ActionInput, Actor, Case, apply, mark_overdue
from cases.domain.model import DECISIONS, Action, IllegalAction, Level, Status, allowed_actions
from cases.domain.policy import Operations, Policy
from gov_contracts import cases as events
from gov_contracts.errors import Conflict, DomainError, Forbidden, InvalidInput
from tests.unit.test_case_apply import POLICY, reported

T0 = datetime(2026, 9, 28, 2, 0, tzinfo=UTC)  # Monday 10:00 in Beijing, before 国庆
GRID_MANAGER = Actor("gm-1", level=Level.grid)
VILLAGE = Actor("va-1", level=Level.village)
TOWN = Actor("ta-1", level=Level.town)
COUNTY = Actor("ca-1", level=Level.county)


def handling(**kw) -> Case:
    """A dispute.land case dispatched to its village at T0, 7 days to resolve."""
    fields = dict(
        status=Status.in_progress,
        level=Level.village,
        accept_due=None,
        resolve_due=T0 + timedelta(days=7),
        due_at=T0 + timedelta(days=7),
        assigned_unit="changping.kongjiafan",
        dispatched_at=T0,
        dispatched_from="town",
    )
    return reported(**{**fields, **kw})


def act(case: Case, action: Action, actor: Actor, at: datetime, **inp) -> tuple[Case, events.CaseFacts]:
    return apply(case, action, ActionInput(**inp), at, POLICY, actor=actor)


# -- extension (延期) --------------------------------------------------------------------------------------------


def test_an_extension_moves_the_deadline_only_when_the_level_above_approves():
    case = handling()
    new_due = T0 + timedelta(days=12)
    asked, event = act(case, Action.request_extension, VILLAGE, T0 + timedelta(days=1), reason="等待鉴定", due=new_due)
    assert (asked.resolve_due, asked.due_at, asked.extensions) == (case.resolve_due, case.due_at, 0)
    assert asked.pending_kind == "extension" and asked.pending_by == "va-1"
    assert isinstance(event, events.CaseExtensionRequested) and event.requested_due == new_due
    assert Action.approve_extension in allowed_actions(asked.status, asked.level, asked.category, asked.pending_kind)

    with pytest.raises(Forbidden, match="decided at town level"):
        act(asked, Action.approve_extension, VILLAGE, T0 + timedelta(days=2))
    approved, decided = act(asked, Action.approve_extension, TOWN, T0 + timedelta(days=2))
    assert (approved.resolve_due, approved.due_at, approved.extensions) == (new_due, new_due, 1)
    assert approved.pending_kind is None and approved.status is Status.in_progress
    assert isinstance(decided, events.CaseExtensionDecided)
    assert (decided.approved, decided.previous_due, decided.requested_due, decided.extensions) == (
        True,
        case.resolve_due,
        new_due,
        1,
    )


def test_a_refused_extension_leaves_the_deadline_and_frees_the_next_request():
    asked, _ = act(handling(), Action.request_extension, VILLAGE, T0, reason="x", due=T0 + timedelta(days=9))
    with pytest.raises(InvalidInput, match="body.reason"):
        act(asked, Action.refuse_extension, TOWN, T0)
    refused, event = act(asked, Action.refuse_extension, TOWN, T0, reason="理由不充分")
    assert isinstance(event, events.CaseExtensionDecided) and not event.approved
    assert (refused.resolve_due, refused.extensions, refused.pending_kind) == (asked.resolve_due, 0, None)
    assert Action.request_extension in allowed_actions(refused.status, refused.level, refused.category, None)


def test_extension_requests_are_checked():
    case = handling()
    with pytest.raises(InvalidInput, match="body.due"):
        act(case, Action.request_extension, VILLAGE, T0, reason="x")
    with pytest.raises(InvalidInput, match="later than"):
        act(case, Action.request_extension, VILLAGE, T0, reason="x", due=case.resolve_due)
    asked, _ = act(case, Action.request_extension, VILLAGE, T0, reason="x", due=T0 + timedelta(days=9))
    with pytest.raises(IllegalAction, match="request awaits a decision"):
        act(asked, Action.request_suspension, VILLAGE, T0, reason="y")
    with pytest.raises(Forbidden, match="someone other than who made it"):
        act(replace(asked, pending_by="ta-1"), Action.approve_extension, TOWN, T0)
    with pytest.raises(Conflict, match="extended 2 times") as e:
        act(replace(case, extensions=2), Action.request_extension, VILLAGE, T0, reason="x", due=T0 + timedelta(30))
    assert e.value.title == "No more extensions"


def test_the_approving_level_is_configurable():
    fixed = Policy(POLICY.categories, POLICY.critical_factor, POLICY.calendar, Operations(extension_approver="county"))
    asked, _ = act(handling(), Action.request_extension, VILLAGE, T0, reason="x", due=T0 + timedelta(days=9))
    with pytest.raises(Forbidden, match="county level"):
        apply(asked, Action.approve_extension, ActionInput(), T0, fixed, actor=TOWN)
    assert apply(asked, Action.approve_extension, ActionInput(), T0, fixed, actor=COUNTY)[0].extensions == 1
    assert Operations().approver_level("extension", Level.county) is Level.county
    assert Operations(suspension_approver="town").approver_level("suspension", Level.town) is Level.county
    with pytest.raises(ValueError, match="mayor"):
        Operations(extension_approver="mayor")


# -- suspension (缓办/挂起) ---------------------------------------------------------------------------------------


def test_a_suspension_stops_the_clock_across_national_day_and_shifts_the_deadlines():
    case = handling()
    asked, _ = act(case, Action.request_suspension, VILLAGE, T0, reason="等待法院开庭", due=T0 + timedelta(days=10))
    assert asked.due_at == case.due_at  # the clock runs until the decision
    stopped_at = T0 + timedelta(days=1)  # 9-29
    suspended, decided = act(asked, Action.approve_suspension, TOWN, stopped_at)
    assert suspended.status is Status.suspended and suspended.due_at is None
    assert isinstance(decided, events.CaseSuspensionDecided) and decided.approved
    assert decided.until == T0 + timedelta(days=10)
    assert allowed_actions(suspended.status, suspended.level, suspended.category) == [Action.resume, Action.supervise]
    with pytest.raises(AssertionError):
        mark_overdue(suspended, T0 + timedelta(days=30))

    back_at = datetime(2026, 10, 9, 1, 0, tzinfo=UTC)  # after 国庆 (10-01..10-08)
    resumed, event = act(suspended, Action.resume, VILLAGE, back_at)
    stood = back_at - stopped_at
    assert resumed.status is Status.in_progress and resumed.suspended_at is None
    assert case.resolve_due is not None
    assert resumed.resolve_due == resumed.due_at == case.resolve_due + stood
    assert resumed.suspended_seconds == int(stood.total_seconds())
    assert isinstance(event, events.CaseResumed)
    assert (event.suspended_at, event.suspended_seconds) == (stopped_at, int(stood.total_seconds()))


def test_a_suspended_case_goes_back_to_the_state_it_was_in():
    case = handling(status=Status.dispatched)
    asked, _ = act(case, Action.request_suspension, VILLAGE, T0, reason="当事人外出务工")
    suspended, _ = act(asked, Action.approve_suspension, TOWN, T0)
    assert act(suspended, Action.resume, TOWN, T0 + timedelta(hours=5))[0].status is Status.dispatched
    refused, event = act(asked, Action.refuse_suspension, TOWN, T0, reason="可先行调解")
    assert refused.status is Status.dispatched and refused.pending_kind is None
    assert isinstance(event, events.CaseSuspensionDecided) and not event.approved


# -- return (退单) ------------------------------------------------------------------------------------------------


def test_a_return_within_the_window_hands_the_case_back_to_the_dispatching_level():
    case = handling(status=Status.dispatched, assignee="h-1")
    returned, event = act(case, Action.return_, VILLAGE, T0 + timedelta(hours=3), reason="不属本村管辖")
    assert (returned.status, returned.level, returned.assigned_unit, returned.assignee) == (
        Status.accepted,
        Level.town,
        None,
        None,
    )
    assert returned.returns == 1 and returned.resolve_due == case.resolve_due  # the case's time goes on
    assert isinstance(event, events.CaseReturned)
    assert (event.unit_id, event.returns, event.level) == ("changping.kongjiafan", 1, "town")
    again, _ = act(
        returned,
        Action.dispatch,
        TOWN,
        T0 + timedelta(hours=4),
        unit_level="town",
        unit_id="dept.justice",
        assignee="h-2",
    )
    assert (again.status, again.dispatched_from, again.returns) == (Status.dispatched, "town", 1)


def test_a_return_after_the_window_is_refused():
    case = handling(status=Status.dispatched)
    with pytest.raises(Conflict, match="within 24 hours") as e:
        act(case, Action.return_, VILLAGE, T0 + timedelta(hours=25), reason="不属本村管辖")
    assert e.value.title == "Return window passed"
    with pytest.raises(IllegalAction):  # started: the unit handles it, or escalates it
        act(handling(), Action.return_, VILLAGE, T0, reason="x")


# -- supervision (督办) -------------------------------------------------------------------------------------------


def test_supervision_is_by_a_level_above_and_changes_no_state():
    case = handling()
    with pytest.raises(Forbidden, match="level above"):
        act(case, Action.supervise, VILLAGE, T0, reason="请加快办理")
    supervised, event = act(case, Action.supervise, TOWN, T0, reason="请于本周内办结", due=T0 + timedelta(days=3))
    assert (supervised.status, supervised.due_at) == (case.status, case.due_at)
    assert (supervised.supervising_level, supervised.supervised_at) == ("town", T0)
    assert isinstance(event, events.CaseSupervised)
    assert (event.supervising_level, event.supervise_due, event.assigned_unit, event.reason) == (
        "town",
        T0 + timedelta(days=3),
        "changping.kongjiafan",
        "请于本周内办结",
    )
    with pytest.raises(InvalidInput, match="body.due"):
        act(case, Action.supervise, TOWN, T0, reason="x", due=T0 - timedelta(days=1))


def test_escalation_ends_a_request_of_the_level_below():
    asked, _ = act(handling(), Action.request_extension, VILLAGE, T0, reason="x", due=T0 + timedelta(days=9))
    up, _ = act(asked, Action.escalate, VILLAGE, T0, reason="村级无法调处")
    assert up.pending_kind is None and up.level is Level.town


# -- properties over random sequences ----------------------------------------------------------------------------

ACTORS = [GRID_MANAGER, VILLAGE, TOWN, COUNTY, Actor("ca-2", level=Level.county)]
# the decisions that restart a clock, each recorded on the timeline with its own event
RESTARTS_CLOCK = {Action.accept, Action.reopen, Action.escalate}


def _input(draw, case: Case, action: Action, now: datetime) -> ActionInput:
    if action is Action.dispatch:
        level = draw(st.sampled_from([lv for lv in Level if lv.rank >= Level.village.rank]))
        unit = {"village": "changping.kongjiafan", "town": "changping", "county": "county"}[level.value]
        return ActionInput(unit_level=level.value, unit_id=unit)
    later = max(filter(None, (case.resolve_due, now))) + timedelta(hours=draw(st.integers(-5, 300)))
    return ActionInput(reason="理由", resolution="已办结", court="南漳县人民法院", outcome="调解成功", due=later)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_no_sequence_skips_an_approval_lets_a_suspended_case_go_overdue_or_moves_a_deadline_back(data):
    case = reported("dispute.land")
    now = T0
    approved_extensions = 0
    for _ in range(data.draw(st.integers(0, 40))):
        now += timedelta(minutes=data.draw(st.integers(1, 6_000)))
        # the sweep: a case past its deadline is marked overdue (and escalated where it can be)
        if case.due_at is not None and case.due_at <= now:
            assert case.status is not Status.suspended
            case, _, escalate = mark_overdue(case, now)
            if escalate:
                case, _ = apply(case, Action.escalate, ActionInput(reason="超时"), now, POLICY)
        action = data.draw(st.sampled_from(list(Action)))
        actor = data.draw(st.sampled_from(ACTORS))
        try:
            new, event = apply(case, action, _input(data.draw, case, action, now), now, POLICY, actor=actor)
        except DomainError:
            continue
        if new.status in (Status.accepted, Status.dispatched, Status.in_progress, Status.reopened):
            assert new.due_at in (new.resolve_due, None)  # the clock that runs is the resolve deadline
        if new.status is Status.suspended:
            assert new.due_at is None
            assert case.status is Status.suspended or (
                action is Action.approve_suspension and case.pending_kind == "suspension"
            )
        if action in DECISIONS:  # decided by the approving level, never by who asked
            needed = POLICY.operations.approver_level(DECISIONS[action], case.level)
            assert actor.level is not None and actor.level.rank >= needed.rank and actor.id != case.pending_by
        if new.extensions != case.extensions:
            assert action is Action.approve_extension and case.pending_kind == "extension"
            approved_extensions += 1
        if new.resolve_due is not None and case.resolve_due is not None and new.resolve_due < case.resolve_due:
            assert action in RESTARTS_CLOCK, f"{action.value} moved the deadline back"
        if new.resolve_due != case.resolve_due and action not in RESTARTS_CLOCK:
            assert action in (Action.approve_extension, Action.resume), action
            assert isinstance(event, events.CaseExtensionDecided | events.CaseResumed)
        case = new
    assert case.extensions == approved_extensions <= POLICY.operations.max_extensions


def test_an_idempotency_key_stored_before_tickets_still_matches_its_retry():
    """The request's hash is what it was before NewCase had the ticket's fields (pinned from that code), so a
    client retrying a create across the upgrade gets its case, not 422 'Idempotency-Key reused'."""
    from cases.service import NewCase, request_hash

    new = NewCase(
        category="dispute.land",
        title="山林纠纷",
        description="三组与四组",
        grid_id="changping.kongjiafan.g03",
        severity="medium",
        source="grid_patrol",
    )
    assert request_hash(new.__dict__) == "7f4e0a5a1d4af00102b37a1ee8851ac6ecc8074a1f4b117f556b2166aeb71750"
    ticket = NewCase(**{**new.__dict__, "external_source": "12345", "external_id": "GD-1"})
    assert request_hash(ticket.__dict__) != request_hash(new.__dict__)

"""The case state machine: every rule, and properties over random action sequences."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cases.domain.model import OPEN, RULES, TERMINAL, Action, IllegalAction, Level, Status, allowed_actions, transition

S, A, L = Status, Action, Level


@pytest.mark.parametrize(
    "status,action,expected",
    [
        (S.reported, A.accept, S.accepted),
        (S.reported, A.reject, S.rejected),
        (S.reported, A.withdraw, S.withdrawn),
        (S.accepted, A.dispatch, S.dispatched),
        (S.dispatched, A.start, S.in_progress),
        (S.in_progress, A.resolve, S.resolved),
        (S.resolved, A.verify, S.verified),
        (S.resolved, A.reopen, S.reopened),
        (S.reopened, A.start, S.in_progress),
        (S.verified, A.close, S.closed),
        (S.in_progress, A.refer, S.referred),
        (S.referred, A.record_outcome, S.resolved),
        (S.accepted, A.merge, S.merged),
    ],
)
def test_each_transition(status, action, expected):
    assert transition(status, action, level=L.grid, category="dispute.land").status is expected


def test_escalation_moves_one_level_and_hands_the_case_back_for_dispatch():
    assert transition(S.reported, A.escalate, level=L.grid, category="other") == transition(
        S.reported, A.escalate, level=L.grid, category="other"
    )
    out = transition(S.in_progress, A.escalate, level=L.grid, category="other")
    assert (out.status, out.level) == (S.accepted, L.village)
    out = transition(S.reported, A.escalate, level=L.town, category="other")
    assert (out.status, out.level) == (S.reported, L.county)


def test_never_past_county():
    with pytest.raises(IllegalAction, match="already at county"):
        transition(S.accepted, A.escalate, level=L.county, category="other")
    assert A.escalate not in allowed_actions(S.accepted, L.county, "other")


def test_only_disputes_go_to_court_mediation():
    with pytest.raises(IllegalAction, match="only disputes"):
        transition(S.in_progress, A.refer, level=L.town, category="petition")
    assert A.refer in allowed_actions(S.in_progress, L.town, "dispute.labor")


def test_an_illegal_action_names_the_state_and_what_is_allowed():
    with pytest.raises(IllegalAction) as e:
        transition(S.reported, A.close, level=L.grid, category="other")
    assert e.value.status is S.reported
    assert set(e.value.allowed) == {A.accept, A.reject, A.withdraw, A.escalate, A.merge, A.supervise}


def test_terminal_states_allow_nothing():
    for s in TERMINAL:
        assert allowed_actions(s, L.grid, "dispute.land") == []


def test_withdraw_only_before_acceptance():
    assert [s for s in Status if A.withdraw in allowed_actions(s, L.grid, "other")] == [S.reported]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(list(Action)), st.sampled_from(list(Level))), max_size=40),
    st.sampled_from(["dispute.land", "petition", "hazard.fire"]),
)
def test_no_sequence_reaches_an_illegal_state_or_skips_verification(steps, category):
    status, level = S.reported, L.grid
    history = [status]
    for action, to_level in steps:
        allowed = allowed_actions(status, level, category)
        if action not in allowed:
            with pytest.raises(IllegalAction):
                transition(
                    status, action, level=level, category=category, to_level=to_level if action is A.dispatch else None
                )
            continue
        out = transition(
            status, action, level=level, category=category, to_level=to_level if action is A.dispatch else None
        )
        assert out.status in Status and out.level in Level
        if action is A.escalate:
            assert out.level.rank == level.rank + 1
        elif action is not A.dispatch:
            assert out.level is level
        if out.status is S.closed:
            assert status is S.verified  # closing needs a verification
        if out.status is S.verified:
            assert status is S.resolved
        status, level = out.status, out.level
        history.append(status)
    # every closed history passed resolved -> verified -> closed at its end
    if status is S.closed:
        assert history[-3:] == [S.resolved, S.verified, S.closed]
    assert (status in TERMINAL) == (allowed_actions(status, level, category) == [])


def test_rules_cover_every_action_and_open_states():
    assert set(RULES) == set(Action)
    starts = set().union(*(r[0] for r in RULES.values()))
    assert starts <= OPEN

"""Who may read and act on a case dispatched to someone outside its area, for every role:
the assignee reads, starts and resolves it whatever their role and nothing else; everyone
else keeps the rights their role and scope give."""

import pytest

from cases import authz
from cases.domain.model import Action
from govkit.auth import ROLES, Principal

GRID = "changping.kongjiafan.g03"
ASSIGNEE = "dept-handler-1"
# dispatched by the town to the town's justice office; the case is handled at town level
CASE = {
    "grid_id": GRID,
    "level": "town",
    "status": "dispatched",
    "assignee": ASSIGNEE,
    "reporter_sub": "resident-1",
    "resolved_by": None,
}
ACTIONS = (Action.start, Action.resolve, Action.verify, Action.escalate)


def rights(p: Principal) -> dict:
    out = {"read": authz.can_view(p, CASE)}
    for a in ACTIONS:
        out[a.value] = out["read"] and authz.act_denial(p, CASE, a) is None
    return out


NOTHING = {"read": False, "start": False, "resolve": False, "verify": False, "escalate": False}
READ_ONLY = {**NOTHING, "read": True}
ASSIGNEE_RIGHTS = {"read": True, "start": True, "resolve": True, "verify": False, "escalate": False}
EVERYTHING = {"read": True, "start": True, "resolve": True, "verify": True, "escalate": True}

# someone else of the role, whose scope is the whole town
OTHERS = {
    "resident": NOTHING,
    "department": NOTHING,
    "volunteer": NOTHING,
    "operator": NOTHING,
    "service": NOTHING,  # another service calling in (notifications): nothing of cases
    "representative": NOTHING,  # the livelihood service's roles: nothing of cases
    "party_branch": NOTHING,
    "supervisory_committee": NOTHING,
    "clerk": NOTHING,
    "hotline": NOTHING,  # reads and calls back only the tickets it sent (it is their reporter)
    "analyst": READ_ONLY,
    "grid_manager": READ_ONLY,
    "village_admin": READ_ONLY,  # below the case's level
    "town_admin": EVERYTHING,
    "county_admin": EVERYTHING,
}


def test_the_table_covers_every_role():
    assert set(OTHERS) == set(ROLES)


@pytest.mark.parametrize("role", sorted(ROLES))
def test_the_assignee_reads_starts_and_resolves_whatever_their_role(role):
    assert rights(Principal(sub=ASSIGNEE, roles=[role])) == ASSIGNEE_RIGHTS
    # an area scope elsewhere changes nothing
    assert rights(Principal(sub=ASSIGNEE, roles=[role], areas=["changping.zhongguping"])) == ASSIGNEE_RIGHTS


@pytest.mark.parametrize("role", sorted(ROLES))
def test_anyone_else_has_what_role_and_scope_give(role):
    assert rights(Principal(sub="someone-else", roles=[role], areas=["changping"])) == OTHERS[role]
    assert rights(Principal(sub="someone-else", roles=[role], areas=["changping.zhongguping"])) == NOTHING


@pytest.mark.parametrize("role", sorted(ROLES))
def test_the_assignee_only_reads_and_writes_nothing_else(role):
    p = Principal(sub=ASSIGNEE, roles=[role])
    assert not authz.in_purview(p, CASE)  # attachments, ratings, merge targets
    for action in (Action.verify, Action.escalate, Action.dispatch, Action.close, Action.merge):
        denial = authz.act_denial(p, CASE, action)
        assert denial is not None and "as the dispatched assignee" in denial


def test_once_no_longer_assigned_the_outsider_sees_nothing():
    escalated = {**CASE, "assignee": None, "status": "accepted", "level": "county"}
    assert rights(Principal(sub=ASSIGNEE, roles=["department"])) == ASSIGNEE_RIGHTS
    p = Principal(sub=ASSIGNEE, roles=["department"])
    assert not authz.can_view(p, escalated)


def test_list_scopes_follow_the_role():
    assert authz.scopes(Principal(sub="a", roles=["analyst"], areas=["changping"])) == ["changping"]
    assert authz.scopes(Principal(sub="d", roles=["department"], areas=["changping"])) == []
    assert authz.scopes(Principal(sub="r", roles=["resident"])) == []


@pytest.mark.parametrize("role", sorted(ROLES))
def test_only_the_reporter_withdraws_a_case(role):
    """Withdrawing looks as if the reporter took the case back and needs no reason: staff reject instead."""
    reported = {**CASE, "status": "reported", "level": "grid", "assignee": None}
    someone = Principal(sub="town-admin-1", roles=[role], areas=["changping"])
    assert authz.act_denial(someone, reported, Action.withdraw) == (
        "only the reporter withdraws a case; staff reject it, with a reason"
    )
    reporter = Principal(sub="resident-1", roles=[role], areas=[])
    assert authz.act_denial(reporter, reported, Action.withdraw) is None
    anonymous = {**reported, "reporter_sub": None}
    assert authz.act_denial(Principal(sub="x", roles=[role], areas=["changping"]), anonymous, Action.withdraw)

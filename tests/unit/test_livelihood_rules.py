"""The livelihood service's rules without a database: both shipped flows, a broken flow refused at start, the
quorum and majority of the 村民委员会组织法 (exact fractions), the double entry of tallies, the guards of the
later steps, the evidence summary and the ranking — and, property-based, that no sequence of steps reaches
implementation without a quorate adopted decision and a public notice whose period is over and whose objections
are answered."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gov_contracts.errors import Conflict, Forbidden, IllegalAction
from livelihood.config import CONFIG_DIR, load_flows, load_rules
from livelihood.domain import evidence, guards, meetings
from livelihood.domain.flow import FlowError, build

FLOWS = load_flows(CONFIG_DIR / "flows")
RULES, MEETING_RULES = load_rules(CONFIG_DIR / "rules.yaml")
REPS = MEETING_RULES["representatives_meeting"]
VILLAGERS = MEETING_RULES["villagers_meeting"]


def raw(name: str) -> dict:
    return yaml.safe_load((CONFIG_DIR / "flows" / f"{name}.yaml").read_text(encoding="utf-8"))


def test_both_shipped_flows_load_with_their_steps():
    three, four = FLOWS["three_step"], FLOWS["four_two"]
    assert three.label == "村民代表提、支部审、群众议" and four.label == "四议两公开"
    assert three.allowed("proposed") == ["approve", "return", "merge", "withdraw"]
    assert four.allowed("proposed") == ["discuss", "withdraw"] and four.proposer_roles == ("party_branch",)
    with pytest.raises(IllegalAction) as e:
        three.action("start", "approved")
    assert e.value.allowed == ["decide"] and e.value.status == "approved"
    with pytest.raises(Forbidden):
        three.authorize(three.action("approve", "proposed"), ["representative"])
    assert three.is_terminal("results_public") and three.is_terminal("merged")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f["actions"].pop("decide"), "no action of kind decide"),
        (lambda f: f["actions"]["start"].update({"from": ["approved"]}), "reachable without an action of kind decide"),
        (lambda f: f["actions"]["start"].update({"from": ["decided"]}), "without an action of kind publish_notice"),
        (lambda f: f["actions"]["approve"].update({"to": "nowhere"}), "'nowhere' is not a stage"),
        (lambda f: f["actions"]["approve"].update({"roles": ["mayor"]}), "'mayor' is not one of"),
        (lambda f: f["stages"].update({"orphan": {"label": "孤立"}}), "stages.orphan: not reachable"),
        (lambda f: f["actions"]["approve"].update({"kind": "teleport"}), "'teleport' is not one of"),
    ],
)
def test_a_broken_flow_is_refused_naming_the_key(change, message):
    f = raw("three_step")
    change(f)
    with pytest.raises(FlowError, match=message):
        build(f)


def test_a_bad_flow_file_stops_the_service_with_one_line(tmp_path: Path):
    from govkit.settings import ConfigError

    (tmp_path / "x.yaml").write_text("name: x\nlabel: x\ninitial: a\nstages: {a: {label: A}}\nactions: {}\n")
    with pytest.raises(ConfigError) as e:
        load_flows(tmp_path)
    assert str(e.value).startswith("config error: LIVELIHOOD_FLOWS_DIR: x.yaml: actions") and "\n" not in str(e.value)


def tally(present, eligible, yes, no=0, abstain=0, households=0, represented=0) -> meetings.Tally:
    return meetings.Tally(present, eligible, yes, no, abstain, households, represented)


@pytest.mark.parametrize(
    ("present", "yes", "quorate", "adopted"),
    [(21, 15, True, True), (20, 15, True, True), (19, 19, False, False), (21, 10, True, False), (30, 16, True, True)],
)
def test_representatives_meeting_needs_two_thirds_and_decides_by_more_than_half_present(present, yes, quorate, adopted):
    d = meetings.decide(REPS, tally(present, 30, yes))
    assert (d.quorate, d.adopted) == (quorate, adopted)
    if not quorate:
        assert "未达法定人数" in d.why


def test_villagers_meeting_quorum_by_adults_or_by_two_thirds_of_households():
    assert not meetings.decide(VILLAGERS, tally(500, 1000, 400, households=300, represented=199)).quorate
    assert meetings.decide(VILLAGERS, tally(501, 1000, 300)).adopted  # more than half the adults; 300 > 250.5
    by_households = meetings.decide(VILLAGERS, tally(420, 1000, 300, households=300, represented=200))
    assert by_households.quorate and by_households.adopted
    assert not meetings.decide(VILLAGERS, tally(501, 1000, 250, 200)).adopted  # 250 is not more than half of 501


@given(present=st.integers(0, 60), eligible=st.integers(1, 60), yes=st.integers(0, 60))
def test_the_rule_is_the_statute_in_integers(present, eligible, yes):
    present = min(present, eligible)
    yes = min(yes, present)
    d = meetings.decide(REPS, tally(present, eligible, yes))
    assert d.quorate == (3 * present >= 2 * eligible)
    assert d.adopted == (d.quorate and 2 * yes > present)


def test_two_clerks_must_enter_the_same_tally():
    a = tally(21, 30, 15, 4, 2)
    assert meetings.matching([("clerk-a", a)]) is None
    assert meetings.matching([("clerk-a", a), ("clerk-a", a)]) is None  # one clerk twice is still one entry
    assert meetings.matching([("clerk-a", a), ("clerk-b", a)]) == a
    with pytest.raises(Conflict) as e:
        meetings.matching([("clerk-a", a), ("clerk-b", tally(21, 30, 16, 3, 2))])
    assert e.value.extra["differing"] == ["votes_for", "votes_against"]


def test_a_tally_that_cannot_be_is_refused():
    from gov_contracts.errors import InvalidInput

    with pytest.raises(InvalidInput, match="present"):
        tally(31, 30, 1).check()
    with pytest.raises(InvalidInput, match="votes_for"):
        tally(21, 30, 15, 5, 2).check()


def test_guards_of_start_spending_and_acceptance():
    today = date(2026, 12, 10)
    with pytest.raises(Conflict, match="not been published"):
        guards.check_start(None, today, 0)
    with pytest.raises(Conflict, match="runs until 2026-12-10"):
        guards.check_start(today, today, 0)
    with pytest.raises(Conflict, match="1 objection"):
        guards.check_start(today - timedelta(days=1), today, 1)
    guards.check_start(today - timedelta(days=1), today, 0)
    guards.check_spending(Decimal("1250000.00"), Decimal("1000000.00"), Decimal("250000.00"))
    with pytest.raises(Conflict, match="above the budget"):
        guards.check_spending(Decimal("1250000.00"), Decimal("1000000.00"), Decimal("250000.01"))
    with pytest.raises(Conflict):
        guards.check_accept(2)


def test_evidence_summary_and_ranking():
    demand = {
        "weeks": 12,
        "themes": [{"theme": "饮水", "cases": 37, "grids": 4, "trend": "rising", "case_ids": ["c1", "c2"]}],
    }
    proof = evidence.evidence("饮水", demand, ["c1", "c9"])
    assert proof.summary() == "38 件相关诉求，4 个网格，近 12 周上升" and proof.extra_cases == 1
    assert evidence.evidence("路灯", None, []).summary() == "暂无相关诉求数据"
    ranked = evidence.rank(
        [
            evidence.Candidate("water", 38, 1046, 312, Decimal("1250000")),
            evidence.Candidate("lights", 5, 260, 80, Decimal("36000")),
            evidence.Candidate("square", 0, 600, 0, Decimal("200000")),
        ],
        0.5,
        0.3,
        0.2,
    )
    assert [pid for pid, _ in ranked] == ["water", "lights", "square"]
    assert ranked[0][1] == round(0.5 + 0.3 + 0.2 * (450 / 4006.41), 4)


# -- property: implementation only after a quorate decision and an answered, elapsed notice ---------------------------

STEP = st.sampled_from(["action", "decide", "notice_over", "object", "answer"])


class Simulation:
    """A proposal driven by arbitrary steps through the flow, with the guards the use cases apply."""

    def __init__(self, flow):
        self.flow, self.stage = flow, flow.initial
        self.adopted = self.notice_published = self.notice_over = False
        self.objections = 0

    def decide(self, present: int) -> None:
        act = self.flow.of_kind("decide")
        if self.stage not in act.sources:
            return
        d = meetings.decide(REPS, tally(present, 30, min(present, 16)))
        if d.quorate:  # without quorum nothing is recorded
            self.adopted = d.adopted
            self.stage = act.target if d.adopted else (act.otherwise or act.target)

    def act(self, n: int) -> None:
        allowed = self.flow.allowed(self.stage)
        if not allowed:
            return
        act = self.flow.actions[allowed[n % len(allowed)]]
        if act.kind == "decide":
            return  # only a meeting's tally decides
        if act.kind == "start":
            ends = date(2026, 1, 1) if self.notice_over else date(2026, 12, 31)
            try:
                guards.check_start(ends if self.notice_published else None, date(2026, 6, 1), self.objections)
            except Conflict:
                return
        self.notice_published |= act.kind == "publish_notice"
        self.stage = act.target

    def step(self, kind: str, n: int) -> None:
        if kind == "decide":
            self.decide(n)
        elif kind == "action":
            self.act(n)
        elif kind == "notice_over":
            self.notice_over = self.notice_published
        elif kind == "object" and self.notice_published:
            self.objections += 1
        elif kind == "answer" and self.objections:
            self.objections -= 1


@settings(max_examples=300, deadline=None)
@given(flow_name=st.sampled_from(sorted(FLOWS)), steps=st.lists(st.tuples(STEP, st.integers(0, 30)), max_size=40))
def test_no_sequence_reaches_implementation_without_decision_and_notice(flow_name, steps):
    sim = Simulation(FLOWS[flow_name])
    implementing = sim.flow.of_kind("start").target
    for kind, n in steps:
        before = sim.stage
        sim.step(kind, n)
        if sim.stage == implementing and before != implementing:  # an objection may come in later: checked on entry
            assert sim.adopted and sim.notice_published and sim.notice_over and sim.objections == 0


def test_the_simulation_does_reach_implementation_on_the_lawful_path():
    """The property above is not vacuous: the lawful sequence gets there, and each missing piece stops it."""
    lawful = [
        ("action", 0),
        ("decide", 21),
        ("action", 0),
        ("object", 0),
        ("notice_over", 0),
        ("action", 0),
        ("answer", 0),
        ("action", 0),
    ]
    for flow_name, steps in (("three_step", lawful), ("four_two", [("action", 0), ("action", 0), *lawful[1:]])):
        sim = Simulation(FLOWS[flow_name])
        for kind, n in steps:
            sim.step(kind, n)
        assert sim.stage == "implementing", flow_name
    inquorate = Simulation(FLOWS["three_step"])
    for kind, n in [("action", 0), ("decide", 19), ("action", 0), ("notice_over", 0), ("action", 0)]:
        inquorate.step(kind, n)
    assert inquorate.stage == "approved"

"""Quorum and majority of a 村民会议 or 村民代表会议, as configuration, and the double entry of paper tallies.

Counts are integers and fractions exact (`Fraction`): 21 of 30 members is at least two thirds (21·3 ≥ 30·2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from fractions import Fraction

from gov_contracts.errors import Conflict, InvalidInput

COUNTS = ("present", "eligible", "households", "households_represented")


@dataclass(frozen=True)
class Threshold:
    count: str  # present, households_represented, votes_for
    of: str  # eligible, households, present
    fraction: Fraction
    strict: bool  # more_than (True) or at_least (False)

    def met(self, values: Mapping[str, int]) -> bool:
        part, whole = values[self.count], values[self.of]
        if whole <= 0:
            return False
        share = Fraction(part, whole)  # exact: 20/30 is two thirds, not 0.666...
        return share > self.fraction if self.strict else share >= self.fraction

    def describe(self) -> str:
        return f"{self.count} {'>' if self.strict else '≥'} {self.fraction} × {self.of}"


@dataclass(frozen=True)
class MeetingRule:
    kind: str
    label: str
    quorum_any: tuple[Threshold, ...]  # quorate when any is met
    majority: Threshold  # count is votes_for


@dataclass(frozen=True)
class Tally:
    """One clerk's entry of the paper tally of one proposal at one meeting."""

    present: int
    eligible: int  # members (村民代表会议) or adult villagers (村民会议)
    votes_for: int
    votes_against: int
    abstentions: int
    households: int = 0
    households_represented: int = 0

    def check(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 0:
                raise InvalidInput(f"body.{f.name}", "must not be negative")
        if self.present > self.eligible:
            raise InvalidInput("body.present", f"{self.present} present is more than the {self.eligible} eligible")
        if self.households_represented > self.households:
            raise InvalidInput("body.households_represented", "more than the households")
        if self.votes_for + self.votes_against + self.abstentions > self.present:
            raise InvalidInput("body.votes_for", "for + against + abstain is more than those present")


@dataclass(frozen=True)
class Decision:
    quorate: bool
    adopted: bool
    why: str


def decide(rule: MeetingRule, tally: Tally) -> Decision:
    """Without quorum there is no decision; with it, adopted when the majority rule is met."""
    values = {
        "present": tally.present,
        "eligible": tally.eligible,
        "households": tally.households,
        "households_represented": tally.households_represented,
        "votes_for": tally.votes_for,
    }
    if not any(t.met(values) for t in rule.quorum_any):
        need = " 或 ".join(t.describe() for t in rule.quorum_any)
        return Decision(False, False, f"未达法定人数（{need}），不作决定")
    if rule.majority.met(values):
        return Decision(True, True, f"赞成{tally.votes_for}票，超过到会人员{tally.present}人的半数，通过")
    return Decision(True, False, f"赞成{tally.votes_for}票，未过到会人员{tally.present}人的半数，未通过")


def matching(entries: Sequence[tuple[str, Tally]]) -> Tally | None:
    """The tally both clerks entered alike, or None while only one entry exists; Conflict naming the
    differing fields when two different clerks' entries differ."""
    by_clerk = dict(entries)
    if len(by_clerk) < 2:
        return None
    (clerk_a, a), (clerk_b, b) = list(by_clerk.items())[:2]
    differ = [f.name for f in fields(Tally) if getattr(a, f.name) != getattr(b, f.name)]
    if differ:
        detail = "; ".join(f"{n}: {clerk_a} {getattr(a, n)} ≠ {clerk_b} {getattr(b, n)}" for n in differ)
        raise Conflict(
            f"the two entries differ ({detail}); a clerk re-enters", title="Tally entries differ", differing=differ
        )
    return a


def rule_from(kind: str, raw: Mapping[str, object]) -> MeetingRule:
    def threshold(v: Mapping[str, object], count: str | None = None) -> Threshold:
        strict = "more_than" in v
        text = str(v["more_than"] if strict else v["at_least"])
        return Threshold(count or str(v["count"]), str(v["of"]), Fraction(text), strict)

    quorum = tuple(threshold(v) for v in raw["quorum_any"])  # type: ignore[attr-defined]
    majority = threshold(raw["majority"], count="votes_for")  # type: ignore[arg-type]
    return MeetingRule(kind, str(raw.get("label", kind)), quorum, majority)

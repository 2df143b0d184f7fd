"""Evidence for a proposal and the ranking of a village's proposals.

Evidence of a proposal = the requests of the reporting service's demand analysis whose theme is the proposal's
category (饮水 for water, ...) in the village, plus the cases given with the proposal that the analysis does not
already count. The rank score (weights from the rules file, default 0.5 / 0.3 / 0.2):

    score = w_evidence · evidence / max evidence in the village
          + w_people   · people benefiting / max people
          + w_cost     · min cost per household / cost per household      (cost per household = budget ÷ households)

each term in [0, 1]; a proposal with no households counts 0 for cost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

TREND_LABEL = {"rising": "上升", "falling": "下降", "flat": "持平"}


@dataclass(frozen=True)
class Evidence:
    theme: str
    requests: int  # of the demand analysis
    grids: int
    trend: str
    weeks: int
    linked_cases: int  # given with the proposal, known in the village
    extra_cases: int  # linked cases the analysis does not count

    @property
    def total(self) -> int:
        return self.requests + self.extra_cases

    def summary(self) -> str:
        """E.g. 37 件相关诉求，4 个网格，近 12 周上升."""
        if not self.requests and not self.linked_cases:
            return "暂无相关诉求数据"
        if not self.requests:  # no demand analysis of the theme yet: the cases given with the proposal
            return f"群众反映相关诉求 {self.linked_cases} 件（提议所附）"
        trend = TREND_LABEL.get(self.trend, self.trend)
        text = f"{self.total} 件相关诉求，{self.grids} 个网格"
        return text + (f"，近 {self.weeks} 周{trend}" if self.weeks else "")


def evidence(theme: str, demand: Mapping[str, Any] | None, linked_case_ids: Sequence[str]) -> Evidence:
    found = None
    if demand:
        found = next((t for t in demand["themes"] if t["theme"] == theme), None)
    counted = set(found["case_ids"]) if found else set()
    extra = [c for c in linked_case_ids if c not in counted]
    return Evidence(
        theme=theme,
        requests=found["cases"] if found else 0,
        grids=found["grids"] if found else 0,
        trend=found["trend"] if found else "flat",
        weeks=int(demand["weeks"]) if demand and found else 0,
        linked_cases=len(linked_case_ids),
        extra_cases=len(extra),
    )


@dataclass(frozen=True)
class Candidate:
    proposal_id: str
    evidence: int
    people: int
    households: int
    budget: Decimal


def cost_per_household(c: Candidate) -> Decimal | None:
    return (c.budget / c.households).quantize(Decimal("0.01")) if c.households else None


def rank(candidates: Sequence[Candidate], w_evidence: float, w_people: float, w_cost: float) -> list[tuple[str, float]]:
    """(proposal id, score) best first; ties by id."""
    if not candidates:
        return []
    max_evidence = max(c.evidence for c in candidates) or 1
    max_people = max(c.people for c in candidates) or 1
    costs = [cph for c in candidates if (cph := cost_per_household(c)) is not None and cph > 0]
    cheapest = min(costs) if costs else None
    scored = []
    for c in candidates:
        cph = cost_per_household(c)
        cost_term = float(cheapest / cph) if cheapest is not None and cph else (1.0 if cph == 0 else 0.0)
        score = w_evidence * c.evidence / max_evidence + w_people * c.people / max_people + w_cost * cost_term
        scored.append((c.proposal_id, round(score, 4)))
    scored.sort(key=lambda x: (-x[1], x[0]))
    return scored

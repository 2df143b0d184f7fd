"""Livelihood demand and livelihood projects (民生实事), pure: the rules behind
gov.report.livelihood_demand.v1, the 民生实事 section of the weekly report and
the annual report. docs/kpis.md states each rule; this module is its one
implementation.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal

from gov_contracts.reports import DemandTheme

DEMAND_WEEKS = 12  # the window of the demand analysis: 12 ISO weeks ending with the published week
DEMAND_CASE_IDS = 50  # newest case ids per theme in the event
# trend: the later half of the window against the earlier one
RISE_RATIO = (6, 5)  # later > earlier × 6/5 (1.2), in integers so that no rounding decides
RISE_MIN = 2  # and later − earlier ≥ 2 (and the same the other way round for falling)

CATEGORY_LABELS = {
    "water": "饮水",
    "road": "道路",
    "streetlight": "路灯",
    "culture_square": "文化广场",
    "environment": "环境整治",
    "elderly": "养老",
    "other": "其他",
}
# the stages of both configured flows (three_step, four_two), in a general Chinese wording
STAGE_LABELS = {
    "proposed": "提议",
    "returned": "退回修改",
    "discussed": "两委商议",
    "approved": "支部审核通过",
    "reviewed": "党员大会审议",
    "decided": "决议通过",
    "not_adopted": "未通过",
    "merged": "已合并",
    "withdrawn": "已撤回",
    "in_notice": "公示中",
    "implementing": "实施中",
    "accepted": "已验收",
    "results_public": "结果已公开",
}
# how far a stage is along the flow; only breaks ties between events of the same instant (an unknown stage: 0)
STAGE_RANK = {
    "proposed": 1,
    "returned": 2,
    "discussed": 2,
    "approved": 3,
    "reviewed": 3,
    "merged": 3,
    "withdrawn": 3,
    "decided": 4,
    "not_adopted": 4,
    "in_notice": 5,
    "implementing": 6,
    "accepted": 7,
    "results_public": 8,
}
# a proposal in one of these stages is done with: it stays in a year's pipeline only if it got there that year
FINAL_STAGES = frozenset({"results_public", "not_adopted", "merged", "withdrawn"})


def category_label(category: str) -> str:
    return CATEGORY_LABELS.get(category, category)


def stage_label(stage: str) -> str:
    return STAGE_LABELS.get(stage, stage)


def stage_rank(stage: str) -> int:
    return STAGE_RANK.get(stage, 0)


def stage_order(stage: str) -> tuple[int, str]:
    """Sort key of stages in a report: along the flow, unknown ones last by name."""
    return (STAGE_RANK.get(stage, 99), stage)


# -- demand -------------------------------------------------------------------------------------------------------


def theme_of(title: str, tags: Sequence[str], keywords: Mapping[str, Sequence[str]]) -> str:
    """The first theme one of whose keywords is in the title or the tags; else the first tag; else 其他."""
    for theme, words in keywords.items():
        if any(w in title or w in tags for w in words):
            return theme
    return tags[0] if tags else "其他"


def trend(earlier: int, later: int) -> str:
    """rising when later > earlier × 1.2 and later − earlier ≥ 2; falling the other way round; else flat."""
    num, den = RISE_RATIO
    if later * den > earlier * num and later - earlier >= RISE_MIN:
        return "rising"
    if earlier * den > later * num and earlier - later >= RISE_MIN:
        return "falling"
    return "flat"


@dataclass(frozen=True)
class Request:
    """A livelihood request (case of category livelihood.request) as the demand analysis sees it."""

    case_id: str
    title: str
    tags: tuple[str, ...]
    grid_id: str
    reported_at: datetime


def demand_themes(
    requests: Iterable[Request], keywords: Mapping[str, Sequence[str]], later_from: datetime
) -> list[DemandTheme]:
    """Per theme: requests, distinct grids, trend (reported before `later_from` = the earlier half) and the
    newest case ids; most requests first, then by theme."""
    by_theme: dict[str, list[Request]] = defaultdict(list)
    for r in requests:
        by_theme[theme_of(r.title, r.tags, keywords)].append(r)
    out = []
    for theme, rs in by_theme.items():
        later = sum(1 for r in rs if r.reported_at >= later_from)
        newest = sorted(rs, key=lambda r: (r.reported_at, r.case_id), reverse=True)[:DEMAND_CASE_IDS]
        out.append(
            DemandTheme(
                theme=theme,
                cases=len(rs),
                grids=len({r.grid_id for r in rs}),
                trend=trend(len(rs) - later, later),
                case_ids=[r.case_id for r in newest],
            )
        )
    out.sort(key=lambda t: (-t.cases, t.theme))
    return out


# -- the pipeline at a week's end ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProposalAtEnd:
    """A proposal as it stood at the end of a week: its latest event before the end gives stage, budget and
    when it got there; spent is the latest spent total recorded before the end."""

    proposal_id: str
    stage: str
    stage_since: datetime
    budget_yuan: Decimal
    spent_yuan: Decimal
    adopted: bool | None  # the proposal's decision, whenever it came: compare decided_at with the end
    decided_at: datetime | None
    implementation_started_at: datetime | None
    accepted_at: datetime | None


@dataclass(frozen=True)
class Milestone:
    milestone_id: str
    proposal_id: str
    title: str
    due_on: date
    done_on: date | None
    recorded_at: datetime


@dataclass(frozen=True)
class Pipeline:
    proposals: int
    by_stage: dict[str, int]
    adopted_in_week: int
    not_adopted_in_week: int
    implementing: int
    overdue_milestones: list[Milestone]
    budget_adopted_yuan: Decimal
    spent_yuan: Decimal
    included: frozenset[str]  # proposal ids in the pipeline


def in_pipeline(p: ProposalAtEnd, year_start: datetime) -> bool:
    """Still running at the week's end, or done with in the week's year."""
    return p.stage not in FINAL_STAGES or p.stage_since >= year_start


def before(at: datetime | None, end: datetime) -> bool:
    return at is not None and at < end


def pipeline(
    proposals: Iterable[ProposalAtEnd],
    milestones: Iterable[Milestone],
    *,
    start: datetime,
    end: datetime,
    end_day: date,
    year_start: datetime,
) -> Pipeline:
    """The week [start, end) of a unit; `end_day` is the first day after the week, `year_start` the start of the
    year the week ends in (docs/kpis.md, "Livelihood projects")."""
    included = [p for p in proposals if p.stage_since < end and in_pipeline(p, year_start)]
    ids = frozenset(p.proposal_id for p in included)
    decided_in_week = [p for p in included if p.decided_at is not None and start <= p.decided_at < end]
    adopted_by_end = [p for p in included if p.adopted and before(p.decided_at, end)]
    overdue = [
        m
        for m in milestones
        if m.proposal_id in ids
        and m.recorded_at < end
        and m.due_on < end_day
        and (m.done_on is None or m.done_on >= end_day)
    ]
    return Pipeline(
        proposals=len(included),
        by_stage=dict(sorted(Counter(p.stage for p in included).items(), key=lambda kv: stage_order(kv[0]))),
        adopted_in_week=sum(1 for p in decided_in_week if p.adopted),
        not_adopted_in_week=sum(1 for p in decided_in_week if p.adopted is False),
        implementing=sum(
            1 for p in included if before(p.implementation_started_at, end) and not before(p.accepted_at, end)
        ),
        overdue_milestones=sorted(overdue, key=lambda m: (m.due_on, m.milestone_id)),
        budget_adopted_yuan=exact_sum(p.budget_yuan for p in adopted_by_end),
        spent_yuan=exact_sum(p.spent_yuan for p in included),
        included=ids,
    )


# -- the annual report --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnnualProject:
    stage: str
    adopted: bool | None
    budget_yuan: Decimal
    spent_yuan: Decimal
    households: int | None
    people: int | None
    accepted: bool


@dataclass(frozen=True)
class AnnualTotals:
    proposals: int
    adopted: int
    not_adopted: int
    accepted: int
    budget_yuan: Decimal
    budget_adopted_yuan: Decimal
    spent_yuan: Decimal
    households: int
    people: int


def annual_totals(projects: Sequence[AnnualProject]) -> AnnualTotals:
    return AnnualTotals(
        proposals=len(projects),
        adopted=sum(1 for p in projects if p.adopted),
        not_adopted=sum(1 for p in projects if p.adopted is False),
        accepted=sum(1 for p in projects if p.accepted),
        budget_yuan=exact_sum(p.budget_yuan for p in projects),
        budget_adopted_yuan=exact_sum(p.budget_yuan for p in projects if p.adopted),
        spent_yuan=exact_sum(p.spent_yuan for p in projects),
        households=sum(p.households or 0 for p in projects),
        people=sum(p.people or 0 for p in projects),
    )


# -- amounts ------------------------------------------------------------------------------------------------------

CENT = Decimal("0.01")
EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)  # sums and quantizing never round


def exact_sum(amounts: Iterable[Decimal]) -> Decimal:
    total = Decimal(0)
    for a in amounts:
        total = EXACT.add(total, a)
    return total


def yuan(amount: Decimal) -> str:
    """Exact, in plain notation, with at least the two places of fen: 1250000 -> "1250000.00"."""
    if amount.as_tuple().exponent in ("n", "N", "F"):  # NaN and Infinity: events cannot carry them
        raise ValueError(f"not a finite amount: {amount}")
    exact = amount if int(amount.as_tuple().exponent) < -2 else amount.quantize(CENT, context=EXACT)
    return f"{exact:f}"


def yuan_grouped(amount: Decimal) -> str:
    """As `yuan`, with thousands separators: "1,250,000.00"."""
    whole, _, fraction = yuan(amount).partition(".")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-')):,}.{fraction}"

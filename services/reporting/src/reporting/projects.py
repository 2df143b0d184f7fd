"""Livelihood projects (民生实事) and livelihood demand, read from the projections: the annual report of a
village or the town, and the demand analysis of a village (the weekly report's 民生实事 section is in
reporting.kpis). The rules are in reporting.domain.livelihood, the formulas in docs/kpis.md.

A unit's proposals are those of its villages (town, village) or those naming the grid (grid). Amounts are
exact decimals, written as strings in JSON.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from gov_contracts.reports import DemandTheme
from reporting.domain import livelihood as lv
from reporting.kpis import IN_PROJECT_AREA, Q_AREA, UnknownArea, Week, at_midnight, local_day

Q_YEAR = f"""
select p.proposal_id::text as proposal_id, p.number, p.title, p.village_id, coalesce(a.name, p.village_id) as village,
       p.category, p.stage, p.budget_yuan, p.spent_yuan, coalesce(p.submitted_at, p.first_at) as submitted_at,
       p.adopted, p.decided_at, p.implementation_started_at, p.accepted_at, p.results_published_at,
       p.households, p.people, p.evidence_cases
from r_livelihood_projects p left join areas a on a.id = p.village_id
where {IN_PROJECT_AREA} and coalesce(p.submitted_at, p.first_at) >= $2 and coalesce(p.submitted_at, p.first_at) < $3
order by coalesce(p.submitted_at, p.first_at), p.number
"""
Q_REQUESTS = """
select case_id::text as case_id, coalesce(title, '') as title, tags, grid_id, reported_at from r_cases
where grid_path <@ $1::ltree and category = 'livelihood.request' and reported_at >= $2 and reported_at < $3
"""


# -- the annual report --------------------------------------------------------------------------------------------


async def annual(con: Any, area_id: str, year: int) -> dict[str, Any]:
    """Every proposal of the unit submitted in `year` (China Standard Time) and the totals."""
    area = await con.fetchrow(Q_AREA, area_id)
    if area is None:
        raise UnknownArea(area_id)
    start, end = at_midnight(date(year, 1, 1)), at_midnight(date(year + 1, 1, 1))
    rows = await con.fetch(Q_YEAR, area_id, start, end)
    projects = [
        {
            "proposal_id": r["proposal_id"],
            "number": r["number"],
            "title": r["title"],
            "village_id": r["village_id"],
            "village": r["village"],
            "category": r["category"],
            "category_name": lv.category_label(r["category"]),
            "stage": r["stage"],
            "stage_name": lv.stage_label(r["stage"]),
            "budget_yuan": lv.yuan(r["budget_yuan"]),
            "spent_yuan": lv.yuan(r["spent_yuan"]),
            "submitted_on": local_day(r["submitted_at"]),
            "adopted": r["adopted"],
            "decided_on": local_day(r["decided_at"]),
            "implementation_started_on": local_day(r["implementation_started_at"]),
            "accepted_on": local_day(r["accepted_at"]),
            "results_published_on": local_day(r["results_published_at"]),
            "households": r["households"],
            "people": r["people"],
            "evidence_cases": r["evidence_cases"],
        }
        for r in rows
    ]
    t = lv.annual_totals(
        [
            lv.AnnualProject(
                stage=r["stage"],
                adopted=r["adopted"],
                budget_yuan=r["budget_yuan"],
                spent_yuan=r["spent_yuan"],
                households=r["households"],
                people=r["people"],
                accepted=r["accepted_at"] is not None,
            )
            for r in rows
        ]
    )
    return {
        "area": {"id": area["id"], "name": area["name"], "kind": area["kind"]},
        "year": year,
        "from": date(year, 1, 1).isoformat(),
        "to": date(year, 12, 31).isoformat(),
        "projects": projects,
        "totals": {
            "proposals": t.proposals,
            "adopted": t.adopted,
            "not_adopted": t.not_adopted,
            "accepted": t.accepted,
            "budget_yuan": lv.yuan(t.budget_yuan),
            "budget_adopted_yuan": lv.yuan(t.budget_adopted_yuan),
            "spent_yuan": lv.yuan(t.spent_yuan),
            "households": t.households,
            "people": t.people,
        },
    }


# -- the demand analysis of a village ----------------------------------------------------------------------------


async def demand(con: Any, village_id: str, week: Week, keywords: dict[str, list[str]]) -> list[DemandTheme]:
    """Livelihood requests of the village in the DEMAND_WEEKS weeks ending with `week`, by theme."""
    first = week.shift(1 - lv.DEMAND_WEEKS)
    later_from = at_midnight(first.shift(lv.DEMAND_WEEKS // 2).monday)
    rows = await con.fetch(Q_REQUESTS, village_id, at_midnight(first.monday), at_midnight(week.end))
    requests = [
        lv.Request(
            case_id=r["case_id"],
            title=r["title"],
            tags=tuple(r["tags"]),
            grid_id=r["grid_id"],
            reported_at=r["reported_at"],
        )
        for r in rows
    ]
    return lv.demand_themes(requests, keywords, later_from)

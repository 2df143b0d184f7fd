"""Every KPI of the weekly risk assessment, computed once (docs/kpis.md has the formulas).

The report of a unit (town, village or grid) for an ISO week reads its own
area's weekly rollups, the cases closed/resolved/rated in the week, and the
cases open at its end; its cost does not grow with the history.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from gov_contracts.vocabulary import LOCAL_TZ, area_at_depth
from govkit.inputs import YEAR_MAX, YEAR_MIN
from reporting import risk
from reporting.domain import livelihood as lv
from reporting.domain.livelihood import theme_of

COUNTS = ("new", "accepted", "resolved", "closed", "overdue", "escalated", "referred", "reopened")
# the case operations' metrics in r_rollup (docs/kpis.md): dispatches, returns (退单), cases put under supervision
OPERATIONS = ("dispatched", "returned", "supervised")
SEVERE = ("high", "critical")
AT_RISK_LISTED = 30  # open cases at risk listed by number in the weekly report (all are counted)

Q_WEEK = """
select category, metric, sum(n)::int as n from r_rollup
where area_id = $1 and week = $2 group by 1, 2
"""
Q_WEEKS = """
select week, metric, sum(n)::int as n from r_rollup
where area_id = $1 and week >= $2 and week < $3 and category not like 'task:%' group by 1, 2
"""
Q_GRID_NEW = """
select area_id, week, sum(n)::int as n from r_rollup
where area_id = any($1::text[]) and week >= $2 and week < $3 and metric = 'new' group by 1, 2
"""
Q_OPEN_NOW = "select category, n from r_open where area_id = $1"
Q_OPEN_DELTA_AFTER = """
select category, sum(case metric when 'new' then n else -n end)::int as n from r_rollup
where area_id = $1 and week >= $2 and metric in ('new', 'ended') and category not like 'task:%' group by 1
"""
# the cases closed in the week and their resolve times, from the rollups the case projection keeps (migration V006)
Q_CLOSED = """
select category, closed, on_time, reworked, grassroots from r_closed
where area_id = $1 and week = $2 and closed > 0
"""
# 应结案数 and 按期办结数: the cases whose resolve deadline falls in the week (migration V007); of them those with an
# approved extension (延期, V008)
Q_DUE = """
select coalesce(sum(due), 0)::int as due, coalesce(sum(on_time), 0)::int as on_time,
       coalesce(sum(extended), 0)::int as extended
from r_due where area_id = $1 and week = $2
"""
# cases under supervision (督办) at the week's end ($2): supervised before it and not ended by then
Q_SUPERVISED_OPEN = """
select count(*)::int from r_cases
where supervised_at < $2 and (ended_at is null or ended_at >= $2) and grid_path <@ $1::ltree
"""
# cases suspended (挂起) at the week's end: suspended now since before it, or suspended then and resumed (or ended)
# since (r_suspended_at, $3 the Monday the week ends)
Q_SUSPENDED_AT_END = """
select (select count(*) from r_cases where suspended_at < $2 and grid_path <@ $1::text::ltree)::int
     + (select coalesce(sum(n), 0) from r_suspended_at where area_id = $1 and week_end = $3)::int
"""
# exact: one row per distinct time from report to resolution, with how many cases took it
Q_RESOLVE_HOURS = """
select percentile_cont(0.5) within group (order by h) as p50, percentile_cont(0.9) within group (order by h) as p90
from (select extract(epoch from took) / 3600 as h from r_resolve, generate_series(1, n)
      where area_id = $1 and week = $2) x
"""
Q_SATISFACTION = """
select avg(satisfaction)::float8 as mean, count(*)::int as n from r_cases
where grid_path <@ $1::ltree and rated_at >= $2 and rated_at < $3
"""
# open at the week's end ($2, the Monday after it as $3) = still open now (an index scan of the open cases), or
# ended since and reported before ($3: r_open_at, kept by the projection); grouped per grid, kind (dispute /
# petition / other) and severity
Q_OPEN_AT_END = """
select grid_id, kind, severity, sum(n)::int as n, sum(overdue)::int as overdue, sum(repeats)::int as repeats
from (select grid_id, case when category like 'dispute.%' then 'dispute' when category = 'petition' then 'petition'
                           else 'other' end as kind,
             severity, 1 as n, (overdue and status <> 'suspended')::int as overdue,
             (report_count > 1)::int as repeats from r_cases
      where ended_at is null and reported_at < $2 and grid_path <@ $1::ltree
      union all
      select grid_id, kind, severity, n, overdue, repeats from r_open_at
      where week_end = $3 and grid_path <@ $1::ltree) open_cases
group by 1, 2, 3 having sum(n) > 0
"""
# the cases open at the week's end ($2) at risk: overdue (a missed deadline, unless suspended: a suspended case is
# never overdue), supervised, or high or critical; overdue first, then supervised, then the most severe, the oldest
Q_AT_RISK = """
select number, category, grid_id, level, status, severity, overdue, supervised, count(*) over ()::int as total
from (select number, category, grid_id, level, status, severity, reported_at,
             overdue and status <> 'suspended' as overdue, coalesce(supervised_at < $2, false) as supervised
      from r_cases
      where grid_path <@ $1::ltree and reported_at < $2 and (ended_at is null or ended_at >= $2)) open_cases
where overdue or supervised or severity in ('high', 'critical')
order by overdue desc, supervised desc, severity = 'critical' desc, reported_at, number
limit $3
"""
# addresses and parties with 2+ cases in the 30 days before the week's end ($2, a Monday), kept per week end
Q_REPEAT_ADDRESSES = """
select grid_id, address_ref, n from r_repeat_address
where week_end = $2 and n >= 2 and grid_path <@ $1::ltree
order by n desc, address_ref, grid_id
"""
Q_REPEAT_PARTIES = """
select party_ref, n from r_repeat_party
where area_id = $1 and week_end = $2 and n >= 2
order by n desc, party_ref limit 10
"""
Q_FILL_MINUTES = """
select percentile_cont(0.5) within group (order by extract(epoch from filled_at - created_at) / 60) as m
from r_tasks where grid_path <@ $1::ltree and filled_at >= $2 and filled_at < $3
"""
Q_HOURS_BY_ROLE = """
select coalesce(role, 'unknown') as role, sum(h.hours)::float8 as hours
from r_hours h left join r_volunteers v using (volunteer_ref) left join lateral unnest(v.roles) role on true
where h.grid_path <@ $1::ltree and h.day >= $2 and h.day < $3 group by 1 order by 1
"""
Q_PARTY_HOURS = """
select coalesce(sum(h.hours), 0)::float8 from r_hours h join r_volunteers v using (volunteer_ref)
where v.party_member and h.grid_path <@ $1::ltree and h.day >= $2 and h.day < $3
"""
Q_TOTAL_HOURS = (
    "select coalesce(sum(hours), 0)::float8 from r_hours where grid_path <@ $1::ltree and day >= $2 and day < $3"
)
Q_AREA = "select id, kind, name, parent_id from areas where id = $1"
Q_GRIDS = "select id, name, parent_id, geometry from areas where kind = 'grid' and path <@ $1::ltree order by id"
Q_NAMES = "select id, name from areas where path <@ $1::ltree"
# the shapes of the villages and communities in the unit, outlined on the report's grid map
Q_VILLAGE_SHAPES = """
select id, name, geometry from areas
where kind in ('village', 'community') and path <@ $1::ltree and geometry is not null order by id
"""


class UnknownArea(Exception):
    pass


@dataclass(frozen=True)
class Week:
    year: int
    week: int

    @classmethod
    def parse(cls, text: str) -> Week:
        y, _, w = text.upper().partition("-W")
        if not YEAR_MIN <= int(y) <= YEAR_MAX:  # a week of year 9999 has no following week to compute with
            raise ValueError(f"year {y} is outside {YEAR_MIN} to {YEAR_MAX}")
        d = date.fromisocalendar(int(y), int(w), 1)  # raises ValueError when out of range
        return cls(*d.isocalendar()[:2])

    @classmethod
    def of(cls, d: date) -> Week:
        return cls(*d.isocalendar()[:2])

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def end(self) -> date:  # exclusive
        return self.monday + timedelta(days=7)

    def shift(self, weeks: int) -> Week:
        return Week.of(self.monday + timedelta(weeks=weeks))

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"


def at_midnight(d: date) -> datetime:
    return datetime.combine(d, time(0), LOCAL_TZ)


def ratio(num: int | float, den: int | float) -> float | None:
    """Rounded to 4 places; None when the denominator is 0 (shown as —)."""
    return round(num / den, 4) if den else None


def r1(v: float | None) -> float | None:
    return None if v is None else round(float(v), 1)


async def weekly(con, area_id: str, week: Week, rule: risk.RiskRule, category_names: dict[str, str]) -> dict:
    area = await con.fetchrow(Q_AREA, area_id)
    if area is None:
        raise UnknownArea(area_id)
    # plan each query for its area: a generic plan cannot tell the town (every row) from a grid (a few)
    await con.execute("set plan_cache_mode = force_custom_plan")
    start, end = week.monday, week.end
    ts, te = at_midnight(start), at_midnight(end)

    # counts of the week and the four before, by category
    this: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    week_rows = await con.fetch(Q_WEEK, area_id, start)
    for r in week_rows:
        if not r["category"].startswith("task:"):
            this[r["category"]][r["metric"]] += r["n"]
    prev_weeks = {i: {m: 0 for m in COUNTS} for i in range(1, 5)}
    for r in await con.fetch(Q_WEEKS, area_id, start - timedelta(weeks=4), start):
        i = (start - r["week"]).days // 7
        if r["metric"] in COUNTS and 1 <= i <= 4:
            prev_weeks[i][r["metric"]] += r["n"]

    # open at the week's end = open now minus what opened/ended since
    open_now = {r["category"]: r["n"] for r in await con.fetch(Q_OPEN_NOW, area_id)}
    since = {r["category"]: r["n"] for r in await con.fetch(Q_OPEN_DELTA_AFTER, area_id, end)}
    open_end = {c: open_now.get(c, 0) - since.get(c, 0) for c in set(open_now) | set(since)}
    since_start = {r["category"]: r["n"] for r in await con.fetch(Q_OPEN_DELTA_AFTER, area_id, start)}
    open_start_total = sum(open_now.values()) - sum(since_start.values())

    closed = await con.fetch(Q_CLOSED, area_id, start)
    due = await con.fetchrow(Q_DUE, area_id, start)
    supervised_open = await con.fetchval(Q_SUPERVISED_OPEN, area_id, te)
    suspended = await con.fetchval(Q_SUSPENDED_AT_END, area_id, te, end)
    hours = await con.fetchrow(Q_RESOLVE_HOURS, area_id, start)
    sat = await con.fetchrow(Q_SATISFACTION, area_id, ts, te)

    totals = {m: sum(c[m] for c in this.values()) for m in (*COUNTS, *OPERATIONS)}
    n_closed = sum(c["closed"] for c in closed)
    disputes = [c for c in closed if c["category"].startswith("dispute.")]
    kpis = {
        **totals,
        "closed": n_closed,
        "open_at_end": sum(open_end.values()),
        "closure_rate": ratio(n_closed, open_start_total + totals["new"]),
        "due": due["due"],
        "due_on_time": due["on_time"],
        "on_time_rate": ratio(due["on_time"], due["due"]),
        "extended": due["extended"],
        "extension_rate": ratio(due["extended"], due["due"]),
        "dispatched": totals["dispatched"],
        "returned": totals["returned"],
        "return_rate": ratio(totals["returned"], totals["dispatched"]),
        "supervised": totals["supervised"],
        "supervised_open_at_end": supervised_open,
        "suspended_at_end": suspended,
        "rework_rate": ratio(sum(c["reworked"] for c in closed), n_closed),
        "grassroots_resolution_rate": ratio(sum(c["grassroots"] for c in disputes), sum(c["closed"] for c in disputes)),
        "satisfaction_mean": round(sat["mean"], 2) if sat["n"] else None,
        "satisfaction_count": sat["n"],
        "median_hours_to_resolve": r1(hours["p50"]),
        "p90_hours_to_resolve": r1(hours["p90"]),
    }
    closed_by_cat = {c["category"]: c["closed"] for c in closed}
    by_category: list[dict[str, Any]] = []
    for cat in sorted(set(this) | {c for c, n in open_end.items() if n} | set(closed_by_cat)):
        row: dict[str, Any] = {"category": cat, "name": category_names.get(cat, cat)}
        row.update({m: this[cat][m] for m in COUNTS})
        row["closed"] = closed_by_cat.get(cat, 0)
        row["open_at_end"] = open_end.get(cat, 0)
        by_category.append(row)

    change = {}
    for m in (*COUNTS, "closed"):
        cur = kpis[m]
        prev = prev_weeks[1][m]
        mean4 = round(sum(prev_weeks[i][m] for i in range(1, 5)) / 4, 2)
        change[m] = {
            "previous": prev,
            "delta": cur - prev,
            "mean_4w": mean4,
            "vs_mean_4w": ratio(cur - mean4, mean4) if mean4 else None,
        }

    trend_rows = [
        r
        for r in await con.fetch(Q_WEEKS, area_id, start - timedelta(weeks=7), end)
        if r["metric"] in ("new", "closed")
    ]
    trend = []
    for i in range(7, -1, -1):
        w = week.shift(-i)
        trend.append(
            {
                "week": str(w),
                "new": sum(r["n"] for r in trend_rows if r["week"] == w.monday and r["metric"] == "new"),
                "closed": sum(r["n"] for r in trend_rows if r["week"] == w.monday and r["metric"] == "closed"),
            }
        )

    addresses = await con.fetch(Q_REPEAT_ADDRESSES, area_id, end)
    grids = await _grids(con, area_id, week, rule, te, addresses)
    names = {r["id"]: r["name"] for r in await con.fetch(Q_NAMES, area_id)}
    hot_grids = sorted((g for g in grids if g["new"]), key=lambda g: (-g["new"], g["id"]))[:5]
    parties = await con.fetch(Q_REPEAT_PARTIES, area_id, end)
    hotspots = {
        "grids": [{"id": g["id"], "name": g["name"], "new": g["new"]} for g in hot_grids],
        "categories": [
            {"category": c["category"], "name": c["name"], "new": c["new"]}
            for c in sorted(by_category, key=lambda c: (-c["new"], c["category"]))
            if c["new"]
        ][:5],
        "repeat_addresses": [
            {
                "address_ref": a["address_ref"],
                "grid_id": a["grid_id"],
                "grid_name": names.get(a["grid_id"], a["grid_id"]),
                "cases": a["n"],
            }
            for a in addresses[:10]
        ],
        "repeat_parties": [{"party_ref": p["party_ref"], "cases": p["n"]} for p in parties],
    }

    volunteers = await _volunteers(con, area_id, week_rows, start, end, ts, te)
    risk_counts = {lv: sum(1 for g in grids if g["risk"] == lv) for lv in risk.LEVELS}
    return {
        "area": {"id": area["id"], "name": area["name"], "kind": area["kind"]},
        "week": str(week),
        "from": start.isoformat(),
        "to": (end - timedelta(days=1)).isoformat(),
        "kpis": kpis,
        "change": change,
        "by_category": by_category,
        "trend": trend,
        "risk_summary": risk_counts,
        "grids": grids,
        "at_risk": await _at_risk(con, area_id, te, names, category_names),
        "village_shapes": [
            {"id": v["id"], "name": v["name"], "geometry": v["geometry"]}
            for v in await con.fetch(Q_VILLAGE_SHAPES, area_id)
        ],
        "hotspots": hotspots,
        "volunteers": volunteers,
        "livelihood_projects": await livelihood_projects(con, area_id, week),
    }


async def _grids(con, area_id: str, week: Week, rule: risk.RiskRule, te: datetime, addresses) -> list[dict]:
    grids = await con.fetch(Q_GRIDS, area_id)
    facts = {g["id"]: risk.GridFacts() for g in grids}
    open_count: dict[str, int] = defaultdict(int)
    for c in await con.fetch(Q_OPEN_AT_END, area_id, te, week.end):
        f = facts.get(c["grid_id"])
        if f is None:
            continue
        open_count[c["grid_id"]] += c["n"]
        if c["kind"] == "dispute":
            f.open_disputes[c["severity"]] = f.open_disputes.get(c["severity"], 0) + c["n"]
        elif c["kind"] == "petition":
            f.open_petitions[c["severity"]] = f.open_petitions.get(c["severity"], 0) + c["n"]
        f.overdue_open += c["overdue"]
        f.repeat_reports += c["repeats"]
    for a in addresses:
        if a["grid_id"] in facts:
            facts[a["grid_id"]].repeat_addresses += 1
    start = week.monday
    per_week = await con.fetch(Q_GRID_NEW, list(facts), start - timedelta(weeks=4), week.end)
    for r in per_week:
        f = facts.get(r["area_id"])
        if f is None:
            continue
        if r["week"] >= start:
            f.new += r["n"]
        else:
            f.mean_4w += r["n"] / 4
    out = []
    for g in grids:
        f = facts[g["id"]]
        f.mean_4w = round(f.mean_4w, 2)
        s, level, reasons = risk.score(rule, f)
        out.append(
            {
                "id": g["id"],
                "name": g["name"],
                "village_id": g["parent_id"],
                "risk": level,
                "score": s,
                "reasons": reasons,
                "new": f.new,
                "mean_4w": f.mean_4w,
                "open_at_end": open_count[g["id"]],
                "overdue_open": f.overdue_open,
                "geometry": g["geometry"],
            }
        )
    return out


async def _at_risk(
    con, area_id: str, te: datetime, names: dict[str, str], category_names: dict[str, str]
) -> dict[str, Any]:
    """The unit's cases open at the week's end that are overdue, supervised or severe: the first AT_RISK_LISTED
    and how many in all. Case numbers, categories, grids, levels and states only: no personal data."""
    rows = await con.fetch(Q_AT_RISK, area_id, te, AT_RISK_LISTED)
    cases = [
        {
            "number": r["number"],
            "category": r["category"],
            "category_name": category_names.get(r["category"], r["category"]),
            "grid_id": r["grid_id"],
            "grid_name": names.get(r["grid_id"], r["grid_id"]),
            "level": r["level"],
            "status": r["status"],
            "severity": r["severity"],
            "why": [
                why
                for why, yes in (
                    ("overdue", r["overdue"]),
                    ("supervised", r["supervised"]),
                    ("severe", r["severity"] in SEVERE),
                )
                if yes
            ],
        }
        for r in rows
    ]
    return {"total": rows[0]["total"] if rows else 0, "cases": cases}


async def _volunteers(con, area_id, week_rows, start, end, ts, te) -> dict:
    rows = [r for r in week_rows if r["category"].startswith("task:")]
    m: defaultdict[str, int] = defaultdict(int)
    for r in rows:
        m[r["metric"]] += r["n"]
    fill = await con.fetchval(Q_FILL_MINUTES, area_id, ts, te)
    by_role = {r["role"]: round(r["hours"], 2) for r in await con.fetch(Q_HOURS_BY_ROLE, area_id, start, end)}
    return {
        "tasks_created": m["task_created"],
        "tasks_filled": m["task_filled"],
        "tasks_unfilled": m["task_unfilled"],
        "median_minutes_to_fill": r1(fill),
        "hours_total": round(await con.fetchval(Q_TOTAL_HOURS, area_id, start, end), 2),
        "hours_by_role": by_role,
        "party_member_hours": round(await con.fetchval(Q_PARTY_HOURS, area_id, start, end), 2),
    }


# -- livelihood projects (民生实事) -----------------------------------------------------------------------------------

IN_PROJECT_AREA = "(p.village_path <@ $1::text::ltree or p.grid_ids @> array[$1::text])"
# each proposal of the unit with an event before the end ($2): stage and budget of its latest event, the latest
# spent total, and its decision and dates as they are now (compared with the end by the domain)
Q_AT_END = f"""
select p.proposal_id::text as proposal_id, s.stage, s.occurred_at as stage_since, s.budget_yuan,
       coalesce((select t.spent_total_yuan from r_livelihood_steps t
                 where t.proposal_id = p.proposal_id and t.spent_total_yuan is not null and t.occurred_at < $2
                 order by t.occurred_at desc, t.stage_rank desc, t.event_id desc limit 1), 0) as spent_yuan,
       p.adopted, p.decided_at, p.implementation_started_at, p.accepted_at
from r_livelihood_projects p
cross join lateral (select stage, occurred_at, budget_yuan from r_livelihood_steps s
                    where s.proposal_id = p.proposal_id and s.occurred_at < $2
                    order by s.occurred_at desc, s.stage_rank desc, s.event_id desc limit 1) s
where {IN_PROJECT_AREA}
"""
Q_MILESTONES_DUE = f"""
select m.milestone_id, m.proposal_id::text as proposal_id, m.title, m.due_on, m.done_on, m.recorded_at,
       p.number, p.title as proposal_title
from r_livelihood_milestones m join r_livelihood_projects p using (proposal_id)
where {IN_PROJECT_AREA} and m.due_on < $2 and (m.done_on is null or m.done_on >= $2) and m.recorded_at < $3
"""
Q_MEETINGS = """
select count(*)::int from r_livelihood_meetings
where (village_path <@ $1::text::ltree or proposal_ids && $2::text[]) and starts_at >= $3 and starts_at < $4
      and noticed_at < $4
"""

OVERDUE_LISTED = 20  # overdue milestones listed by name in the weekly section (all are counted)


def local_day(at: datetime | None) -> str | None:
    return at.astimezone(LOCAL_TZ).date().isoformat() if at else None


async def livelihood_projects(con, area_id: str, week: Week) -> dict[str, Any]:
    """The 民生实事 section: the unit's proposal pipeline at the week's end (docs/kpis.md)."""
    start, end = at_midnight(week.monday), at_midnight(week.end)
    last_day = week.end - timedelta(days=1)
    year_start = at_midnight(date(last_day.year, 1, 1))
    proposals = [
        lv.ProposalAtEnd(
            proposal_id=r["proposal_id"],
            stage=r["stage"],
            stage_since=r["stage_since"],
            budget_yuan=r["budget_yuan"],
            spent_yuan=r["spent_yuan"],
            adopted=r["adopted"],
            decided_at=r["decided_at"],
            implementation_started_at=r["implementation_started_at"],
            accepted_at=r["accepted_at"],
        )
        for r in await con.fetch(Q_AT_END, area_id, end)
    ]
    due = await con.fetch(Q_MILESTONES_DUE, area_id, week.end, end)
    milestones = [
        lv.Milestone(
            milestone_id=m["milestone_id"],
            proposal_id=m["proposal_id"],
            title=m["title"],
            due_on=m["due_on"],
            done_on=m["done_on"],
            recorded_at=m["recorded_at"],
        )
        for m in due
    ]
    p = lv.pipeline(proposals, milestones, start=start, end=end, end_day=week.end, year_start=year_start)
    meetings = await con.fetchval(Q_MEETINGS, area_id, sorted(p.included), start, end)
    names = {m["milestone_id"]: m for m in due}
    return {
        "year": last_day.year,
        "proposals": p.proposals,
        "by_stage": [{"stage": s, "name": lv.stage_label(s), "proposals": n} for s, n in p.by_stage.items()],
        "decided": {"adopted": p.adopted_in_week, "not_adopted": p.not_adopted_in_week},
        "implementing": p.implementing,
        "meetings": meetings,
        "overdue_milestones": len(p.overdue_milestones),
        "overdue": [
            {
                "proposal_id": m.proposal_id,
                "number": names[m.milestone_id]["number"],
                "title": names[m.milestone_id]["proposal_title"],
                "milestone_id": m.milestone_id,
                "milestone": m.title,
                "due_on": m.due_on.isoformat(),
            }
            for m in p.overdue_milestones[:OVERDUE_LISTED]
        ],
        "budget_adopted_yuan": lv.yuan(p.budget_adopted_yuan),
        "spent_yuan": lv.yuan(p.spent_yuan),
    }


# -- livelihood priorities ----------------------------------------------------------------------------------------

Q_LIVELIHOOD = """
select case_id, title, tags, severity, grid_id, reporter_ref, reported_at, ended_at, report_count from r_cases
where grid_path <@ $1::ltree and category = 'livelihood.request' and reported_at >= $2 and reported_at < $3
"""
SEVERITY_WEIGHT = {"low": 1, "medium": 2, "high": 3, "critical": 4}


async def livelihood(
    con, area_id: str, start: date, end: date, keywords: dict[str, list[str]], now: datetime
) -> list[dict]:
    """Rank livelihood-request themes; score = 3·households + 2·villages + recurrence + mean severity
    + median unresolved age in weeks (docs/kpis.md)."""
    rows = await con.fetch(Q_LIVELIHOOD, area_id, at_midnight(start), at_midnight(end))
    themes: dict[str, list] = defaultdict(list)
    for r in rows:
        themes[theme_of(r["title"] or "", list(r["tags"]), keywords)].append(r)
    out = []
    for theme, rs in themes.items():
        households = len({r["reporter_ref"] for r in rs if r["reporter_ref"]})
        villages = len({area_at_depth(r["grid_id"], 2) for r in rs})
        recurrence = sum(r["report_count"] for r in rs)
        severity = round(statistics.mean(SEVERITY_WEIGHT[r["severity"]] for r in rs), 2)
        open_ages = [(now - r["reported_at"]).total_seconds() / 86400 for r in rs if r["ended_at"] is None]
        age = round(statistics.median(open_ages), 1) if open_ages else 0.0
        score = round(3 * households + 2 * villages + recurrence + severity + age / 7, 2)
        out.append(
            {
                "theme": theme,
                "cases": len(rs),
                "households": households,
                "villages": villages,
                "recurrence": recurrence,
                "severity_mean": severity,
                "open": len(open_ages),
                "median_open_age_days": age,
                "score": score,
            }
        )
    out.sort(key=lambda t: (-t["score"], t["theme"]))
    for i, t in enumerate(out, 1):
        t["rank"] = i
    return out

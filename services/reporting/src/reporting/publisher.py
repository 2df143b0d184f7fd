"""The weekly job: once across replicas, publish a report-published event per
village/community and for the town, for the last complete ISO week."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from gov_contracts.reports import WeeklyReportPublished
from gov_contracts.vocabulary import LOCAL_TZ
from govkit import outbox
from reporting import kpis

log = logging.getLogger(__name__)
CLAIM = "insert into r_published (week, area_id) values ($1, $2) on conflict do nothing"
UNITS = "select id, kind from areas where kind in ('town', 'village', 'community') order by id"


async def publish_week(pool, cfg, week: kpis.Week) -> int:
    """Publish the reports of `week` not published yet; returns how many."""
    done = 0
    async with pool.acquire() as con:
        units = await con.fetch(UNITS)
    for u in units:
        async with pool.acquire() as con, con.transaction():
            # the claim row makes it once across replicas: a second replica's insert does nothing
            if (await con.execute(CLAIM, str(week), u["id"])).endswith(" 0"):
                continue
            r = await kpis.weekly(con, u["id"], week, cfg.rule, cfg.category_names)
            k = r["kpis"]
            await outbox.add(
                con,
                WeeklyReportPublished(
                    area_id=u["id"],
                    area_kind=u["kind"],
                    week=str(week),
                    new=k["new"],
                    closed=k["closed"],
                    open_at_end=k["open_at_end"],
                    overdue=k["overdue"],
                    closure_rate=k["closure_rate"],
                    on_time_rate=k["on_time_rate"],
                    grids_by_risk=r["risk_summary"],
                    red_grids=[g["id"] for g in r["grids"] if g["risk"] == "red"],
                    published_at=datetime.now(UTC),
                ),
                key=u["id"],
                source="reporting",
            )
            done += 1
    return done


def due_week(now: datetime, after_hour: int) -> kpis.Week:
    """Last week, once Monday `after_hour` (local) has passed."""
    local = now.astimezone(LOCAL_TZ)
    this_week = kpis.Week.of(local.date())
    if local.date() == this_week.monday and local.hour < after_hour:
        return this_week.shift(-2)
    return this_week.shift(-1)

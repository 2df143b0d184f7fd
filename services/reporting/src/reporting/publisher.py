"""The weekly job: once across replicas, publish a report-published event per
village/community and for the town, for the last complete ISO week; and the
livelihood-demand analysis of every village/community for that week."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gov_contracts.reports import LivelihoodDemandPublished, WeeklyReportPublished
from gov_contracts.vocabulary import LOCAL_TZ, is_within
from govkit import outbox
from reporting import kpis, projects, share
from reporting.domain.livelihood import DEMAND_WEEKS

log = logging.getLogger(__name__)
CLAIM = "insert into r_published (week, area_id) values ($1, $2) on conflict do nothing"
UNITS = "select id, kind from areas where kind in ('town', 'village', 'community') order by id"
VILLAGES = "select id from areas where kind in ('village', 'community') order by id"
CLAIM_DEMAND = "insert into r_demand_published (week, village_id) values ($1, $2) on conflict do nothing"
DEMAND_EVENT_IDS = uuid.UUID("6f1c3a52-9d0e-4b7a-8c1e-2f5d7a9b0c41")  # namespace of the demand events' ids


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
            now = datetime.now(UTC)
            link = share.link(cfg.link_key, cfg.public_url, u["id"], str(week), now, cfg.share_ttl_days)
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
                    published_at=now,
                    share_url=link.url,
                    share_expires_at=link.expires_at,
                ),
                key=u["id"],
                source="reporting",
            )
            done += 1
    return done


@dataclass
class DemandRun:
    published: list[str] = field(default_factory=list)  # village ids published now
    already: list[str] = field(default_factory=list)  # published before (by this or another replica)


def demand_event_id(village_id: str, week: kpis.Week) -> str:
    """The same (village, week) always has the same event id, so a subscriber deduplicates even a copy."""
    return str(uuid.uuid5(DEMAND_EVENT_IDS, f"gov.report.livelihood_demand.v1/{village_id}/{week}"))


async def publish_demand(pool, cfg, week: kpis.Week, scopes: Sequence[str] | None = None) -> DemandRun:
    """Publish the livelihood-demand analysis of `week` for every village/community (within `scopes`, when
    given) not published yet: once per (village, week) across replicas and calls."""
    run = DemandRun()
    async with pool.acquire() as con:
        villages = [r["id"] for r in await con.fetch(VILLAGES)]
    for village in villages:
        if scopes is not None and not any(is_within(village, s) for s in scopes):
            continue
        async with pool.acquire() as con, con.transaction():
            if (await con.execute(CLAIM_DEMAND, str(week), village)).endswith(" 0"):
                run.already.append(village)
                continue
            themes = await projects.demand(con, village, week, cfg.livelihood_keywords)
            await outbox.add(
                con,
                LivelihoodDemandPublished(
                    village_id=village,
                    week=str(week),
                    weeks=DEMAND_WEEKS,
                    themes=themes,
                    published_at=datetime.now(UTC),
                ),
                key=village,
                source="reporting",
                event_id=demand_event_id(village, week),
            )
            run.published.append(village)
    return run


def due_week(now: datetime, after_hour: int) -> kpis.Week:
    """Last week, once Monday `after_hour` (local) has passed."""
    local = now.astimezone(LOCAL_TZ)
    this_week = kpis.Week.of(local.date())
    if local.date() == this_week.monday and local.hour < after_hour:
        return this_week.shift(-2)
    return this_week.shift(-1)

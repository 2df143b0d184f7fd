"""Use cases of the reports API: who may read an area's reports, building them, and publishing the
livelihood demand now.

They raise gov_contracts.errors; the HTTP edge maps those in one place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from gov_contracts.errors import Forbidden, InvalidInput, NotFound
from gov_contracts.vocabulary import LOCAL_TZ
from govkit.auth import Principal
from reporting import kpis, projects, publisher, risk, share
from reporting.config import ReportingConfig
from reporting.domain.livelihood import DEMAND_WEEKS

READERS = ("analyst", "town_admin", "village_admin", "grid_manager", "county_admin")
DEMAND_PUBLISHERS = ("analyst", "town_admin")


@dataclass(frozen=True)
class Context:
    pool: asyncpg.Pool
    config: ReportingConfig


def authorize_reader(principal: Principal, area: str) -> None:
    if not principal.has_role(*READERS):
        raise Forbidden(f"reports need one of the roles: {', '.join(READERS)}")
    if not principal.covers(area):
        raise Forbidden(f"your area scope does not cover {area}")


async def weekly(ctx: Context, principal: Principal, area: str, week: kpis.Week) -> dict[str, Any]:
    authorize_reader(principal, area)
    return await _weekly(ctx, area, week)


async def _weekly(ctx: Context, area: str, week: kpis.Week) -> dict[str, Any]:
    rule = ctx.config.rule
    assert isinstance(rule, risk.RiskRule), "configure() loads the risk rule before the service starts"
    async with ctx.pool.acquire() as con:
        try:
            return await kpis.weekly(con, area, week, rule, ctx.config.category_names)
        except kpis.UnknownArea:
            raise NotFound(f"no area {area}") from None


async def share_link(ctx: Context, principal: Principal, area: str, week: kpis.Week, now: datetime) -> share.ShareLink:
    """A link that opens the HTML of `area`'s report of `week` without a token until it expires; for whoever may
    read that report."""
    authorize_reader(principal, area)
    async with ctx.pool.acquire() as con:
        if await con.fetchrow(kpis.Q_AREA, area) is None:
            raise NotFound(f"no area {area}")
    cfg = ctx.config
    return share.link(cfg.link_key, cfg.public_url, area, str(week), now, cfg.share_ttl_days)


async def shared_weekly(
    ctx: Context, area: str, week: str, fmt: str, exp: str | None, sig: str | None, now: datetime
) -> dict[str, Any]:
    """The report a share link opens: the link's signature is its only credential (share.check)."""
    share.check(ctx.config.link_key, area, week, fmt, exp, sig, now)
    return await _weekly(ctx, area, kpis.Week.parse(week))  # signed by this service: a valid week


@dataclass(frozen=True)
class Livelihood:
    start: date
    end: date  # exclusive
    themes: list[dict[str, Any]]


async def livelihood(
    ctx: Context, principal: Principal, area: str, start: date | None, end: date | None, now: datetime
) -> Livelihood:
    """Themes of residents' requests from `start` (default: 90 days before `end`) to `end` (exclusive;
    default: tomorrow, local time)."""
    authorize_reader(principal, area)
    end = end or now.astimezone(LOCAL_TZ).date() + timedelta(days=1)
    start = start or end - timedelta(days=90)
    if start >= end:
        raise InvalidInput("query.from", "must be before to")
    async with ctx.pool.acquire() as con:
        themes = await kpis.livelihood(con, area, start, end, ctx.config.livelihood_keywords, now)
    return Livelihood(start, end, themes)


async def annual_projects(
    ctx: Context, principal: Principal, area: str, year: int | None, now: datetime
) -> dict[str, Any]:
    """The livelihood projects (民生实事) of `year` (default: this year, local time) in the area."""
    authorize_reader(principal, area)
    year = year or now.astimezone(LOCAL_TZ).year
    async with ctx.pool.acquire() as con:
        try:
            return await projects.annual(con, area, year)
        except kpis.UnknownArea:
            raise NotFound(f"no area {area}") from None


async def publish_demand(ctx: Context, principal: Principal, week: kpis.Week, now: datetime) -> dict[str, Any]:
    """Publish the livelihood demand of `week` now for the villages in the caller's scope (the weekly job does it
    for last week on Mondays); once per (village, week), so a second call publishes nothing."""
    if not principal.has_role(*DEMAND_PUBLISHERS):
        raise Forbidden(f"publishing the livelihood demand needs one of the roles: {', '.join(DEMAND_PUBLISHERS)}")
    if week.monday > now.astimezone(LOCAL_TZ).date():
        raise InvalidInput("query.week", "must not be a week that has not begun")
    run = await publisher.publish_demand(ctx.pool, ctx.config, week, principal.visible_areas())
    return {"week": str(week), "weeks": DEMAND_WEEKS, "published": run.published, "already": run.already}

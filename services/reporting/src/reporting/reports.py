"""Use cases of the reports API: who may read an area's reports, and building them.

They raise gov_contracts.errors; the HTTP edge maps those in one place."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from gov_contracts.errors import Forbidden, NotFound
from govkit.auth import Principal
from reporting import kpis, risk
from reporting.config import ReportingConfig

READERS = ("analyst", "town_admin", "village_admin", "grid_manager", "county_admin")


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
    rule = ctx.config.rule
    assert isinstance(rule, risk.RiskRule), "configure() loads the risk rule before the service starts"
    async with ctx.pool.acquire() as con:
        try:
            return await kpis.weekly(con, area, week, rule, ctx.config.category_names)
        except kpis.UnknownArea:
            raise NotFound(f"no area {area}") from None


async def livelihood(
    ctx: Context, principal: Principal, area: str, start: date, end: date, now: datetime
) -> list[dict[str, Any]]:
    authorize_reader(principal, area)
    async with ctx.pool.acquire() as con:
        return await kpis.livelihood(con, area, start, end, ctx.config.livelihood_keywords, now)

"""Reports: the weekly risk assessment (JSON, CSV, HTML), livelihood priorities and demand, and the annual report
of livelihood projects (民生实事)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from gov_contracts.vocabulary import LOCAL_TZ
from govkit.auth import CurrentPrincipal
from govkit.inputs import AREA_ID_MAX, AREA_ID_PATTERN, YEAR_MAX, YEAR_MIN, BoundedDate
from govkit.openapi import problems
from govkit.problems import Problem
from reporting import kpis, render, reports

router = APIRouter(prefix="/v1/reports", tags=["reports"])
AREA = Query(
    examples=["changping"], pattern=AREA_ID_PATTERN, max_length=AREA_ID_MAX, description="town, village or grid id"
)
WEEK = Query(default=None, pattern=r"^\d{4}-W\d{2}$", examples=["2026-W48"], description="ISO week; default: last week")


def _context(request: Request) -> reports.Context:
    return reports.Context(pool=request.app.state.pool, config=request.app.state.config)


Reports = Annotated[reports.Context, Depends(_context)]


def _week(text: str | None) -> kpis.Week:
    if text is None:
        today = datetime.now(LOCAL_TZ).date()
        return kpis.Week.of(today - timedelta(days=7))
    try:
        return kpis.Week.parse(text)
    except ValueError:
        message = f"not an ISO week of the years {YEAR_MIN} to {YEAR_MAX}, such as 2026-W48"
        raise Problem(
            422, "Invalid request", f"query.week: {message}", errors=[{"field": "query.week", "message": message}]
        ) from None


@router.get(
    "/weekly",
    summary="Weekly risk assessment (周研判) of a town, village or grid, as JSON",
    operation_id="getWeeklyReport",
    responses=problems(404),
)
async def weekly(ctx: Reports, p: CurrentPrincipal, area: str = AREA, week: str | None = WEEK) -> dict:
    return await reports.weekly(ctx, p, area, _week(week))


@router.get(
    "/weekly.csv",
    summary="The weekly assessment as CSV (KPIs, categories, grid risk)",
    operation_id="getWeeklyReportCsv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **problems(404)},
)
async def weekly_csv(ctx: Reports, p: CurrentPrincipal, area: str = AREA, week: str | None = WEEK) -> Response:
    r = await reports.weekly(ctx, p, area, _week(week))
    return Response(
        render.weekly_csv(r),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="weekly-{area}-{r["week"]}.csv"'},
    )


@router.get(
    "/weekly.html",
    summary="The weekly assessment as a printable HTML report with charts",
    operation_id="getWeeklyReportHtml",
    response_class=HTMLResponse,
    responses=problems(404),
)
async def weekly_html(ctx: Reports, p: CurrentPrincipal, area: str = AREA, week: str | None = WEEK) -> HTMLResponse:
    return HTMLResponse(render.weekly_html(await reports.weekly(ctx, p, area, _week(week))))


@router.get(
    "/livelihood",
    summary="Livelihood priorities (民生实事): themes ranked from residents' requests",
    operation_id="getLivelihoodPriorities",
    responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv"}},
)
async def livelihood(
    ctx: Reports,
    p: CurrentPrincipal,
    area: str = AREA,
    start: BoundedDate | None = Query(default=None, alias="from", description="default: 90 days ago"),
    end: BoundedDate | None = Query(default=None, alias="to", description="exclusive; default: tomorrow"),
    format: str = Query(default="json", pattern="^(json|csv)$"),
):
    period = await reports.livelihood(ctx, p, area, start, end, datetime.now(UTC))
    rows, start, end = period.themes, period.start, period.end
    if format == "csv":
        return Response(render.livelihood_csv(rows), media_type="text/csv; charset=utf-8")
    return {"area": area, "from": start.isoformat(), "to": end.isoformat(), "themes": rows}


@router.get(
    "/livelihood-projects/annual",
    summary="Annual report of livelihood projects (民生实事) of a village or the town: JSON, CSV (Excel) or HTML",
    operation_id="getLivelihoodProjectsAnnual",
    responses={
        200: {
            "content": {"text/csv": {}, "text/html": {}},
            "description": "JSON; CSV (UTF-8, BOM, Chinese headers) with format=csv; printable HTML with format=html",
        },
        **problems(404),
    },
)
async def livelihood_projects_annual(
    ctx: Reports,
    p: CurrentPrincipal,
    area: str = AREA,
    year: int | None = Query(default=None, ge=YEAR_MIN, le=YEAR_MAX, description="default: this year"),
    format: str = Query(default="json", pattern="^(json|csv|html)$"),
):
    r = await reports.annual_projects(ctx, p, area, year, datetime.now(UTC))
    if format == "csv":
        return Response(
            render.annual_projects_csv(r).encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="livelihood-projects-{area}-{r["year"]}.csv"'},
        )
    if format == "html":
        return HTMLResponse(render.annual_projects_html(r))
    return r


class DemandPublishRun(BaseModel):
    week: str = Field(examples=["2026-W48"], description="the ISO week the 12-week window ends with")
    weeks: int = Field(description="weeks in the window")
    published: list[str] = Field(description="villages/communities whose gov.report.livelihood_demand.v1 went out now")
    already: list[str] = Field(description="villages/communities published for this week before: not again")


@router.post(
    "/livelihood-demand/publish",
    summary="Publish the livelihood-demand analysis of the villages in your scope now (once per village and week)",
    operation_id="publishLivelihoodDemand",
    description=(
        "Roles analyst or town_admin. gov.report.livelihood_demand.v1 for every village/community in the caller's "
        "scope over the 12 ISO weeks ending with `week` (default: last week; not a week that has not begun); the "
        "weekly job does the same for last week on Monday mornings. A (village, week) goes out once: a village "
        "published before is listed in `already`."
    ),
    response_model=DemandPublishRun,
    responses=problems(422),
)
async def publish_livelihood_demand(ctx: Reports, p: CurrentPrincipal, week: str | None = WEEK) -> DemandPublishRun:
    run = await reports.publish_demand(ctx, p, _week(week), datetime.now(UTC))
    return DemandPublishRun(**run)

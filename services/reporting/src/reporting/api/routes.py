"""Reports: the weekly risk assessment (JSON, CSV, HTML) and livelihood priorities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

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

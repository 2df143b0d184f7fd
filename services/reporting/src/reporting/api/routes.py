"""Reports: the weekly risk assessment (JSON, CSV, HTML), livelihood priorities and demand, and the annual report
of livelihood projects (民生实事)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from gov_contracts.vocabulary import LOCAL_TZ
from govkit.auth import CurrentPrincipal
from govkit.inputs import AREA_ID_MAX, AREA_ID_PATTERN, YEAR_MAX, YEAR_MIN, BoundedDate
from govkit.openapi import DESCRIPTIONS, problems
from govkit.problems import Problem
from reporting import kpis, render, reports, share
from reporting import weekly_csv as weekly_csv_file

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
    summary="The weekly assessment as CSV: for Excel in Chinese (UTF-8 with BOM), or English codes with lang=en",
    operation_id="getWeeklyReportCsv",
    response_class=Response,
    responses={
        200: {
            "content": {"text/csv": {}},
            "description": "one row per figure; lang=zh (default): UTF-8 with a BOM, Chinese headers, labels and "
            "names, rates as percentages; lang=en: area_id,week,section,key,category,value in codes, no BOM",
        },
        **problems(404),
    },
)
async def weekly_csv(
    ctx: Reports,
    p: CurrentPrincipal,
    area: str = AREA,
    week: str | None = WEEK,
    lang: str = Query(default="zh", pattern="^(zh|en)$", description="zh: for Excel (default); en: codes"),
) -> Response:
    r = await reports.weekly(ctx, p, area, _week(week))
    return Response(
        weekly_csv_file.weekly_csv(r, lang).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": weekly_csv_file.content_disposition(*weekly_csv_file.filename(r, lang))},
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


class ShareLinkOut(BaseModel):
    area: str = Field(examples=["changping"])
    week: str = Field(examples=["2026-W48"])
    url: str = Field(
        examples=[
            "https://report.changping.example/v1/public/shared/reports/weekly/changping/2026-W48.html?exp=1767225600&sig=…"
        ],
        description="opens this report's HTML without a bearer token, and nothing else",
    )
    expires_at: datetime = Field(description="after it the link answers 410")


@router.get(
    "/weekly/share",
    summary="A signed, expiring link that opens the weekly HTML report without a bearer token (for a leader's phone)",
    operation_id="getWeeklyReportShareLink",
    description=(
        "Same roles and area scope as the report. The link opens the HTML of this area's report of this week only "
        "(another area, week or format: 403) until `expires_at` (REPORTING_SHARE_TTL_DAYS; then 410). Nothing is "
        "stored: changing REPORTING_SHARE_KEY revokes every link."
    ),
    response_model=ShareLinkOut,
    responses=problems(404),
)
async def weekly_share_link(
    ctx: Reports, p: CurrentPrincipal, area: str = AREA, week: str | None = WEEK
) -> ShareLinkOut:
    w = _week(week)
    link = await reports.share_link(ctx, p, area, w, datetime.now(UTC))
    return ShareLinkOut(area=area, week=str(w), url=link.url, expires_at=link.expires_at)


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


# -- share links: no bearer token, the link's signature is the credential ------------------------------------------

shared_router = APIRouter(prefix=share.PREFIX, tags=["shared reports"])
SHARED_HEADERS = {
    "Cache-Control": "private, no-store",
    "Referrer-Policy": "no-referrer",  # the signature is in the URL: never hand it on
    "X-Robots-Tag": "noindex",
}


@shared_router.get(
    "/{area}/{week}.{fmt}",
    summary="The weekly HTML report a share link opens (no bearer token: the signature in the link is the credential)",
    operation_id="getSharedWeeklyReport",
    response_class=HTMLResponse,
    responses={
        403: {"description": "not a link signed for this area, week and format (tampered, cut or moved)"},
        404: {"description": DESCRIPTIONS[404]},
        410: {"description": "the link has expired: ask for a new one"},
    },
)
async def shared_weekly_html(
    ctx: Reports,
    area: str = Path(description="the area the link was signed for", examples=["changping"]),
    week: str = Path(description="the ISO week the link was signed for", examples=["2026-W48"]),
    fmt: str = Path(description="html: the only format a link opens", examples=["html"]),
    exp: str | None = Query(default=None, description="expiry, Unix seconds"),
    sig: str | None = Query(default=None, description="the link's signature"),
) -> HTMLResponse:
    try:
        r = await reports.shared_weekly(ctx, area, week, fmt, exp, sig, datetime.now(UTC))
    except share.ShareLinkExpired as e:
        raise Problem(410, e.title, e.detail, expired_at=e.expired_at) from None
    return HTMLResponse(render.weekly_html(r), headers=SHARED_HEADERS)

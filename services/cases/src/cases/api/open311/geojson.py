"""The cases of an area as a GeoJSON FeatureCollection (RFC 7946), public, for any map client:
GET /v1/public/areas/{area_id}/cases.geojson (docs/open311.md, "GeoJSON of an area's cases").

No credentials, so the Open311 reads' rules hold (docs/decisions.md 24): a case of a `public` category
with coordinates is a Point feature with public fields only; a `status_only` case shows no place and
is left out of the collection, as is a hidden one and a case without coordinates. It is not under
/open311/v2, whose every answer is in Open311's shape: a map client is not an Open311 client, and its
errors are the service's problem+json (/v1/public/ is the services' place for reads without sign-in).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from cases import public_requests, service
from cases.api.open311.views import PUBLIC_STATUSES, status_notes
from cases.api.open311.wire import local_time
from cases.domain.policy import Policy
from cases.public_requests import PublicFilter
from gov_contracts.vocabulary import LOCAL_TZ
from govkit.inputs import AREA_ID_MAX, AREA_ID_PATTERN, BoundedDatetime
from govkit.openapi import problems
from govkit.problems import Problem

GEOJSON_TYPE = "application/geo+json"
MAX_LIMIT = 1000
DEFAULT_LIMIT = 500

EXAMPLE = {
    "type": "FeatureCollection",
    "area_id": "changping.kongjiafan",
    "features": [
        {
            "type": "Feature",
            "id": "CP-2026-000123",
            "geometry": {"type": "Point", "coordinates": [111.3508, 31.7183]},
            "properties": {
                "number": "CP-2026-000123",
                "service_code": "103",
                "service_name": "土地山林纠纷",
                "status": "open",
                "status_notes": "已受理，村级办理中",
                "requested_datetime": "2026-11-29T09:30:00+08:00",
                "updated_datetime": "2026-11-29T10:05:00+08:00",
                "grid_id": "changping.kongjiafan.g03",
            },
        }
    ],
}


class GeoJSONResponse(JSONResponse):
    media_type = GEOJSON_TYPE


async def _cases(request: Request) -> service.Context:
    return request.app.state.cases


Cases = Annotated[service.Context, Depends(_cases)]

router = APIRouter(prefix="/v1/public", tags=["public map"])


def invalid(field: str, message: str) -> Problem:
    """422 naming the parameter, as the service's validation errors do."""
    return Problem(422, "Invalid request", f"{field}: {message}", errors=[{"field": field, "message": message}])


def _list(raw: str | None) -> list[str]:
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


def _statuses(raw: str | None) -> list[str]:
    wanted = set(_list(raw))
    if wanted - set(PUBLIC_STATUSES):
        raise invalid("query.status", "open, closed, or both comma-separated")
    return PUBLIC_STATUSES[wanted.pop()] if len(wanted) == 1 else []


def _categories(raw: str | None, policy: Policy) -> list[str]:
    codes = _list(raw)
    categories = [policy.by_service_code(code) for code in codes]
    unknown = [code for code, category in zip(codes, categories, strict=True) if category is None]
    if unknown:
        raise invalid("query.service_code", f"unknown service code(s) {', '.join(unknown)}; see services.json")
    return [c for c in categories if c is not None]


def _local(dt: datetime | None) -> datetime | None:
    """Without a zone: the jurisdiction's time (+08:00), as the Open311 reads assume."""
    return dt.replace(tzinfo=LOCAL_TZ) if dt is not None and dt.tzinfo is None else dt


def place_filter(
    area_id: str,
    policy: Policy,
    *,
    status: str | None,
    service_code: str | None,
    start: datetime | None,
    end: datetime | None,
) -> PublicFilter:
    start, end = _local(start), _local(end)
    if start and end and end < start:
        raise invalid("query.end_date", "before start_date")
    return PublicFilter(
        area=area_id,
        categories=_categories(service_code, policy),
        statuses=_statuses(status),
        created_from=start,
        created_until=end,
    )


def feature(row: Any, policy: Policy) -> dict[str, Any]:
    """A case as a Point feature: where, what, how far along; nothing about who, nor the description or address."""
    category = policy.categories.get(row["category"])
    return {
        "type": "Feature",
        "id": row["number"],
        "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]},
        "properties": {
            "number": row["number"],
            "service_code": category.service_code if category else None,
            "service_name": category.name if category else row["category"],
            "status": "closed" if row["status"] in PUBLIC_STATUSES["closed"] else "open",
            "status_notes": status_notes(row["status"], row["level"]),
            "requested_datetime": local_time(row["created_at"]),
            "updated_datetime": local_time(row["updated_at"]),
            "grid_id": row["grid_id"],
        },
    }


@router.get(
    "/areas/{area_id}/cases.geojson",
    summary="The cases of an area on a map: GeoJSON (public; no personal data)",
    description="A FeatureCollection of Point features ([lon, lat]), newest first, at most `limit`: the cases of "
    "the area's grids (a grid, a village or the town) whose category is `public` and that have coordinates. "
    "status_only and hidden categories and cases without coordinates are left out. No credentials.",
    operation_id="getAreaCasesGeojson",
    response_class=GeoJSONResponse,
    responses={
        200: {"content": {GEOJSON_TYPE: {"example": EXAMPLE}}, "description": "a GeoJSON FeatureCollection"},
        **problems(404),
    },
)
async def area_requests_geojson(
    cases: Cases,
    area_id: str = Path(
        pattern=AREA_ID_PATTERN,
        max_length=AREA_ID_MAX,
        examples=["changping.kongjiafan"],
        description="a grid, village or the town: labels of A-Za-z0-9_- joined by dots",
    ),
    status: str | None = Query(default=None, description="open, closed or open,closed", examples=["open"]),
    service_code: str | None = Query(default=None, description="comma-separated", examples=["103,301"]),
    start_date: BoundedDatetime | None = Query(
        default=None,
        description="ISO 8601, on requested_datetime, inclusive; without a zone: +08:00",
        examples=["2026-11-01T00:00:00+08:00"],
    ),
    end_date: BoundedDatetime | None = Query(
        default=None, description="ISO 8601, inclusive", examples=["2026-11-30T23:59:59+08:00"]
    ),
    limit: int = Query(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="at most this many features"),
) -> Response:
    wanted = place_filter(
        area_id, cases.policy, status=status, service_code=service_code, start=start_date, end=end_date
    )
    if await public_requests.area_kind(cases, area_id) is None:
        raise Problem(404, "Not found", f"path.area_id: no area {area_id!r}; GET /v1/areas lists them")
    rows = await public_requests.list_public_places(cases, wanted, limit=limit)
    body = {"type": "FeatureCollection", "area_id": area_id, "features": [feature(r, cases.policy) for r in rows]}
    return GeoJSONResponse(body)

"""The Open311 GeoReport v2 endpoints: each reads its input (forms), calls one use case
and answers in the requested format (views, wire); errors are answered by errors.Open311Route."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.routing import Match

from cases import attachments, public_requests, service
from cases.api.open311 import forms, views
from cases.api.open311.errors import Open311Error, Open311Route, bad
from cases.api.open311.wire import FMT, Fmt, answers, render
from cases.attachments import CleanFile
from cases.config import CasesConfig
from govkit.auth import Principal

log = logging.getLogger(__name__)


async def _config(request: Request) -> CasesConfig:
    return request.app.state.config


async def _cases(request: Request) -> service.Context:
    return request.app.state.cases


# the dependencies are async: FastAPI runs a plain `def` one in a worker thread, a hop on every request
Config = Annotated[CasesConfig, Depends(_config)]
Cases = Annotated[service.Context, Depends(_cases)]


def _check_jurisdiction(config: CasesConfig, jurisdiction_id: str | None) -> None:
    ours = config.open311_jurisdiction
    if jurisdiction_id and jurisdiction_id.strip() != ours:
        raise Open311Error(
            404, f"jurisdiction_id: unknown jurisdiction {jurisdiction_id!r}; this endpoint serves {ours}"
        )


async def _jurisdiction(
    config: Config,
    jurisdiction_id: str | None = Query(
        default=None, description="optional: this endpoint serves one jurisdiction", examples=["changping.xiangyang.cn"]
    ),
) -> None:
    _check_jurisdiction(config, jurisdiction_id)


router = APIRouter(
    prefix="/open311/v2", tags=["open311"], route_class=Open311Route, dependencies=[Depends(_jurisdiction)]
)


# -- discovery and services -------------------------------------------------------------------------------------------


@router.get(
    "/discovery.{fmt}", summary="Open311 discovery (服务发现)", operation_id="open311Discovery", responses=answers()
)
async def discovery(request: Request, fmt: Fmt = FMT) -> Response:
    url = str(request.base_url).rstrip("/") + router.prefix
    return render(views.discovery(url), fmt, "discovery")


@router.get(
    "/services.{fmt}",
    summary="Service list: one service per case category (事件类别)",
    operation_id="open311ListServices",
    responses=answers(
        example=[
            {
                "service_code": "103",
                "service_name": "土地山林纠纷",
                "description": "土地山林纠纷：由村(社区)及以上办理，受理时限 24 小时，办结时限 7 天（默认等级：较大）",
                "metadata": True,
                "type": "realtime",
                "keywords": "土地,山林,边界",
                "group": "dispute",
            }
        ]
    ),
)
async def services(cases: Cases, fmt: Fmt = FMT) -> Response:
    policy = cases.policy
    return render([views.service(policy, name, c) for name, c in policy.categories.items()], fmt, "services", "service")


@router.get(
    "/services/{service_code}.{fmt}",
    summary="Service definition: the attributes a request carries",
    operation_id="open311GetServiceDefinition",
    responses=answers(e404="unknown service_code or jurisdiction_id"),
)
async def service_definition(cases: Cases, service_code: str = Path(examples=["103"]), fmt: Fmt = FMT) -> Response:
    category = cases.policy.by_service_code(service_code)
    if category is None:
        raise Open311Error(404, f"service_code: unknown service code {service_code!r}; see services.json")
    return render({"service_code": service_code, "attributes": views.attributes(category)}, fmt, "service_definition")


# -- reporting a case -------------------------------------------------------------------------------------------------


@router.post(
    "/requests.{fmt}",
    status_code=201,
    summary="Report a case (上报事件), form-encoded or multipart with media",
    description="Creates the case at once: the answer carries its number as service_request_id "
    "(no token). Reporter name and phone are kept apart as personal data.",
    operation_id="open311CreateRequest",
    responses=answers(
        403,
        ok=201,
        example=[
            {
                "service_request_id": "CP-2026-000123",
                "service_notice": "已收到，事件编号 CP-2026-000123；将于 2026-11-30 11:00 前受理，可凭编号查询办理进度",
                "account_id": None,
            }
        ],
        e400="a field is missing or invalid (an unknown service_code, a grid_id "
        "the area tree does not hold, no attribute[grid_id] and no lat/long, a lat/long in no grid or more "
        "than 30 m outside the grid named); the description names it",
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["api_key", "service_code", "description"],
                        "properties": {k: {"type": "string"} for k in forms.FORM_FIELDS},
                    },
                    "example": forms.FORM_EXAMPLE,
                },
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["api_key", "service_code", "description"],
                        "properties": {
                            **{k: {"type": "string"} for k in forms.FORM_FIELDS},
                            "media": {
                                "type": "string",
                                "format": "binary",
                                "description": "a JPEG, PNG or WebP photo (at most CASES_ATTACHMENT_MAX_BYTES, "
                                "else 413); stored without EXIF (GPS), XMP, ICC profile or comments",
                            },
                        },
                    }
                },
            },
        }
    },
)
async def create_request(request: Request, config: Config, cases: Cases, fmt: Fmt = FMT) -> Response:
    fields, media = await forms.read_form(request, cases.attachment_max_bytes)
    api_key = forms.api_key(fields, config.api_keys)
    _check_jurisdiction(config, fields.get("jurisdiction_id"))
    new = forms.new_case(fields, cases.policy)
    kept = _media(media) if media else None
    media_id = uuid.uuid4()
    if kept:
        await service.store_report_media(cases, media_id, kept)
        new.attachments = [request.app.url_path_for("open311_media", media_id=str(media_id))]
    principal = Principal(sub=forms.api_key_sub(api_key), roles=["resident"], areas=[])
    row, _ = await service.create_case(cases, new, principal=principal, reporter_sub=None)
    if kept:
        await service.add_report_media(cases, row["id"], media_id, kept)
    number = row["number"]
    log.info("open311 request %s created by %s", number, principal.sub)
    return render(
        [views.created(number, row["accept_due"])],
        fmt,
        "service_requests",
        "request",
        status=201,
        headers={"Location": f"{router.prefix}/requests/{number}.{fmt}"},
    )


def _media(media: forms.Media) -> CleanFile:
    """The report's image, judged by its content and stripped of its metadata (EXIF with GPS, XMP, ICC, comments)."""
    try:
        kept = attachments.clean(media.data, media.filename, "media")
    except attachments.UnsupportedFile as e:
        raise bad("media", "a JPEG, PNG or WebP image (judged by its content)") from e
    if kept.content_type == attachments.PDF:
        raise bad("media", "a JPEG, PNG or WebP image (judged by its content), not a PDF")
    return kept


# not in the OpenAPI document: every Open311 operation there answers JSON or XML; docs/open311.md describes it
@router.get("/media/{media_id}", name="open311_media", include_in_schema=False)
async def media(cases: Cases, media_id: str) -> Response:
    found = await public_requests.public_media(cases, media_id)
    if found is None:
        raise Open311Error(404, f"media_id: no media {media_id!r}")
    data, content_type = found
    return Response(
        data,
        media_type=content_type,
        headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"},
    )


# -- reading ----------------------------------------------------------------------------------------------------------


@router.get(
    "/requests.{fmt}",
    summary="Service requests (public; no personal data)",
    description="Without service_request_id: the last 90 days (or the given range, at most 90 days), "
    "newest first, at most 1000.",
    operation_id="open311ListRequests",
    responses=answers(
        example=[
            {
                "service_request_id": "CP-2026-000123",
                "status": "open",
                "status_notes": "已受理，村级办理中",
                "service_name": "土地山林纠纷",
                "service_code": "103",
                "description": "三组村民反映四组在争议山林内砍伐树木，请求村里调处。",
                "agency_responsible": "村(社区) (village)",
                "service_notice": "受理时限 24 小时，办结时限 7 天",
                "requested_datetime": "2026-11-29T09:30:00+08:00",
                "updated_datetime": "2026-11-29T10:05:00+08:00",
                "expected_datetime": "2026-12-06T10:05:00+08:00",
                "address": "孔家畈村三组后山",
                "address_id": None,
                "zipcode": None,
                "lat": 31.7183,
                "long": 111.3508,
                "media_url": None,
            }
        ]
    ),
)
async def list_requests(
    request: Request,
    cases: Cases,
    fmt: Fmt = FMT,
    service_request_id: str | None = Query(
        default=None,
        description="case numbers, comma-separated; overrides the other filters",
        examples=["CP-2026-000123"],
    ),
    service_code: str | None = Query(default=None, description="comma-separated", examples=["103,104"]),
    start_date: str | None = Query(
        default=None,
        description="ISO 8601, on requested_datetime; without a zone: +08:00",
        examples=["2026-11-01T00:00:00+08:00"],
    ),
    end_date: str | None = Query(
        default=None, description="ISO 8601, inclusive", examples=["2026-11-30T00:00:00+08:00"]
    ),
    status: str | None = Query(default=None, description="open, closed or open,closed", examples=["open"]),
) -> Response:
    wanted = forms.request_filter(
        cases.policy,
        service_request_id=service_request_id,
        service_code=service_code,
        start_date=start_date,
        end_date=end_date,
        status=status,
    )
    rows = await public_requests.list_public(cases, wanted, limit=forms.MAX_RESULTS)
    base = str(request.base_url)
    return render([views.public_request(r, cases.policy, base) for r in rows], fmt, "service_requests", "request")


@router.get(
    "/requests/{service_request_id}.{fmt}",
    summary="One service request by case number (public)",
    operation_id="open311GetRequest",
    responses=answers(e404="no such request, or unknown jurisdiction_id"),
)
async def get_request(
    request: Request, cases: Cases, service_request_id: str = Path(examples=["CP-2026-000123"]), fmt: Fmt = FMT
) -> Response:
    row = await public_requests.get_public(cases, service_request_id)
    if row is None:
        raise Open311Error(404, f"service_request_id: no request {service_request_id!r}")
    return render([views.public_request(row, cases.policy, str(request.base_url))], fmt, "service_requests", "request")


# anything else under /open311/v2: an Open311 404 (or 405), not the service's problem+json
@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def not_found(request: Request, rest: str) -> Response:
    for route in router.routes:
        if getattr(route, "endpoint", None) is not not_found and route.matches(request.scope)[0] is Match.PARTIAL:
            raise Open311Error(405, f"{request.method} is not allowed on {request.url.path}")
    raise Open311Error(404, f"no Open311 endpoint {request.url.path}; see discovery.json")

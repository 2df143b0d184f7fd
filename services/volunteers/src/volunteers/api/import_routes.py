"""HTTP API of the volunteer registry in bulk: CSV import and the staff listing."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from govkit.auth import CurrentPrincipal
from govkit.inputs import AreaId
from govkit.openapi import problems
from govkit.problems import Problem
from volunteers import access, registry, registry_import
from volunteers.api.deps import ServiceContext
from volunteers.api.routes import volunteer_read
from volunteers.api.schemas import Role, Skill, VolunteerRead

router = APIRouter(prefix="/v1", tags=["volunteers"])

CSV_EXAMPLE = (
    "external_id,name,phone,roles,party_branch,home_grid,skills,availability,max_concurrent,account_sub,active\n"
    "KJF-001,张建国,13912345678,party_member|mediator,长坪镇机关第一党支部,changping.kongjiafan.g03,"
    "mediation|legal_aid,0-4@08:00-18:00;5@09:00-12:00,2,vol-zhang,true\n"
)


class ImportError_(BaseModel):
    line: int
    field: str
    message: str


class ImportReport(BaseModel):
    created: int
    skipped: int
    failed: int
    errors: list[ImportError_]
    rows: list[dict]


class VolunteerPage(BaseModel):
    items: list[VolunteerRead]
    next_cursor: str | None


def file_problem(e: registry_import.FileError) -> Problem:
    """A refused file as problem+json, naming the field like any other 422."""
    title = "Payload too large" if e.status == 413 else "Invalid request"
    return Problem(e.status, title, f"{e.field}: {e.message}", errors=[{"field": e.field, "message": e.message}])


async def _read_body(request: Request) -> bytes:
    """The body, refused with 413 as soon as it passes the limit (not read into memory first)."""
    declared = request.headers.get("content-length", "")
    limit = registry_import.MAX_BYTES
    if declared.isdigit() and int(declared) > limit:
        raise file_problem(
            registry_import.FileError(413, "body", f"{declared} bytes; at most {limit} (2 MiB) per file")
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise file_problem(registry_import.FileError(413, "body", f"more than {limit} bytes (2 MiB) per file"))
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/volunteers/import",
    response_model=ImportReport,
    operation_id="importVolunteers",
    responses=problems(413, 415, 422),
    summary="Import volunteers from CSV (批量导入); each row is checked and inserted on its own",
    description="Content-Type text/csv, UTF-8 (a BOM is fine), at most 5000 rows and 2 MiB. Columns: "
    + ", ".join(registry_import.COLUMNS)
    + ". roles and skills are separated by '|'; availability is like "
    "0-4@08:00-18:00;5@09:00-12:00 (0 = Monday, China Standard Time). A bad row is reported "
    "by line and field and rejects nothing else. A row whose external_id is registered "
    'already is left unchanged and reported as "exists" (re-importing is idempotent).',
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE}},
        }
    },
)
async def import_csv(request: Request, ctx: ServiceContext, principal: CurrentPrincipal) -> dict:
    access.require_roles(principal, access.STAFF)
    media = request.headers.get("content-type", "")
    kind, _, params = media.partition(";")
    charset = re.search(r"charset\s*=\s*\"?([\w-]+)", params)
    if kind.strip().lower() != "text/csv" or (charset and charset.group(1).lower() not in ("utf-8", "utf8")):
        raise Problem(415, "Unsupported media type", f"send Content-Type: text/csv (UTF-8), not {media or 'nothing'}")
    try:
        rows = registry_import.parse_csv(await _read_body(request))
    except registry_import.FileError as e:
        raise file_problem(e) from None
    return await registry_import.import_rows(ctx, rows, principal)


@router.get(
    "/volunteers",
    response_model=VolunteerPage,
    summary="Volunteers in the caller's areas (no name or phone), newest first, a page at a time",
)
async def list_volunteers(
    ctx: ServiceContext,
    principal: CurrentPrincipal,
    role: Role | None = None,
    skill: Skill | None = None,
    area: Annotated[
        AreaId | None, Query(description="an area id: its whole subtree", examples=["changping.kongjiafan"])
    ] = None,
    active: bool | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> VolunteerPage:
    rows, next_cursor = await registry.list_volunteers(
        ctx,
        principal,
        registry.VolunteerFilter(area=area, role=role, skill=skill, active=active),
        cursor=cursor,
        limit=limit,
    )
    return VolunteerPage(items=[volunteer_read(ctx, r) for r in rows], next_cursor=next_cursor)

"""HTTP API of the volunteer registry in bulk: CSV import and the staff listing."""
from __future__ import annotations

import re
from typing import Optional

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from govkit import pagination
from govkit.auth import Principal, current_principal
from govkit.inputs import AreaId
from govkit.openapi import problems
from govkit.problems import Problem
from volunteers import queries as Q
from volunteers import registry_import as RI
from volunteers.api.routes import STAFF, ctx, volunteer_read
from volunteers.api.schemas import Role, Skill, VolunteerRead

router = APIRouter(prefix="/v1", tags=["volunteers"])
AREA_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,2}$")

CSV_EXAMPLE = ("external_id,name,phone,roles,party_branch,home_grid,skills,availability,max_concurrent,account_sub,active\n"
               "KJF-001,张建国,13912345678,party_member|mediator,长坪镇机关第一党支部,changping.kongjiafan.g03,"
               "mediation|legal_aid,0-4@08:00-18:00;5@09:00-12:00,2,vol-zhang,true\n")


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
    next_cursor: Optional[str]


def _staff_role(p: Principal, *extra: str) -> None:
    if not p.has_role(*STAFF, *extra):
        raise Problem(403, "Forbidden", f"needs one of the roles: {', '.join((*STAFF, *extra))}")


async def _read_body(request: Request) -> bytes:
    """The body, refused with 413 as soon as it passes the limit (not read into memory first)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > RI.MAX_BYTES:
        raise RI.FileError(413, "body", f"{declared} bytes; at most {RI.MAX_BYTES} (2 MiB) per file").problem()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > RI.MAX_BYTES:
            raise RI.FileError(413, "body", f"more than {RI.MAX_BYTES} bytes (2 MiB) per file").problem()
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/volunteers/import", response_model=ImportReport, operation_id="importVolunteers",
             responses=problems(413, 415, 422),
             summary="Import volunteers from CSV (批量导入); each row is checked and inserted on its own",
             description="Content-Type text/csv, UTF-8 (a BOM is fine), at most 5000 rows and 2 MiB. Columns: "
                         + ", ".join(RI.COLUMNS) + ". roles and skills are separated by '|'; availability is like "
                         "0-4@08:00-18:00;5@09:00-12:00 (0 = Monday, China Standard Time). A bad row is reported "
                         "by line and field and rejects nothing else. A row whose external_id is registered "
                         "already is left unchanged and reported as \"exists\" (re-importing is idempotent).",
             openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {
                 "schema": {"type": "string"}, "example": CSV_EXAMPLE}}}})
async def import_csv(request: Request, p: Principal = Depends(current_principal)):
    _staff_role(p)
    media = request.headers.get("content-type", "")
    kind, _, params = media.partition(";")
    charset = re.search(r"charset\s*=\s*\"?([\w-]+)", params)
    if kind.strip().lower() != "text/csv" or (charset and charset.group(1).lower() not in ("utf-8", "utf8")):
        raise Problem(415, "Unsupported media type", f"send Content-Type: text/csv (UTF-8), not {media or 'nothing'}")
    try:
        rows = RI.parse_csv(await _read_body(request))
    except RI.FileError as e:
        raise e.problem() from None
    return await RI.import_rows(ctx(request), rows, p)


@router.get("/volunteers", response_model=VolunteerPage,
            summary="Volunteers in the caller's areas (no name or phone), newest first, a page at a time")
async def list_volunteers(request: Request, p: Principal = Depends(current_principal),
                          role: Optional[Role] = None, skill: Optional[Skill] = None,
                          area: Optional[AreaId] = Query(default=None, description="an area id: its whole subtree",
                                                         examples=["changping.kongjiafan"]),
                          active: Optional[bool] = None, cursor: Optional[str] = None,
                          limit: int = Query(default=20, ge=1, le=100)):
    _staff_role(p, "analyst")
    if area is not None and not AREA_RE.match(area):
        raise Problem(422, "Invalid request", "query.area: not an area id",
                      errors=[{"field": "query.area", "message": "not an area id like changping.kongjiafan"}])
    at, cid = pagination.decode(cursor) if cursor else (None, None)
    c = ctx(request)
    async with c.pool.acquire() as con:
        rows = await con.fetch(Q.LIST_VOLUNTEERS, p.visible_areas(), area, role, skill, active, at, cid, limit + 1)
    rows, next_cursor = pagination.page(rows, limit)
    return VolunteerPage(items=[volunteer_read(c, r) for r in rows], next_cursor=next_cursor)

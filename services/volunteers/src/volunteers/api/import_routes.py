"""HTTP API of the volunteer registry in bulk: import from CSV or XLSX, its templates, and the staff listing."""

from __future__ import annotations

import re
import urllib.parse
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from govkit import messages
from govkit.auth import CurrentPrincipal, Principal
from govkit.inputs import AreaId
from govkit.openapi import problems
from govkit.problems import Problem
from volunteers import access, import_formats, import_template, registry, registry_import
from volunteers.api.deps import ServiceContext
from volunteers.api.routes import volunteer_read
from volunteers.api.schemas import Role, Skill, VolunteerRead

router = APIRouter(prefix="/v1", tags=["volunteers"])
TITLES = {413: "Payload too large", 415: "Unsupported media type"}
FORM_SLACK = 64 * 1024  # a multipart body's boundaries and part headers around the file

CSV_EXAMPLE = (
    "external_id,name,phone,roles,party_branch,home_grid,skills,availability,max_concurrent,account_sub,active\n"
    "KJF-001,张建国,13912345678,party_member|mediator,长坪镇机关第一党支部,changping.kongjiafan.g03,"
    "mediation|legal_aid,0-4@08:00-18:00;5@09:00-12:00,2,vol-zhang,true\n"
)


class ImportError_(BaseModel):
    line: int
    field: str
    message: str
    column: str | None = None  # the header as written in the file, when it is not the field's code (e.g. 身份)


class ImportReport(BaseModel):
    created: int
    skipped: int
    failed: int
    errors: list[ImportError_]
    rows: list[dict]


class VolunteerPage(BaseModel):
    items: list[VolunteerRead]
    next_cursor: str | None


def file_problem(e: registry_import.FileError, lang: registry_import.Lang = "en") -> Problem:
    """A refused file as problem+json, naming the field like any other 422; in Chinese when the file's headers
    are, or, before they are known, when the request prefers Chinese."""
    title = TITLES.get(e.status, "Invalid request")
    message = e.text(e.lang or lang)
    return Problem(e.status, title, f"{e.field}: {message}", errors=[{"field": e.field, "message": message}])


def preferred_language(request: Request) -> registry_import.Lang:
    """zh when Accept-Language prefers Chinese (govkit.messages)."""
    return "zh" if messages.prefers_chinese(request.headers.get("accept-language")) else "en"


async def _read_body(request: Request, limit: int = registry_import.MAX_BYTES) -> bytes:
    """The body, refused with 413 as soon as it passes the limit (not read into memory first)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise registry_import.FileError(
            413, "body", f"{declared} bytes; at most {limit} (2 MiB) per file", f"{declared} 字节，每个文件最多 2 MiB"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise registry_import.FileError(
                413, "body", f"more than {limit} bytes (2 MiB) per file", f"超过 {limit} 字节，每个文件最多 2 MiB"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _disposition_name(value: str) -> str | None:
    """The file name of a Content-Disposition header (filename*=UTF-8''… preferred)."""
    star = re.search(r"filename\*\s*=\s*(?:utf-8|UTF-8)''([^;]+)", value)
    if star:
        return urllib.parse.unquote(star.group(1).strip())
    plain = re.search(r'filename\s*=\s*"?([^";]+)"?', value)
    return plain.group(1).strip() if plain else None


async def _form_file(request: Request) -> tuple[bytes, str, str | None]:
    """The `file` part of a multipart/form-data upload (a browser's form): its bytes, media type and name."""
    body = await _read_body(request, registry_import.MAX_BYTES + FORM_SLACK)

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=5)
    except HTTPException as e:
        raise registry_import.FileError(
            422, "body", f"malformed multipart form: {e.detail}", f"表单格式错误：{e.detail}"
        ) from None
    try:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise registry_import.FileError(
                422, "body.file", "send the list as the form's file part 'file'", "请在表单的 file 字段上传名单文件"
            )
        data = await upload.read(registry_import.MAX_BYTES + 1)
        if len(data) > registry_import.MAX_BYTES:
            raise registry_import.FileError(
                413, "body.file", f"more than {registry_import.MAX_BYTES} bytes (2 MiB)", "文件超过 2 MiB"
            )
        return data, upload.content_type or "", upload.filename
    finally:
        await form.close()


@router.post(
    "/volunteers/import",
    response_model=ImportReport,
    operation_id="importVolunteers",
    responses=problems(413, 415, 422),
    summary="Import volunteers from CSV or XLSX (批量导入); each row is checked and inserted on its own",
    description="The list as the body (Content-Type text/csv, UTF-8 with or without BOM or GBK/GB18030; or "
    f"{import_formats.XLSX_MEDIA}, the first sheet) or as the part `file` of a multipart/form-data upload; "
    "at most 5000 rows and 2 MiB. The format is told by the file's first bytes (an XLSX is a ZIP), its "
    "Content-Type and its name (`filename` or Content-Disposition). Columns: "
    + ", ".join(registry_import.COLUMNS)
    + " (and is_party_member), by these names or the Chinese headers of the template "
    "(GET /v1/volunteers/import/template.xlsx): 编号, 姓名, 手机号, 身份, 是否党员, 所属党支部, 所属网格, 技能, "
    "可服务时间, 同时任务上限, 账号, 是否启用. roles and skills are codes or Chinese names separated by '|' or "
    "'、'; home_grid is a grid id or the grid's name (孔家畈村第3网格); availability is like "
    "0-4@08:00-18:00;5@09:00-12:00 (0 = Monday, China Standard Time). A bad row is reported "
    "by line (the sheet's row number for XLSX) and field and rejects nothing else; the messages are Chinese "
    "when the headers are. A row whose external_id is registered "
    'already is left unchanged and reported as "exists" (re-importing is idempotent); the template\'s example '
    'row (编号 示例…) is reported as "example" and skipped.',
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE},
                import_formats.XLSX_MEDIA: {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            },
        }
    },
)
async def import_volunteers(
    request: Request,
    ctx: ServiceContext,
    principal: CurrentPrincipal,
    filename: Annotated[
        str | None, Query(max_length=255, description="the uploaded file's name, e.g. 名单.xlsx (format and messages)")
    ] = None,
) -> dict:
    access.require_roles(principal, access.STAFF)
    media = request.headers.get("content-type", "")
    try:
        if media.partition(";")[0].strip().lower() == "multipart/form-data":
            data, media, part_name = await _form_file(request)
            filename = part_name or filename
        else:
            data = await _read_body(request)
            filename = filename or _disposition_name(request.headers.get("content-disposition", ""))
        kind = import_formats.detect(media, filename, data[:8])
        grids = await registry_import.grid_names(ctx)
        parsed = registry_import.parse_upload(data, kind, filename=filename, grids=grids)
    except registry_import.FileError as e:
        raise file_problem(e, preferred_language(request)) from None
    return await registry_import.import_rows(ctx, parsed.rows, principal, lang=parsed.lang, headers=parsed.headers)


async def _template_grids(ctx: ServiceContext, principal: Principal) -> list[import_template.Grid]:
    rows = await ctx.pool.fetch(registry_import.GRIDS)
    return [import_template.Grid(r["id"], r["name"], r["village"]) for r in rows if principal.covers(r["id"])]


def _attachment(stem: str, suffix: str) -> dict[str, str]:
    ascii_name = f"volunteer-import-template.{suffix}"
    return {
        "content-disposition": f'attachment; filename="{ascii_name}"; '
        f"filename*=UTF-8''{urllib.parse.quote(f'{stem}.{suffix}')}"
    }


@router.get(
    "/volunteers/import/template.xlsx",
    operation_id="volunteerImportTemplateXlsx",
    response_class=Response,
    responses={200: {"content": {import_formats.XLSX_MEDIA: {"schema": {"type": "string", "format": "binary"}}}}},
    summary="The import template as an XLSX workbook (导入模板): Chinese headers, an example row, 填写说明",
    description="Sheet 志愿者名单: the Chinese headers (`*` marks the required ones) and an example row whose "
    "编号 starts with 示例 (the import skips it), drop-downs for 是/否 and the grid names; sheet 填写说明: each "
    "column's rule, the roles and skills by Chinese name and code, and the grids of the caller's area scope "
    "(name, id, village). Fill the first sheet and upload it to POST /v1/volunteers/import.",
)
async def import_template_xlsx(ctx: ServiceContext, principal: CurrentPrincipal) -> Response:
    access.require_roles(principal, access.STAFF)
    body = import_template.template_xlsx(await _template_grids(ctx, principal))
    return Response(body, media_type=import_formats.XLSX_MEDIA, headers=_attachment(import_template.FILE_STEM, "xlsx"))


@router.get(
    "/volunteers/import/template.csv",
    operation_id="volunteerImportTemplateCsv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    summary="The import template as CSV (导入模板): UTF-8 with a BOM, Chinese headers and an example row",
    description="The header and example row of the XLSX template, in UTF-8 with a BOM so that Excel shows the "
    "Chinese right; the allowed values are on the XLSX template's sheet 填写说明.",
)
async def import_template_csv(ctx: ServiceContext, principal: CurrentPrincipal) -> Response:
    access.require_roles(principal, access.STAFF)
    body = import_template.template_csv(await _template_grids(ctx, principal))
    return Response(body, media_type="text/csv; charset=utf-8", headers=_attachment(import_template.FILE_STEM, "csv"))


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

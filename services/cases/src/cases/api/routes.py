"""The cases HTTP API: each route parses, calls one use case (cases.service, cases.reads) and
shapes the answer; refusals are domain errors, answered as problem+json by govkit.problems."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Header, Path, Query, Request, Response
from starlette.exceptions import HTTPException

from cases import attachments, authz, reads, service
from cases.api.deps import Cases
from cases.api.schemas import (
    ActionBody,
    AttachmentAdd,
    AttachmentRead,
    CallbackBody,
    CaseCreate,
    CasePage,
    CaseRead,
    NoteRead,
    PendingRequest,
    Reporter,
    Satisfaction,
    Supervision,
    Suspension,
    Ticket,
    TicketCreate,
    TimelineEntry,
)
from cases.domain.model import TERMINAL, Action, Level, Status, allowed_actions
from cases.domain.policy import Policy
from cases.queries import CaseFilter
from cases.repository import Row
from cases.service import Context
from gov_contracts.errors import InvalidInput
from gov_contracts.vocabulary import Severity
from govkit import pagination
from govkit.auth import CurrentPrincipal
from govkit.inputs import AreaId, BoundedDatetime
from govkit.openapi import problems
from govkit.problems import Problem

router = APIRouter(prefix="/v1/cases", tags=["cases"])


def to_read(row: Row, policy: Policy, reporter: dict[str, Any] | None = None) -> CaseRead:
    category = policy.categories.get(row["category"])
    return CaseRead(
        id=str(row["id"]),
        number=row["number"],
        category=row["category"],
        category_name=category.name if category else row["category"],
        title=row["title"],
        description=row["description"],
        grid_id=row["grid_id"],
        address=row["address"],
        lat=row["lat"],
        lon=row["lon"],
        source=row["source"],
        severity=row["severity"],
        status=row["status"],
        level=row["level"],
        assigned_unit=row["assigned_unit"],
        assignee=row["assignee"],
        report_count=row["report_count"],
        duplicate_candidates=[str(d) for d in row["duplicate_candidates"]],
        merged_into=str(row["merged_into"]) if row["merged_into"] else None,
        accept_due=row["accept_due"],
        resolve_due=row["resolve_due"],
        overdue=row["overdue"],
        escalations=row["escalations"],
        reopen_count=row["reopen_count"],
        resolution=row["resolution"],
        referral_court=row["referral_court"],
        satisfaction=row["satisfaction"],
        attachments=list(row["attachments"]),
        tags=list(row["tags"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        closed_at=row["closed_at"],
        extensions=row["extensions"],
        returns=row["returns"],
        suspended_seconds=row["suspended_seconds"],
        pending_request=PendingRequest(
            kind=row["pending_kind"],
            due=row["pending_due"],
            reason=row["pending_reason"],
            by=row["pending_by"],
            at=row["pending_at"],
        )
        if row["pending_kind"]
        else None,
        suspension=Suspension(since=row["suspended_at"], resumes_to=row["suspended_from"])
        if row["suspended_at"]
        else None,
        supervision=Supervision(level=row["supervising_level"], since=row["supervised_at"], due=row["supervise_due"])
        if row["supervised_at"] and Status(row["status"]) not in TERMINAL
        else None,
        ticket=Ticket(
            source=row["external_source"],
            external_id=row["external_id"],
            callback_result=row["callback_result"],
            callback_at=row["callback_at"],
        )
        if row["external_id"]
        else None,
        allowed_actions=[
            a.value
            for a in allowed_actions(Status(row["status"]), Level(row["level"]), row["category"], row["pending_kind"])
        ],
        reporter=Reporter(**reporter) if reporter else None,
    )


def _new_case(body: CaseCreate, source: str, **ticket: str) -> service.NewCase:
    return service.NewCase(
        category=body.category,
        title=body.title,
        description=body.description,
        grid_id=body.grid_id,
        severity=body.severity,
        source=source,
        address=body.address,
        lat=body.lat,
        lon=body.lon,
        reporter_name=body.reporter_name,
        reporter_phone=body.reporter_phone,
        parties=[x.model_dump() for x in body.parties],
        attachments=[str(u) for u in body.attachments],
        tags=body.tags,
        **ticket,
    )


@router.post(
    "",
    status_code=201,
    response_model=CaseRead,
    summary="Report a case (上报事件)",
    responses={
        200: {"model": CaseRead, "description": "replay of an earlier request with the same Idempotency-Key"},
        422: {
            "description": "Invalid request, naming the field; also a `category` the policy file "
            "(CASES_POLICY_FILE; see GET /open311/v2/services.json) does not define, "
            "a `grid_id` the area tree does not hold, or an Idempotency-Key reused "
            "for a different request"
        },
    },
)
async def create_case(
    body: CaseCreate,
    cases: Cases,
    response: Response,
    p: CurrentPrincipal,
    idempotency_key: str | None = Header(
        default=None, max_length=200, description="retries with the same key create one case"
    ),
) -> CaseRead:
    resident = authz.staff_level(p) is None
    new = _new_case(body, "resident_report" if resident else body.source)
    row, created = await service.create_case(
        cases, new, principal=p, reporter_sub=p.sub if resident else None, idempotency_key=idempotency_key
    )
    if not created:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/cases/{row['id']}"
    return to_read(row, cases.policy)


@router.post(
    "/tickets",
    status_code=201,
    response_model=CaseRead,
    summary="Take in an outside system's ticket (12345 工单) as a case; the same ticket again is the same case",
    operation_id="intakeTicket",
    responses={
        200: {"model": CaseRead, "description": "the ticket was taken in before: its case, unchanged"},
        **problems(403),
    },
)
async def intake_ticket(body: TicketCreate, cases: Cases, response: Response, p: CurrentPrincipal) -> CaseRead:
    new = _new_case(body, "hotline", external_source=body.external_source, external_id=body.external_id)
    row, created = await service.intake_ticket(cases, new, principal=p)
    if not created:
        response.status_code = 200
    response.headers["Location"] = f"/v1/cases/{row['id']}"
    return to_read(row, cases.policy)


@router.post(
    "/{case_ref}/callback",
    response_model=CaseRead,
    summary="Record the hotline's call-back (回访) of a ticket's case after its resolution",
    operation_id="recordCallback",
    responses=problems(404, 409),
)
async def record_callback(cases: Cases, case_ref: str, body: CallbackBody, p: CurrentPrincipal) -> CaseRead:
    return to_read(await service.record_callback(cases, case_ref, body.result, body.note, p), cases.policy)


@router.get(
    "",
    response_model=CasePage,
    summary="List cases visible to the caller",
    responses={
        422: {
            "description": "Invalid request, naming the field; also a `category` the policy file "
            "(CASES_POLICY_FILE; see GET /open311/v2/services.json) does not define"
        }
    },
)
async def list_cases(
    cases: Cases,
    p: CurrentPrincipal,
    area: AreaId | None = Query(
        default=None, description="area id: that area and everything under it", examples=["changping.kongjiafan"]
    ),
    status: list[Status] = Query(default=[]),
    category: list[str] = Query(default=[]),
    severity: list[Severity] = Query(default=[]),
    overdue: bool | None = None,
    created_from: BoundedDatetime | None = Query(default=None, alias="from"),
    created_to: BoundedDatetime | None = Query(default=None, alias="to"),
    q: str | None = Query(default=None, min_length=1, max_length=100, examples=["山林"]),
    cursor: str | None = None,
    limit: int = Query(default=20, ge=1, le=100),
) -> CasePage:
    wanted = CaseFilter(
        area=area,
        statuses=[s.value for s in status],
        categories=category,
        severities=[s.value for s in severity],
        overdue=overdue,
        created_from=created_from,
        created_to=created_to,
        text=q,
        cursor=pagination.decode(cursor) if cursor else None,
        limit=limit,
    )
    rows, next_cursor = await reads.list_cases(cases, wanted, p)
    return CasePage(items=[to_read(r, cases.policy) for r in rows], next_cursor=next_cursor)


@router.get("/{case_ref}", response_model=CaseRead, summary="One case, by id or number", responses=problems(404))
async def get_case(cases: Cases, p: CurrentPrincipal, case_ref: str = Path(examples=["CP-2026-000123"])) -> CaseRead:
    row, reporter = await reads.get_case(cases, case_ref, p)
    return to_read(row, cases.policy, reporter)


@router.get(
    "/{case_ref}/timeline",
    response_model=list[TimelineEntry],
    summary="Every transition and task step",
    operation_id="getCaseTimeline",
    responses=problems(404),
)
async def timeline(cases: Cases, case_ref: str, p: CurrentPrincipal) -> list[TimelineEntry]:
    return [
        TimelineEntry(
            kind=r["kind"],
            what=r["what"],
            from_status=r["from_status"],
            to_status=r["to_status"],
            from_level=r["from_level"],
            to_level=r["to_level"],
            actor=r["actor"],
            reason=r["reason"],
            data=r["data"] or {},
            at=r["at"],
        )
        for r in await reads.timeline(cases, case_ref, p)
    ]


NO_BODY = ActionBody()  # an action's body is optional


def _action_route(action: Action):
    async def run(case_ref: str, cases: Cases, p: CurrentPrincipal, body: ActionBody = NO_BODY) -> CaseRead:
        inp = service.ActionInput(**body.model_dump())
        return to_read(await service.act(cases, case_ref, action, inp, principal=p), cases.policy)

    run.__name__ = f"{action.value}_case"
    return run


_SUMMARIES = {
    Action.accept: "Accept (受理)",
    Action.reject: "Reject (不予受理); reason required",
    Action.withdraw: "Withdraw before acceptance (reporter)",
    Action.dispatch: "Dispatch to a unit (派遣)",
    Action.start: "Start handling (处置)",
    Action.resolve: "Resolve with feedback (办结); resolution required",
    Action.verify: "Verify the resolution (核查); not by the resolver",
    Action.reopen: "Fail verification: rework (返工); reason required",
    Action.close: "Close (结案)",
    Action.escalate: "Escalate one level (上报); reason required",
    Action.refer: "Refer to court mediation (诉调联动); court required",
    Action.record_outcome: "Record the court-mediation outcome; outcome required",
    Action.merge: "Merge into another case; into required",
    Action.request_extension: "Ask for a later resolve deadline (延期申请); due and reason required",
    Action.approve_extension: "Approve the extension request (延期审批); by the approving level",
    Action.refuse_extension: "Refuse the extension request; reason required; by the approving level",
    Action.request_suspension: "Ask to stop the clock (缓办/挂起申请); reason required, due = until (optional)",
    Action.approve_suspension: "Approve the suspension: the clock stops; by the approving level",
    Action.refuse_suspension: "Refuse the suspension request; reason required; by the approving level",
    Action.resume: "Resume a suspended case: deadlines move later by the time suspended",
    Action.return_: "Return to the dispatcher (退单) within the window; reason required",
    Action.supervise: "Supervise (督办) from a level above; reason = the note, due = report by",
}
for _a in Action:
    router.add_api_route(
        f"/{{case_ref}}/{_a.value}",
        _action_route(_a),
        methods=["POST"],
        response_model=CaseRead,
        summary=_SUMMARIES[_a],
        responses={
            **problems(404),
            409: {"description": "not allowed in the current state; the body names the state and the allowed actions"},
        },
    )


@router.post(
    "/{case_ref}/satisfaction",
    response_model=CaseRead,
    summary="Follow-up satisfaction 1–5 (回访评价)",
    operation_id="rateCase",
    responses=problems(404, 409),
)
async def rate(cases: Cases, case_ref: str, body: Satisfaction, p: CurrentPrincipal) -> CaseRead:
    return to_read(await service.rate(cases, case_ref, body.score, body.note, p), cases.policy)


@router.post(
    "/{case_ref}/attachments",
    response_model=CaseRead,
    summary="Attach a file by URL",
    operation_id="addCaseAttachment",
    responses=problems(404),
)
async def attach(cases: Cases, case_ref: str, body: AttachmentAdd, p: CurrentPrincipal) -> CaseRead:
    return to_read(await service.add_attachment(cases, case_ref, str(body.url), p), cases.policy)


def _note_read(case_id: str, note: Row, files: Sequence[Row]) -> NoteRead:
    return NoteRead(
        id=str(note["id"]),
        author=note["author"],
        text=note["text"],
        at=note["at"],
        attachments=[
            AttachmentRead(
                id=str(f["id"]),
                filename=f["filename"],
                content_type=f["content_type"],
                size=f["size"],
                sha256=f["sha256"],
                url=f"/v1/cases/{case_id}/attachments/{f['id']}",
            )
            for f in files
        ],
    )


NOTE_TEXT_MAX = 2000
NOTE_FORM_SLACK = 64 * 1024  # the text and the parts' headers, besides the files


def _too_large(field: str, limit: int, what: str) -> Problem:
    return Problem(
        413,
        "Attachment too large",
        f"{field}: larger than {limit} bytes",
        errors=[{"field": field, "message": f"larger than {limit} bytes ({what})"}],
    )


async def _bounded_body(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large("body", limit, "CASES_ATTACHMENT_MAX_FILES × CASES_ATTACHMENT_MAX_BYTES")
        chunks.append(chunk)
    return b"".join(chunks)


def _note_text(text: str | None) -> str:
    if text is None or not text.strip():
        raise InvalidInput("body.text", "Field required")
    if len(text) > NOTE_TEXT_MAX:
        raise InvalidInput("body.text", f"String should have at most {NOTE_TEXT_MAX} characters")
    if "\x00" in text:
        raise InvalidInput("body.text", "contains a NUL character (U+0000)")
    return text


async def _note_form(request: Request, cases: Context) -> tuple[str, list[tuple[str | None, bytes]]]:
    """The note's text and files from its multipart body, read no further than the limits allow (the body is
    read here, after the caller is known, not by FastAPI before: nobody spools a file past the limits)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("multipart/form-data", "application/x-www-form-urlencoded"):  # the latter: a note without files
        raise InvalidInput("body", f"send multipart/form-data with text and files parts, not {ctype or 'nothing'}")
    max_files, max_bytes = cases.attachment_max_files, cases.attachment_max_bytes
    body = await _bounded_body(request, max_files * max_bytes + NOTE_FORM_SLACK)

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=max_files, max_fields=20)
    except HTTPException as e:
        if "files" in str(e.detail).lower():
            raise InvalidInput("body.files", f"at most {max_files} files on a note") from None
        raise InvalidInput("body", f"malformed multipart form: {e.detail}") from None
    text: str | None = None
    files: list[tuple[str | None, bytes]] = []
    try:
        for name, value in form.multi_items():
            if name == "text" and isinstance(value, str):
                text = value if text is None else text
            elif name == "files" and not isinstance(value, str):
                field = f"body.files[{len(files)}]"
                data = await value.read(max_bytes + 1)
                if len(data) > max_bytes:
                    raise _too_large(field, max_bytes, "CASES_ATTACHMENT_MAX_BYTES")
                files.append((value.filename, data))
            elif name == "files":
                raise InvalidInput(f"body.files[{len(files)}]", "a file part, not a text field")
    finally:
        await form.close()
    return _note_text(text), files


_NOTE_FORM = {
    "type": "object",
    "required": ["text"],
    "properties": {
        "text": {"type": "string", "minLength": 1, "maxLength": NOTE_TEXT_MAX, "description": "what was done"},
        "files": {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "description": "JPEG, PNG or WebP images (re-encoded without EXIF, XMP, ICC or comments) and PDFs "
            "(kept as sent); at most CASES_ATTACHMENT_MAX_FILES (5), each at most CASES_ATTACHMENT_MAX_BYTES",
        },
    },
}


@router.post(
    "/{case_ref}/notes",
    status_code=201,
    response_model=NoteRead,
    summary="Add a progress note (办理记录) with files",
    operation_id="addCaseNote",
    responses={
        **problems(404),
        403: {"description": "neither the case's staff (in scope, at or above its level) nor its dispatched assignee"},
        413: {
            "description": "a file is larger than CASES_ATTACHMENT_MAX_BYTES (`errors[0].field` names it, e.g. "
            "`body.files[1]`), or the whole body larger than all the files allowed together (`body`)"
        },
        422: {
            "description": "invalid request, naming the field: e.g. `body.files[2]` is not a JPEG, PNG or WebP "
            "image or a PDF (judged by its content), `body.files` more files than CASES_ATTACHMENT_MAX_FILES, "
            "`body.text` missing or longer than 2000 characters"
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": _NOTE_FORM},
                "application/x-www-form-urlencoded": {
                    "schema": {**_NOTE_FORM, "properties": {"text": _NOTE_FORM["properties"]["text"]}}  # type: ignore[index]
                },
            },
        }
    },
)
async def add_note(cases: Cases, case_ref: str, p: CurrentPrincipal, request: Request) -> NoteRead:
    text, files = await _note_form(request, cases)
    cleaned = [attachments.clean(data, name, f"body.files[{i}]") for i, (name, data) in enumerate(files)]
    note, stored = await service.add_note(cases, case_ref, text, cleaned, p)
    return _note_read(str(note["case_id"]), note, stored)


@router.get(
    "/{case_ref}/notes",
    response_model=list[NoteRead],
    summary="The case's progress notes, newest first",
    operation_id="listCaseNotes",
    responses=problems(404),
)
async def list_notes(cases: Cases, case_ref: str, p: CurrentPrincipal) -> list[NoteRead]:
    return [_note_read(str(n["case_id"]), n, files) for n, files in await reads.notes(cases, case_ref, p)]


@router.get(
    "/{case_ref}/attachments/{attachment_id}",
    response_class=Response,
    summary="An attachment's bytes (recorded in the personal-data read log)",
    operation_id="getCaseAttachment",
    responses={
        200: {
            "description": "the file as stored",
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in attachments.ACCEPTED},
        },
        **problems(404),
    },
)
async def get_attachment(cases: Cases, case_ref: str, attachment_id: str, p: CurrentPrincipal) -> Response:
    found, data = await reads.attachment(cases, case_ref, attachment_id, p)
    disposition = "attachment" if found["content_type"] == attachments.PDF else "inline"
    return Response(
        data,
        media_type=found["content_type"],
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(found['filename'], safe='')}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
            "Cache-Control": "private, no-store",
        },
    )

"""The cases HTTP API."""
from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from cases import authz, service
from cases import queries as Q
from cases.api.schemas import (ActionBody, AttachmentAdd, CaseCreate, CasePage, CaseRead, Reporter, Satisfaction,
                               TimelineEntry)
from cases.domain import model as M
from govkit import pagination
from govkit.auth import PERSONAL_DATA, Principal, current_principal
from govkit.inputs import AreaId, BoundedDatetime
from govkit.openapi import problems
from govkit.problems import Problem

router = APIRouter(prefix="/v1/cases", tags=["cases"])


def ctx(request: Request) -> service.Context:
    return request.app.state.cases


def to_read(row, policy, reporter: Optional[dict] = None) -> CaseRead:
    return CaseRead(
        id=str(row["id"]), number=row["number"], category=row["category"],
        category_name=policy.categories[row["category"]].name if row["category"] in policy.categories else row["category"],
        title=row["title"], description=row["description"], grid_id=row["grid_id"], address=row["address"],
        lat=row["lat"], lon=row["lon"], source=row["source"], severity=row["severity"], status=row["status"],
        level=row["level"], assigned_unit=row["assigned_unit"], assignee=row["assignee"],
        report_count=row["report_count"], duplicate_candidates=[str(d) for d in row["duplicate_candidates"]],
        merged_into=str(row["merged_into"]) if row["merged_into"] else None, accept_due=row["accept_due"],
        resolve_due=row["resolve_due"], overdue=row["overdue"], escalations=row["escalations"],
        reopen_count=row["reopen_count"], resolution=row["resolution"], referral_court=row["referral_court"],
        satisfaction=row["satisfaction"], attachments=list(row["attachments"]), tags=list(row["tags"]),
        created_at=row["created_at"], updated_at=row["updated_at"], closed_at=row["closed_at"],
        allowed_actions=[a.value for a in M.allowed_actions(M.Status(row["status"]), M.Level(row["level"]),
                                                              row["category"])],
        reporter=Reporter(**reporter) if reporter else None)


async def _visible(con, ref: str, p: Principal):
    row = await service.find(con, ref)
    if row is None or not authz.can_view(p, row):
        raise Problem(404, "Not found", f"no case {ref}")
    return row


@router.post("", status_code=201, response_model=CaseRead, summary="Report a case (上报事件)",
             responses={200: {"model": CaseRead,
                              "description": "replay of an earlier request with the same Idempotency-Key"},
                         422: {"description": "Invalid request, naming the field; also a `category` the policy file "
                                              "(CASES_POLICY_FILE; see GET /open311/v2/services.json) does not define, "
                                              "a `grid_id` the area tree does not hold, or an Idempotency-Key reused "
                                              "for a different request"}})
async def create_case(body: CaseCreate, request: Request, response: Response,
                      p: Principal = Depends(current_principal),
                      idempotency_key: Optional[str] = Header(default=None, max_length=200,
                                                              description="retries with the same key create one case")):
    c = ctx(request)
    if not authz.can_create(p, body.grid_id):
        raise Problem(403, "Forbidden", f"you may not report cases in {body.grid_id}")
    resident = authz.staff_level(p) is None
    source = "resident_report" if resident else body.source
    new = service.NewCase(
        category=body.category, title=body.title, description=body.description, grid_id=body.grid_id,
        severity=body.severity, source=source, address=body.address, lat=body.lat, lon=body.lon,
        reporter_name=body.reporter_name, reporter_phone=body.reporter_phone,
        parties=[x.model_dump() for x in body.parties], attachments=[str(u) for u in body.attachments],
        tags=body.tags)
    row, created = await service.create_case(c, new, principal=p, reporter_sub=p.sub if resident else None,
                                             idempotency_key=idempotency_key)
    if not created:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/cases/{row['id']}"
    return to_read(row, c.policy)


@router.get("", response_model=CasePage, summary="List cases visible to the caller")
async def list_cases(request: Request, p: Principal = Depends(current_principal),
                     area: Optional[AreaId] = Query(default=None, description="area id: that area and everything "
                                                    "under it", examples=["changping.kongjiafan"]),
                     status: list[M.Status] = Query(default=[]),
                     category: list[str] = Query(default=[]),
                     severity: list[str] = Query(default=[]),
                     overdue: Optional[bool] = None,
                     created_from: Optional[BoundedDatetime] = Query(default=None, alias="from"),
                     created_to: Optional[BoundedDatetime] = Query(default=None, alias="to"),
                     q: Optional[str] = Query(default=None, min_length=1, max_length=100, examples=["山林"]),
                     cursor: Optional[str] = None,
                     limit: int = Query(default=20, ge=1, le=100)):
    where, args = [], []

    def add(fragment: str, *values):
        names = {}
        for key, v in zip(("n", "m"), values):
            args.append(v)
            names[key] = len(args)
        where.append(fragment.format(**names))

    add(Q.F_VISIBLE, authz.scopes(p), p.sub)
    if area:
        add(Q.F_AREA, area)
    if status:
        add(Q.F_STATUS, [s.value for s in status])
    if category:
        add(Q.F_CATEGORY, category)
    if severity:
        add(Q.F_SEVERITY, severity)
    if overdue is not None:
        add(Q.F_OVERDUE, overdue)
    if created_from:
        add(Q.F_FROM, created_from)
    if created_to:
        add(Q.F_TO, created_to)
    if q:
        add(Q.F_TEXT, q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"))
    if cursor:
        add(Q.F_CURSOR, *pagination.decode(cursor))
    sql = Q.LIST_SELECT + " where " + " and ".join(where) + Q.LIST_ORDER.format(limit=limit + 1)
    c = ctx(request)
    async with c.pool.acquire() as con, con.transaction():
        # a cached generic plan cannot see the search text or the filters' selectivity (bench/README.md)
        await con.execute("set local plan_cache_mode = force_custom_plan")
        rows = await con.fetch(sql, *args)
    rows, next_cursor = pagination.page(rows, limit)
    return CasePage(items=[to_read(r, c.policy) for r in rows], next_cursor=next_cursor)


@router.get("/{case_ref}", response_model=CaseRead, summary="One case, by id or number", responses=problems(404))
async def get_case(request: Request, case_ref: str = Path(examples=["CP-2026-000123"]),
                   p: Principal = Depends(current_principal)):
    c = ctx(request)
    async with c.pool.acquire() as con:
        row = await _visible(con, case_ref, p)
        reporter = None
        if p.can(PERSONAL_DATA):
            async with con.transaction():
                r = await con.fetchrow(Q.GET_REPORTER, row["id"])
                if r is not None:
                    await con.execute(Q.AUDIT_PERSONAL_READ, row["id"], p.sub, ["name", "phone", "parties"])
                    reporter = dict(name=r["name"], phone=r["phone"], parties=r["parties"])
    return to_read(row, c.policy, reporter)


@router.get("/{case_ref}/timeline", response_model=list[TimelineEntry], summary="Every transition and task step",
            operation_id="getCaseTimeline", responses=problems(404))
async def timeline(request: Request, case_ref: str, p: Principal = Depends(current_principal)):
    async with ctx(request).pool.acquire() as con:
        row = await _visible(con, case_ref, p)
        rows = await con.fetch(Q.TIMELINE, row["id"])
    return [TimelineEntry(kind=r["kind"], what=r["what"], from_status=r["from_status"], to_status=r["to_status"],
                          from_level=r["from_level"], to_level=r["to_level"], actor=r["actor"], reason=r["reason"],
                          data=r["data"] or {}, at=r["at"]) for r in rows]


def _action_route(action: M.Action):
    async def run(request: Request, case_ref: str, body: ActionBody = ActionBody(),
                  p: Principal = Depends(current_principal)) -> CaseRead:
        c = ctx(request)
        async with c.pool.acquire() as con:
            row = await _visible(con, case_ref, p)
        _require(action, body)
        inp = service.ActionInput(**body.model_dump())
        new = await service.act(c, row["id"], action, inp, principal=p)
        return to_read(new, c.policy)
    run.__name__ = f"{action.value}_case"
    return run


_REQUIRED = {M.Action.reject: "reason", M.Action.resolve: "resolution", M.Action.reopen: "reason",
             M.Action.escalate: "reason", M.Action.refer: "court", M.Action.record_outcome: "outcome",
             M.Action.merge: "into"}


def _require(action: M.Action, body: ActionBody) -> None:
    field = _REQUIRED.get(action)
    if field and not getattr(body, field):
        raise Problem(422, "Invalid request", f"body.{field}: required for {action.value}",
                      errors=[{"field": f"body.{field}", "message": f"required for {action.value}"}])


_SUMMARIES = {
    M.Action.accept: "Accept (受理)", M.Action.reject: "Reject (不予受理); reason required",
    M.Action.withdraw: "Withdraw before acceptance (reporter)", M.Action.dispatch: "Dispatch to a unit (派遣)",
    M.Action.start: "Start handling (处置)", M.Action.resolve: "Resolve with feedback (办结); resolution required",
    M.Action.verify: "Verify the resolution (核查); not by the resolver",
    M.Action.reopen: "Fail verification: rework (返工); reason required", M.Action.close: "Close (结案)",
    M.Action.escalate: "Escalate one level (上报); reason required",
    M.Action.refer: "Refer to court mediation (诉调联动); court required",
    M.Action.record_outcome: "Record the court-mediation outcome; outcome required",
    M.Action.merge: "Merge into another case; into required",
}
for _a in M.Action:
    router.add_api_route(f"/{{case_ref}}/{_a.value}", _action_route(_a), methods=["POST"], response_model=CaseRead,
                         summary=_SUMMARIES[_a],
                         responses={**problems(404), 409: {"description": "not allowed in the current state; the body "
                                                                          "names the state and the allowed actions"}})


@router.post("/{case_ref}/satisfaction", response_model=CaseRead, summary="Follow-up satisfaction 1–5 (回访评价)",
             operation_id="rateCase", responses=problems(404, 409))
async def rate(request: Request, case_ref: str, body: Satisfaction, p: Principal = Depends(current_principal)):
    c = ctx(request)
    async with c.pool.acquire() as con:
        row = await _visible(con, case_ref, p)
    return to_read(await service.rate(c, row["id"], body.score, body.note, p), c.policy)


@router.post("/{case_ref}/attachments", response_model=CaseRead, summary="Attach a file by URL",
             operation_id="addCaseAttachment", responses=problems(404))
async def attach(request: Request, case_ref: str, body: AttachmentAdd, p: Principal = Depends(current_principal)):
    c = ctx(request)
    async with c.pool.acquire() as con:
        row = await _visible(con, case_ref, p)
    return to_read(await service.add_attachment(c, row["id"], str(body.url), p), c.policy)

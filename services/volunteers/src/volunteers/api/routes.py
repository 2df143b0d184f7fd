"""The volunteers HTTP API: registry, tasks, offers, check-in/out, ledger."""
from __future__ import annotations

import uuid
from typing import Optional

from fastapi import APIRouter, Depends, Header, Query, Request

from govkit import pagination
from govkit.auth import PERSONAL_DATA, Principal, current_principal
from govkit.openapi import problems
from govkit.problems import Problem
from volunteers import queries as Q
from volunteers import service
from volunteers.api.schemas import (Cancel, Correction, Decline, LeaveCreate, LedgerRead, OfferRead, TaskCreate,
                                    TaskPage, TaskRead, VolunteerCreate, VolunteerRead)

router = APIRouter(prefix="/v1", tags=["volunteers"])
STAFF = ("grid_manager", "village_admin", "town_admin", "county_admin")
ADMINS = ("village_admin", "town_admin", "county_admin")
# valid task types depend on the dispatch configuration: the OpenAPI enum lists them all
TASK_422 = {422: {"description": "Invalid request, naming the field; also a `task_type` the dispatch configuration "
                                 "(VOLUNTEERS_DISPATCH_FILE, default_skills) does not define, or a `grid_id` the "
                                 "area tree does not hold"}}


def ctx(request: Request) -> service.Context:
    return request.app.state.volunteers


def staff(p: Principal, area: str) -> None:
    if not p.has_role(*STAFF):
        raise Problem(403, "Forbidden", f"needs one of the roles: {', '.join(STAFF)}")
    if not p.covers(area):
        raise Problem(403, "Forbidden", f"your area scope does not cover {area}")


def _uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise Problem(422, "Invalid request", f"{field}: not a UUID", errors=[{"field": field, "message": "not a UUID"}]) from None


def volunteer_read(c: service.Context, row, personal: bool = False) -> VolunteerRead:
    return VolunteerRead(id=str(row["id"]), volunteer_ref=service.vref(c, row["id"]), roles=list(row["roles"]),
                         party_branch=row["party_branch"], home_grid=row["home_grid"], skills=list(row["skills"]),
                         availability=row["availability"], max_concurrent=row["max_concurrent"], active=row["active"],
                         account_sub=row["account_sub"], name=row["name"] if personal else None,
                         phone=row["phone"] if personal else None)


def task_read(row, offers=None, assignments=None) -> TaskRead:
    return TaskRead(id=str(row["id"]), task_type=row["task_type"], title=row["title"], grid_id=row["grid_id"],
                    window_start=row["window_start"], window_end=row["window_end"],
                    required_skills=list(row["required_skills"]), headcount=row["headcount"], urgent=row["urgent"],
                    origin=row["origin"], case_id=str(row["case_id"]) if row["case_id"] else None,
                    status=row["status"], scope_level=row["scope_level"], created_at=row["created_at"],
                    offers=offers, assignments=assignments)


def offer_read(row) -> OfferRead:
    keys = ("task_type", "title", "grid_id", "window_start", "window_end")
    return OfferRead(id=str(row["id"]), task_id=str(row["task_id"]), status=row["status"], rank=row["rank"],
                     offered_at=row["offered_at"], expires_at=row["expires_at"],
                     **{k: row[k] for k in keys if k in row.keys()})


# -- registry -----------------------------------------------------------------------------------------------------

@router.post("/volunteers", status_code=201, response_model=VolunteerRead, summary="Register a volunteer (登记)",
             operation_id="registerVolunteer",
             responses={409: {"description": "account_sub or external_id registered already"},
                        422: {"description": "Invalid request, naming the field; also a `home_grid` the area tree "
                                             "does not hold"}})
async def register(body: VolunteerCreate, request: Request, p: Principal = Depends(current_principal)):
    staff(p, body.home_grid)
    c = ctx(request)
    async with c.pool.acquire() as con, con.transaction():
        row = await service.register_volunteer(con, c, service.NewVolunteer(
            **body.model_dump(exclude={"availability"}), availability=[w.model_dump() for w in body.availability]))
    return volunteer_read(c, row)


async def _visible_volunteer(con, p: Principal, volunteer_id: str):
    row = await con.fetchrow(Q.GET_VOLUNTEER, _uuid(volunteer_id, "path.volunteer_id"))
    if row is None or not (row["account_sub"] == p.sub or (p.has_role(*STAFF, "analyst") and p.covers(row["home_grid"]))):
        raise Problem(404, "Not found", f"no volunteer {volunteer_id}")
    return row


@router.get("/volunteers/me", response_model=VolunteerRead, summary="The caller's own volunteer record",
            operation_id="getMyVolunteer", responses=problems(404))
async def me(request: Request, p: Principal = Depends(current_principal)):
    c = ctx(request)
    async with c.pool.acquire() as con:
        row = await con.fetchrow(Q.GET_VOLUNTEER_BY_SUB, p.sub)
    if row is None:
        raise Problem(404, "Not found", "your account is not registered as a volunteer")
    return volunteer_read(c, row, personal=True)


@router.get("/volunteers/{volunteer_id}", response_model=VolunteerRead,
            summary="One volunteer; name and phone only with personal_data:read (audited)", responses=problems(404))
async def get_volunteer(volunteer_id: str, request: Request, p: Principal = Depends(current_principal)):
    c = ctx(request)
    async with c.pool.acquire() as con, con.transaction():
        row = await _visible_volunteer(con, p, volunteer_id)
        personal = row["account_sub"] == p.sub or p.can(PERSONAL_DATA)
        if personal and row["account_sub"] != p.sub:
            await con.execute(Q.AUDIT_PERSONAL_READ, row["id"], p.sub, ["name", "phone"])
    return volunteer_read(c, row, personal)


@router.post("/volunteers/{volunteer_id}/leave", status_code=204, summary="Record leave (请假)",
             operation_id="recordLeave", responses=problems(404))
async def leave(volunteer_id: str, body: LeaveCreate, request: Request, p: Principal = Depends(current_principal)):
    if body.ends_at <= body.starts_at:
        raise Problem(422, "Invalid request", "body.ends_at: must be after starts_at",
                      errors=[{"field": "body.ends_at", "message": "must be after starts_at"}])
    async with ctx(request).pool.acquire() as con, con.transaction():
        row = await _visible_volunteer(con, p, volunteer_id)
        await service.add_leave(con, row["id"], body.starts_at, body.ends_at, body.reason)


@router.get("/volunteers/{volunteer_id}/ledger", response_model=LedgerRead, summary="Hours and points ledger",
            operation_id="getLedger", responses=problems(404))
async def ledger(volunteer_id: str, request: Request, p: Principal = Depends(current_principal)):
    async with ctx(request).pool.acquire() as con:
        row = await _visible_volunteer(con, p, volunteer_id)
        totals = await con.fetchrow(Q.TOTALS, row["id"])
        entries = await con.fetch(Q.LEDGER, row["id"])
    return LedgerRead(hours=totals["hours"], points=totals["points"], entries=[
        {"task_id": str(e["task_id"]) if e["task_id"] else None, "kind": e["kind"], "hours": float(e["hours"]),
         "points": e["points"], "actor": e["actor"], "reason": e["reason"], "at": e["at"].isoformat()}
        for e in entries])


@router.post("/volunteers/{volunteer_id}/corrections", response_model=LedgerRead,
             summary="Correct hours or points (admins only; recorded in the ledger with who and why)",
             operation_id="correctLedger", responses=problems(404, 409))
async def correct(volunteer_id: str, body: Correction, request: Request, p: Principal = Depends(current_principal)):
    if not p.has_role(*ADMINS):
        raise Problem(403, "Forbidden", f"corrections need one of the roles: {', '.join(ADMINS)}")
    c = ctx(request)
    await service.correct_hours(c, _uuid(volunteer_id, "path.volunteer_id"),
                                task_id=_uuid(body.task_id, "body.task_id") if body.task_id else None,
                                hours_delta=body.hours_delta, points_delta=body.points_delta, reason=body.reason,
                                principal=p)
    return await ledger(volunteer_id, request, p)


# -- tasks --------------------------------------------------------------------------------------------------------

@router.post("/tasks", status_code=201, response_model=TaskRead, summary="Create a task and dispatch it (派单)",
             responses=TASK_422)
async def create_task(body: TaskCreate, request: Request, p: Principal = Depends(current_principal),
                      idempotency_key: Optional[str] = Header(default=None, max_length=200)):
    staff(p, body.grid_id)
    c = ctx(request)
    origin_ref = f"{p.sub}:{idempotency_key}" if idempotency_key else None
    async with c.pool.acquire() as con, con.transaction():
        task = await service.create_task(con, c, service.NewTask(**body.model_dump(), origin="manual",
                                                                 origin_ref=origin_ref))
        if task is None:  # replay of the same Idempotency-Key
            task = await con.fetchrow("select * from tasks where origin = 'manual' and origin_ref = $1", origin_ref)
    return task_read(task)


@router.get("/tasks", response_model=TaskPage, summary="Tasks in the caller's areas, or a volunteer's own")
async def list_tasks(request: Request, p: Principal = Depends(current_principal), status: Optional[str] = None,
                     cursor: Optional[str] = None, limit: int = Query(default=20, ge=1, le=100)):
    c = ctx(request)
    async with c.pool.acquire() as con:
        if not p.has_role(*STAFF, "analyst"):
            me = await con.fetchrow(Q.GET_VOLUNTEER_BY_SUB, p.sub)
            rows = await con.fetch(Q.TASKS_OF_VOLUNTEER, me["id"], limit) if me else []
            return TaskPage(items=[task_read(r) for r in rows], next_cursor=None)
        at, cid = pagination.decode(cursor) if cursor else (None, None)
        rows = await con.fetch(Q.LIST_TASKS, p.visible_areas(), status, at, cid, limit + 1)
    rows, next_cursor = pagination.page(rows, limit)
    return TaskPage(items=[task_read(r) for r in rows], next_cursor=next_cursor)


@router.get("/tasks/{task_id}", response_model=TaskRead, summary="One task with its offers and assignments",
            responses=problems(404))
async def get_task(task_id: str, request: Request, p: Principal = Depends(current_principal)):
    c = ctx(request)
    async with c.pool.acquire() as con:
        task = await con.fetchrow(Q.GET_TASK, _uuid(task_id, "path.task_id"))
        if task is None:
            raise Problem(404, "Not found", f"no task {task_id}")
        offers = await con.fetch(Q.OFFERS_OF_TASK, task["id"])
        assignments = await con.fetch(Q.ASSIGNMENTS_OF_TASK, task["id"])
        if p.has_role(*STAFF, "analyst") and p.covers(task["grid_id"]):
            return task_read(task, [
                {"volunteer_id": str(o["volunteer_id"]), "status": o["status"], "rank": o["rank"],
                 "offered_at": o["offered_at"].isoformat(), "expires_at": o["expires_at"].isoformat(),
                 "reason": o["reason"]} for o in offers], [
                {"volunteer_id": str(a["volunteer_id"]), "status": a["status"],
                 "hours": float(a["hours"]) if a["hours"] is not None else None, "points": a["points"]}
                for a in assignments])
        me = await con.fetchrow(Q.GET_VOLUNTEER_BY_SUB, p.sub)
    if me is None or me["id"] not in {o["volunteer_id"] for o in offers}:
        raise Problem(404, "Not found", f"no task {task_id}")
    return task_read(task)


@router.post("/tasks/{task_id}/cancel", response_model=TaskRead, summary="Cancel a task", operation_id="cancelTask",
             responses=problems(404, 409))
async def cancel(task_id: str, body: Cancel, request: Request, p: Principal = Depends(current_principal)):
    if not p.has_role(*STAFF):
        raise Problem(403, "Forbidden", f"needs one of the roles: {', '.join(STAFF)}")
    return task_read(await service.cancel_task(ctx(request), _uuid(task_id, "path.task_id"), body.reason, p))


@router.post("/tasks/{task_id}/check-in", summary="Check in on an assigned task (签到)", responses=problems(404, 409))
async def check_in(task_id: str, request: Request, p: Principal = Depends(current_principal)):
    a = await service.check_in(ctx(request), _uuid(task_id, "path.task_id"), p)
    return {"task_id": task_id, "status": a["status"], "checked_in_at": a["checked_in_at"]}


@router.post("/tasks/{task_id}/check-out", summary="Check out: hours and points are credited (签退)",
             responses=problems(404, 409))
async def check_out(task_id: str, request: Request, p: Principal = Depends(current_principal)):
    a = await service.check_out(ctx(request), _uuid(task_id, "path.task_id"), p)
    return {"task_id": task_id, "status": a["status"], "hours": float(a["hours"]), "points": a["points"]}


# -- offers -------------------------------------------------------------------------------------------------------

@router.get("/offers", response_model=list[OfferRead], summary="The caller's own offers", operation_id="listMyOffers")
async def my_offers(request: Request, p: Principal = Depends(current_principal), status: Optional[str] = None):
    async with ctx(request).pool.acquire() as con:
        me = await con.fetchrow(Q.GET_VOLUNTEER_BY_SUB, p.sub)
        if me is None:
            raise Problem(403, "Forbidden", "your account is not registered as a volunteer")
        rows = await con.fetch(Q.OFFERS_OF_VOLUNTEER, me["id"], status)
    return [offer_read(r) for r in rows]


@router.post("/offers/{offer_id}/accept", response_model=OfferRead, summary="Accept an offer (接单)",
             operation_id="acceptOffer", responses=problems(404, 409))
async def accept(offer_id: str, request: Request, p: Principal = Depends(current_principal)):
    return offer_read(await service.respond(ctx(request), _uuid(offer_id, "path.offer_id"), True, None, p))


@router.post("/offers/{offer_id}/decline", response_model=OfferRead, summary="Decline an offer; it passes on",
             operation_id="declineOffer", responses=problems(404, 409))
async def decline(offer_id: str, request: Request, body: Decline = Decline(), p: Principal = Depends(current_principal)):
    return offer_read(await service.respond(ctx(request), _uuid(offer_id, "path.offer_id"), False, body.reason, p))

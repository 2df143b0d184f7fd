"""HTTP API of recurring work: schedules (定期任务, e.g. 爱心食堂送餐) and pairings (结对帮扶)."""
from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated, Optional

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from govkit.auth import PERSONAL_DATA, Principal, current_principal
from govkit.inputs import AreaId, BoundedDate
from govkit.openapi import problems
from govkit.problems import Problem
from volunteers import queries as Q
from volunteers import recurring as R
from volunteers import service
from volunteers.api.routes import STAFF, TASK_422, _uuid, ctx, staff
from volunteers.api.schemas import HHMM, GridId, Skill, TaskType

router = APIRouter(prefix="/v1", tags=["recurring"])
AREA_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,2}$")
# pseudonymous references only (e.g. household_3f9a...): no spaces or Chinese, so no names slip in
Ref = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,100}$", examples=["household_lc01"])]


class ScheduleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "爱心食堂午餐送餐", "task_type": "meal_delivery", "grid_id": "changping.changping_community.g01",
        "weekdays": [0, 1, 2, 3, 4], "start_time": "11:00", "duration_minutes": 60, "headcount": 2,
        "beneficiary_refs": ["household_lc01", "household_lc02"]}]})
    name: str = Field(min_length=1, max_length=100)
    task_type: TaskType
    grid_id: GridId
    weekdays: list[Annotated[int, Field(ge=0, le=6)]] = Field(min_length=1, max_length=7,
                                                               description="0 = Monday … 6 = Sunday")
    start_time: HHMM = Field(description="China Standard Time (Asia/Shanghai)")
    duration_minutes: int = Field(ge=5, le=1440)
    headcount: int = Field(default=1, ge=1, le=50)
    required_skills: Optional[list[Skill]] = Field(default=None, description="default: the task type's skills")
    beneficiary_refs: list[Ref] = Field(default_factory=list, max_length=200,
                                        description="pseudonymous references of the households served")


class Occurrence(BaseModel):
    occurs_on: date
    task_id: Optional[str]
    status: Optional[str]


class ScheduleRead(BaseModel):
    id: str
    name: str
    task_type: str
    grid_id: str
    weekdays: list[int]
    start_time: str
    duration_minutes: int
    headcount: int
    required_skills: list[str]
    beneficiary_refs: list[str]
    active: bool
    created_at: datetime
    occurrences: Optional[list[Occurrence]] = Field(default=None, description="generated from today on (one schedule)")


class PairingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "volunteer_id": "0b6f0d3e-8a9c-4c55-9a43-3e0b7f1f5a10", "household_ref": "household_kjf_g03_07",
        "household_name": "孔家畈村三组 王奶奶", "grid_id": "changping.kongjiafan.g03", "every_days": 7}]})
    volunteer_id: str
    household_ref: Ref
    household_name: Optional[str] = Field(default=None, max_length=100,
                                          description="personal data: stored, shown with personal_data:read, "
                                                      "never in events")
    grid_id: GridId
    every_days: int = Field(ge=1, le=365)
    first_visit_on: Optional[BoundedDate] = Field(default=None, description="default: today (China Standard Time)")


class PairingRead(BaseModel):
    id: str
    volunteer_id: str
    volunteer_ref: str
    household_ref: str
    household_name: Optional[str] = None
    grid_id: str
    every_days: int
    next_due: date
    last_visit_at: Optional[datetime]
    active: bool
    overdue: bool
    visit_task_id: Optional[str] = None
    visit_status: Optional[str] = None


def schedule_read(row, occurrences=None) -> ScheduleRead:
    return ScheduleRead(id=str(row["id"]), name=row["name"], task_type=row["task_type"], grid_id=row["grid_id"],
                        weekdays=list(row["weekdays"]), start_time=row["start_time"].strftime("%H:%M"),
                        duration_minutes=row["duration_minutes"], headcount=row["headcount"],
                        required_skills=list(row["required_skills"]), beneficiary_refs=list(row["beneficiary_refs"]),
                        active=row["active"], created_at=row["created_at"],
                        occurrences=None if occurrences is None else [
                            Occurrence(occurs_on=o["occurs_on"], task_id=str(o["task_id"]) if o["task_id"] else None,
                                       status=o["status"]) for o in occurrences])


def pairing_read(c: service.Context, row, personal: bool) -> PairingRead:
    keys = set(row.keys())
    return PairingRead(id=str(row["id"]), volunteer_id=str(row["volunteer_id"]),
                       volunteer_ref=service.vref(c, row["volunteer_id"]), household_ref=row["household_ref"],
                       household_name=row["household_name"] if personal else None, grid_id=row["grid_id"],
                       every_days=row["every_days"], next_due=row["next_due"], last_visit_at=row["last_visit_at"],
                       active=row["active"], overdue=bool(row["overdue"]) if "overdue" in keys else False,
                       visit_task_id=str(row["visit_task_id"]) if "visit_task_id" in keys and row["visit_task_id"]
                       else None, visit_status=row["visit_status"] if "visit_status" in keys else None)


def _area(area: Optional[str]) -> Optional[str]:
    if area is not None and not AREA_RE.match(area):
        raise Problem(422, "Invalid request", "query.area: not an area id",
                      errors=[{"field": "query.area", "message": "not an area id like changping.kongjiafan"}])
    return area


def _viewer(p: Principal) -> None:
    if not p.has_role(*STAFF, "analyst"):
        raise Problem(403, "Forbidden", f"needs one of the roles: {', '.join((*STAFF, 'analyst'))}")


# -- schedules ----------------------------------------------------------------------------------------------------

@router.post("/schedules", status_code=201, response_model=ScheduleRead,
             summary="Create a recurring schedule; its tasks are created ahead for the horizon, once each",
             responses=TASK_422)
async def create_schedule(body: ScheduleCreate, request: Request, p: Principal = Depends(current_principal)):
    staff(p, body.grid_id)
    c = ctx(request)
    async with c.pool.acquire() as con, con.transaction():
        row = await R.create_schedule(con, c, R.NewSchedule(
            **body.model_dump(exclude={"start_time"}), start_time=time.fromisoformat(body.start_time)))
    return schedule_read(row)


@router.get("/schedules", response_model=list[ScheduleRead], summary="Schedules in the caller's areas")
async def list_schedules(request: Request, p: Principal = Depends(current_principal),
                         area: Optional[AreaId] = None, active: Optional[bool] = None,
                         limit: int = Query(default=100, ge=1, le=500)):
    _viewer(p)
    async with ctx(request).pool.acquire() as con:
        rows = await con.fetch(Q.LIST_SCHEDULES, p.visible_areas(), _area(area), active, limit)
    return [schedule_read(r) for r in rows]


async def _visible_schedule(con, p: Principal, schedule_id: str):
    row = await con.fetchrow(Q.GET_SCHEDULE, _uuid(schedule_id, "path.schedule_id"))
    if row is None or not p.covers(row["grid_id"]):
        raise Problem(404, "Not found", f"no schedule {schedule_id}")
    return row


@router.get("/schedules/{schedule_id}", response_model=ScheduleRead,
            summary="One schedule with its generated occurrences from today on", responses=problems(404))
async def get_schedule(schedule_id: str, request: Request, p: Principal = Depends(current_principal)):
    _viewer(p)
    async with ctx(request).pool.acquire() as con:
        row = await _visible_schedule(con, p, schedule_id)
        today = R.local_today(await con.fetchval(Q.DB_NOW))
        runs = await con.fetch(Q.RUNS_OF_SCHEDULE, row["id"], today)
    return schedule_read(row, runs)


@router.post("/schedules/{schedule_id}/deactivate", response_model=ScheduleRead,
             summary="Stop generating tasks (tasks created already stay)", responses=problems(404))
async def deactivate_schedule(schedule_id: str, request: Request, p: Principal = Depends(current_principal)):
    async with ctx(request).pool.acquire() as con:
        row = await _visible_schedule(con, p, schedule_id)
        staff(p, row["grid_id"])
        row = await con.fetchrow(Q.SET_SCHEDULE_ACTIVE, row["id"], False)
    return schedule_read(row)


# -- pairings -----------------------------------------------------------------------------------------------------

@router.post("/pairings", status_code=201, response_model=PairingRead,
             summary="Pair a volunteer with a household (结对帮扶); a visit task is created when due",
             responses=problems(409, 422))
async def create_pairing(body: PairingCreate, request: Request, p: Principal = Depends(current_principal)):
    staff(p, body.grid_id)
    c = ctx(request)
    async with c.pool.acquire() as con, con.transaction():
        row = await R.create_pairing(con, c, R.NewPairing(
            **body.model_dump(exclude={"volunteer_id"}), volunteer_id=_uuid(body.volunteer_id, "body.volunteer_id")))
    return pairing_read(c, row, personal=False)


@router.get("/pairings", response_model=list[PairingRead],
            summary="Pairings in the caller's areas (or a volunteer's own); overdue=true: visits past due",
            description="household_name is shown to the paired volunteer and, audited, to callers with "
                        "personal_data:read.")
async def list_pairings(request: Request, p: Principal = Depends(current_principal),
                        overdue: Optional[bool] = None, volunteer_id: Optional[str] = None,
                        area: Optional[AreaId] = None, limit: int = Query(default=100, ge=1, le=500)):
    c = ctx(request)
    vid = _uuid(volunteer_id, "query.volunteer_id") if volunteer_id else None
    async with c.pool.acquire() as con, con.transaction():
        today = R.local_today(await con.fetchval(Q.DB_NOW))
        if p.has_role(*STAFF, "analyst"):
            rows = await R.list_pairings(con, areas=p.visible_areas(), today=today, overdue=overdue, volunteer_id=vid,
                                         area=_area(area), limit=limit)
            personal = p.can(PERSONAL_DATA)
            if personal:
                for r in rows:
                    if r["household_name"]:
                        await con.execute(Q.AUDIT_PERSONAL_READ, r["volunteer_id"], p.sub, ["pairing.household_name"])
            return [pairing_read(c, r, personal) for r in rows]
        me = await con.fetchrow(Q.GET_VOLUNTEER_BY_SUB, p.sub)
        if me is None:
            raise Problem(403, "Forbidden", "your account is not registered as a volunteer")
        rows = await R.list_pairings(con, areas=[], today=today, own_volunteer_id=me["id"], overdue=overdue,
                                     volunteer_id=vid, area=_area(area), limit=limit)
    return [pairing_read(c, r, personal=True) for r in rows]


@router.post("/pairings/{pairing_id}/deactivate", response_model=PairingRead, summary="End a pairing",
             responses=problems(404))
async def deactivate_pairing(pairing_id: str, request: Request, p: Principal = Depends(current_principal)):
    c = ctx(request)
    async with c.pool.acquire() as con:
        row = await con.fetchrow(Q.GET_PAIRING, _uuid(pairing_id, "path.pairing_id"))
        if row is None or not p.covers(row["grid_id"]):
            raise Problem(404, "Not found", f"no pairing {pairing_id}")
        staff(p, row["grid_id"])
        row = await con.fetchrow(Q.SET_PAIRING_ACTIVE, row["id"], False)
    return pairing_read(c, row, personal=False)

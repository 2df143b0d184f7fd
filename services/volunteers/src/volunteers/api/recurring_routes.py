"""HTTP API of recurring work: schedules (定期任务, e.g. 爱心食堂送餐) and pairings (结对帮扶)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from govkit.auth import CurrentPrincipal
from govkit.inputs import AreaId, BoundedDate
from govkit.openapi import problems
from volunteers import access, recurring
from volunteers.api.deps import ServiceContext, parse_uuid
from volunteers.api.routes import TASK_422
from volunteers.api.schemas import HHMM, GridId, Skill, TaskType
from volunteers.context import Context

router = APIRouter(prefix="/v1", tags=["recurring"])
# pseudonymous references only (e.g. household_3f9a...): no spaces or Chinese, so no names slip in
Ref = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,100}$", examples=["household_lc01"])]


class ScheduleCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "爱心食堂午餐送餐",
                    "task_type": "meal_delivery",
                    "grid_id": "changping.changping_community.g01",
                    "weekdays": [0, 1, 2, 3, 4],
                    "start_time": "11:00",
                    "duration_minutes": 60,
                    "headcount": 2,
                    "beneficiary_refs": ["household_lc01", "household_lc02"],
                }
            ]
        },
    )
    name: str = Field(min_length=1, max_length=100)
    task_type: TaskType
    grid_id: GridId
    weekdays: list[Annotated[int, Field(ge=0, le=6)]] = Field(
        min_length=1, max_length=7, description="0 = Monday … 6 = Sunday"
    )
    start_time: HHMM = Field(description="China Standard Time (Asia/Shanghai)")
    duration_minutes: int = Field(ge=5, le=1440)
    headcount: int = Field(default=1, ge=1, le=50)
    required_skills: list[Skill] | None = Field(default=None, description="default: the task type's skills")
    beneficiary_refs: list[Ref] = Field(
        default_factory=list, max_length=200, description="pseudonymous references of the households served"
    )


class Occurrence(BaseModel):
    occurs_on: date
    task_id: str | None
    status: str | None


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
    occurrences: list[Occurrence] | None = Field(default=None, description="generated from today on (one schedule)")


class PairingCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "volunteer_id": "0b6f0d3e-8a9c-4c55-9a43-3e0b7f1f5a10",
                    "household_ref": "household_kjf_g03_07",
                    "household_name": "孔家畈村三组 王奶奶",
                    "grid_id": "changping.kongjiafan.g03",
                    "every_days": 7,
                }
            ]
        },
    )
    volunteer_id: str
    household_ref: Ref
    household_name: str | None = Field(
        default=None,
        max_length=100,
        description="personal data: stored, shown with personal_data:read, never in events",
    )
    grid_id: GridId
    every_days: int = Field(ge=1, le=365)
    first_visit_on: BoundedDate | None = Field(default=None, description="default: today (China Standard Time)")


class PairingRead(BaseModel):
    id: str
    volunteer_id: str
    volunteer_ref: str
    household_ref: str
    household_name: str | None = None
    grid_id: str
    every_days: int
    next_due: date
    last_visit_at: datetime | None
    active: bool
    overdue: bool
    visit_task_id: str | None = None
    visit_status: str | None = None


def schedule_read(row: Any, occurrences: list[Any] | None = None) -> ScheduleRead:
    return ScheduleRead(
        id=str(row["id"]),
        name=row["name"],
        task_type=row["task_type"],
        grid_id=row["grid_id"],
        weekdays=list(row["weekdays"]),
        start_time=row["start_time"].strftime("%H:%M"),
        duration_minutes=row["duration_minutes"],
        headcount=row["headcount"],
        required_skills=list(row["required_skills"]),
        beneficiary_refs=list(row["beneficiary_refs"]),
        active=row["active"],
        created_at=row["created_at"],
        occurrences=None
        if occurrences is None
        else [
            Occurrence(
                occurs_on=o["occurs_on"], task_id=str(o["task_id"]) if o["task_id"] else None, status=o["status"]
            )
            for o in occurrences
        ],
    )


def pairing_read(ctx: Context, row: Any, personal: bool) -> PairingRead:
    keys = set(row.keys())
    return PairingRead(
        id=str(row["id"]),
        volunteer_id=str(row["volunteer_id"]),
        volunteer_ref=ctx.vref(row["volunteer_id"]),
        household_ref=row["household_ref"],
        household_name=row["household_name"] if personal else None,
        grid_id=row["grid_id"],
        every_days=row["every_days"],
        next_due=row["next_due"],
        last_visit_at=row["last_visit_at"],
        active=row["active"],
        overdue=bool(row["overdue"]) if "overdue" in keys else False,
        visit_task_id=str(row["visit_task_id"]) if "visit_task_id" in keys and row["visit_task_id"] else None,
        visit_status=row["visit_status"] if "visit_status" in keys else None,
    )


# -- schedules ----------------------------------------------------------------------------------------------------


@router.post(
    "/schedules",
    status_code=201,
    response_model=ScheduleRead,
    summary="Create a recurring schedule; its tasks are created ahead for the horizon, once each",
    responses=TASK_422,
)
async def create_schedule(body: ScheduleCreate, ctx: ServiceContext, principal: CurrentPrincipal) -> ScheduleRead:
    access.require_staff(principal, body.grid_id)
    row = await recurring.add_schedule(
        ctx,
        recurring.NewSchedule(
            **body.model_dump(exclude={"start_time"}), start_time=time.fromisoformat(body.start_time)
        ),
    )
    return schedule_read(row)


@router.get("/schedules", response_model=list[ScheduleRead], summary="Schedules in the caller's areas")
async def list_schedules(
    ctx: ServiceContext,
    principal: CurrentPrincipal,
    area: AreaId | None = None,
    active: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ScheduleRead]:
    rows = await recurring.list_schedules(ctx, principal, area=area, active=active, limit=limit)
    return [schedule_read(r) for r in rows]


@router.get(
    "/schedules/{schedule_id}",
    response_model=ScheduleRead,
    summary="One schedule with its generated occurrences from today on",
    responses=problems(404),
)
async def get_schedule(schedule_id: str, ctx: ServiceContext, principal: CurrentPrincipal) -> ScheduleRead:
    detail = await recurring.schedule_detail(ctx, principal, parse_uuid(schedule_id, "path.schedule_id"))
    return schedule_read(detail.schedule, detail.runs)


@router.post(
    "/schedules/{schedule_id}/deactivate",
    response_model=ScheduleRead,
    summary="Stop generating tasks (tasks created already stay)",
    responses=problems(404),
)
async def deactivate_schedule(schedule_id: str, ctx: ServiceContext, principal: CurrentPrincipal) -> ScheduleRead:
    return schedule_read(
        await recurring.deactivate_schedule(ctx, principal, parse_uuid(schedule_id, "path.schedule_id"))
    )


# -- pairings -----------------------------------------------------------------------------------------------------


@router.post(
    "/pairings",
    status_code=201,
    response_model=PairingRead,
    summary="Pair a volunteer with a household (结对帮扶); a visit task is created when due",
    responses=problems(409, 422),
)
async def create_pairing(body: PairingCreate, ctx: ServiceContext, principal: CurrentPrincipal) -> PairingRead:
    access.require_staff(principal, body.grid_id)
    row = await recurring.add_pairing(
        ctx,
        recurring.NewPairing(
            **body.model_dump(exclude={"volunteer_id"}), volunteer_id=parse_uuid(body.volunteer_id, "body.volunteer_id")
        ),
    )
    return pairing_read(ctx, row, personal=False)


@router.get(
    "/pairings",
    response_model=list[PairingRead],
    summary="Pairings in the caller's areas (or a volunteer's own); overdue=true: visits past due",
    description="household_name is shown to the paired volunteer and, audited, to callers with personal_data:read.",
)
async def list_pairings(
    ctx: ServiceContext,
    principal: CurrentPrincipal,
    overdue: bool | None = None,
    volunteer_id: str | None = None,
    area: AreaId | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[PairingRead]:
    vid = parse_uuid(volunteer_id, "query.volunteer_id") if volunteer_id else None
    view = await recurring.visible_pairings(
        ctx, principal, recurring.PairingFilter(overdue=overdue, volunteer_id=vid, area=area, limit=limit)
    )
    return [pairing_read(ctx, r, view.personal) for r in view.rows]


@router.post(
    "/pairings/{pairing_id}/deactivate", response_model=PairingRead, summary="End a pairing", responses=problems(404)
)
async def deactivate_pairing(pairing_id: str, ctx: ServiceContext, principal: CurrentPrincipal) -> PairingRead:
    row = await recurring.deactivate_pairing(ctx, principal, parse_uuid(pairing_id, "path.pairing_id"))
    return pairing_read(ctx, row, personal=False)

"""HTTP schemas of the volunteers API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from govkit.inputs import AREA_ID_MAX, BoundedDatetime
from volunteers.config import ROLES, SKILLS, TASK_TYPES

Role = Literal[ROLES]  # type: ignore[valid-type]
Skill = Literal[SKILLS]  # type: ignore[valid-type]
TaskType = Literal[TASK_TYPES]  # type: ignore[valid-type]
GridId = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$",
        max_length=AREA_ID_MAX,
        examples=["changping.kongjiafan.g03"],
    ),
]
HHMM = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["08:30"])]


class AvailabilityWindow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weekday: int = Field(ge=0, le=6, description="0 = Monday (China Standard Time)")
    start: HHMM
    end: HHMM

    @field_validator("end")
    @classmethod
    def _after(cls, v, info):
        if "start" in info.data and v <= info.data["start"]:
            raise ValueError("end must be after start")
        return v


class VolunteerCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "张建国",
                    "phone": "13912345678",
                    "roles": ["party_member", "mediator"],
                    "party_branch": "长坪镇机关第一党支部",
                    "home_grid": "changping.kongjiafan.g03",
                    "skills": ["mediation", "legal_aid"],
                    "availability": [{"weekday": 0, "start": "08:00", "end": "18:00"}],
                    "max_concurrent": 2,
                    "account_sub": "vol-zhang",
                }
            ]
        },
    )
    name: str = Field(min_length=1, max_length=50)
    phone: Annotated[str, Field(pattern=r"^\+?[0-9 -]{7,20}$")] | None = None
    roles: list[Role] = Field(min_length=1)
    party_branch: str | None = Field(default=None, max_length=100)
    home_grid: GridId
    skills: list[Skill] = Field(default_factory=list)
    availability: list[AvailabilityWindow] = Field(default_factory=list, max_length=50)
    max_concurrent: int = Field(default=2, ge=1, le=20)
    active: bool = True
    account_sub: str | None = Field(
        default=None, max_length=100, description="JWT subject of the volunteer's own account"
    )
    external_id: str | None = Field(default=None, max_length=100)


class VolunteerRead(BaseModel):
    id: str
    volunteer_ref: str
    roles: list[str]
    party_branch: str | None
    home_grid: str
    skills: list[str]
    availability: list[dict]
    max_concurrent: int
    active: bool
    account_sub: str | None
    name: str | None = Field(default=None, description="only with personal_data:read (audited) or for oneself")
    phone: str | None = Field(default=None, description="only with personal_data:read (audited) or for oneself")


class LeaveCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    starts_at: BoundedDatetime
    ends_at: BoundedDatetime
    reason: str | None = Field(default=None, max_length=200, examples=["病假"])


class TaskCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "task_type": "meal_delivery",
                    "title": "爱心食堂午餐送餐（孔家畈村三组）",
                    "grid_id": "changping.kongjiafan.g03",
                    "window_start": "2026-12-01T11:00:00+08:00",
                    "window_end": "2026-12-01T12:00:00+08:00",
                    "headcount": 2,
                }
            ]
        },
    )
    task_type: TaskType
    title: str = Field(min_length=1, max_length=200)
    grid_id: GridId
    window_start: BoundedDatetime
    window_end: BoundedDatetime
    required_skills: list[Skill] | None = Field(default=None, description="default: the task type's skills")
    headcount: int = Field(default=1, ge=1, le=50)
    urgent: bool = False
    beneficiary_ref: str | None = Field(default=None, max_length=100)


class TaskRead(BaseModel):
    id: str
    task_type: str
    title: str
    grid_id: str
    window_start: datetime
    window_end: datetime
    required_skills: list[str]
    headcount: int
    urgent: bool
    origin: str = Field(description="case, schedule, pairing, meeting (publicity for a meeting notice) or manual")
    case_id: str | None
    status: str
    scope_level: str
    created_at: datetime
    offers: list[dict] | None = None
    assignments: list[dict] | None = None


class TaskPage(BaseModel):
    items: list[TaskRead]
    next_cursor: str | None


class OfferRead(BaseModel):
    id: str
    task_id: str
    status: str
    rank: int
    offered_at: datetime
    expires_at: datetime
    task_type: str | None = None
    title: str | None = None
    grid_id: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None


class Decline(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=200, examples=["当天在外地"])


class Cancel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=200, examples=["活动取消"])


class Correction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task_id: str | None = None
    hours_delta: float = Field(ge=-24, le=24)
    points_delta: int = Field(default=0, ge=-1000, le=1000)
    reason: str = Field(min_length=2, max_length=200, examples=["签退遗漏，按实际补登"])


class LedgerRead(BaseModel):
    hours: float
    points: int
    entries: list[dict]


# -- the internal contact lookup (api/internal_routes.py) ----------------------------------------------------------

MAX_CONTACTS = 200


class ContactQuery(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"volunteer_ref": "volunteer_3f1c0a9b2d4e5f607182", "task_id": "9b2d4e5f-3f1c-4a9b-8d4e-5f6071823f1c"}
            ]
        },
    )
    volunteer_ref: str = Field(min_length=1, max_length=100, description="as on the events (pseudonymous)")
    task_id: uuid.UUID | None = Field(default=None, description="the offer of this task to the volunteer")
    pairing_id: uuid.UUID | None = Field(
        default=None, validate_default=True, description="or: this pairing's volunteer; exactly one of the two"
    )

    @field_validator("pairing_id")
    @classmethod
    def _exactly_one(cls, pairing_id: uuid.UUID | None, info: ValidationInfo) -> uuid.UUID | None:
        if "task_id" in info.data and (info.data["task_id"] is None) == (pairing_id is None):
            raise PydanticCustomError("one_of", "give exactly one of task_id and pairing_id")
        return pairing_id


class ContactLookup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[ContactQuery] = Field(min_length=1, max_length=MAX_CONTACTS)


class ContactTask(BaseModel):
    title: str
    task_type: str
    grid_id: str
    window_start: datetime
    window_end: datetime
    urgent: bool


class ContactRead(BaseModel):
    volunteer_ref: str
    found: bool
    account_sub: str | None = None
    name: str | None = None
    phone: str | None = None
    offer_status: str | None = Field(default=None, description="pending, accepted, declined, expired or withdrawn")
    expires_at: datetime | None = Field(default=None, description="when the offer expires")
    answer_url: str | None = Field(
        default=None, description="the offer's single-use answer link, while it is pending and not expired"
    )
    task: ContactTask | None = None


class ContactPage(BaseModel):
    items: list[ContactRead] = Field(description="one per item asked, in the same order")

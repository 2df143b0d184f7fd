"""Pydantic models at the HTTP edge of the notifications service."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from govkit.inputs import AreaId

StaffRole = Literal["grid_manager", "village_admin", "town_admin", "county_admin", "department", "leader"]
KindName = Literal[
    "offer",
    "offer_reminder",
    "task_unfilled",
    "case_critical",
    "deadline_near",
    "case_escalated",
    "case_assigned",
    "awaiting_verification",
    "weekly_report",
    "pairing_overdue",
    "meeting_notice",
    "case_supervised",
    "approval_requested",
    "approval_decided",
    "case_returned",
]
PersonalChannel = Literal["in_app", "sms", "email"]


class StaffIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sub: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$", examples=["ta-zhang"])
    name: str = Field(min_length=1, max_length=100, examples=["张伟"])
    role: StaffRole
    area_id: AreaId
    unit: str | None = Field(default=None, max_length=100, examples=["dept.justice"])
    phone: str | None = Field(default=None, pattern=r"^1\d{10}$|^0\d{2,3}-?\d{7,8}$", examples=["13800001111"])
    email: str | None = Field(default=None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    active: bool = True


class StaffRead(BaseModel):
    sub: str
    name: str
    role: str
    area_id: str
    unit: str | None
    active: bool
    has_phone: bool
    has_email: bool
    phone: str | None = Field(description="only with the personal_data:read permission (audited)")
    email: str | None = Field(description="only with the personal_data:read permission (audited)")


class StaffList(BaseModel):
    items: list[StaffRead]


class ImportResult(BaseModel):
    created: int
    updated: int


class RosterDay(BaseModel):
    model_config = ConfigDict(extra="forbid")
    day: date
    area_id: AreaId
    subs: list[str] = Field(max_length=50, description="everyone on duty that day for the area (replaces the day)")


class RosterEntry(BaseModel):
    day: date
    area_id: str
    sub: str
    role: str


class RosterList(BaseModel):
    items: list[RosterEntry]


class RosterWritten(BaseModel):
    duties: int


class RobotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["wecom", "dingtalk"]
    area_id: AreaId
    label: str = Field(min_length=1, max_length=100, examples=["孔家畈村网格群"])
    url: str = Field(min_length=8, max_length=1000, description="the robot's webhook URL (kept here, never shown)")
    secret: str | None = Field(default=None, max_length=200, description="DingTalk signing secret (加签)")


class RobotRead(BaseModel):
    id: int
    kind: str
    area_id: str
    label: str
    active: bool
    created_at: datetime


class RobotList(BaseModel):
    items: list[RobotRead]


class QuietHoursIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: time = Field(examples=["22:00"])
    end: time = Field(examples=["07:00"])


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channels: dict[KindName, list[PersonalChannel]] = Field(
        default_factory=dict, description="kind -> channels; a kind not named gets the town's default"
    )
    quiet_hours: QuietHoursIn | None = Field(default=None, description="Asia/Shanghai; null: the town's default")


class QuietHoursRead(BaseModel):
    start: str
    end: str


class PreferencesRead(BaseModel):
    channels: dict[str, list[str]]
    quiet_hours: QuietHoursRead | None


class InboxItem(BaseModel):
    id: str
    kind: str
    urgent: bool
    text: str | None
    case_id: str | None
    task_id: str | None
    link: str | None
    status: Literal["sent", "read"]
    sent_at: datetime | None
    read_at: datetime | None


class Inbox(BaseModel):
    unread: int
    items: list[InboxItem]


class ReadMark(BaseModel):
    id: str
    status: str
    read_at: datetime | None


class Attempt(BaseModel):
    attempt: int
    at: datetime
    outcome: str
    reason: str | None


class DeliveryRead(BaseModel):
    id: str
    source_id: str
    kind: str
    recipient: str = Field(description="staff:<account>, robot:<id>, or volunteer:<start of the pseudonym>…")
    channel: str
    urgent: bool
    case_id: str | None
    task_id: str | None
    area_id: str
    status: str
    held: bool = Field(description="waiting for the end of quiet hours")
    due_at: datetime
    attempts: int
    last_error: str | None
    address: str | None = Field(description="masked: 138****1234, z***@example.cn, robot #3")
    created_at: datetime
    sent_at: datetime | None
    read_at: datetime | None
    attempts_log: list[Attempt]


class DeliveryPage(BaseModel):
    items: list[DeliveryRead]
    next_cursor: str | None

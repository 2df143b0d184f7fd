"""HTTP schemas of the cases API (pydantic models at the edge)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, AwareDatetime, BaseModel, ConfigDict, Field

from govkit.inputs import AREA_ID_MAX

Severity = Literal["low", "medium", "high", "critical"]
Source = Literal["grid_patrol", "resident_report", "hotline", "visit", "open311"]
AreaId = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,2}$",
        max_length=AREA_ID_MAX,
        examples=["changping.kongjiafan.g03"],
    ),
]
Phone = Annotated[str, Field(pattern=r"^\+?[0-9 -]{7,20}$", examples=["13812341234"])]


class Party(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=50, examples=["张某"])
    phone: Phone | None = None
    role: str | None = Field(default=None, max_length=30, examples=["当事人"])


class CaseCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "category": "dispute.land",
                    "title": "孔家畈村三组与四组山林边界纠纷",
                    "description": "三组村民反映四组在争议山林内砍伐树木，双方多次发生口角，请求村里调处。",
                    "grid_id": "changping.kongjiafan.g03",
                    "severity": "medium",
                    "source": "grid_patrol",
                    "address": "孔家畈村三组后山",
                    "reporter_name": "李某",
                    "reporter_phone": "13812341234",
                    "parties": [{"name": "王某", "role": "三组村民"}, {"name": "赵某", "role": "四组村民"}],
                    "tags": ["山林", "边界"],
                }
            ]
        },
    )
    category: str = Field(
        examples=["dispute.land"], description="a category of the policy file (CASES_POLICY_FILE); another one gets 422"
    )
    title: str = Field(min_length=2, max_length=200)
    description: str = Field(min_length=2, max_length=5000)
    grid_id: AreaId | None = Field(
        default=None,
        description="the grid (网格); without it, lat and lon place the case in the grid whose shape holds the "
        "point (422 naming body.lat when none does); with both, the point must lie in that grid or within 30 m "
        "of it (else 422 naming body.lat). Required when lat/lon are not both given, or when the area tree has "
        "no grid shapes",
    )
    severity: Severity = "medium"
    source: Source = "grid_patrol"
    address: str | None = Field(default=None, max_length=200)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    reporter_name: str | None = Field(default=None, max_length=50)
    reporter_phone: Phone | None = None
    parties: list[Party] = Field(default_factory=list, max_length=20)
    attachments: list[AnyHttpUrl] = Field(default_factory=list, max_length=20)
    tags: list[Annotated[str, Field(max_length=30)]] = Field(default_factory=list, max_length=20)


class TicketCreate(CaseCreate):
    """A ticket of an outside system (12345 热线工单) as a case: the same (external_source, external_id) sent again is
    the same case. `source` is `hotline` whatever is sent."""

    external_source: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$", examples=["12345"])
    external_id: str = Field(pattern=r"^[\x21-\x7e]{1,100}$", examples=["GD-2026-0001"], description="the ticket's id")


class CallbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    result: Literal["satisfied", "basically_satisfied", "unsatisfied", "unreachable"] = Field(
        description="满意, 基本满意, 不满意, or 未联系上 (the call-back may then be recorded again)"
    )
    note: str | None = Field(default=None, max_length=2000, examples=["群众对办理结果表示满意"])


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=2000, examples=["双方同意由村调委会调解"])
    unit_level: Literal["grid", "village", "town", "county"] | None = Field(default=None, examples=["village"])
    unit_id: str | None = Field(default=None, max_length=100, examples=["changping.kongjiafan"])
    assignee: str | None = Field(default=None, max_length=100, examples=["va-kongjiafan"])
    resolution: str | None = Field(
        default=None, max_length=5000, examples=["经村调委会调解，双方重新确认边界并签订协议"]
    )
    court: str | None = Field(default=None, max_length=100, examples=["南漳县人民法院"])
    outcome: str | None = Field(default=None, max_length=5000, examples=["经法院诉前调解达成协议"])
    into: str | None = Field(
        default=None, description="id or number of the case to merge into", examples=["CP-2026-000123"]
    )
    due: AwareDatetime | None = Field(
        default=None,
        description="request_extension: the new resolve deadline asked for (required); request_suspension: when "
        "the unit expects to go on; supervise: when the handling unit must report by",
        examples=["2026-10-12T18:00:00+08:00"],
    )


class Reporter(BaseModel):
    name: str | None
    phone: str | None
    parties: list[dict]


class PendingRequest(BaseModel):
    """A request of the handling unit awaiting the level above."""

    kind: Literal["extension", "suspension"]
    due: datetime | None = Field(description="extension: the deadline asked for; suspension: until, if given")
    reason: str | None
    by: str
    at: datetime


class Suspension(BaseModel):
    since: datetime
    resumes_to: str = Field(description="the state the case goes back to when resumed")


class Supervision(BaseModel):
    level: str = Field(description="the supervising level (督办)")
    since: datetime
    due: datetime | None = Field(description="when the handling unit must report by")


class Ticket(BaseModel):
    source: str = Field(examples=["12345"])
    external_id: str
    callback_result: str | None = Field(
        description="the hotline's call-back (回访): satisfied, basically_satisfied, unsatisfied or unreachable"
    )
    callback_at: datetime | None


class CaseRead(BaseModel):
    id: str
    number: str
    category: str
    category_name: str
    title: str
    description: str
    grid_id: str
    address: str | None
    lat: float | None
    lon: float | None
    source: str
    severity: str
    status: str
    level: str
    assigned_unit: str | None
    assignee: str | None
    report_count: int
    duplicate_candidates: list[str]
    merged_into: str | None
    accept_due: datetime | None
    resolve_due: datetime | None
    overdue: bool
    escalations: int
    reopen_count: int
    resolution: str | None
    referral_court: str | None
    satisfaction: int | None
    attachments: list[str]
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    extensions: int = Field(description="approved extensions (延期)")
    returns: int = Field(description="times returned to the dispatcher (退单)")
    suspended_seconds: int = Field(description="how long the clock stood still in all (缓办/挂起)")
    pending_request: PendingRequest | None
    suspension: Suspension | None = Field(description="while suspended")
    supervision: Supervision | None = Field(description="while supervised (督办)")
    ticket: Ticket | None = Field(description="the external ticket (12345 工单) the case came as")
    allowed_actions: list[str]
    reporter: Reporter | None = Field(default=None, description="only with the personal_data:read permission; audited")


class CasePage(BaseModel):
    items: list[CaseRead]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at the end")


class TimelineEntry(BaseModel):
    kind: Literal["transition", "task"]
    what: str = Field(examples=["accept", "gov.task.assigned.v1"])
    from_status: str | None
    to_status: str | None
    from_level: str | None
    to_level: str | None
    actor: str
    reason: str | None
    data: dict
    at: datetime


class AttachmentRead(BaseModel):
    id: str
    filename: str = Field(description="the client's file name, without directories")
    content_type: Literal["image/jpeg", "image/png", "image/webp", "application/pdf"] = Field(
        description="judged from the content, not from the client's header"
    )
    size: int = Field(description="bytes as stored (an image after its metadata was stripped)")
    sha256: str
    url: str = Field(description="GET it for the bytes", examples=["/v1/cases/CP-2026-000123/attachments/…"])


class NoteRead(BaseModel):
    id: str
    author: str = Field(description="the subject of the token that added the note")
    text: str
    at: datetime
    attachments: list[AttachmentRead]


class Satisfaction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    score: int = Field(ge=1, le=5, examples=[5])
    note: str | None = Field(default=None, max_length=500, examples=["处理及时，很满意"])


class AttachmentAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: AnyHttpUrl = Field(examples=["https://files.changping.example/cases/2026/photo-1.jpg"])

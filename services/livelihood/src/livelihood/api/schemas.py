"""Pydantic models at the HTTP edge of the livelihood service."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from govkit.inputs import AreaId

Text = Field(min_length=1, max_length=2000)


class RepresentativeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    village_id: AreaId
    sub: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(default=None, pattern=r"^1\d{10}$")
    term_start: date
    term_end: date


class ProposalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=2, max_length=200, examples=["孔家畈村饮水主管道改造"])
    description: str = Field(min_length=2, max_length=5000)
    village_id: AreaId
    grid_ids: list[AreaId] = Field(default_factory=list, max_length=50)
    category: str = Field(min_length=1, max_length=50, examples=["water"])
    budget_yuan: Decimal = Field(ge=0, le=Decimal("999999999999.99"), decimal_places=2, examples=["1250000.00"])
    funding_source: str = Field(min_length=1, max_length=200, examples=["一事一议财政奖补+村集体"])
    households: int = Field(ge=0, le=100000)
    people: int = Field(ge=0, le=1000000)
    case_ids: list[uuid.UUID] = Field(default_factory=list, max_length=200)
    flow: str | None = Field(default=None, max_length=50, examples=["three_step"])


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=2000)
    merged_into: uuid.UUID | None = None


class MeetingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    village_id: AreaId
    kind: Literal["villagers_meeting", "representatives_meeting"]
    starts_at: AwareDatetime
    place: str = Field(min_length=1, max_length=200, examples=["孔家畈村村委会议室"])
    proposal_ids: list[uuid.UUID] = Field(min_length=1, max_length=50)


class TallyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    proposal_id: uuid.UUID
    present: int = Field(ge=0, le=100000)
    eligible: int = Field(ge=1, le=100000, description="members (村民代表会议) or adult villagers (村民会议)")
    households: int = Field(default=0, ge=0, le=100000)
    households_represented: int = Field(default=0, ge=0, le=100000)
    votes_for: int = Field(ge=0, le=100000)
    votes_against: int = Field(ge=0, le=100000)
    abstentions: int = Field(ge=0, le=100000)


class ObjectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=2, max_length=2000)
    name: str | None = Field(default=None, max_length=100, description="optional: leave out to object anonymously")
    phone: str | None = Field(default=None, pattern=r"^1\d{10}$|^0\d{2,3}-?\d{7,8}$")


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer: str = Field(min_length=2, max_length=2000)


class MilestoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    due_on: date
    photo_urls: list[str] = Field(default_factory=list, max_length=20)


class MilestoneDoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    done_on: date
    photo_urls: list[str] = Field(default_factory=list, max_length=20)


class SpendingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_yuan: Decimal = Field(gt=0, le=Decimal("999999999999.99"), decimal_places=2)
    note: str = Field(min_length=1, max_length=500)
    spent_on: date


class BudgetChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    budget_yuan: Decimal = Field(ge=0, le=Decimal("999999999999.99"), decimal_places=2)
    decision: str = Field(min_length=2, max_length=500, examples=["2026年12月村民代表会议决议追加预算"])


class Outcome(BaseModel):
    outcome: str
    why: str | None = None
    stage: str | None = None
    entries: int | None = None


class Received(BaseModel):
    id: str
    lodged_at: datetime | None = None
    answered_at: datetime | None = None

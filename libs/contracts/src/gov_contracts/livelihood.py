"""Livelihood-project events (民生实事), produced by the livelihood service on gov.livelihood.v1.

Key = proposal id (meeting notices: the meeting id). No names, phones or objection texts: people appear as
account ids (`actor`, `invitee_subs`), objections by id only. Amounts are exact decimals in yuan, written as
strings ("1250000.00").
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import Field

from gov_contracts.base import EventModel


class ProposalFacts(EventModel):
    proposal_id: str = Field(description="UUID of the proposal")
    number: str = Field(examples=["MS-2026-0007"])
    village_id: str = Field(examples=["changping.kongjiafan"])
    grid_ids: list[str] = Field(default_factory=list)
    category: str = Field(examples=["water"], description="water, road, streetlight, culture_square, environment, ...")
    flow: str = Field(examples=["three_step"], description="the stage configuration the proposal follows")
    stage: str = Field(examples=["review"], description="stage after the step")
    budget_yuan: Decimal = Field(examples=["1250000.00"])
    occurred_at: datetime
    actor: str = Field(description="account id of who acted, or 'system'")


class ProposalSubmitted(ProposalFacts):
    """A villagers' representative (or, in 四议两公开, the Party organisation) proposed a project (提)."""

    title: str
    funding_source: str
    households: int = Field(ge=0)
    people: int = Field(ge=0)
    case_ids: list[str] = Field(default_factory=list, description="cases given as evidence")


class ProposalStepped(ProposalFacts):
    """A step of the configured flow that needs no data of its own (e.g. 两委会议商议, 党员大会审议)."""

    action: str
    reason: str | None = None


class ProposalReviewed(ProposalFacts):
    """The village Party branch reviewed it (支部审): approved, returned with reasons, or merged into another."""

    outcome: str = Field(description="approved, returned or merged")
    reason: str | None = None
    merged_into: str | None = Field(default=None, description="proposal id it was merged into")


class MeetingNoticed(EventModel):
    """A 村民会议 or 村民代表会议 was called, at least the configured number of days ahead."""

    meeting_id: str
    village_id: str
    kind: str = Field(description="villagers_meeting (村民会议) or representatives_meeting (村民代表会议)")
    starts_at: datetime
    place: str = Field(examples=["孔家畈村村委会议室"])
    proposal_ids: list[str]
    invitee_subs: list[str] = Field(default_factory=list, description="account ids of the representatives invited")
    occurred_at: datetime
    actor: str


class ProposalDecided(ProposalFacts):
    """The meeting's accepted tally (both paper entries matched) decided the proposal: adopted or not."""

    meeting_id: str
    meeting_kind: str
    adopted: bool
    present: int
    eligible: int = Field(description="members (村民代表会议) or adult villagers (村民会议) the quorum counts against")
    votes_for: int
    votes_against: int
    abstentions: int


class NoticePublished(ProposalFacts):
    """A public notice (公示) went up: of the decision, or of the results."""

    notice_id: str
    notice_kind: str = Field(description="decision or results")
    starts_on: date
    ends_on: date


class ObjectionLodged(ProposalFacts):
    """Someone objected during the notice period (its text stays in the livelihood service)."""

    objection_id: str
    notice_id: str


class ObjectionAnswered(ProposalFacts):
    objection_id: str
    notice_id: str


class ImplementationStarted(ProposalFacts):
    """Work began (实施): the notice period is over and every objection is answered."""


class MilestoneRecorded(ProposalFacts):
    milestone_id: str
    title: str
    due_on: date
    done_on: date | None = None


class SpendingRecorded(ProposalFacts):
    spending_id: str
    amount_yuan: Decimal
    spent_total_yuan: Decimal


class BudgetChanged(ProposalFacts):
    """The budget was changed by a recorded change decision (the new figure is budget_yuan)."""

    previous_budget_yuan: Decimal
    decision: str


class ProjectAccepted(ProposalFacts):
    """The village supervisory committee (村务监督委员会) accepted the finished work (验收)."""

    spent_total_yuan: Decimal


class ResultsPublished(ProposalFacts):
    """The results were made public (结果公开): the project's last step."""

    notice_id: str
    spent_total_yuan: Decimal

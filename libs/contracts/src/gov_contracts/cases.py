"""Case events, produced by the cases service on gov.cases.v1 (key = case id).

Every transition of a case is its own event type. Each carries the case's
facts after the transition (CaseFacts) so a subscriber can build its view from
any one event; the type-specific fields say what happened. No personal data:
the reporter is a pseudonymous reference; since gov.case.reported.v2 no phone
at all (v1 carried a masked one that no subscriber used).
"""

from datetime import datetime

from pydantic import Field

from gov_contracts.base import EventModel


class CaseFacts(EventModel):
    case_id: str = Field(description="UUID of the case")
    number: str = Field(examples=["CP-2026-000123"])
    category: str = Field(examples=["dispute.land"])
    severity: str = Field(examples=["medium"], description="low, medium, high or critical")
    grid_id: str = Field(examples=["changping.kongjiafan.g03"])
    status: str = Field(description="status after the transition")
    level: str = Field(description="handling level after the transition: grid, village, town or county")
    occurred_at: datetime
    actor: str = Field(description="account id of who acted, or 'system' for timers")
    reason: str | None = None
    accept_due: datetime | None = None
    resolve_due: datetime | None = None


class CaseReported(CaseFacts):
    """No longer published (since gov.case.reported.v2); still read for the records already on the topic."""

    title: str
    source: str = Field(description="grid_patrol, resident_report, hotline, visit or open311")
    reporter_ref: str = Field(description="pseudonymous reference of the reporter (HMAC)")
    reporter_phone_masked: str | None = Field(default=None, examples=["138****1234"])
    address_ref: str | None = Field(default=None, description="pseudonymous reference of the address")
    party_refs: list[str] = Field(default_factory=list, description="pseudonymous references of the parties")
    tags: list[str] = Field(default_factory=list)
    duplicate_candidates: list[str] = Field(default_factory=list, description="ids of possible duplicates")


class CaseReportedV2(CaseFacts):
    """A case was recorded: gov.case.reported.v1 without reporter_phone_masked, which no subscriber used."""

    title: str
    source: str = Field(description="grid_patrol, resident_report, hotline, visit or open311")
    reporter_ref: str = Field(description="pseudonymous reference of the reporter (HMAC)")
    address_ref: str | None = Field(default=None, description="pseudonymous reference of the address")
    party_refs: list[str] = Field(default_factory=list, description="pseudonymous references of the parties")
    tags: list[str] = Field(default_factory=list)
    duplicate_candidates: list[str] = Field(default_factory=list, description="ids of possible duplicates")


class CaseAccepted(CaseFacts):
    pass


class CaseRejected(CaseFacts):
    pass


class CaseWithdrawn(CaseFacts):
    pass


class CaseDispatched(CaseFacts):
    unit_level: str
    unit_id: str = Field(description="area id of the unit, or a department code such as dept.justice")
    assignee: str | None = None
    field_work_task_type: str | None = Field(
        default=None, description="task type the volunteers service should create, when the policy needs field work"
    )


class CaseStarted(CaseFacts):
    pass


class CaseResolved(CaseFacts):
    resolution: str


class CaseVerified(CaseFacts):
    pass


class CaseReopened(CaseFacts):
    reopen_count: int


class CaseClosed(CaseFacts):
    on_time: bool = Field(description="resolved before its resolve deadline")
    escalations: int
    reopen_count: int


class CaseEscalated(CaseFacts):
    from_level: str
    automatic: bool = Field(description="true when escalated by the deadline timer")


class CaseOverdue(CaseFacts):
    deadline: str = Field(description="accept or resolve")
    due_at: datetime


class CaseReferred(CaseFacts):
    court: str = Field(examples=["南漳县人民法院"])


class CaseReferralOutcomeRecorded(CaseFacts):
    outcome: str


class CaseMerged(CaseFacts):
    into_case_id: str
    into_number: str


class CaseReportCountRaised(CaseFacts):
    report_count: int
    merged_case_id: str


class CaseRated(CaseFacts):
    satisfaction: int = Field(ge=1, le=5)


# every case event type; each carries the case's facts after its transition, so a copy of cases handles them alike
FACT_EVENTS: tuple[type[CaseFacts], ...] = (
    CaseReported,
    CaseReportedV2,
    CaseAccepted,
    CaseRejected,
    CaseWithdrawn,
    CaseDispatched,
    CaseStarted,
    CaseResolved,
    CaseVerified,
    CaseReopened,
    CaseClosed,
    CaseEscalated,
    CaseOverdue,
    CaseReferred,
    CaseReferralOutcomeRecorded,
    CaseMerged,
    CaseReportCountRaised,
    CaseRated,
)

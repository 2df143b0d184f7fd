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
    external_source: str | None = Field(
        default=None, examples=["12345"], description="the outside system the case came from as a ticket (工单)"
    )
    external_id: str | None = Field(default=None, description="the ticket's id in that system")


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


class CaseExtensionRequested(CaseFacts):
    """The handling unit asks for a later resolve deadline (延期申请); the deadline does not move yet."""

    requested_due: datetime
    extensions: int = Field(description="extensions approved so far")


class CaseExtensionDecided(CaseFacts):
    """The approving level decided an extension request: on approval resolve_due is the new deadline."""

    approved: bool
    requested_due: datetime
    previous_due: datetime | None = Field(description="the resolve deadline before the decision")
    extensions: int = Field(description="extensions approved so far, this one included when approved")


class CaseSuspensionRequested(CaseFacts):
    """The handling unit asks to stop the clock (缓办/挂起), e.g. waiting for a court date."""

    until: datetime | None = Field(default=None, description="when the unit expects to go on, if it knows")


class CaseSuspensionDecided(CaseFacts):
    """The approving level decided a suspension request: on approval the case is `suspended`, its clock stopped."""

    approved: bool
    until: datetime | None = None


class CaseResumed(CaseFacts):
    """A suspended case goes on: its deadlines moved later by the time it was suspended."""

    suspended_at: datetime
    suspended_seconds: int = Field(ge=0, description="how long the clock stood still")


class CaseReturned(CaseFacts):
    """The unit a case was dispatched to handed it back (退单) to the dispatching level, to be dispatched again."""

    unit_id: str = Field(description="the unit that returned the case")
    returns: int = Field(description="times this case was returned, this one included")


class CaseSupervised(CaseFacts):
    """A higher level put the case under supervision (督办) with a note (reason) and a date to report by."""

    supervising_level: str = Field(description="grid, village, town or county: the level that supervises")
    supervise_due: datetime | None = Field(default=None, description="when the handling unit must report by")
    assigned_unit: str | None = Field(default=None, description="the handling unit told of it, when dispatched")


class CaseCallbackRecorded(CaseFacts):
    """The hotline's satisfaction call-back (回访) with the reporter of an external ticket."""

    result: str = Field(description="satisfied, basically_satisfied, unsatisfied or unreachable")
    external_source: str | None = None
    external_id: str | None = None


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
    CaseExtensionRequested,
    CaseExtensionDecided,
    CaseSuspensionRequested,
    CaseSuspensionDecided,
    CaseResumed,
    CaseReturned,
    CaseSupervised,
    CaseCallbackRecorded,
)

"""The catalogue of event types: type name -> (model, topic, producer).

A type name is never reused for a different shape: a breaking change gets a
new type with the next version suffix (`.v2`) and the old one keeps flowing
until its subscribers have moved.
"""

from __future__ import annotations

from dataclasses import dataclass

from gov_contracts import cases, livelihood, tasks, topics, volunteers
from gov_contracts.areas import AreaUpserted
from gov_contracts.base import EventModel
from gov_contracts.reports import LivelihoodDemandPublished, WeeklyReportPublished


@dataclass(frozen=True)
class EventType:
    name: str
    model: type[EventModel]
    topic: str
    producer: str  # the service (or operator tool) that owns the contract


def _types(*items: EventType) -> dict[str, EventType]:
    out: dict[str, EventType] = {}
    for item in items:
        if item.name in out:
            raise ValueError(f"event type {item.name} registered twice")
        out[item.name] = item
    return out


_CASE_EVENTS: dict[str, type[EventModel]] = {
    "reported": cases.CaseReported,
    "accepted": cases.CaseAccepted,
    "rejected": cases.CaseRejected,
    "withdrawn": cases.CaseWithdrawn,
    "dispatched": cases.CaseDispatched,
    "started": cases.CaseStarted,
    "resolved": cases.CaseResolved,
    "verified": cases.CaseVerified,
    "reopened": cases.CaseReopened,
    "closed": cases.CaseClosed,
    "escalated": cases.CaseEscalated,
    "overdue": cases.CaseOverdue,
    "referred": cases.CaseReferred,
    "referral_outcome_recorded": cases.CaseReferralOutcomeRecorded,
    "merged": cases.CaseMerged,
    "report_count_raised": cases.CaseReportCountRaised,
    "rated": cases.CaseRated,
    "extension_requested": cases.CaseExtensionRequested,
    "extension_decided": cases.CaseExtensionDecided,
    "suspension_requested": cases.CaseSuspensionRequested,
    "suspension_decided": cases.CaseSuspensionDecided,
    "resumed": cases.CaseResumed,
    "returned": cases.CaseReturned,
    "supervised": cases.CaseSupervised,
    "callback_recorded": cases.CaseCallbackRecorded,
}
_TASK_EVENTS: dict[str, type[EventModel]] = {
    "created": tasks.TaskCreated,
    "offered": tasks.TaskOffered,
    "offer_declined": tasks.TaskOfferDeclined,
    "offer_expired": tasks.TaskOfferExpired,
    "assigned": tasks.TaskAssigned,
    "checked_in": tasks.TaskCheckedIn,
    "completed": tasks.TaskCompleted,
    "cancelled": tasks.TaskCancelled,
    "unfilled": tasks.TaskUnfilled,
}

_LIVELIHOOD_EVENTS: dict[str, type[EventModel]] = {
    "gov.livelihood.proposal_submitted.v1": livelihood.ProposalSubmitted,
    "gov.livelihood.proposal_stepped.v1": livelihood.ProposalStepped,
    "gov.livelihood.proposal_reviewed.v1": livelihood.ProposalReviewed,
    "gov.livelihood.meeting_noticed.v1": livelihood.MeetingNoticed,
    "gov.livelihood.proposal_decided.v1": livelihood.ProposalDecided,
    "gov.livelihood.notice_published.v1": livelihood.NoticePublished,
    "gov.livelihood.objection_lodged.v1": livelihood.ObjectionLodged,
    "gov.livelihood.objection_answered.v1": livelihood.ObjectionAnswered,
    "gov.livelihood.implementation_started.v1": livelihood.ImplementationStarted,
    "gov.livelihood.milestone_recorded.v1": livelihood.MilestoneRecorded,
    "gov.livelihood.spending_recorded.v1": livelihood.SpendingRecorded,
    "gov.livelihood.budget_changed.v1": livelihood.BudgetChanged,
    "gov.livelihood.project_accepted.v1": livelihood.ProjectAccepted,
    "gov.livelihood.results_published.v1": livelihood.ResultsPublished,
}

REGISTRY: dict[str, EventType] = _types(
    EventType("gov.area.upserted.v1", AreaUpserted, topics.AREAS, "govctl"),
    *(EventType(f"gov.case.{n}.v1", m, topics.CASES, "cases") for n, m in _CASE_EVENTS.items()),
    EventType("gov.case.reported.v2", cases.CaseReportedV2, topics.CASES, "cases"),
    *(EventType(f"gov.task.{n}.v1", m, topics.TASKS, "volunteers") for n, m in _TASK_EVENTS.items()),
    EventType("gov.volunteer.registered.v1", volunteers.VolunteerRegistered, topics.VOLUNTEERS, "volunteers"),
    EventType("gov.volunteer.registered.v2", volunteers.VolunteerRegisteredV2, topics.VOLUNTEERS, "volunteers"),
    EventType("gov.volunteer.updated.v1", volunteers.VolunteerUpdated, topics.VOLUNTEERS, "volunteers"),
    EventType("gov.volunteer.hours_corrected.v1", volunteers.HoursCorrected, topics.VOLUNTEERS, "volunteers"),
    EventType("gov.pairing.visit_overdue.v1", volunteers.PairingVisitOverdue, topics.VOLUNTEERS, "volunteers"),
    EventType("gov.report.weekly_published.v1", WeeklyReportPublished, topics.REPORTS, "reporting"),
    EventType("gov.report.livelihood_demand.v1", LivelihoodDemandPublished, topics.REPORTS, "reporting"),
    *(EventType(n, m, topics.LIVELIHOOD, "livelihood") for n, m in _LIVELIHOOD_EVENTS.items()),
)

_BY_MODEL = {et.model: et for et in REGISTRY.values()}


def event_type_for(model: type[EventModel]) -> EventType:
    return _BY_MODEL[model]


def model_for(type_name: str) -> type[EventModel]:
    return REGISTRY[type_name].model

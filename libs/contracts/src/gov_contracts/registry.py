"""The catalogue of event types: type name -> (model, topic, producer).

A type name is never reused for a different shape: a breaking change gets a
new type with the next version suffix (`.v2`) and the old one keeps flowing
until its subscribers have moved.
"""

from __future__ import annotations

from dataclasses import dataclass

from gov_contracts import cases, tasks, topics, volunteers
from gov_contracts.areas import AreaUpserted
from gov_contracts.base import EventModel
from gov_contracts.reports import WeeklyReportPublished


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
)

_BY_MODEL = {et.model: et for et in REGISTRY.values()}


def event_type_for(model: type[EventModel]) -> EventType:
    return _BY_MODEL[model]


def model_for(type_name: str) -> type[EventModel]:
    return REGISTRY[type_name].model

"""The catalogue of event types: type name -> (model, topic, producer).

A type name is never reused for a different shape: a breaking change gets a
new type with the next version suffix (`.v2`) and the old one keeps flowing
until its subscribers have moved.
"""

from __future__ import annotations

from dataclasses import dataclass

from gov_contracts import cases as C
from gov_contracts import tasks as K
from gov_contracts import topics
from gov_contracts import volunteers as V
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
    "reported": C.CaseReported,
    "accepted": C.CaseAccepted,
    "rejected": C.CaseRejected,
    "withdrawn": C.CaseWithdrawn,
    "dispatched": C.CaseDispatched,
    "started": C.CaseStarted,
    "resolved": C.CaseResolved,
    "verified": C.CaseVerified,
    "reopened": C.CaseReopened,
    "closed": C.CaseClosed,
    "escalated": C.CaseEscalated,
    "overdue": C.CaseOverdue,
    "referred": C.CaseReferred,
    "referral_outcome_recorded": C.CaseReferralOutcomeRecorded,
    "merged": C.CaseMerged,
    "report_count_raised": C.CaseReportCountRaised,
    "rated": C.CaseRated,
}
_TASK_EVENTS: dict[str, type[EventModel]] = {
    "created": K.TaskCreated,
    "offered": K.TaskOffered,
    "offer_declined": K.TaskOfferDeclined,
    "offer_expired": K.TaskOfferExpired,
    "assigned": K.TaskAssigned,
    "checked_in": K.TaskCheckedIn,
    "completed": K.TaskCompleted,
    "cancelled": K.TaskCancelled,
    "unfilled": K.TaskUnfilled,
}

REGISTRY: dict[str, EventType] = _types(
    EventType("gov.area.upserted.v1", AreaUpserted, topics.AREAS, "govctl"),
    *(EventType(f"gov.case.{n}.v1", m, topics.CASES, "cases") for n, m in _CASE_EVENTS.items()),
    EventType("gov.case.reported.v2", C.CaseReportedV2, topics.CASES, "cases"),
    *(EventType(f"gov.task.{n}.v1", m, topics.TASKS, "volunteers") for n, m in _TASK_EVENTS.items()),
    EventType("gov.volunteer.registered.v1", V.VolunteerRegistered, topics.VOLUNTEERS, "volunteers"),
    EventType("gov.volunteer.registered.v2", V.VolunteerRegisteredV2, topics.VOLUNTEERS, "volunteers"),
    EventType("gov.volunteer.updated.v1", V.VolunteerUpdated, topics.VOLUNTEERS, "volunteers"),
    EventType("gov.volunteer.hours_corrected.v1", V.HoursCorrected, topics.VOLUNTEERS, "volunteers"),
    EventType("gov.report.weekly_published.v1", WeeklyReportPublished, topics.REPORTS, "reporting"),
)

_BY_MODEL = {et.model: et for et in REGISTRY.values()}


def event_type_for(model: type[EventModel]) -> EventType:
    return _BY_MODEL[model]


def model_for(type_name: str) -> type[EventModel]:
    return REGISTRY[type_name].model

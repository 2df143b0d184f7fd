"""Volunteer events, produced by the volunteers service on gov.volunteers.v1
(key = volunteer id). No name or phone: `volunteer_ref` is pseudonymous."""

from datetime import date, datetime

from pydantic import Field

from gov_contracts.base import EventModel


class VolunteerFacts(EventModel):
    volunteer_ref: str
    roles: list[str] = Field(examples=[["party_member", "mediator"]])
    party_member: bool
    home_grid: str
    skills: list[str]
    active: bool
    occurred_at: datetime


class VolunteerRegistered(VolunteerFacts):
    """No longer published (since gov.volunteer.registered.v2); still read for the records already on the topic."""

    phone_masked: str | None = Field(default=None, examples=["139****5678"])


class VolunteerRegisteredV2(VolunteerFacts):
    """A volunteer was registered: gov.volunteer.registered.v1 without phone_masked, which no subscriber used."""


class VolunteerUpdated(VolunteerFacts):
    pass


class HoursCorrected(EventModel):
    volunteer_ref: str
    task_id: str | None = None
    hours_delta: float
    points_delta: int
    actor: str
    reason: str
    occurred_at: datetime


class PairingVisitOverdue(EventModel):
    """A pairing's visit (结对帮扶走访) was not made by its due date: once per (pairing, due date), from the day
    after. Keyed by the paired volunteer, like every event on gov.volunteers.v1; no household name or ref."""

    pairing_id: str
    volunteer_ref: str = Field(description="pseudonymous reference of the paired volunteer")
    grid_id: str = Field(examples=["changping.zhongguping.g08"])
    due_on: date = Field(description="the visit's due date (China Standard Time)")
    days_overdue: int = Field(ge=1, description="whole days from due_on to the day it was found overdue")
    occurred_at: datetime

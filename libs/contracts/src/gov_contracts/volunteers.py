"""Volunteer events, produced by the volunteers service on gov.volunteers.v1
(key = volunteer id). No name or phone: `volunteer_ref` is pseudonymous."""

from datetime import datetime

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

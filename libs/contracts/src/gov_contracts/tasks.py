"""Task events, produced by the volunteers service on gov.tasks.v1 (key = task id).

The cases service shows those with a case_id on the case's timeline.
"""

from datetime import datetime

from pydantic import Field

from gov_contracts.base import EventModel


class TaskFacts(EventModel):
    task_id: str
    task_type: str = Field(examples=["dispute_mediation"])
    grid_id: str
    status: str = Field(description="open, offered, assigned, in_progress, completed, cancelled or unfilled")
    case_id: str | None = Field(default=None, description="the case the task came from, if any")
    occurred_at: datetime
    volunteer_ref: str | None = Field(default=None, description="pseudonymous reference of the volunteer")
    note: str | None = None


class TaskCreated(TaskFacts):
    headcount: int = 1
    urgent: bool = False
    window_start: datetime | None = None
    window_end: datetime | None = None


class TaskOffered(TaskFacts):
    expires_at: datetime


class TaskOfferDeclined(TaskFacts):
    pass


class TaskOfferExpired(TaskFacts):
    pass


class TaskAssigned(TaskFacts):
    pass


class TaskCheckedIn(TaskFacts):
    pass


class TaskCompleted(TaskFacts):
    hours: float
    points: int


class TaskCancelled(TaskFacts):
    pass


class TaskUnfilled(TaskFacts):
    pass

"""When a pairing's visit is overdue, pure: the rule behind gov.pairing.visit_overdue.v1."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from gov_contracts.volunteers import PairingVisitOverdue


@dataclass(frozen=True)
class PairingDue:
    id: str
    volunteer_ref: str
    grid_id: str
    active: bool
    next_due: date
    visited: bool  # the visit task of next_due is completed
    overdue_reported_for: date | None


def days_overdue(next_due: date, today: date) -> int:
    """Whole days past the due date; 0 on the due day and before."""
    return max(0, (today - next_due).days)


def overdue_event(pairing: PairingDue, today: date, now: datetime) -> PairingVisitOverdue | None:
    """The event to publish for an active pairing whose visit was due before `today` (China Standard Time) and not
    made, unless it was published for this due date already; None otherwise."""
    late = days_overdue(pairing.next_due, today)
    if not pairing.active or pairing.visited or late == 0 or pairing.overdue_reported_for == pairing.next_due:
        return None
    return PairingVisitOverdue(
        pairing_id=pairing.id,
        volunteer_ref=pairing.volunteer_ref,
        grid_id=pairing.grid_id,
        due_on=pairing.next_due,
        days_overdue=late,
        occurred_at=now,
    )

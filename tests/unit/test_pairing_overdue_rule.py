"""When a pairing's visit is reported overdue (gov.pairing.visit_overdue.v1): from the day after its due date,
while not visited, once per due date."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from gov_contracts.volunteers import PairingVisitOverdue
from volunteers.domain.pairings import PairingDue, days_overdue, overdue_event

TODAY = date(2026, 12, 1)
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
DUE = PairingDue(
    id="p-1",
    volunteer_ref="volunteer_0123456789abcdef0123",
    grid_id="changping.zhongguping.g08",
    active=True,
    next_due=date(2026, 11, 28),
    visited=False,
    overdue_reported_for=None,
)


def test_an_unvisited_pairing_due_before_today_is_reported_with_its_days_overdue():
    event = overdue_event(DUE, TODAY, NOW)
    assert event == PairingVisitOverdue(
        pairing_id="p-1",
        volunteer_ref=DUE.volunteer_ref,
        grid_id=DUE.grid_id,
        due_on=date(2026, 11, 28),
        days_overdue=3,
        occurred_at=NOW,
    )
    assert set(event.model_dump()) == {
        "pairing_id",
        "volunteer_ref",
        "grid_id",
        "due_on",
        "days_overdue",
        "occurred_at",
    }


@pytest.mark.parametrize(
    "change",
    [
        {"next_due": TODAY},  # due today: not overdue yet
        {"next_due": date(2026, 12, 5)},
        {"visited": True},
        {"active": False},
        {"overdue_reported_for": date(2026, 11, 28)},  # reported for this due date already
    ],
)
def test_no_report(change):
    assert overdue_event(replace(DUE, **change), TODAY, NOW) is None


def test_a_report_for_an_earlier_due_date_does_not_silence_the_next():
    assert overdue_event(replace(DUE, overdue_reported_for=date(2026, 11, 21)), TODAY, NOW) is not None


def test_days_overdue():
    assert [days_overdue(date(2026, 11, 30), d) for d in (date(2026, 11, 29), date(2026, 11, 30), TODAY)] == [0, 0, 1]

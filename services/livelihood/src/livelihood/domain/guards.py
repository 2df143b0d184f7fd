"""The rules a step must meet besides the flow's stage: a notice period over and every objection answered before
implementation, spending within the budget, the work done before acceptance."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from gov_contracts.errors import Conflict


def check_start(notice_ends_on: date | None, today: date, open_objections: int) -> None:
    if notice_ends_on is None:
        raise Conflict("the decision has not been published (公示)")
    if today <= notice_ends_on:
        raise Conflict(
            f"the notice period (公示) runs until {notice_ends_on.isoformat()}: implementation may start after it"
        )
    if open_objections:
        raise Conflict(f"{open_objections} objection(s) to the notice unanswered: answer them before implementation")


def check_spending(budget: Decimal, spent: Decimal, amount: Decimal) -> None:
    if spent + amount > budget:
        raise Conflict(
            f"spending {amount} would bring the total to {spent + amount}, above the budget {budget}: "
            "record a budget change decision first",
            title="Above budget",
        )


def check_accept(open_milestones: int) -> None:
    if open_milestones:
        raise Conflict(f"{open_milestones} milestone(s) not done: acceptance (验收) comes after the work")

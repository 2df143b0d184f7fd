"""Triggers of the case operations (issue 14): 督办 to the handling unit, 延期/缓办 requests to the level that
approves them and the decisions back to the handling unit, 退单 to the dispatching level. Pure, like triggers.py:
what the service's copy knows of the unit a case is dispatched to comes in as a HandlingUnit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gov_contracts import cases
from gov_contracts.vocabulary import LEVEL_LABEL
from notifications.domain.kinds import Kind
from notifications.domain.routing import (
    LEVEL_ABOVE,
    LEVEL_ROLES,
    Audience,
    StaffAt,
    approving_level,
    holding_area,
    unit_audience,
)
from notifications.domain.triggers import Labels, Trigger, case_facts, local

OPERATION_LABEL = {"extension": "延期", "suspension": "缓办"}


@dataclass(frozen=True)
class HandlingUnit:
    """The unit the copy of a case says it is dispatched to (an area or a department), and its named assignee."""

    unit_id: str | None = None
    unit_level: str | None = None
    assignee: str | None = None


def _level_staff(grid_id: str, level: str) -> StaffAt:
    return StaffAt(holding_area(grid_id, level), LEVEL_ROLES[level])


def _label(level: str) -> str:
    return LEVEL_LABEL.get(level, level)


def _unit_name(unit_id: str, labels: Labels) -> str:
    return unit_id if unit_id.startswith("dept.") else labels.place(unit_id)


def case_supervised(source_id: str, event: cases.CaseSupervised, labels: Labels, unit: HandlingUnit) -> Trigger:
    """The handling unit: the unit the case is dispatched to (and its assignee, when the copy names one for that
    unit), else the staff of the level holding the case. Urgent only for a critical case, like an escalation."""
    if event.assigned_unit:
        same = unit.unit_id == event.assigned_unit
        audience = unit_audience(event.assigned_unit, unit.unit_level if same else None)
        if same and unit.assignee:
            audience = Audience(staff=audience.staff, unit=audience.unit, subs=(unit.assignee,))
    else:
        audience = Audience(staff=(_level_staff(event.grid_id, event.level),))
    return Trigger(
        source_id,
        Kind.case_supervised,
        event.severity == "critical",
        event.occurred_at,
        event.grid_id,
        audience,
        {
            **case_facts(event, labels),
            "supervisor": _label(event.supervising_level),
            "note": event.reason or "",
            "due": local(event.supervise_due) if event.supervise_due else "",
        },
        case_id=event.case_id,
    )


def approval_requested(
    source_id: str,
    event: cases.CaseExtensionRequested | cases.CaseSuspensionRequested,
    labels: Labels,
    approvers: Mapping[str, str] | None = None,
) -> Trigger:
    """The staff of the level that decides (by default the level above the case's; the county decides its own) in
    the case's area: a request awaits their decision. Not the one who asked, should they be of that level.
    `approvers`: the cases policy's rule per operation (extension, suspension), level_above when not given."""
    if isinstance(event, cases.CaseExtensionRequested):
        op, until = "extension", local(event.requested_due)
    else:
        op, until = "suspension", local(event.until) if event.until else ""
    level = approving_level(event.level, (approvers or {}).get(op, LEVEL_ABOVE))
    return Trigger(
        source_id,
        Kind.approval_requested,
        event.severity == "critical",
        event.occurred_at,
        event.grid_id,
        Audience(staff=(_level_staff(event.grid_id, level),), exclude=(event.actor,)),
        {
            **case_facts(event, labels),
            "op": OPERATION_LABEL[op],
            "from_level": _label(event.level),
            "until": until,
            "due": local(event.resolve_due) if event.resolve_due else "",
            "reason": event.reason or "",
        },
        case_id=event.case_id,
    )


def approval_decided(
    source_id: str,
    event: cases.CaseExtensionDecided | cases.CaseSuspensionDecided,
    labels: Labels,
    unit: HandlingUnit,
) -> Trigger:
    """The handling unit: the staff of the case's level, the unit it is dispatched to and its assignee, when the
    copy knows them; approved or refused, with the deadline that now holds."""
    if isinstance(event, cases.CaseExtensionDecided):
        op, until = "extension", ""
    else:
        op, until = "suspension", local(event.until) if event.until else ""
    staff = [_level_staff(event.grid_id, event.level)]
    dept = None
    if unit.unit_id:
        of_unit = unit_audience(unit.unit_id, unit.unit_level)
        staff += of_unit.staff
        dept = of_unit.unit
    return Trigger(
        source_id,
        Kind.approval_decided,
        event.severity == "critical",
        event.occurred_at,
        event.grid_id,
        Audience(staff=tuple(staff), unit=dept, subs=(unit.assignee,) if unit.assignee else ()),
        {
            **case_facts(event, labels),
            "op": OPERATION_LABEL[op],
            "approved": "1" if event.approved else "",
            "until": until,
            "due": local(event.resolve_due) if event.resolve_due else "",
            "reason": event.reason or "",
        },
        case_id=event.case_id,
    )


def case_returned(source_id: str, event: cases.CaseReturned, labels: Labels) -> Trigger:
    """The dispatching level (the case's level after the return) in its area, to dispatch the case again."""
    return Trigger(
        source_id,
        Kind.case_returned,
        event.severity == "critical",
        event.occurred_at,
        event.grid_id,
        Audience(staff=(_level_staff(event.grid_id, event.level),), exclude=(event.actor,)),
        {
            **case_facts(event, labels),
            "unit": _unit_name(event.unit_id, labels),
            "reason": event.reason or "",
            "returns": str(event.returns),
        },
        case_id=event.case_id,
    )

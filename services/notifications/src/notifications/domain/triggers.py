"""From a fact on the bus (or a timer) to a Trigger: what happened, how urgent, for whom, and the facts a
message is written from. Pure: names and labels come in through `Labels`; nothing personal goes in `facts`."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from gov_contracts import cases, livelihood, reports, tasks
from gov_contracts.vocabulary import LEVEL_LABEL, LOCAL_TZ, SEVERITY_LABEL, area_at_depth
from notifications.domain.kinds import Kind
from notifications.domain.routing import LEVEL_ROLES, Audience, StaffAt, holding_area, unit_audience

TASK_TYPE_LABEL = {
    "dispute_mediation": "纠纷调解",
    "epidemic_temperature_check": "测温值守",
    "epidemic_publicity": "防疫宣传",
    "epidemic_disinfection": "消毒消杀",
    "meal_delivery": "助老送餐",
    "pairing_visit": "结对走访",
    "sanitation_cleanup": "环境清扫",
    "patrol": "巡查",
    "cultural_activity": "文化活动",
    "meeting_publicity": "会议宣传",
}
DEADLINE_LABEL = {"accept": "受理", "resolve": "办结"}


@dataclass(frozen=True)
class Labels:
    place: Callable[[str], str]  # area id -> Chinese name, e.g. 孔家畈村3组
    category: Callable[[str], str]  # category code -> Chinese name
    bring: Callable[[str], str] = lambda _task_type: ""  # task type -> what to bring


@dataclass(frozen=True)
class Trigger:
    source_id: str  # the event id, or a timer's deterministic id: the unit of "exactly one message"
    kind: Kind
    urgent: bool
    occurred_at: datetime
    area_id: str
    audience: Audience
    facts: dict[str, str] = field(default_factory=dict)
    case_id: str | None = None
    task_id: str | None = None
    expires_at: datetime | None = None  # a message still held after this is pointless (an offer)


def local(at: datetime) -> str:
    return at.astimezone(LOCAL_TZ).strftime("%m-%d %H:%M")


def local_hm(at: datetime) -> str:
    return at.astimezone(LOCAL_TZ).strftime("%H:%M")


def case_facts(event: cases.CaseFacts, labels: Labels) -> dict[str, str]:
    return {
        "number": event.number,
        "category": labels.category(event.category),
        "severity": SEVERITY_LABEL.get(event.severity, event.severity),
        "place": labels.place(event.grid_id),
        "level": LEVEL_LABEL.get(event.level, event.level),
    }


def _staff_of(grid_id: str, level: str) -> tuple[StaffAt, ...]:
    return (StaffAt(holding_area(grid_id, level), LEVEL_ROLES[level]),)


def is_critical(event: cases.CaseFacts, critical_categories: Collection[str]) -> bool:
    return event.severity == "critical" or event.category in critical_categories


def case_reported(
    source_id: str, event: cases.CaseReported | cases.CaseReportedV2, labels: Labels, critical: Collection[str]
) -> Trigger | None:
    """A critical case, or one of the configured categories, wakes the town's on-duty staff, day or night."""
    if not is_critical(event, critical):
        return None
    town = area_at_depth(event.grid_id, 1)
    return Trigger(
        source_id,
        Kind.case_critical,
        True,
        event.occurred_at,
        town,
        Audience(on_duty_area=town, robots_area=town),
        case_facts(event, labels),
        case_id=event.case_id,
    )


def case_escalated(source_id: str, event: cases.CaseEscalated, labels: Labels) -> Trigger:
    area = holding_area(event.grid_id, event.level)
    facts = {**case_facts(event, labels), "from_level": LEVEL_LABEL.get(event.from_level, event.from_level)}
    facts["why"] = "超时自动上报" if event.automatic else "上报"
    return Trigger(
        source_id,
        Kind.case_escalated,
        event.severity == "critical",
        event.occurred_at,
        area,
        Audience(staff=_staff_of(event.grid_id, event.level), robots_area=area),
        facts,
        case_id=event.case_id,
    )


def case_dispatched(source_id: str, event: cases.CaseDispatched, labels: Labels) -> Trigger:
    """The assignee when named; else the unit: a department's staff, or the staff of the area dispatched to."""
    audience = Audience(subs=(event.assignee,)) if event.assignee else unit_audience(event.unit_id, event.unit_level)
    return Trigger(
        source_id,
        Kind.case_assigned,
        event.severity == "critical",
        event.occurred_at,
        event.grid_id,
        audience,
        {
            **case_facts(event, labels),
            "due": local(event.resolve_due) if event.resolve_due else "",
            "assignee": "1" if event.assignee else "",
            "unit": event.unit_id if event.unit_id.startswith("dept.") else labels.place(event.unit_id),
        },
        case_id=event.case_id,
    )


def case_resolved(source_id: str, event: cases.CaseResolved, labels: Labels) -> Trigger:
    """Awaiting verification: staff of the holding level, not the one who resolved it."""
    return Trigger(
        source_id,
        Kind.awaiting_verification,
        False,
        event.occurred_at,
        holding_area(event.grid_id, event.level),
        Audience(staff=_staff_of(event.grid_id, event.level), exclude=(event.actor,)),
        case_facts(event, labels),
        case_id=event.case_id,
    )


def deadline_near(
    case_id: str, facts: dict[str, str], grid_id: str, level: str, which: str, due: datetime, now: datetime
) -> Trigger:
    """Built by the deadline timer from the service's copy of the case; one per (case, deadline, due time)."""
    area = holding_area(grid_id, level)
    return Trigger(
        f"deadline:{case_id}:{which}:{due.isoformat()}",
        Kind.deadline_near,
        False,
        now,
        area,
        Audience(staff=_staff_of(grid_id, level), robots_area=area),
        {**facts, "deadline": DEADLINE_LABEL[which], "due": local(due)},
        case_id=case_id,
    )


def weekly_report(source_id: str, event: reports.WeeklyReportPublished, labels: Labels, link: str) -> Trigger:
    facts = {
        "place": labels.place(event.area_id),
        "week": event.week,
        "new": str(event.new),
        "closed": str(event.closed),
        "overdue": str(event.overdue),
        "red": str(len(event.red_grids)),
        "link": link,
    }
    return Trigger(
        source_id,
        Kind.weekly_report,
        False,
        event.published_at,
        event.area_id,
        Audience(staff=(StaffAt(event.area_id, ("leader",)),), robots_area=event.area_id),
        facts,
    )


def _task_facts(task_type: str, grid_id: str, labels: Labels) -> dict[str, str]:
    return {
        "task": TASK_TYPE_LABEL.get(task_type, task_type),
        "place": labels.place(grid_id),
        "bring": labels.bring(task_type),
    }


def window_text(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    return f"{local(start)}-{local_hm(end)}" if end - start < timedelta(days=1) else f"{local(start)}至{local(end)}"


def task_offered(
    source_id: str, event: tasks.TaskOffered, labels: Labels, urgent: bool, window: tuple[datetime, datetime] | None
) -> Trigger | None:
    if not event.volunteer_ref:
        return None
    facts = {
        **_task_facts(event.task_type, event.grid_id, labels),
        "window": window_text(*window) if window else "",
        "expires": local_hm(event.expires_at),
    }
    return Trigger(
        source_id,
        Kind.offer,
        urgent,
        event.occurred_at,
        event.grid_id,
        Audience(volunteer_ref=event.volunteer_ref),
        facts,
        task_id=event.task_id,
        expires_at=event.expires_at,
    )


def offer_reminder_at(offered_at: datetime, expires_at: datetime, lead: timedelta) -> datetime | None:
    """When to remind of an unanswered offer: `lead` before it expires, unless the offer itself is younger than
    that then (a 5-minute offer with a 5-minute lead needs no reminder: the first message is fresh)."""
    at = expires_at - lead
    return at if at - offered_at >= lead else None


def offer_reminder(
    task_id: str, volunteer_ref: str, offer_facts: dict[str, str], urgent: bool, expires_at: datetime, now: datetime
) -> Trigger:
    return Trigger(
        f"reminder:{task_id}:{volunteer_ref}:{expires_at.isoformat()}",
        Kind.offer_reminder,
        urgent,
        now,
        offer_facts.get("grid_id", ""),
        Audience(volunteer_ref=volunteer_ref),
        {**offer_facts, "expires": local_hm(expires_at)},
        task_id=task_id,
        expires_at=expires_at,
    )


def task_unfilled(
    source_id: str, event: tasks.TaskUnfilled, labels: Labels, case_level: str | None, window: str
) -> Trigger:
    """The grid's manager, and the level holding the case the task came from."""
    staff = [StaffAt(event.grid_id, LEVEL_ROLES["grid"])]
    if case_level and case_level != "grid":
        staff.append(StaffAt(holding_area(event.grid_id, case_level), LEVEL_ROLES[case_level]))
    return Trigger(
        source_id,
        Kind.task_unfilled,
        False,
        event.occurred_at,
        event.grid_id,
        Audience(staff=tuple(staff)),
        {**_task_facts(event.task_type, event.grid_id, labels), "window": window},
        case_id=event.case_id,
        task_id=event.task_id,
    )


def pairing_overdue(
    source_id: str, pairing_id: str, volunteer_ref: str, grid_id: str, days: int, at: datetime, labels: Labels
) -> Trigger:
    return Trigger(
        source_id,
        Kind.pairing_overdue,
        False,
        at,
        grid_id,
        Audience(volunteer_ref=volunteer_ref),
        {"place": labels.place(grid_id), "days": str(days), "pairing_id": pairing_id},
    )


MEETING_LABEL = {"villagers_meeting": "村民会议", "representatives_meeting": "村民代表会议"}


def meeting_noticed(source_id: str, event: livelihood.MeetingNoticed, labels: Labels) -> Trigger | None:
    """The villagers' representatives invited to a meeting that decides livelihood projects."""
    if not event.invitee_subs:
        return None
    return Trigger(
        source_id,
        Kind.meeting_notice,
        False,
        event.occurred_at,
        event.village_id,
        Audience(subs=tuple(event.invitee_subs)),
        {
            "meeting": MEETING_LABEL.get(event.kind, event.kind),
            "place_name": labels.place(event.village_id),
            "starts": local(event.starts_at),
            "venue": event.place,
            "items": str(len(event.proposal_ids)),
        },
    )

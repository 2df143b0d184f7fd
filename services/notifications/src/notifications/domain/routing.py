"""Who gets a notification, on which channels, and when: the rules, without the database.

The use case (planner.py) loads the recipients an Audience names (staff directory, on-duty roster, group robots,
the volunteer) with their preferences; plan() turns them into one Planned delivery per (recipient, channel).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from gov_contracts.vocabulary import Level, area_at_depth
from notifications.domain.kinds import PERSONAL_CHANNELS, Kind
from notifications.domain.quiet import QuietHours, release_at

STAFF_ROLES = ("grid_manager", "village_admin", "town_admin", "county_admin", "department", "leader")
LEVEL_ROLES = {
    "grid": ("grid_manager",),
    "village": ("village_admin",),
    "town": ("town_admin",),
    "county": ("county_admin",),
}
LEVEL_DEPTH = {"grid": 3, "village": 2, "town": 1, "county": 1}


def holding_area(grid_id: str, level: str) -> str:
    """The area whose staff hold a case of this grid at this level (the county acts through the town's id)."""
    return area_at_depth(grid_id, LEVEL_DEPTH[Level(level).value])


# the level of an area unit by the depth of its id, when the dispatch did not say it
DEPTH_LEVEL = {3: "grid", 2: "village", 1: "town"}


LEVEL_ABOVE = "level_above"


def approving_level(level: str, rule: str = LEVEL_ABOVE) -> str:
    """The level that decides a request of a case held at `level`, as the cases policy's `operations:` says it
    (`extension_approver`, `suspension_approver`): `level_above` the case's (the county decides its own), or a
    fixed level, which a case at or above it passes to the level above it."""
    case_level = Level(level)
    above = case_level.up() or case_level
    if rule == LEVEL_ABOVE:
        return above.value
    fixed = Level(rule)
    return (fixed if fixed.rank > case_level.rank else above).value


@dataclass(frozen=True)
class StaffAt:
    area_id: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class Audience:
    """Who a trigger is for, before anyone is looked up."""

    volunteer_ref: str | None = None
    subs: tuple[str, ...] = ()  # named people, e.g. the assignee
    staff: tuple[StaffAt, ...] = ()  # staff of these areas with these roles
    unit: str | None = None  # staff of a department (dept.justice ...)
    on_duty_area: str | None = None  # whoever the roster has on duty today for this area
    robots_area: str | None = None  # the group robots (WeCom, DingTalk) of this area
    exclude: tuple[str, ...] = ()  # e.g. who resolved the case does not verify it

    def is_empty(self) -> bool:
        return not (self.volunteer_ref or self.subs or self.staff or self.unit or self.on_duty_area)


def unit_audience(unit_id: str, unit_level: str | None = None) -> Audience:
    """The staff of a unit a case is dispatched to: a department's (dept.justice), or those of the area with the
    roles of its level (the level from the id's depth when not given; any role when neither says)."""
    if unit_id.startswith("dept."):
        return Audience(unit=unit_id)
    level = unit_level or DEPTH_LEVEL.get(unit_id.count(".") + 1)
    return Audience(staff=(StaffAt(unit_id, LEVEL_ROLES.get(level, ()) if level else ()),))


@dataclass(frozen=True)
class Recipient:
    key: str  # staff:<sub>, volunteer:<ref> or robot:<id>
    kind: Literal["staff", "volunteer", "robot"]
    available: frozenset[str]  # channels this recipient can be reached on
    quiet: QuietHours | None = None  # their own quiet hours; None: the town's default
    preferences: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # kind -> chosen channels


@dataclass(frozen=True)
class Planned:
    recipient: str
    channel: str
    due_at: datetime
    held: bool  # due_at is later than now because of quiet hours


def channels_for(kind: Kind, urgent: bool, recipient: Recipient, defaults: Mapping[Kind, Sequence[str]]) -> list[str]:
    """The recipient's choice for this kind (or the default), limited to what reaches them. Urgent messages
    always reach a person somewhere: with nothing chosen, the in-app inbox."""
    if recipient.kind == "robot":
        return sorted(recipient.available)
    chosen = recipient.preferences.get(kind.value, tuple(defaults.get(kind, ("in_app",))))
    reachable = [c for c in chosen if c in recipient.available and c in PERSONAL_CHANNELS]
    if not reachable and urgent and "in_app" in recipient.available:
        reachable = ["in_app"]
    return list(dict.fromkeys(reachable))


def plan(
    kind: Kind,
    urgent: bool,
    now: datetime,
    recipients: Iterable[Recipient],
    defaults: Mapping[Kind, Sequence[str]],
    default_quiet: QuietHours | None,
    exclude: Iterable[str] = (),
) -> list[Planned]:
    """One delivery per (recipient, channel); non-urgent ones held to the end of the recipient's quiet hours."""
    out: list[Planned] = []
    skip = {f"staff:{sub}" for sub in exclude}
    seen: set[str] = set()
    for r in recipients:
        if r.key in seen or r.key in skip:
            continue
        seen.add(r.key)
        due = release_at(now, r.quiet or default_quiet, urgent)
        out.extend(Planned(r.key, channel, due, due > now) for channel in channels_for(kind, urgent, r, defaults))
    return out

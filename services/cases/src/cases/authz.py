"""Who may see and do what with a case: roles, area scopes and levels."""

from __future__ import annotations

from cases.domain.model import Action, Level
from cases.repository import Row
from govkit.auth import Principal

STAFF_LEVEL = {
    "grid_manager": Level.grid,
    "village_admin": Level.village,
    "town_admin": Level.town,
    "county_admin": Level.county,
}
VIEWERS = ("analyst",)
HOTLINE = "hotline"  # an outside hotline's account (12345): sends tickets, reads them, records their call-backs
# what the unit a case was dispatched to does to it (its assignee may be a department's handler outside the area)
ASSIGNEE_ACTIONS = (
    Action.start,
    Action.resolve,
    Action.request_extension,
    Action.request_suspension,
    Action.resume,
    Action.return_,
)


def staff_level(p: Principal) -> Level | None:
    levels = [STAFF_LEVEL[r] for r in p.roles if r in STAFF_LEVEL]
    return max(levels, key=lambda lv: lv.rank) if levels else None


def is_staff(p: Principal) -> bool:
    return staff_level(p) is not None


def sees_by_area(p: Principal) -> bool:
    return is_staff(p) or p.has_role(*VIEWERS)


def scopes(p: Principal) -> list[str]:
    """The areas whose cases p sees: staff and viewers their token's areas, anyone else none.
    The list filter passes this to SQL; in_purview() asks the same of one case."""
    return p.visible_areas() if sees_by_area(p) else []


def is_assignee(p: Principal, case: Row) -> bool:
    return case["assignee"] is not None and case["assignee"] == p.sub


def in_purview(p: Principal, case: Row) -> bool:
    """Staff or viewer whose scope covers the case, or its reporter: everything but the assignee's access."""
    if sees_by_area(p) and p.covers(case["grid_id"]):
        return True
    return case["reporter_sub"] is not None and case["reporter_sub"] == p.sub


def can_view(p: Principal, case: Row) -> bool:
    """The dispatched assignee (e.g. a department's handler outside the case's area) reads the case too."""
    return in_purview(p, case) or is_assignee(p, case)


def can_create(p: Principal, grid_id: str) -> bool:
    return p.has_role("resident", HOTLINE) or (is_staff(p) and p.covers(grid_id))


def act_denial(p: Principal, case: Row, action: Action) -> str | None:
    """None when allowed, else why not."""
    if action is Action.withdraw:
        if case["reporter_sub"] is not None and case["reporter_sub"] == p.sub:
            return None
        return "only the reporter withdraws a case; staff reject it, with a reason"
    if is_assignee(p, case):
        if action in ASSIGNEE_ACTIONS:
            return None
        if not in_purview(p, case):
            return (
                f"as the dispatched assignee you may read, start and resolve this case; {action.value} is for its staff"
            )
    lv = staff_level(p)
    if lv is None:
        return "only staff (grid_manager, village_admin, town_admin, county_admin) act on cases"
    if not p.covers(case["grid_id"]):
        return f"your area scope does not cover {case['grid_id']}"
    if lv.rank < Level(case["level"]).rank:
        return f"the case is handled at {case['level']} level; your role acts at {lv.value} level"
    if action is Action.verify and case["resolved_by"] == p.sub:
        return "the verifier must not be the one who resolved the case"
    return None


def note_denial(p: Principal, case: Row) -> str | None:
    """Who may add a progress note: whoever may act on the case (its staff at or above its level, in scope)
    and its dispatched assignee; None when allowed, else why not."""
    if is_assignee(p, case):
        return None
    lv = staff_level(p)
    if lv is None:
        return "only the case's staff and its dispatched assignee add progress notes"
    if not p.covers(case["grid_id"]):
        return f"your area scope does not cover {case['grid_id']}"
    if lv.rank < Level(case["level"]).rank:
        return f"the case is handled at {case['level']} level; your role acts at {lv.value} level"
    return None

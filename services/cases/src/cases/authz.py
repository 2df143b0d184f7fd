"""Who may see and do what with a case: roles, area scopes and levels."""
from __future__ import annotations

from typing import Mapping, Optional

from cases.domain.model import Action, Level
from govkit.auth import Principal

STAFF_LEVEL = {"grid_manager": Level.grid, "village_admin": Level.village, "town_admin": Level.town,
               "county_admin": Level.county}
VIEWERS = ("analyst",)


def staff_level(p: Principal) -> Optional[Level]:
    levels = [STAFF_LEVEL[r] for r in p.roles if r in STAFF_LEVEL]
    return max(levels, key=lambda lv: lv.rank) if levels else None


def is_staff(p: Principal) -> bool:
    return staff_level(p) is not None


def can_view(p: Principal, case: Mapping) -> bool:
    if (is_staff(p) or p.has_role(*VIEWERS)) and p.covers(case["grid_id"]):
        return True
    return case["reporter_sub"] is not None and case["reporter_sub"] == p.sub


def can_create(p: Principal, grid_id: str) -> bool:
    return p.has_role("resident") or (is_staff(p) and p.covers(grid_id))


def act_denial(p: Principal, case: Mapping, action: Action) -> Optional[str]:
    """None when allowed, else why not."""
    if action is Action.withdraw and case["reporter_sub"] == p.sub:
        return None
    if action in (Action.start, Action.resolve) and case["assignee"] and case["assignee"] == p.sub:
        return None
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

"""Who may be offered a task, and in what order. Pure functions, no I/O.

Eligible: active, has every required skill, available for the whole window
(weekly availability), not on leave during it, under max concurrent tasks, has
not declined this task (nor been offered it already), and within the task's
current scope (grid, then village, then town).

Rank, best first (the domain brief's order): proximity (same grid, same
village, same town), fairness (fewer hours in the last 30 days, in whole-hour
steps so that role fit can still decide between near equals), role fit,
reliability (accept rate), and finally the volunteer id, so equal inputs give
equal output.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from gov_contracts.vocabulary import LOCAL_TZ, Level, area_chain, is_within

# the areas a task is offered in, widening in this order; a task never leaves the town
SCOPES: tuple[str, ...] = (Level.grid.value, Level.village.value, Level.town.value)

# task type -> roles in order of fit (earlier is better); others fit least
ROLE_FIT: dict[str, tuple[str, ...]] = {
    "dispute_mediation": ("mediator", "grid_manager", "party_member"),
    "epidemic_temperature_check": ("party_member", "public_service_worker", "volunteer"),
    "epidemic_publicity": ("party_member", "civility_supervisor", "volunteer"),
    "epidemic_disinfection": ("party_member", "sanitation_worker", "volunteer"),
    "meal_delivery": ("public_service_worker", "volunteer", "party_member"),
    "pairing_visit": ("public_service_worker", "party_member", "volunteer"),
    "sanitation_cleanup": ("sanitation_worker", "volunteer", "party_member"),
    "patrol": ("grid_manager", "civility_supervisor", "party_member"),
    "cultural_activity": ("volunteer", "party_member", "public_service_worker"),
    "meeting_publicity": ("party_member", "civility_supervisor", "volunteer"),
}


@dataclass(frozen=True)
class Window:
    weekday: int  # 0 = Monday, in China Standard Time
    start: time
    end: time


@dataclass(frozen=True)
class Candidate:
    id: str
    roles: tuple[str, ...]
    home_grid: str
    skills: frozenset[str]
    availability: tuple[Window, ...]
    leave: tuple[tuple[datetime, datetime], ...] = ()
    max_concurrent: int = 2
    active: bool = True
    load: int = 0  # tasks assigned or in progress, and offers still pending
    hours_30d: float = 0.0
    offers_made: int = 0
    offers_accepted: int = 0


@dataclass(frozen=True)
class TaskSpec:
    id: str
    task_type: str
    grid_id: str
    window_start: datetime
    window_end: datetime
    required_skills: frozenset[str] = frozenset()
    scope: str = "grid"
    excluded: frozenset[str] = field(default_factory=frozenset)  # declined or already offered


def scope_area(grid_id: str, scope: str) -> str:
    """The area a task in `grid_id` is offered in at `scope`: the grid, its village or the town."""
    return area_chain(grid_id)[SCOPES.index(scope)]


def proximity(home_grid: str, task_grid: str) -> int:
    """0 same grid, 1 same village, 2 same town, 3 elsewhere: the narrowest scope around the task holding
    the volunteer's home."""
    chain = area_chain(task_grid)
    for distance, area in enumerate(chain):
        if is_within(home_grid, area):
            return distance
    return len(chain)


def role_fit(roles: Iterable[str], task_type: str) -> int:
    order = ROLE_FIT.get(task_type, ())
    ranks = [order.index(r) for r in roles if r in order]
    return min(ranks) if ranks else len(order)


def reliability(c: Candidate) -> float:
    """Accept rate; a volunteer with no offers yet counts as reliable."""
    return c.offers_accepted / c.offers_made if c.offers_made else 1.0


FIXED_WINDOW = timedelta(hours=4)
FLEXIBLE_MIN_OVERLAP = timedelta(hours=1)


def available(c: Candidate, start: datetime, end: datetime) -> bool:
    """A short task (up to 4 h: a meal round, a shift) must lie inside one availability
    window of its local day; a longer one (field work "within two days") needs at least
    one hour of availability inside it."""
    s, e = start.astimezone(LOCAL_TZ), end.astimezone(LOCAL_TZ)
    if e - s <= FIXED_WINDOW:
        if s.date() == e.date():
            return any(w.weekday == s.weekday() and w.start <= s.time() and e.time() <= w.end for w in c.availability)
        return False
    day = s.date()
    while day <= e.date():
        for w in c.availability:
            if w.weekday != day.weekday():
                continue
            ws = datetime.combine(day, w.start, LOCAL_TZ)
            we = datetime.combine(day, w.end, LOCAL_TZ)
            if min(we, e) - max(ws, s) >= FLEXIBLE_MIN_OVERLAP:
                return True
        day += timedelta(days=1)
    return False


def on_leave(c: Candidate, start: datetime, end: datetime) -> bool:
    return any(a < end and start < b for a, b in c.leave)


def ineligibility(c: Candidate, task: TaskSpec) -> str | None:
    """None when eligible, else the first reason why not."""
    if not c.active:
        return "inactive"
    if c.id in task.excluded:
        return "declined or already offered"
    if proximity(c.home_grid, task.grid_id) > SCOPES.index(task.scope):
        return f"outside the {task.scope}"
    if not task.required_skills <= c.skills:
        return "lacks " + ", ".join(sorted(task.required_skills - c.skills))
    if c.load >= c.max_concurrent:
        return "at max load"
    if on_leave(c, task.window_start, task.window_end):
        return "on leave"
    if not available(c, task.window_start, task.window_end):
        return "not available in the window"
    return None


def rank_key(c: Candidate, task: TaskSpec) -> tuple[int, int, int, float, str]:
    return (
        proximity(c.home_grid, task.grid_id),
        int(c.hours_30d),
        role_fit(c.roles, task.task_type),
        -round(reliability(c), 6),
        c.id,
    )


def rank(candidates: Iterable[Candidate], task: TaskSpec) -> list[Candidate]:
    """Eligible candidates, best first."""
    return sorted((c for c in candidates if ineligibility(c, task) is None), key=lambda c: rank_key(c, task))


def widen(scope: str) -> str | None:
    i = SCOPES.index(scope)
    return SCOPES[i + 1] if i + 1 < len(SCOPES) else None

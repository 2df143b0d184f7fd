"""Eligibility and ranking, table-driven, with the exact expected order."""

from datetime import datetime, time, timedelta

import pytest

from gov_contracts.vocabulary import LOCAL_TZ
from volunteers.domain.dispatch import (
    Candidate,
    TaskSpec,
    Window,
    available,
    ineligibility,
    proximity,
    rank,
    role_fit,
    widen,
)

WEEKDAYS = tuple(Window(d, time(8), time(18)) for d in range(5))
# Tuesday 2026-12-01, 10:00-11:00 China Standard Time
START = datetime(2026, 12, 1, 10, 0, tzinfo=LOCAL_TZ)
END = START + timedelta(hours=1)
GRID = "changping.kongjiafan.g03"


def vol(id, grid=GRID, roles=("volunteer",), skills=("mediation",), **kw):
    return Candidate(
        id=id,
        roles=tuple(roles),
        home_grid=grid,
        skills=frozenset(skills),
        availability=kw.pop("availability", WEEKDAYS),
        **kw,
    )


def task(scope="grid", skills=("mediation",), excluded=(), task_type="dispute_mediation", start=START, end=END):
    return TaskSpec(
        id="t1",
        task_type=task_type,
        grid_id=GRID,
        window_start=start,
        window_end=end,
        required_skills=frozenset(skills),
        scope=scope,
        excluded=frozenset(excluded),
    )


@pytest.mark.parametrize(
    "candidate,spec,reason",
    [
        (vol("a", active=False), task(), "inactive"),
        (vol("a"), task(excluded=("a",)), "declined or already offered"),
        (vol("a", grid="changping.kongjiafan.g04"), task(), "outside the grid"),
        (vol("a", grid="changping.zhongguping.g01"), task(scope="village"), "outside the village"),
        (vol("a", skills=("cleanup",)), task(), "lacks mediation"),
        (vol("a", load=2, max_concurrent=2), task(), "at max load"),
        (vol("a", leave=((START - timedelta(days=1), START + timedelta(minutes=30)),)), task(), "on leave"),
        (vol("a", availability=(Window(1, time(14), time(18)),)), task(), "not available in the window"),
        (vol("a", availability=(Window(2, time(8), time(18)),)), task(), "not available in the window"),
        (vol("a"), task(), None),
        (vol("a", grid="changping.zhongguping.g01"), task(scope="town"), None),
        (
            vol("a", load=1, max_concurrent=2, leave=((START + timedelta(days=2), START + timedelta(days=3)),)),
            task(),
            None,
        ),
    ],
)
def test_eligibility(candidate, spec, reason):
    assert ineligibility(candidate, spec) == reason


def test_flexible_windows_need_an_hour_of_availability_inside():
    c = vol("a", availability=(Window(3, time(9), time(10, 30)),))  # Thursday morning only
    two_days_from_tuesday_noon = (START.replace(hour=12), START.replace(hour=12) + timedelta(hours=48))
    assert available(c, *two_days_from_tuesday_noon)  # covers Thursday 9:00-10:30
    c2 = vol("b", availability=(Window(3, time(11, 30), time(12, 15)),))  # only 15 min inside before noon Thursday
    assert not available(c2, *two_days_from_tuesday_noon)


@pytest.mark.parametrize(
    "home,prox", [(GRID, 0), ("changping.kongjiafan.g01", 1), ("changping.zhongguping.g01", 2), ("other.x.g1", 3)]
)
def test_proximity(home, prox):
    assert proximity(home, GRID) == prox


@pytest.mark.parametrize(
    "roles,task_type,fit",
    [
        (("mediator",), "dispute_mediation", 0),
        (("grid_manager",), "dispute_mediation", 1),
        (("volunteer",), "dispute_mediation", 3),
        (("party_member",), "epidemic_disinfection", 0),
        (("volunteer", "party_member"), "epidemic_publicity", 0),
        (("sanitation_worker",), "epidemic_publicity", 3),
    ],
)
def test_role_fit(roles, task_type, fit):
    assert role_fit(roles, task_type) == fit


def test_rank_exact_order():
    candidates = [
        vol("v-far", grid="changping.zhongguping.g02", roles=("mediator",)),  # town: last
        vol("v-village", grid="changping.kongjiafan.g01", roles=("mediator",)),  # village
        vol("v-busy", roles=("mediator",), hours_30d=12.0),  # same grid, many hours
        vol("v-med", roles=("mediator",), hours_30d=3.2),  # same grid, mediator
        vol("v-gm", roles=("grid_manager",), hours_30d=3.7),  # same hour step, worse fit
        vol("v-flaky", roles=("mediator",), hours_30d=3.0, offers_made=10, offers_accepted=2),  # less reliable
        vol("v-new", roles=("volunteer",), hours_30d=0.5),  # fewest hours wins
        vol("v-b", roles=("mediator",), hours_30d=3.9),  # tie with v-med: id decides
        vol("v-off", roles=("mediator",), active=False),  # not eligible
    ]
    order = [c.id for c in rank(candidates, task(scope="town"))]
    assert order == ["v-new", "v-b", "v-med", "v-flaky", "v-gm", "v-busy", "v-village", "v-far"]


def test_rank_respects_scope_and_is_deterministic():
    cs = [vol(f"v{i}", grid=g) for i, g in enumerate([GRID, "changping.kongjiafan.g01", "changping.qinghe.g01"])]
    assert [c.id for c in rank(cs, task())] == ["v0"]
    assert [c.id for c in rank(cs, task(scope="village"))] == ["v0", "v1"]
    assert [c.id for c in rank(reversed(cs), task(scope="town"))] == ["v0", "v1", "v2"]


def test_widening_goes_grid_village_town_then_stops():
    assert (widen("grid"), widen("village"), widen("town")) == ("village", "town", None)

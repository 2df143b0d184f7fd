"""The in-memory candidate index ranks exactly as dispatch.rank does, over seeded random populations, after
changes to volunteers, and as time moves hours out of the 30-day window."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, time, timedelta

import pytest

from gov_contracts.vocabulary import LOCAL_TZ
from volunteers.domain import dispatch
from volunteers.domain.dispatch_index import DispatchIndex, Volunteer, availability_bits, slot_need

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=LOCAL_TZ)
GRIDS = [f"changping.v{v}.g{g}" for v in range(4) for g in range(5)]
ROLES = ("party_member", "grid_manager", "sanitation_worker", "civility_supervisor", "public_service_worker",
         "mediator", "volunteer")  # fmt: skip
SKILLS = ("mediation", "elderly_care", "meal_delivery", "first_aid", "cleanup", "driving")
TASK_TYPES = tuple(dispatch.ROLE_FIT)


def _windows(rng: random.Random) -> tuple[dispatch.Window, ...]:
    out = []
    for _ in range(rng.randint(0, 4)):
        start = rng.randint(6 * 4, 20 * 4)
        end = min(start + rng.randint(1, 40), 24 * 4 - 1)
        out.append(
            dispatch.Window(
                rng.randint(0, 6),
                time(start // 4, start % 4 * 15 + rng.choice((0, 0, 7))),
                time(end // 4, end % 4 * 15 + rng.choice((0, 0, 14))),
            )
        )
    return tuple(out)


def _volunteer(rng: random.Random, i: int) -> Volunteer:
    made = rng.choice((0, 0, 1, 3, 7))
    ledger = sorted(
        (NOW - timedelta(days=rng.uniform(0, 40)), rng.choice((25, 50, 100, 150, 199, 200, 350, -100)))
        for _ in range(rng.randint(0, 6))
    )
    leave = tuple(
        (a, a + timedelta(hours=rng.randint(2, 72)))
        for a in (NOW + timedelta(hours=rng.randint(-48, 150)) for _ in range(rng.choice((0, 0, 0, 1, 2))))
    )
    return Volunteer(
        id=f"v{i:04d}",
        roles=tuple(rng.sample(ROLES, rng.randint(1, 2))),
        home_grid=rng.choice(GRIDS),
        skills=frozenset(s for s in SKILLS if rng.random() < 0.4),
        availability=_windows(rng),
        max_concurrent=rng.randint(1, 3),
        load=rng.choice((0, 0, 0, 1, 2, 3)),
        offers_made=made,
        offers_accepted=rng.randint(0, made),
        ledger=tuple(ledger),
        leave=leave,
    )


def _task(rng: random.Random, i: int) -> dispatch.TaskSpec:
    start = NOW + timedelta(days=rng.randint(0, 6), minutes=15 * rng.randint(0, 95) + rng.choice((0, 0, 5)))
    length = rng.choice((timedelta(minutes=30), timedelta(hours=1), timedelta(hours=4), timedelta(hours=48)))
    return dispatch.TaskSpec(
        id=f"t{i}",
        task_type=rng.choice(TASK_TYPES),
        grid_id=rng.choice(GRIDS),
        window_start=start,
        window_end=start + length,
        required_skills=frozenset(rng.sample(SKILLS, rng.choice((0, 0, 1, 1, 2)))),
        scope=rng.choice(dispatch.SCOPES),
        excluded=frozenset(f"v{rng.randrange(400):04d}" for _ in range(rng.randint(0, 5))),
    )


def _candidate(v: Volunteer, now: datetime) -> dispatch.Candidate:
    """What the CANDIDATES query makes of the same volunteer at `now`."""
    cents = sum(c for at, c in v.ledger if at > now - timedelta(days=30))
    return dispatch.Candidate(
        id=v.id,
        roles=v.roles,
        home_grid=v.home_grid,
        skills=v.skills,
        availability=v.availability,
        leave=v.leave,
        max_concurrent=v.max_concurrent,
        load=v.load,
        hours_30d=cents / 100,
        offers_made=v.offers_made,
        offers_accepted=v.offers_accepted,
    )


def _same(ix: DispatchIndex, vols: dict[str, Volunteer], rng: random.Random, now: datetime, n: int = 60) -> None:
    cands = [_candidate(v, now) for v in vols.values()]
    for i in range(n):
        t = _task(rng, i)
        want = [c.id for c in dispatch.rank(cands, t)]
        assert [c.id for c in ix.rank(t, now)] == want, t
        for limit in (1, 3):
            assert [c.id for c in ix.rank(t, now, limit)] == want[:limit], (t, limit)


@pytest.mark.parametrize("seed", range(8))
def test_index_ranks_as_dispatch_rank_over_random_populations(seed):
    rng = random.Random(seed)
    vols = {v.id: v for v in (_volunteer(rng, i) for i in range(400))}
    ix = DispatchIndex.build(vols.values(), NOW)
    _same(ix, vols, rng, NOW)


@pytest.mark.parametrize("seed", range(4))
def test_index_kept_by_changes_ranks_as_a_fresh_one(seed):
    rng = random.Random(100 + seed)
    vols = {v.id: v for v in (_volunteer(rng, i) for i in range(300))}
    ix = DispatchIndex.build(vols.values(), NOW)
    for step in range(300):
        vid = f"v{rng.randrange(330):04d}"
        kind = rng.random()
        if kind < 0.1 and vid in vols:
            del vols[vid]
            ix.remove(vid)
            continue
        v = vols.get(vid) or _volunteer(rng, int(vid[1:]))
        if kind < 0.5:
            v = replace(v, load=rng.randint(0, 3), offers_made=v.offers_made + 1)
        elif kind < 0.7:
            v = replace(v, ledger=tuple(sorted((*v.ledger, (NOW - timedelta(hours=step), rng.choice((50, 125)))))))
        elif kind < 0.85:
            v = replace(v, availability=_windows(rng), skills=frozenset(rng.sample(SKILLS, 2)))
        else:
            v = replace(v, home_grid=rng.choice(GRIDS), roles=(rng.choice(ROLES),))
        vols[vid] = v
        ix.put(v)
    assert ix.same_as(DispatchIndex.build(vols.values(), NOW), NOW - timedelta(days=60)) == []
    _same(ix, vols, rng, NOW)


def test_hours_leave_the_window_with_time_and_the_order_follows():
    rng = random.Random(7)
    vols = {v.id: v for v in (_volunteer(rng, i) for i in range(300))}
    ix = DispatchIndex.build(vols.values(), NOW)
    for days in (1, 3, 6.5, 12, 2):  # the last one goes back in time
        _same(ix, vols, rng, NOW + timedelta(days=days), n=25)


def test_slots_are_a_superset_of_availability():
    w = dispatch.Window(1, time(8, 5), time(9, 0))
    assert availability_bits([w]) == sum(1 << (96 + k) for k in range(32, 37))
    tuesday_8_10 = datetime(2026, 12, 1, 8, 10, tzinfo=LOCAL_TZ)
    assert slot_need(tuesday_8_10, tuesday_8_10 + timedelta(minutes=50)).all_of == tuple(range(96 + 32, 96 + 37))
    assert slot_need(tuesday_8_10.replace(hour=23), tuesday_8_10 + timedelta(hours=16)).never

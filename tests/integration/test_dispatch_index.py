"""The dispatch index against the real database: over seeded random populations (volunteers with offers,
assignments, hours and leave written straight into the tables, as another replica or an import would), the
index, whether built at start or kept by the change log, ranks every task exactly as the SQL ranking
(service.rank_candidates_sql) does; and the dispatching write re-checks what a stale index proposes.

The population's skills are private to each test (`ix<run>_a`...), and every task asks for one of them, so
the volunteers other tests leave in the shared database never take part."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from gov_contracts import CloudEvent
from govctl import areas as area_file
from govkit import db
from govkit.areas import on_area_upserted
from govkit.settings import load as load_settings
from volunteers import candidate_index, service
from volunteers import config as vconfig
from volunteers.candidate_index import CandidateIndex
from volunteers.context import Context
from volunteers.domain import dispatch
from volunteers.domain.tasks import NewTask

EVENTS, _ = area_file.load(area_file.DEFAULT_FILE)
GRIDS = sorted(e.id for e in EVENTS if e.kind.value == "grid")
ROLES = ("party_member", "grid_manager", "sanitation_worker", "civility_supervisor", "public_service_worker",
         "mediator", "volunteer")  # fmt: skip


@pytest.fixture
async def vctx(stack):
    pool = await db.create_pool(stack.service_dsn("volunteers"), "volunteers", max_size=6)
    async with pool.acquire() as con:
        for e in EVENTS:
            await on_area_upserted(con, e, CloudEvent(type="gov.area.upserted.v1", source="tests", subject=e.id))
    settings = load_settings(
        "volunteers",
        {"VOLUNTEERS_DATABASE_URL": stack.service_dsn("volunteers"), "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap},
    )
    cfg = vconfig.configure(settings, {"VOLUNTEERS_OFFER_EXPIRY_S": "60"})
    index = CandidateIndex(lambda: db.connect(stack.service_dsn("volunteers"), "volunteers"))
    ctx = Context(pool=pool, config=cfg, pseudonym_key="k" * 40, index=index)
    yield ctx
    await index.stop()
    # the population takes no part in other tests: inactive, and its pending offers withdrawn
    ids = [r["id"] for r in await pool.fetch("select id from volunteers where external_id like 'ix%'")]
    await pool.execute("update volunteers set active = false where id = any($1)", ids)
    await pool.execute(
        "update offers set status = 'withdrawn' where status = 'pending' and volunteer_id = any($1)", ids
    )
    await pool.close()


def _skills(run: str) -> list[str]:
    return [f"ix{run}_{c}" for c in "abcd"]


def _availability(rng: random.Random) -> list[dict]:
    out = []
    for _ in range(rng.randint(0, 4)):
        start = rng.randint(6 * 4, 20 * 4)
        end = min(start + rng.randint(2, 40), 95)
        out.append(
            {
                "weekday": rng.randint(0, 6),
                "start": f"{start // 4:02d}:{start % 4 * 15:02d}",
                "end": f"{end // 4:02d}:{end % 4 * 15:02d}",
            }  # fmt: skip
        )
    return out


async def _population(con, rng: random.Random, run: str, n: int, now: datetime) -> list[uuid.UUID]:
    """n volunteers in a few villages, each with some history: offers in every status, assignments, ledger
    entries either side of the 30-day edge, leave; written with plain SQL, not through the service."""
    grids = rng.sample(GRIDS, 12)
    skills = _skills(run)
    ids = []
    for i in range(n):
        vid = uuid.uuid4()
        ids.append(vid)
        grid = rng.choice(grids)
        await con.execute(
            "insert into volunteers (id, external_id, name, roles, home_grid, home_path, skills, availability,"
            " max_concurrent, active) values ($1, $2, 'ix', $3, $4::text, $4::text::ltree, $5, $6, $7, $8)",
            vid,
            f"ix{run}-{i}",
            rng.sample(ROLES, rng.randint(1, 2)),
            grid,
            [s for s in skills if rng.random() < 0.5] + rng.sample(["cleanup", "publicity", "first_aid"], 1),
            _availability(rng),
            rng.randint(1, 3),
            rng.random() < 0.92,
        )
    for vid in ids:
        for _ in range(rng.choice((0, 0, 1, 2, 4))):
            await _history(con, rng, vid, now)
        if rng.random() < 0.1:
            a = now + timedelta(hours=rng.randint(-48, 120))
            await con.execute(
                "insert into volunteer_leave (volunteer_id, starts_at, ends_at) values ($1, $2, $3)",
                vid,
                a,
                a + timedelta(hours=rng.randint(3, 72)),
            )
        for _ in range(rng.choice((0, 0, 1, 3))):
            await con.execute(
                "insert into ledger (volunteer_id, kind, hours, points, actor, at) values ($1, 'correction', $2,"
                " 0, 'tests', $3)",
                vid,
                rng.choice((0.5, 1.25, 2, 3.5, -1)),
                now - timedelta(days=rng.uniform(0, 40)),
            )
    return ids


async def _history(con, rng: random.Random, vid: uuid.UUID, now: datetime) -> None:
    tid = uuid.uuid4()
    await con.execute(
        "insert into tasks (id, task_type, title, grid_id, grid_path, window_start, window_end, origin, status,"
        " created_at, updated_at) values ($1, 'patrol', 'ix', 'changping.kongjiafan.g01',"
        " 'changping.kongjiafan.g01', $2, $3, 'manual', 'cancelled', $2, $2)",
        tid,
        now,
        now + timedelta(hours=1),
    )
    status = rng.choice(("pending", "accepted", "declined", "expired", "withdrawn"))
    await con.execute(
        "insert into offers (id, task_id, volunteer_id, status, rank, offered_at, expires_at)"
        " values ($1, $2, $3, $4, 1, $5::timestamptz, $5::timestamptz + interval '1 day')",
        uuid.uuid4(),
        tid,
        vid,
        status,
        now,
    )
    if status == "accepted":
        await con.execute(
            "insert into assignments (task_id, volunteer_id, status, accepted_at) values ($1, $2, $3, $4)",
            tid,
            vid,
            rng.choice(("assigned", "in_progress", "completed", "cancelled")),
            now,
        )


def _task(rng: random.Random, run: str, now: datetime, ids: list[uuid.UUID], grids: list[str]) -> dispatch.TaskSpec:
    start = now + timedelta(days=rng.randint(0, 6), minutes=15 * rng.randint(0, 95) + rng.choice((0, 0, 5)))
    length = rng.choice((timedelta(minutes=45), timedelta(hours=2), timedelta(hours=4), timedelta(hours=48)))
    return dispatch.TaskSpec(
        id=str(uuid.uuid4()),
        task_type=rng.choice(tuple(dispatch.ROLE_FIT)),
        grid_id=rng.choice(grids),
        window_start=start,
        window_end=start + length,
        required_skills=frozenset(
            rng.sample(_skills(run), 1) + rng.sample(["cleanup", "publicity"], rng.randint(0, 1))
        ),
        scope=rng.choice(dispatch.SCOPES),
        excluded=frozenset(str(i) for i in rng.sample(ids, rng.randint(0, 4))),
    )


async def _compare(ctx: Context, rng: random.Random, run: str, ids: list[uuid.UUID], n: int) -> int:
    """Rank n random tasks both ways; the number of non-empty rankings compared."""
    assert ctx.index is not None
    await ctx.index.refresh()
    grids = [r["home_grid"] for r in await ctx.pool.fetch("select home_grid from volunteers where id = any($1)", ids)]
    async with ctx.pool.acquire() as con:
        now = await con.fetchval("select now()")
        nonempty = 0
        for _ in range(n):
            t = _task(rng, run, now, ids, grids)
            want = [c.id for c in await service.rank_candidates_sql(con, {}, now, t)]
            got = ctx.index.rank(t, now)
            assert got is not None
            assert [c.id for c in got] == want, t
            assert [c.id for c in ctx.index.rank(t, now, 2) or []] == want[:2]
            nonempty += bool(want)
    return nonempty


@pytest.mark.parametrize("seed", [1, 2])
async def test_index_ranks_as_the_sql_over_random_populations(vctx, seed, monkeypatch):
    if seed == 2:  # the population arrives as one large change: the structure is made anew (_apply_many)
        monkeypatch.setattr(candidate_index, "REBUILD_ABOVE", 50)
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:6]
    await vctx.index.rebuild()  # built before the population exists: it arrives through the change log
    async with vctx.pool.acquire() as con, con.transaction():
        now = await con.fetchval("select now()")
        ids = await _population(con, rng, run, 250, now)
    assert await _compare(vctx, rng, run, ids, 120) > 40
    # built afresh from the same rows: nothing differs from the index kept by changes
    assert await vctx.index.rebuild() == []
    assert await _compare(vctx, rng, run, ids, 60) > 20
    # more writes of every kind, then the same comparison
    async with vctx.pool.acquire() as con, con.transaction():
        for vid in rng.sample(ids, 60):
            await _history(con, rng, vid, now)
        await con.execute("update volunteers set active = not active where id = any($1)", rng.sample(ids, 15))
        await con.execute(
            "update volunteers set skills = array_append(skills, $2), home_grid = $3::text, home_path = $3::text::ltree"
            " where id = any($1)",
            rng.sample(ids, 15),
            _skills(run)[3],
            rng.choice(GRIDS),
        )
        await con.execute("delete from volunteer_leave where volunteer_id = any($1)", rng.sample(ids, 40))
    assert await _compare(vctx, rng, run, ids, 120) > 40


async def test_the_write_checks_again_what_a_stale_index_proposes(vctx, stack):
    run = uuid.uuid4().hex[:6]
    grid = "changping.zhongguping.g02"
    all_week = [{"weekday": d, "start": "00:00", "end": "23:59"} for d in range(7)]
    async with vctx.pool.acquire() as con:
        ids = []
        for i, roles in enumerate((["sanitation_worker"], ["volunteer"])):
            vid = uuid.uuid4()
            ids.append(vid)
            await con.execute(
                "insert into volunteers (id, external_id, name, roles, home_grid, home_path, skills, availability,"
                " max_concurrent) values ($1, $2, 'ix', $3, $4::text, $4::text::ltree, $5, $6, 1)",
                vid,
                f"ix{run}-{i}",
                roles,
                grid,
                [_skills(run)[0]],
                all_week,
            )
    await vctx.index.rebuild()
    assert vctx.index.ix is not None and str(ids[0]) in vctx.index.ix
    # the index's view goes stale: the best candidate is now busy, and the index is not told
    vctx.index.max_lag_s = 3600
    vctx.index._last_start = float("inf")
    async with vctx.pool.acquire() as con:
        await _history_pending(con, ids[0])
    now = datetime.now(UTC)
    spec = dispatch.TaskSpec(
        id="x", task_type="sanitation_cleanup", grid_id=grid, window_start=now + timedelta(hours=1),
        window_end=now + timedelta(hours=2), required_skills=frozenset([_skills(run)[0]]),
    )  # fmt: skip
    assert [c.id for c in vctx.index.rank(spec, now) or []] == [str(ids[0]), str(ids[1])]  # stale: still proposes
    row = await service.create_manual_task(
        vctx,
        NewTask(
            task_type="sanitation_cleanup",
            title="ix",
            grid_id=grid,
            window_start=spec.window_start,
            window_end=spec.window_end,
            required_skills=[_skills(run)[0]],
        ),
    )
    offered = await vctx.pool.fetch("select volunteer_id from offers where task_id = $1", row["id"])
    assert [r["volunteer_id"] for r in offered] == [ids[1]]  # the busy one passed over by the re-check
    vctx.index.max_lag_s = 0
    await vctx.index.refresh()
    assert [c.id for c in vctx.index.rank(replace(spec, id=str(uuid.uuid4())), now) or []] == []


async def _history_pending(con, vid: uuid.UUID) -> None:
    """One pending offer: the volunteer's load reaches its max_concurrent of 1."""
    now, tid = await con.fetchval("select now()"), uuid.uuid4()
    await con.execute(
        "insert into tasks (id, task_type, title, grid_id, grid_path, window_start, window_end, origin, status,"
        " created_at, updated_at) values ($1, 'patrol', 'ix', 'changping.kongjiafan.g01',"
        " 'changping.kongjiafan.g01', $2, $3, 'manual', 'cancelled', $2, $2)",
        tid,
        now,
        now + timedelta(hours=1),
    )
    await con.execute(
        "insert into offers (id, task_id, volunteer_id, status, rank, offered_at, expires_at)"
        " values ($1, $2, $3, 'pending', 1, $4::timestamptz, $4::timestamptz + interval '1 day')",
        uuid.uuid4(),
        tid,
        vid,
        now,
    )

"""The dispatch loop against the real database: widening, unfilled, expiry once
across replicas, one task per case."""

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from gov_contracts import CloudEvent
from gov_contracts.cases import CaseDispatched
from govctl import areas as area_file
from govkit import db
from govkit.areas import on_area_upserted
from govkit.settings import load as load_settings
from volunteers import config as vconfig
from volunteers import registry, service
from volunteers.context import Context
from volunteers.domain.registry import NewVolunteer
from volunteers.domain.tasks import NewTask

ALL_WEEK = [{"weekday": d, "start": "00:00", "end": "23:59"} for d in range(7)]


@pytest.fixture
async def vctx(stack):
    pool = await db.create_pool(stack.service_dsn("volunteers"), "volunteers", max_size=6)
    events, _ = area_file.load(area_file.DEFAULT_FILE)
    async with pool.acquire() as con:
        for e in events:
            await on_area_upserted(con, e, CloudEvent(type="gov.area.upserted.v1", source="tests", subject=e.id))
    settings = load_settings(
        "volunteers",
        {"VOLUNTEERS_DATABASE_URL": stack.service_dsn("volunteers"), "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap},
    )
    cfg = vconfig.configure(settings, {"VOLUNTEERS_OFFER_EXPIRY_S": "60"})
    ctx = Context(pool=pool, config=cfg, pseudonym_key="k" * 40)
    yield ctx
    await pool.close()


async def volunteer(ctx, grid, skills=("cleanup",), roles=("sanitation_worker",)):
    async with ctx.pool.acquire() as con, con.transaction():
        return await registry.register_volunteer(
            con,
            ctx,
            NewVolunteer(
                name="测试",
                roles=list(roles),
                home_grid=grid,
                skills=list(skills),
                availability=ALL_WEEK,
                account_sub=f"sub-{uuid.uuid4().hex[:8]}",
            ),
        )


def new_task(grid, **kw):
    now = datetime.now(UTC)
    return NewTask(
        task_type=kw.pop("task_type", "sanitation_cleanup"),
        title="清理",
        grid_id=grid,
        window_start=now + timedelta(minutes=5),
        window_end=now + timedelta(minutes=65),
        **kw,
    )


async def task_events(pool, task_id):
    rows = await pool.fetch("select event_type, payload from outbox where key = $1 order by id", str(task_id))
    return [(r["event_type"], json.loads(bytes(r["payload"]))) for r in rows]


async def test_nobody_in_the_grid_widens_to_the_village_then_the_town_then_unfilled(vctx):
    # a skill nobody has: widening reaches the town and gives up
    async with vctx.pool.acquire() as con, con.transaction():
        t = await service.create_task(
            con, vctx, new_task("changping.shuanghe.g01", required_skills=["driving", "legal_aid"])
        )
    assert t is not None  # no task of the same origin yet
    assert (t["status"], t["scope_level"]) == ("unfilled", "town")
    types = [e for e, _ in await task_events(vctx.pool, t["id"])]
    assert types == ["gov.task.created.v1", "gov.task.unfilled.v1"]


async def test_a_village_volunteer_gets_the_task_when_the_grid_has_nobody(vctx):
    v = await volunteer(vctx, "changping.dongfeng.g02", skills=("cleanup", "driving"))
    async with vctx.pool.acquire() as con, con.transaction():
        t = await service.create_task(
            con, vctx, new_task("changping.dongfeng.g05", required_skills=["cleanup", "driving"])
        )
    assert t is not None  # no task of the same origin yet
    assert (t["status"], t["scope_level"]) == ("offered", "village")
    offers = await vctx.pool.fetch("select volunteer_id from offers where task_id = $1", t["id"])
    assert [o["volunteer_id"] for o in offers] == [v["id"]]


async def test_offers_expire_once_across_replicas(vctx):
    grid = "changping.baihe.g01"
    vs = [await volunteer(vctx, grid, skills=("cleanup", "first_aid")) for _ in range(4)]
    async with vctx.pool.acquire() as con, con.transaction():
        t = await service.create_task(con, vctx, new_task(grid, headcount=2, required_skills=["cleanup", "first_aid"]))
    assert t is not None  # no task of the same origin yet
    await vctx.pool.execute("update offers set expires_at = now() - interval '1 second' where task_id = $1", t["id"])
    counts = await asyncio.gather(*(service.expire_offers(vctx) for _ in range(3)))
    assert sum(counts) == 2
    rows = await vctx.pool.fetch("select status, count(*) n from offers where task_id = $1 group by status", t["id"])
    assert {r["status"]: r["n"] for r in rows} == {"expired": 2, "pending": 2}
    types = [e for e, _ in await task_events(vctx.pool, t["id"])]
    assert types.count("gov.task.offer_expired.v1") == 2 and types.count("gov.task.offered.v1") == 4
    assert len(vs) == 4


async def test_a_dispatched_case_makes_one_task_however_often_it_arrives(vctx):
    handle = service.on_case_dispatched(vctx)
    case_id = str(uuid.uuid4())
    ev = CaseDispatched(
        case_id=case_id,
        number="CP-2026-999999",
        category="environment.sanitation",
        severity="high",
        grid_id="changping.songlin.g02",
        status="dispatched",
        level="grid",
        occurred_at=datetime.now(UTC),
        actor="gm",
        unit_level="grid",
        unit_id="changping.songlin.g02",
        field_work_task_type="sanitation_cleanup",
    )
    for _ in range(3):  # redelivered under different event ids (e.g. a republished outbox row)
        async with vctx.pool.acquire() as con, con.transaction():
            await handle(con, ev, CloudEvent(type="gov.case.dispatched.v1", source="cases"))
    rows = await vctx.pool.fetch(
        "select task_type, urgent, case_id from tasks where origin = 'case' and origin_ref = $1", case_id
    )
    assert len(rows) == 1 and rows[0]["task_type"] == "sanitation_cleanup" and rows[0]["urgent"]
    no_field_work = ev.model_copy(update={"case_id": str(uuid.uuid4()), "field_work_task_type": None})
    async with vctx.pool.acquire() as con, con.transaction():
        await handle(con, no_field_work, CloudEvent(type="gov.case.dispatched.v1", source="cases"))
    assert await vctx.pool.fetchval("select count(*) from tasks where origin_ref = $1", no_field_work.case_id) == 0

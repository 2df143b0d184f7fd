"""Publicity tasks (会议宣传) from the livelihood service's meeting notices, against the real database and broker:
a notice makes one task in the village's first grid, next morning 08:00-12:00, offered to two volunteers; the
same notice again (redelivered, republished) makes nothing more; a past or too-near meeting makes none; a
village the area copy lacks is refused; through Kafka, the volunteers service's own subscription applies it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
from fastapi import FastAPI

from gov_contracts import CloudEvent, topics
from gov_contracts.errors import InvalidInput
from gov_contracts.livelihood import MeetingNoticed
from gov_contracts.vocabulary import LOCAL_TZ
from govctl import areas as area_file
from govkit import db
from govkit.areas import on_area_upserted
from govkit.auth import Principal
from govkit.consumer import EventConsumer
from govkit.kafka import Producer
from govkit.settings import load as load_settings
from volunteers import config as vconfig
from volunteers import registry, service
from volunteers.app import SPEC
from volunteers.context import Context
from volunteers.domain.registry import NewVolunteer

from .kafka_helpers import ce_headers, eventually, publish_raw, running

TYPE = "gov.livelihood.meeting_noticed.v1"
VILLAGE = "changping.taoyuan"  # 桃园村: no other test works there
FIRST_GRID = "changping.taoyuan.g01"
ALL_WEEK = [{"weekday": d, "start": "00:00", "end": "23:59"} for d in range(7)]
TOWN_ADMIN = Principal(sub="ta-meeting-tests", roles=["town_admin"], areas=["changping"])


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
    ctx = Context(pool=pool, config=vconfig.configure(settings, {}), pseudonym_key="k" * 40)
    yield ctx
    # leave nothing open or active behind for the services the end-to-end tests start on the same database:
    # the tasks cancelled (their pending offers withdrawn), the volunteers inactive
    for r in await pool.fetch(
        "select id from tasks where origin = 'meeting' and grid_path <@ $1::ltree "
        "and status not in ('completed', 'cancelled', 'unfilled')",
        VILLAGE,
    ):
        await service.cancel_task(ctx, r["id"], "test over", TOWN_ADMIN)
    await pool.execute("update volunteers set active = false where home_path <@ $1::ltree", VILLAGE)
    await pool.close()


@pytest.fixture
async def people(vctx):
    """A party member and a volunteer in the first grid, a civility supervisor elsewhere in the village, and a
    party member in the first grid without the publicity skill."""

    async def one(grid: str, roles: list[str], skills: list[str]):
        async with vctx.pool.acquire() as con, con.transaction():
            return await registry.register_volunteer(
                con,
                vctx,
                NewVolunteer(
                    name="宣传员",
                    roles=roles,
                    home_grid=grid,
                    skills=skills,
                    availability=ALL_WEEK,
                    max_concurrent=10,
                    account_sub=f"sub-{uuid.uuid4().hex[:8]}",
                ),
            )

    return {
        "party": await one(FIRST_GRID, ["party_member"], ["publicity"]),
        "volunteer": await one(FIRST_GRID, ["volunteer"], ["publicity", "cleanup"]),
        "supervisor": await one("changping.taoyuan.g03", ["civility_supervisor"], ["publicity"]),
        "no_skill": await one(FIRST_GRID, ["party_member"], ["cleanup"]),
    }


def noticed(starts_at: datetime, *, village: str = VILLAGE, occurred_at: datetime | None = None) -> MeetingNoticed:
    return MeetingNoticed(
        meeting_id=str(uuid.uuid4()),
        village_id=village,
        kind="representatives_meeting",
        starts_at=starts_at,
        place="桃园村村委会议室",
        proposal_ids=[str(uuid.uuid4())],
        invitee_subs=["rep-ty-1"],
        occurred_at=occurred_at or datetime.now(UTC),
        actor="va-taoyuan",
    )


def in_six_days() -> datetime:
    day = datetime.now(LOCAL_TZ).date() + timedelta(days=6)
    return datetime.combine(day, time(19, 0), LOCAL_TZ)


async def handle(ctx: Context, event: MeetingNoticed) -> None:
    """As the consumer does: the handler in one transaction."""
    h = service.on_meeting_noticed(ctx)
    async with ctx.pool.acquire() as con, con.transaction():
        await h(con, event, CloudEvent(type=TYPE, source="livelihood", subject=event.meeting_id))


async def tasks_of(pool, meeting_id: str):
    return await pool.fetch("select * from tasks where origin = 'meeting' and origin_ref = $1", meeting_id)


async def task_events(pool, task_id) -> list[tuple[str, dict]]:
    rows = await pool.fetch("select event_type, payload from outbox where key = $1 order by id", str(task_id))
    return [(r["event_type"], json.loads(bytes(r["payload"]))) for r in rows]


async def test_a_notice_makes_one_publicity_task_in_the_first_grid_and_offers_it(vctx, people):
    starts = in_six_days()
    ev = noticed(starts)
    await handle(vctx, ev)
    (t,) = await tasks_of(vctx.pool, ev.meeting_id)
    assert (t["task_type"], t["grid_id"], t["headcount"], t["urgent"]) == ("meeting_publicity", FIRST_GRID, 2, False)
    assert t["title"] == f"村民代表会议宣传：{starts.month}月{starts.day}日 桃园村村委会议室"
    assert t["required_skills"] == ["publicity"] and t["case_id"] is None
    day = t["created_at"].astimezone(LOCAL_TZ).date() + timedelta(days=1)
    assert t["window_start"] == datetime.combine(day, time(8, 0), LOCAL_TZ)
    assert t["window_end"] == datetime.combine(day, time(12, 0), LOCAL_TZ)
    # offered like any task: the two fitting people of the grid, best role fit first
    assert (t["status"], t["scope_level"]) == ("offered", "grid")
    offers = await vctx.pool.fetch("select volunteer_id, rank from offers where task_id = $1 order by rank", t["id"])
    assert [o["volunteer_id"] for o in offers] == [people["party"]["id"], people["volunteer"]["id"]]
    types = [e for e, _ in await task_events(vctx.pool, t["id"])]
    assert types == ["gov.task.created.v1", "gov.task.offered.v1", "gov.task.offered.v1"]
    created = (await task_events(vctx.pool, t["id"]))[0][1]
    assert created["task_type"] == "meeting_publicity" and created["grid_id"] == FIRST_GRID
    assert created["case_id"] is None and created["headcount"] == 2


async def test_the_same_notice_twice_makes_one_task(vctx, people):
    ev = noticed(in_six_days())
    for _ in range(2):  # redelivered under a new event id (a republished outbox row)
        await handle(vctx, ev)
    (t,) = await tasks_of(vctx.pool, ev.meeting_id)
    types = [e for e, _ in await task_events(vctx.pool, t["id"])]
    assert types.count("gov.task.created.v1") == 1 and types.count("gov.task.offered.v1") == 2


async def test_a_past_or_too_near_meeting_makes_no_task(vctx, people):
    now = datetime.now(UTC)
    past = noticed(now - timedelta(days=1), occurred_at=now - timedelta(days=7))
    near = noticed(now + timedelta(hours=20))
    # decided before the grid: a past meeting of a village the area copy lacks is no error either
    elsewhere = noticed(now - timedelta(hours=1), village="changping.nowhere", occurred_at=now - timedelta(days=6))
    for ev in (past, near, elsewhere):
        await handle(vctx, ev)
        assert await tasks_of(vctx.pool, ev.meeting_id) == []


async def test_a_village_without_grids_in_the_area_copy_is_refused(vctx):
    ev = noticed(in_six_days(), village="changping.nowhere")
    with pytest.raises(InvalidInput, match="changping.nowhere has no grid"):  # the consumer dead-letters: rejected
        await handle(vctx, ev)
    assert await tasks_of(vctx.pool, ev.meeting_id) == []


async def test_through_kafka_the_services_subscription_makes_the_task_once(stack, vctx, people):
    assert topics.LIVELIHOOD in SPEC.all_topics() and TYPE in SPEC.handled_types()
    app = FastAPI()
    app.state.volunteers = vctx  # the Context the service's handler factories use (app.context)
    handler = SPEC.handler_factories[TYPE](app)
    ev = noticed(in_six_days())

    async def this_meeting_only(con, event, env):  # the topic holds other tests' notices too
        if event.meeting_id == ev.meeting_id:
            await handler(con, event, env)

    producer = Producer(stack.bootstrap, "test-meeting-publicity")
    consumer = EventConsumer(
        service="volunteers",
        group_id=f"test-meeting-{uuid.uuid4().hex[:8]}",
        topics=[topics.LIVELIHOOD],
        pool=vctx.pool,
        producer=producer,
        handlers={TYPE: this_meeting_only},
        max_attempts=2,
    )
    value = ev.model_dump_json().encode()
    event_ids = [str(uuid.uuid4()), str(uuid.uuid4())]
    try:
        async with running(stack.bootstrap, consumer):
            for event_id in event_ids:  # published twice, under two event ids
                await publish_raw(
                    stack.bootstrap,
                    topics.LIVELIHOOD,
                    value,
                    key=ev.meeting_id.encode(),
                    headers=ce_headers(TYPE, subject=ev.meeting_id, id=event_id),
                )

            async def both_applied() -> bool:
                n = await vctx.pool.fetchval(
                    "select count(*) from inbox where consumer = $1 and event_id = any($2::text[])",
                    consumer.group_id,
                    event_ids,
                )
                return n == 2

            await eventually(both_applied, timeout=40)
    finally:
        await producer.stop()
    (t,) = await tasks_of(vctx.pool, ev.meeting_id)
    assert (t["grid_id"], t["status"]) == (FIRST_GRID, "offered")
    assert await vctx.pool.fetchval("select count(*) from offers where task_id = $1", t["id"]) == 2

"""Recurring work against the real database: schedule occurrences and pairing visits
are created exactly once even when several replicas generate at the same time;
a completed visit moves the pairing on; the overdue listing; the CSV import's
per-row savepoints."""

import asyncio
import json
import uuid
from datetime import datetime, time, timedelta

import pytest

from gov_contracts import CloudEvent
from gov_contracts.vocabulary import LOCAL_TZ
from govctl import areas as area_file
from govkit import db, settings
from govkit.areas import on_area_upserted
from govkit.auth import Principal
from volunteers import config as vconfig
from volunteers import queries, recurring, registry, registry_import, service
from volunteers.context import Context
from volunteers.domain.registry import NewVolunteer

SCHEDULE_GRID = "changping.changping_community.g08"
PAIRING_GRID = "changping.zhongguping.g08"
VISIT_GRID = "changping.zhongguping.g07"  # one volunteer only: the paired one is the best candidate
ALL_WEEK = [{"weekday": d, "start": "00:00", "end": "23:59"} for d in range(7)]


@pytest.fixture
async def vpool(stack):
    pool = await db.create_pool(stack.service_dsn("volunteers"), "volunteers", max_size=10)
    yield pool
    await pool.close()


@pytest.fixture
async def ctx(vpool):
    events, _ = area_file.load(area_file.DEFAULT_FILE)
    async with vpool.acquire() as con:
        for e in events:
            await on_area_upserted(con, e, CloudEvent(type="gov.area.upserted.v1", source="tests", subject=e.id))
    cfg = vconfig.configure(
        settings.load(
            "volunteers", {"VOLUNTEERS_DATABASE_URL": "postgresql://unused", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"}
        ),
        {},
    )
    c = Context(pool=vpool, config=cfg, pseudonym_key="k" * 40)
    yield c
    # leave nothing active behind for the services the end-to-end tests start on the same database
    await vpool.execute("update schedules set active = false where grid_id = $1", SCHEDULE_GRID)
    await vpool.execute(
        "update pairings set active = false where grid_id = any($1::text[])", [PAIRING_GRID, VISIT_GRID]
    )


def next_monday_midnight(weeks_ahead: int = 4) -> datetime:
    today = datetime.now(LOCAL_TZ).date()
    monday = today + timedelta(days=(7 - today.weekday()) % 7 + 7 * weeks_ahead)
    return datetime.combine(monday, time(0, 0), LOCAL_TZ)


async def meal_schedule(ctx, **kw):
    async with ctx.pool.acquire() as con:
        return await recurring.create_schedule(
            con,
            ctx,
            recurring.NewSchedule(
                **{
                    "name": "爱心食堂午餐送餐",
                    "task_type": "meal_delivery",
                    "grid_id": SCHEDULE_GRID,
                    "weekdays": [0, 1, 2, 3, 4],
                    "start_time": time(11, 0),
                    "duration_minutes": 60,
                    "headcount": 2,
                    "beneficiary_refs": ["household_lc01", "household_lc02"],
                    **kw,
                }
            ),
        )


async def schedule_tasks(pool, schedule_id):
    return await pool.fetch(
        "select * from tasks where origin = 'schedule' and origin_ref like $1 order by window_start", f"{schedule_id}:%"
    )


async def test_three_concurrent_generators_create_each_occurrence_once(ctx, vpool, monkeypatch):
    s = await meal_schedule(ctx)
    now = next_monday_midnight()  # a fixed future Monday 00:00 CST: the horizon holds Monday to Friday 11:00
    days = [now.date() + timedelta(days=i) for i in range(5)]
    attempts = []  # (day, created) of each claim attempt on this test's schedule (others may be in the database)
    claim = recurring._claim_occurrence

    async def spy(ctx_, sched, day, *a):
        created = await claim(ctx_, sched, day, *a)
        if sched["id"] == s["id"]:
            attempts.append((day, created))
        return created

    monkeypatch.setattr(recurring, "_claim_occurrence", spy)

    def created_days():
        return sorted(d for d, created in attempts if created)

    # the worst case: every replica read the claims before any was made, so all three race for every occurrence
    with monkeypatch.context() as m:
        m.setattr(
            queries,
            "SCHEDULE_RUNS_FROM",
            "select null::uuid as schedule_id, null::date as occurs_on where $1::date is null",
        )
        await asyncio.gather(*(recurring.generate_schedule_tasks(ctx, now=now) for _ in range(3)))
    assert len(attempts) == 15 and created_days() == days  # 3 generators x 5 occurrences; one task each

    tasks = await schedule_tasks(vpool, s["id"])
    assert [t["origin_ref"] for t in tasks] == [f"{s['id']}:{d.isoformat()}" for d in days]
    assert [t["window_start"] for t in tasks] == [datetime.combine(d, time(11, 0), LOCAL_TZ) for d in days]
    assert all(t["window_end"] - t["window_start"] == timedelta(minutes=60) for t in tasks)
    assert {(t["task_type"], t["grid_id"], t["headcount"]) for t in tasks} == {("meal_delivery", SCHEDULE_GRID, 2)}
    assert {tuple(t["required_skills"]) for t in tasks} == {("meal_delivery",)}  # the task type's default
    assert {t["beneficiary_ref"] for t in tasks} == {"household_lc01,household_lc02"}
    runs = await vpool.fetch(
        "select occurs_on, task_id from schedule_runs where schedule_id = $1 order by occurs_on", s["id"]
    )
    assert [(r["occurs_on"], r["task_id"]) for r in runs] == [
        (t["window_start"].astimezone(LOCAL_TZ).date(), t["id"]) for t in tasks
    ]
    # each task announced once in the outbox
    created = await vpool.fetchval(
        "select count(*) from outbox where event_type = 'gov.task.created.v1' and key = any($1::text[])",
        [str(t["id"]) for t in tasks],
    )
    assert created == 5

    # again, concurrently: the claimed occurrences are not even tried
    attempts.clear()
    await asyncio.gather(*(recurring.generate_schedule_tasks(ctx, now=now) for _ in range(3)))
    assert attempts == [] and len(await schedule_tasks(vpool, s["id"])) == 5

    # belt and braces: even with the claims lost, the tasks' unique origin keeps one task per occurrence
    await vpool.execute("delete from schedule_runs where schedule_id = $1", s["id"])
    await asyncio.gather(*(recurring.generate_schedule_tasks(ctx, now=now) for _ in range(3)))
    assert sorted({d for d, _ in attempts}) == days and created_days() == []
    assert len(await schedule_tasks(vpool, s["id"])) == 5
    assert (
        await vpool.fetchval(
            "select count(*) from schedule_runs where schedule_id = $1 and task_id is not null", s["id"]
        )
        == 5
    )

    # a day later the horizon has moved by a day: the next Monday only
    attempts.clear()
    await asyncio.gather(*(recurring.generate_schedule_tasks(ctx, now=now + timedelta(days=1)) for _ in range(3)))
    assert created_days() == [days[0] + timedelta(days=7)]
    assert len(await schedule_tasks(vpool, s["id"])) == 6


async def test_occurrences_respect_weekdays_start_time_and_inactive_schedules(ctx, vpool):
    s = await meal_schedule(ctx, weekdays=[2, 5], start_time=time(9, 30), required_skills=[])
    wednesday_10 = next_monday_midnight() + timedelta(days=2, hours=10)  # Wednesday 09:30 has passed
    assert await recurring.generate_schedule_tasks(ctx, now=wednesday_10) >= 2
    tasks = await schedule_tasks(vpool, s["id"])
    starts = [t["window_start"].astimezone(LOCAL_TZ) for t in tasks]
    assert [(d.weekday(), d.time()) for d in starts] == [(5, time(9, 30)), (2, time(9, 30))]
    assert starts[1].date() == (wednesday_10 + timedelta(days=7)).date()
    assert tasks[0]["required_skills"] == []

    await vpool.execute("update schedules set active = false where id = $1", s["id"])
    await recurring.generate_schedule_tasks(ctx, now=wednesday_10 + timedelta(days=7))
    assert len(await schedule_tasks(vpool, s["id"])) == 2


async def register(ctx, sub, grid=PAIRING_GRID):
    async with ctx.pool.acquire() as con, con.transaction():
        return await registry.register_volunteer(
            con,
            ctx,
            NewVolunteer(
                name=f"帮扶志愿者{sub}",
                roles=["public_service_worker"],
                home_grid=grid,
                skills=["elderly_care"],
                availability=ALL_WEEK,
                account_sub=sub,
            ),
        )


async def pair(ctx, volunteer_id, household, first_visit_on=None, every_days=7, grid=PAIRING_GRID):
    async with ctx.pool.acquire() as con, con.transaction():
        return await recurring.create_pairing(
            con,
            ctx,
            recurring.NewPairing(
                volunteer_id=volunteer_id,
                household_ref=household,
                household_name="王奶奶",
                grid_id=grid,
                every_days=every_days,
                first_visit_on=first_visit_on,
            ),
        )


async def visits(pool, pairing_id):
    return await pool.fetch(
        "select * from tasks where origin = 'pairing' and origin_ref like $1 order by created_at", f"{pairing_id}:%"
    )


async def test_a_due_pairing_gets_one_visit_and_a_completed_visit_moves_it_on(ctx, vpool):
    sub = f"pair-{uuid.uuid4().hex[:8]}"
    v = await register(ctx, sub, grid=VISIT_GRID)
    household = f"household_{uuid.uuid4().hex[:8]}"
    p = await pair(ctx, v["id"], household, grid=VISIT_GRID)
    today = recurring.local_today(await vpool.fetchval("select now()"))
    assert p["next_due"] == today

    counts = await asyncio.gather(*(recurring.generate_pairing_visits(ctx) for _ in range(3)))
    (task,) = await visits(vpool, p["id"])
    assert sum(counts) >= 1  # other pairings in the database may be due as well
    assert task["origin_ref"] == f"{p['id']}:{today.isoformat()}"
    assert (task["task_type"], task["grid_id"], task["headcount"], list(task["required_skills"])) == (
        "pairing_visit",
        VISIT_GRID,
        1,
        [],
    )
    assert task["beneficiary_ref"] == household and "王奶奶" not in task["title"]
    payloads = [
        json.loads(bytes(r["payload"]))
        for r in await vpool.fetch("select payload from outbox where key = $1", str(task["id"]))
    ]
    assert payloads and all("王奶奶" not in json.dumps(x, ensure_ascii=False) for x in payloads)
    await asyncio.gather(*(recurring.generate_pairing_visits(ctx) for _ in range(3)))
    assert len(await visits(vpool, p["id"])) == 1

    # the paired volunteer (the only one in the grid) is offered the visit, accepts, checks in and out
    offer = await vpool.fetchrow("select * from offers where task_id = $1 and status = 'pending'", task["id"])
    assert offer["volunteer_id"] == v["id"]
    me = Principal(sub=sub, roles=["volunteer"])
    await service.respond(ctx, offer["id"], True, None, me)
    await service.check_in(ctx, task["id"], me)
    await service.check_out(ctx, task["id"], me)

    await asyncio.gather(*(recurring.generate_pairing_visits(ctx) for _ in range(3)))
    moved = await vpool.fetchrow("select * from pairings where id = $1", p["id"])
    assert moved["next_due"] == today + timedelta(days=7) and moved["last_visit_at"] is not None
    assert len(await visits(vpool, p["id"])) == 1  # the next visit is not due yet


async def test_overdue_pairings_are_listed_until_visited(ctx, vpool):
    v = await register(ctx, f"pair-{uuid.uuid4().hex[:8]}")
    today = recurring.local_today(await vpool.fetchval("select now()"))
    late = await pair(ctx, v["id"], f"household_{uuid.uuid4().hex[:8]}", first_visit_on=today - timedelta(days=3))
    due_today = await pair(ctx, v["id"], f"household_{uuid.uuid4().hex[:8]}")
    later = await pair(ctx, v["id"], f"household_{uuid.uuid4().hex[:8]}", first_visit_on=today + timedelta(days=5))
    mine = {late["id"], due_today["id"], later["id"]}

    async def listed(**kw):
        async with vpool.acquire() as con:
            rows = await recurring.list_pairings(con, areas=[PAIRING_GRID], today=today, limit=500, **kw)
        return {r["id"]: r for r in rows if r["id"] in mine}

    assert set(await listed(overdue=True)) == {late["id"]}
    assert set(await listed(overdue=False)) == {due_today["id"], later["id"]}
    everything = await listed()
    assert [everything[i]["overdue"] for i in (late["id"], due_today["id"], later["id"])] == [True, False, False]

    # the overdue one and today's get a visit at once (due by tomorrow); the one in five days does not
    await recurring.generate_pairing_visits(ctx)
    assert len(await visits(vpool, late["id"])) == 1 and len(await visits(vpool, due_today["id"])) == 1
    assert await visits(vpool, later["id"]) == []
    (visit,) = await visits(vpool, late["id"])
    assert visit["origin_ref"].endswith(str(today - timedelta(days=3)))
    assert visit["window_start"] >= await vpool.fetchval("select now()") - timedelta(
        minutes=1
    )  # starts now, not in the past
    row = (await listed(overdue=True))[late["id"]]
    assert row["visit_task_id"] == visit["id"] and row["overdue"]

    # completed: no longer overdue even before the generator moves next_due on
    await vpool.execute("update tasks set status = 'completed' where id = $1", visit["id"])
    assert late["id"] not in await listed(overdue=True)
    await recurring.generate_pairing_visits(ctx)
    moved = await vpool.fetchrow("select next_due from pairings where id = $1", late["id"])
    assert moved["next_due"] == today + timedelta(days=7)

    # scope: another village's staff do not see them
    async with vpool.acquire() as con:
        assert (
            not {r["id"] for r in await recurring.list_pairings(con, areas=["changping.kongjiafan"], today=today)}
            & mine
        )


async def overdue_reports(pool, pairing_id) -> list[tuple[str, dict]]:
    rows = await pool.fetch(
        "select key, payload from outbox where event_type = 'gov.pairing.visit_overdue.v1' order by id"
    )
    found = [(r["key"], json.loads(bytes(r["payload"]))) for r in rows]
    return [(key, e) for key, e in found if e["pairing_id"] == str(pairing_id)]


async def test_an_overdue_visit_is_reported_once_per_due_date(ctx, vpool):
    v = await register(ctx, f"pair-{uuid.uuid4().hex[:8]}")
    now = await vpool.fetchval("select now()")
    today = recurring.local_today(now)
    late = await pair(ctx, v["id"], f"household_{uuid.uuid4().hex[:8]}", first_visit_on=today - timedelta(days=2))
    due_today = await pair(ctx, v["id"], f"household_{uuid.uuid4().hex[:8]}")

    # three timers at once, twice: one report
    for _ in range(2):
        await asyncio.gather(*(recurring.report_overdue_pairings(ctx) for _ in range(3)))
    ((key, event),) = await overdue_reports(vpool, late["id"])
    assert key == str(v["id"])  # keyed like every event on gov.volunteers.v1
    assert event["volunteer_ref"] == ctx.vref(v["id"]) and event["grid_id"] == PAIRING_GRID
    assert (event["due_on"], event["days_overdue"]) == ((today - timedelta(days=2)).isoformat(), 2)
    assert "王奶奶" not in json.dumps(event, ensure_ascii=False) and late["household_ref"] not in json.dumps(event)
    assert await overdue_reports(vpool, due_today["id"]) == []  # due today: not overdue yet

    # the timer's pairing job creates the late visit and reports nothing new
    await recurring.pairing_job(ctx)
    (visit,) = await visits(vpool, late["id"])
    assert len(await overdue_reports(vpool, late["id"])) == 1

    # visited: next_due moves a week on from the visit's day; once that date has passed, it is reported once
    await vpool.execute("update tasks set status = 'completed' where id = $1", visit["id"])
    await recurring.generate_pairing_visits(ctx)
    next_due = await vpool.fetchval("select next_due from pairings where id = $1", late["id"])
    assert next_due == today + timedelta(days=7)
    later = now + timedelta(days=10)
    for _ in range(2):
        await asyncio.gather(*(recurring.report_overdue_pairings(ctx, now=later) for _ in range(3)))
    reports = [e for _, e in await overdue_reports(vpool, late["id"])]
    assert [(e["due_on"], e["days_overdue"]) for e in reports] == [
        ((today - timedelta(days=2)).isoformat(), 2),
        (next_due.isoformat(), 3),
    ]
    assert len(await overdue_reports(vpool, due_today["id"])) == 1  # due today, 10 days on: reported too


async def test_import_inserts_good_rows_in_savepoints_and_is_idempotent(ctx, vpool):
    tag = uuid.uuid4().hex[:6]
    head = "external_id,name,roles,home_grid,account_sub,skills"
    lines = [
        f"A{tag},甲,volunteer,changping.kongjiafan.g06,,meal_delivery",
        f"B{tag},乙,volunteer,changping.kongjiafan.g99,,",  # parses, but no such grid: refused by the database
        f"C{tag},丙,volunteer,changping.zhongguping.g06,,",  # outside the caller's scope
        f"D{tag},丁,volunteer,changping.kongjiafan.g06,taken-{tag},",
        f"E{tag},戊,volunteer,changping.kongjiafan.g06,taken-{tag}x,",
    ]
    await register(ctx, f"taken-{tag}x", grid="changping.kongjiafan.g06")  # E's account is registered already
    rows = registry_import.parse_csv("\n".join([head, *lines]).encode())
    va = Principal(sub="va", roles=["village_admin"], areas=["changping.kongjiafan"])
    report = await registry_import.import_rows(ctx, rows, va)
    assert (report["created"], report["skipped"], report["failed"]) == (2, 0, 3)
    assert [(e["line"], e["field"]) for e in report["errors"]] == [
        (3, "home_grid"),
        (4, "home_grid"),
        (6, "account_sub"),
    ]
    assert "already registered" in report["errors"][2]["message"]
    assert [r["status"] for r in report["rows"]] == ["created", "error", "error", "created", "error"]
    ids = {r["external_id"]: r["id"] for r in report["rows"] if r["status"] == "created"}
    got = await vpool.fetch("select id, external_id, skills from volunteers where external_id like $1", f"%{tag}")
    assert {r["external_id"]: str(r["id"]) for r in got} == ids
    assert (
        await vpool.fetchval(
            "select count(*) from outbox where event_type = 'gov.volunteer.registered.v2' and key = any($1::text[])",
            list(ids.values()),
        )
        == 2
    )

    again = await registry_import.import_rows(ctx, registry_import.parse_csv("\n".join([head, *lines]).encode()), va)
    assert (again["created"], again["skipped"], again["failed"]) == (0, 2, 3)
    assert {r["external_id"]: r["id"] for r in again["rows"] if r["status"] == "exists"} == ids
    assert await vpool.fetchval("select count(*) from volunteers where external_id like $1", f"%{tag}") == 2

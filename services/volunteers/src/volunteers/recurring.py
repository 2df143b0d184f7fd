"""Recurring work: schedules (e.g. the love canteen's weekday meal delivery) and
pairings (结对帮扶: a volunteer visits a household every N days).

Both generators run in every replica's timer loop (app.PERIODIC) and create
each task exactly once:

* a schedule occurrence is claimed by inserting (schedule_id, occurs_on) into
  schedule_runs with ON CONFLICT DO NOTHING, in the same transaction as
  service.create_task(origin="schedule", origin_ref="<schedule id>:<date>");
  the loser of a race waits on the winner's row lock and inserts nothing. The
  unique (origin, origin_ref) index on tasks is the second line of defence.
* a due pairing is locked FOR UPDATE SKIP LOCKED and its visit is created with
  origin_ref "<pairing id>:<next_due>", unique in tasks.
* a pairing whose visit was due before today and not made is reported
  (gov.pairing.visit_overdue.v1) once per due date: locked SKIP LOCKED, its
  overdue_reported_for set to the due date in the event's transaction.

Times are China Standard Time (Asia/Shanghai). Household names are personal
data: stored in pairings, never in titles or events (tasks carry household_ref).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import asyncpg

from gov_contracts.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from gov_contracts.vocabulary import LOCAL_TZ
from govkit import outbox
from govkit.auth import PERSONAL_DATA, Principal
from volunteers import access, queries, service
from volunteers.context import Connection, Context, Row, fetch_existing, fetch_one
from volunteers.domain import pairings as pairing_rules
from volunteers.domain.registry import check_area_filter, check_grid
from volunteers.domain.tasks import NewTask

log = logging.getLogger(__name__)
WEEKDAY_ZH = "一二三四五六日"
PAIRING_BATCH = 200
VISIT_DAY = (time(8, 0), time(20, 0))  # a pairing visit is offered for the due day's daytime


def local_today(now: datetime) -> date:
    return now.astimezone(LOCAL_TZ).date()


async def _check_grid(con: Connection, grid_id: str) -> None:
    check_grid("body.grid_id", grid_id, await con.fetchval(queries.AREA_KIND, grid_id))


# -- schedules ----------------------------------------------------------------------------------------------------


@dataclass
class NewSchedule:
    name: str
    task_type: str
    grid_id: str
    weekdays: list[int]
    start_time: time  # China Standard Time
    duration_minutes: int
    headcount: int = 1
    required_skills: list[str] | None = None  # None: the task type's default skills
    beneficiary_refs: list[str] = field(default_factory=list)


async def create_schedule(con: Connection, ctx: Context, new: NewSchedule) -> asyncpg.Record:
    """Insert a schedule (the caller holds the transaction); the timer creates its tasks."""
    if new.task_type not in ctx.config.rules.default_skills:
        raise InvalidInput("body.task_type", f"unknown task type {new.task_type!r}")
    await _check_grid(con, new.grid_id)
    skills = new.required_skills if new.required_skills is not None else ctx.config.rules.default_skills[new.task_type]
    now = await con.fetchval(queries.DB_NOW)
    return await fetch_one(
        con,
        queries.INSERT_SCHEDULE,
        uuid.uuid4(),
        new.name,
        new.task_type,
        new.grid_id,
        sorted(set(new.weekdays)),
        new.start_time,
        new.duration_minutes,
        new.headcount,
        list(dict.fromkeys(skills)),
        list(dict.fromkeys(new.beneficiary_refs)),
        now,
    )


async def add_schedule(ctx: Context, new: NewSchedule) -> asyncpg.Record:
    async with ctx.writing() as con:
        return await create_schedule(con, ctx, new)


async def list_schedules(
    ctx: Context, p: Principal, *, area: str | None, active: bool | None, limit: int
) -> list[asyncpg.Record]:
    access.require_roles(p, access.VIEWERS)
    async with ctx.pool.acquire() as con:
        return await con.fetch(queries.LIST_SCHEDULES, p.visible_areas(), check_area_filter(area), active, limit)


async def _visible_schedule(con: Connection, p: Principal, schedule_id: uuid.UUID) -> asyncpg.Record:
    row = await con.fetchrow(queries.GET_SCHEDULE, schedule_id)
    if row is None or not p.covers(row["grid_id"]):
        raise NotFound(f"no schedule {schedule_id}")
    return row


@dataclass(frozen=True)
class ScheduleDetail:
    schedule: asyncpg.Record
    runs: list[asyncpg.Record]  # the occurrences from today on, with their tasks


async def schedule_detail(ctx: Context, p: Principal, schedule_id: uuid.UUID) -> ScheduleDetail:
    access.require_roles(p, access.VIEWERS)
    async with ctx.pool.acquire() as con:
        row = await _visible_schedule(con, p, schedule_id)
        today = local_today(await con.fetchval(queries.DB_NOW))
        return ScheduleDetail(row, await con.fetch(queries.RUNS_OF_SCHEDULE, row["id"], today))


async def deactivate_schedule(ctx: Context, p: Principal, schedule_id: uuid.UUID) -> asyncpg.Record:
    """Stops generating tasks; those created already stay."""
    async with ctx.pool.acquire() as con:
        row = await _visible_schedule(con, p, schedule_id)
        access.require_staff(p, row["grid_id"])
        return await fetch_one(con, queries.SET_SCHEDULE_ACTIVE, row["id"], False)


def occurrences(schedule: Row, now: datetime, horizon_days: int) -> list[tuple[date, datetime, datetime]]:
    """(date, start, end) of each occurrence starting after `now` and at most `horizon_days` ahead."""
    until = now + timedelta(days=horizon_days)
    out = []
    day = local_today(now)
    while day <= until.astimezone(LOCAL_TZ).date():
        if day.weekday() in schedule["weekdays"]:
            start = datetime.combine(day, schedule["start_time"], LOCAL_TZ)
            if now < start <= until:
                out.append((day, start, start + timedelta(minutes=schedule["duration_minutes"])))
        day += timedelta(days=1)
    return out


def schedule_ref(schedule_id: Any, day: date) -> str:
    return f"{schedule_id}:{day.isoformat()}"


async def _claim_occurrence(ctx: Context, s: Row, day: date, start: datetime, end: datetime) -> bool:
    """Create the occurrence's task unless another generator has claimed it; True when this one did."""
    ref = schedule_ref(s["id"], day)
    async with ctx.writing() as con:
        if await con.fetchval(queries.CLAIM_SCHEDULE_RUN, s["id"], day) is None:
            return False  # claimed (and committed) by another replica or an earlier round
        refs = list(s["beneficiary_refs"])
        task = await service.create_task(
            con,
            ctx,
            NewTask(
                task_type=s["task_type"],
                title=f"{s['name']} {day.isoformat()}（周{WEEKDAY_ZH[day.weekday()]}）",
                grid_id=s["grid_id"],
                window_start=start,
                window_end=end,
                required_skills=list(s["required_skills"]),
                headcount=s["headcount"],
                beneficiary_ref=",".join(refs) if refs else None,
                origin="schedule",
                origin_ref=ref,
            ),
        )
        created = task is not None
        if task is None:  # the claim row was lost but the task exists: link it, create nothing
            task = await fetch_existing(con, queries.TASK_BY_ORIGIN, "schedule", ref, missing=f"no task of {ref}")
        await con.execute(queries.SET_SCHEDULE_RUN_TASK, s["id"], day, task["id"])
        return created


async def generate_schedule_tasks(ctx: Context, *, now: datetime | None = None) -> int:
    """Create the tasks of every active schedule's occurrences within the horizon; returns how many."""
    async with ctx.pool.acquire() as con:
        now = now or await con.fetchval(queries.DB_NOW)
        schedules = await con.fetch(queries.ACTIVE_SCHEDULES)
        runs = await con.fetch(queries.SCHEDULE_RUNS_FROM, local_today(now))
        done = {(r["schedule_id"], r["occurs_on"]) for r in runs}
    created = 0
    for s in schedules:
        for day, start, end in occurrences(s, now, ctx.config.schedule_horizon_days):
            if (s["id"], day) in done:
                continue
            try:
                created += await _claim_occurrence(ctx, s, day, start, end)
            except DomainError as e:  # e.g. the grid left the area tree: the schedule waits, others go on
                log.warning("schedule %s: occurrence %s not created: %s", s["id"], day, e.detail)
                break
    return created


async def schedule_job(ctx: Context) -> None:
    n = await generate_schedule_tasks(ctx)
    if n:
        log.info("schedule tasks created: %d", n)


# -- pairings -----------------------------------------------------------------------------------------------------


@dataclass
class NewPairing:
    volunteer_id: uuid.UUID
    household_ref: str
    grid_id: str
    every_days: int
    household_name: str | None = None  # personal data: stored here only
    first_visit_on: date | None = None  # default: today


async def create_pairing(con: Connection, ctx: Context, new: NewPairing) -> asyncpg.Record:
    await _check_grid(con, new.grid_id)
    v = await con.fetchrow(queries.GET_VOLUNTEER, new.volunteer_id)
    if v is None or not v["active"]:
        raise InvalidInput("body.volunteer_id", f"no active volunteer {new.volunteer_id}")
    due = new.first_visit_on or local_today(await con.fetchval(queries.DB_NOW))
    try:
        async with con.transaction():
            return await fetch_one(
                con,
                queries.INSERT_PAIRING,
                uuid.uuid4(),
                new.volunteer_id,
                new.household_ref,
                new.household_name,
                new.grid_id,
                new.every_days,
                due,
            )
    except asyncpg.UniqueViolationError:
        message = "this volunteer is already paired with this household"
        raise Conflict(
            f"body.household_ref: {message}", errors=[{"field": "body.household_ref", "message": message}]
        ) from None


async def add_pairing(ctx: Context, new: NewPairing) -> asyncpg.Record:
    async with ctx.writing() as con:
        return await create_pairing(con, ctx, new)


async def deactivate_pairing(ctx: Context, p: Principal, pairing_id: uuid.UUID) -> asyncpg.Record:
    async with ctx.pool.acquire() as con:
        row = await con.fetchrow(queries.GET_PAIRING, pairing_id)
        if row is None or not p.covers(row["grid_id"]):
            raise NotFound(f"no pairing {pairing_id}")
        access.require_staff(p, row["grid_id"])
        return await fetch_one(con, queries.SET_PAIRING_ACTIVE, row["id"], False)


def pairing_ref(pairing_id: Any, due: date) -> str:
    return f"{pairing_id}:{due.isoformat()}"


def visit_window(due: date, now: datetime) -> tuple[datetime, datetime]:
    """The due day's daytime; an overdue or late-created visit starts now and stays open for a day."""
    start = max(now, datetime.combine(due, VISIT_DAY[0], LOCAL_TZ))
    end = datetime.combine(due, VISIT_DAY[1], LOCAL_TZ)
    if end - start < timedelta(hours=1):
        end = start + timedelta(hours=24)
    return start, end


async def advance_visited_pairings(ctx: Context) -> int:
    """A completed visit moves next_due to the visit's day + every_days (lazily, here rather than at check-out)."""
    async with ctx.writing() as con:
        n = 0
        for r in await con.fetch(queries.PAIRINGS_VISITED, PAIRING_BATCH):
            visited = r["visited_at"]
            status = await con.execute(
                queries.ADVANCE_PAIRING,
                r["id"],
                r["next_due"],
                local_today(visited) + timedelta(days=r["every_days"]),
                visited,
            )
            n += status == "UPDATE 1"
        return n


async def generate_pairing_visits(ctx: Context, *, now: datetime | None = None) -> int:
    """Create a pairing_visit task for every pairing due by tomorrow that has none yet; returns how many."""
    await advance_visited_pairings(ctx)
    created = 0
    async with ctx.writing() as con:
        now = now or await con.fetchval(queries.DB_NOW)
        for p in await con.fetch(queries.PAIRINGS_DUE, local_today(now) + timedelta(days=1), PAIRING_BATCH):
            start, end = visit_window(p["next_due"], now)
            try:
                async with con.transaction():  # savepoint: one bad pairing does not hold up the others
                    # Simplification: dispatch offers the visit to whoever ranks best in the pairing's grid
                    # (no skills required, headcount 1), usually but not necessarily the paired volunteer.
                    task = await service.create_task(
                        con,
                        ctx,
                        NewTask(
                            task_type="pairing_visit",
                            title=f"结对帮扶走访 {p['household_ref']}",
                            grid_id=p["grid_id"],
                            window_start=start,
                            window_end=end,
                            required_skills=[],
                            headcount=1,
                            beneficiary_ref=p["household_ref"],
                            origin="pairing",
                            origin_ref=pairing_ref(p["id"], p["next_due"]),
                        ),
                    )
            except DomainError as e:
                log.warning("pairing %s: visit not created: %s", p["id"], e.detail)
                continue
            created += task is not None
    return created


async def report_overdue_pairings(ctx: Context, *, now: datetime | None = None) -> int:
    """Publish gov.pairing.visit_overdue.v1 for every active pairing whose visit was due before today and not
    made, once per (pairing, due date): overdue_reported_for records the due date reported, in the event's
    transaction; pairings are locked SKIP LOCKED, so concurrent timers report each once. Returns how many."""
    async with ctx.writing() as con:
        now = now or await con.fetchval(queries.DB_NOW)
        today = local_today(now)
        reported = 0
        for r in await con.fetch(queries.PAIRINGS_OVERDUE, today, PAIRING_BATCH):
            event = pairing_rules.overdue_event(
                pairing_rules.PairingDue(
                    id=str(r["id"]),
                    volunteer_ref=ctx.vref(r["volunteer_id"]),
                    grid_id=r["grid_id"],
                    active=r["active"],
                    next_due=r["next_due"],
                    visited=r["visited"],
                    overdue_reported_for=r["overdue_reported_for"],
                ),
                today,
                now,
            )
            if event is None:
                continue
            await con.execute(queries.MARK_PAIRING_OVERDUE_REPORTED, r["id"], r["next_due"])
            await outbox.add(con, event, key=str(r["volunteer_id"]), source=service.SOURCE)
            reported += 1
        return reported


async def pairing_job(ctx: Context) -> None:
    n = await generate_pairing_visits(ctx)
    if n:
        log.info("pairing visits created: %d", n)
    n = await report_overdue_pairings(ctx)
    if n:
        log.info("overdue pairing visits reported: %d", n)


async def list_pairings(
    con: Connection,
    *,
    areas: list[str],
    today: date,
    own_volunteer_id: uuid.UUID | None = None,
    overdue: bool | None = None,
    volunteer_id: uuid.UUID | None = None,
    area: str | None = None,
    limit: int = 100,
) -> list[asyncpg.Record]:
    return await con.fetch(queries.LIST_PAIRINGS, areas, today, own_volunteer_id, overdue, volunteer_id, area, limit)


@dataclass(frozen=True)
class PairingFilter:
    overdue: bool | None = None
    volunteer_id: uuid.UUID | None = None
    area: str | None = None
    limit: int = 100


@dataclass(frozen=True)
class PairingsView:
    rows: list[asyncpg.Record]
    personal: bool  # household names may be shown


async def visible_pairings(ctx: Context, p: Principal, where: PairingFilter) -> PairingsView:
    """Staff and analysts: the pairings in their areas, household names only with personal_data:read (each read
    audited); a volunteer: their own, with the names."""
    async with ctx.writing() as con:
        today = local_today(await con.fetchval(queries.DB_NOW))
        if p.has_role(*access.VIEWERS):
            rows = await list_pairings(
                con,
                areas=p.visible_areas(),
                today=today,
                overdue=where.overdue,
                volunteer_id=where.volunteer_id,
                area=check_area_filter(where.area),
                limit=where.limit,
            )
            personal = p.can(PERSONAL_DATA)
            if personal:
                for r in rows:
                    if r["household_name"]:
                        await con.execute(
                            queries.AUDIT_PERSONAL_READ, r["volunteer_id"], p.sub, ["pairing.household_name"]
                        )
            return PairingsView(rows, personal)
        me = await con.fetchrow(queries.GET_VOLUNTEER_BY_SUB, p.sub)
        if me is None:
            raise Forbidden("your account is not registered as a volunteer")
        rows = await list_pairings(
            con,
            areas=[],
            today=today,
            own_volunteer_id=me["id"],
            overdue=where.overdue,
            volunteer_id=where.volunteer_id,
            area=check_area_filter(where.area),
            limit=where.limit,
        )
    return PairingsView(rows, personal=True)

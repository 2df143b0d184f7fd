"""Use cases of tasks: create and dispatch (offer, widen, unfilled), answers to
offers and their expiry, check-in/out with hours and points, cancellation,
and the task reads. Each runs in one transaction: load, authorize, apply the
rule of domain/tasks.py, save, and put its events in the outbox."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from gov_contracts import tasks as task_events
from gov_contracts.base import EventModel
from gov_contracts.cases import CaseDispatched
from gov_contracts.envelope import CloudEvent
from gov_contracts.errors import Forbidden, NotFound
from gov_contracts.livelihood import MeetingNoticed
from gov_contracts.vocabulary import Severity
from govkit import outbox, pagination
from govkit.auth import Principal
from govkit.consumer import Handler
from volunteers import access, queries
from volunteers.context import Connection, Context, Row, fetch_existing, fetch_one
from volunteers.domain import dispatch, dispatch_index, meetings, tasks
from volunteers.domain.tasks import NewTask

SOURCE = "volunteers"
log = logging.getLogger(__name__)


# -- loading and saving ----------------------------------------------------------------------------------------


def _task(row: Row) -> tasks.Task:
    return tasks.Task(
        id=str(row["id"]),
        task_type=row["task_type"],
        grid_id=row["grid_id"],
        status=row["status"],
        scope_level=row["scope_level"],
        headcount=row["headcount"],
        urgent=row["urgent"],
        case_id=str(row["case_id"]) if row["case_id"] else None,
        filled_at=row["filled_at"],
    )


async def _counts(con: Connection, task_id: Any) -> tasks.Counts:
    r = await fetch_one(con, queries.TASK_COUNTS, task_id)
    return tasks.Counts(assigned=r["assigned"], completed=r["completed"], pending=r["pending"])


async def _save(con: Connection, task: tasks.Task, now: datetime) -> asyncpg.Record:
    return await fetch_one(
        con, queries.SET_TASK_STATUS, uuid.UUID(task.id), task.status, task.scope_level, now, task.filled_at
    )


async def _publish(con: Connection, events: Sequence[EventModel], key: str) -> None:
    for e in events:
        await outbox.add(con, e, key=key, source=SOURCE)


async def _now(con: Connection) -> datetime:
    return await con.fetchval(queries.DB_NOW)


# -- creating and dispatching ----------------------------------------------------------------------------------


async def create_task(con: Connection, ctx: Context, new: NewTask) -> asyncpg.Record | None:
    """Insert and dispatch (the caller holds the transaction); None when a task of the same origin exists
    already (idempotent)."""
    default_skills = ctx.config.rules.default_skills
    tasks.check_new_task(
        new, task_types=list(default_skills), grid_kind=await con.fetchval(queries.AREA_KIND, new.grid_id)
    )
    skills = new.required_skills if new.required_skills is not None else default_skills[new.task_type]
    now = await _now(con)
    row = await con.fetchrow(
        queries.INSERT_TASK,
        uuid.uuid4(),
        new.task_type,
        new.title,
        new.grid_id,
        new.window_start,
        new.window_end,
        skills,
        new.headcount,
        new.urgent,
        new.beneficiary_ref,
        new.origin,
        new.origin_ref,
        uuid.UUID(new.case_id) if new.case_id else None,
        now,
    )
    if row is None:
        return None
    task = _task(row)
    await _publish(
        con,
        [
            tasks.event(
                task_events.TaskCreated,
                task,
                now,
                headcount=task.headcount,
                urgent=task.urgent,
                window_start=row["window_start"],
                window_end=row["window_end"],
            )
        ],
        task.id,
    )
    return await dispatch_task(con, ctx, row["id"])


async def create_manual_task(ctx: Context, new: NewTask) -> asyncpg.Record:
    """A task made by staff; a replay of the same Idempotency-Key (origin_ref) answers the task made first."""
    async with ctx.writing() as con:
        row = await create_task(con, ctx, new)
        if row is None:
            row = await fetch_existing(
                con, queries.TASK_BY_ORIGIN, new.origin, new.origin_ref, missing=f"no task of {new.origin_ref}"
            )
        return row


def candidate(r: Row) -> dispatch.Candidate:
    """A row of the CANDIDATES query as the ranking reads it."""
    windows = tuple(
        dispatch.Window(int(w["weekday"]), time.fromisoformat(w["start"]), time.fromisoformat(w["end"]))
        for w in r["availability"]
    )
    leave = tuple((datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in r["leave"])
    return dispatch.Candidate(
        id=str(r["id"]),
        roles=tuple(r["roles"]),
        home_grid=r["home_grid"],
        skills=frozenset(r["skills"]),
        availability=windows,
        leave=leave,
        max_concurrent=r["max_concurrent"],
        active=r["active"],
        load=r["load"],
        hours_30d=float(r["hours_30d"]),
        offers_made=r["offers_made"],
        offers_accepted=r["offers_accepted"],
    )


async def task_spec(con: Connection, task: Row) -> dispatch.TaskSpec:
    """The task as ranking reads it, with the volunteers offered it already (declined, expired or pending)."""
    excluded = frozenset(str(r["volunteer_id"]) for r in await con.fetch(queries.EXCLUDED, task["id"]))
    return dispatch.TaskSpec(
        id=str(task["id"]),
        task_type=task["task_type"],
        grid_id=task["grid_id"],
        window_start=task["window_start"],
        window_end=task["window_end"],
        required_skills=frozenset(task["required_skills"]),
        scope=task["scope_level"],
        excluded=excluded,
    )


async def rank_candidates_sql(
    con: Connection, task: Row, now: datetime, spec: dispatch.TaskSpec | None = None
) -> list[dispatch.Candidate]:
    """Every eligible candidate, best first, from the database alone (the CANDIDATES query, then rank): what
    dispatch did before the candidate index, and still does while the index is not built; the tests compare
    the index with it."""
    if spec is None:
        spec = await task_spec(con, task)
    rows = await con.fetch(
        queries.CANDIDATES,
        dispatch.scope_area(spec.grid_id, spec.scope),
        now,
        spec.window_start,
        spec.window_end,
        list(spec.required_skills),
    )
    return dispatch.rank([candidate(r) for r in rows], spec)


ranked_candidates = rank_candidates_sql  # the name before the index

MAX_ROUNDS = 8  # proposals checked again, per dispatch step; more stale proposals in a row leave the rest short


async def _propose(
    con: Connection, ctx: Context, task: Row, now: datetime, spec: dispatch.TaskSpec, limit: int
) -> list[dispatch.Candidate]:
    index = ctx.index
    if index is not None and index.ready:
        try:
            await index.fresh()
        except Exception as e:  # its connection lost: this dispatch ranks in SQL; the timer refreshes again
            log.warning("dispatch index refresh failed, ranking in SQL: %s: %s", type(e).__name__, e)
        else:
            got = index.rank(spec, now, limit)
            if got is not None:
                return got
    return (await rank_candidates_sql(con, task, now, spec))[:limit]


async def choose_candidates(con: Connection, ctx: Context, task: Row, now: datetime, needed: int) -> list[str]:
    """The best `needed` candidates of the task, checked against the database under their row locks: the
    index (or the SQL ranking) proposes, then the proposed volunteers are locked (SKIP LOCKED: one another
    dispatch holds is passed over) and their ranking inputs read again in this transaction; a proposal no
    longer eligible is passed over and the next best asked for."""
    spec = await task_spec(con, task)
    chosen: list[str] = []
    passed: set[str] = set()
    for _ in range(MAX_ROUNDS):
        want = needed - len(chosen)
        if want <= 0:
            break
        ask = dispatch_index.with_excluded(spec, passed | set(chosen))
        proposals = await _propose(con, ctx, task, now, ask, want)
        if not proposals:
            break
        ids = [uuid.UUID(c.id) for c in proposals]
        locked = [r["id"] for r in await con.fetch(queries.LOCK_VOLUNTEERS, ids)]
        rows = (
            await con.fetch(
                queries.CANDIDATES_OF, locked, now, spec.window_start, spec.window_end, list(spec.required_skills)
            )
            if locked
            else []
        )
        fresh = {str(r["id"]): candidate(r) for r in rows}
        for c in proposals:
            f = fresh.get(c.id)
            if f is not None and dispatch.ineligibility(f, ask) is None:
                chosen.append(c.id)
            else:
                passed.add(c.id)
    if passed:
        ctx.changed()  # a stale proposal: let the index catch up
    return chosen


def _expiry(ctx: Context, task: tasks.Task) -> timedelta:
    return timedelta(seconds=ctx.config.urgent_expiry_s if task.urgent else ctx.config.expiry_s)


async def dispatch_task(con: Connection, ctx: Context, task_id: Any) -> asyncpg.Record:
    """Offer the task to as many candidates as it still needs; widen or give up when nobody is left."""
    row = await fetch_existing(con, queries.GET_TASK_FOR_UPDATE, task_id, missing=f"no task {task_id}")
    if row["status"] in tasks.TERMINAL:
        return row
    now = await _now(con)
    while True:
        task, counts = _task(row), await _counts(con, task_id)
        needed = tasks.still_needed(task, counts)
        if needed <= 0:
            return row
        chosen = await choose_candidates(con, ctx, row, now, needed)
        out = tasks.dispatch_step(task, counts, chosen, now, _expiry(ctx, task), ctx.vref)
        for offer in out.offers:
            await con.execute(
                queries.INSERT_OFFER,
                uuid.uuid4(),
                task_id,
                uuid.UUID(offer.volunteer_id),
                offer.rank,
                now,
                offer.expires_at,
            )
        if out.offers or out.task != task:
            row = await _save(con, out.task, now)
        await _publish(con, out.events, task.id)
        if out.settled:
            return row


# -- offers ----------------------------------------------------------------------------------------------------


async def _volunteer_of(con: Connection, principal: Principal) -> asyncpg.Record:
    row = await con.fetchrow(queries.GET_VOLUNTEER_BY_SUB, principal.sub)
    if row is None:
        raise Forbidden("your account is not registered as a volunteer")
    return row


async def respond(
    ctx: Context, offer_id: uuid.UUID, accept: bool, reason: str | None, principal: Principal
) -> asyncpg.Record:
    """Accept or decline one of the caller's own offers; a decline passes the task on at once."""
    async with ctx.writing() as con:
        me = await _volunteer_of(con, principal)
        return await answer_offer(con, ctx, offer_id, me["id"], accept, reason)


async def answer_offer(
    con: Connection, ctx: Context, offer_id: uuid.UUID, volunteer_id: uuid.UUID, accept: bool, reason: str | None
) -> asyncpg.Record:
    """The volunteer's answer to their offer (the caller holds the transaction and has established who answers:
    the token's principal, or an answer link); NotFound unless the offer is theirs."""
    offer = await con.fetchrow(queries.GET_OFFER, offer_id)
    if offer is None or offer["volunteer_id"] != volunteer_id:
        raise NotFound(f"no offer {offer_id} for you")
    # task first, then offer: one lock order everywhere
    task_id = offer["task_id"]
    row = await fetch_existing(con, queries.GET_TASK_FOR_UPDATE, task_id, missing=f"no task {task_id}")
    offer = await fetch_existing(con, queries.GET_OFFER_FOR_UPDATE, offer_id, missing=f"no offer {offer_id}")
    tasks.check_offer_open(offer["status"])
    now = await _now(con)
    task = _task(row)
    if accept:
        out = tasks.accept(task, await _counts(con, row["id"]), now, ctx.vref(volunteer_id))
        offer = await fetch_one(con, queries.SET_OFFER, offer_id, "accepted", now, None)
        await con.execute(queries.INSERT_ASSIGNMENT, row["id"], volunteer_id, now)
        await _save(con, out.task, now)
        await _publish(con, out.events, task.id)
    else:
        out = tasks.decline(task, now, ctx.vref(volunteer_id), reason)
        offer = await fetch_one(con, queries.SET_OFFER, offer_id, "declined", now, reason)
        await _publish(con, out.events, task.id)
        await dispatch_task(con, ctx, row["id"])
    # the answer shows the offer as GET /v1/offers does: with its task's type, title, place and window
    return await fetch_one(con, queries.OFFER_WITH_TASK, offer["id"])


async def expire_offers(ctx: Context, *, batch: int = 50) -> int:
    """Pass expired offers on. Tasks are locked SKIP LOCKED, so each offer expires in one replica."""
    done = 0
    async with ctx.writing() as con:
        now = await _now(con)
        for r in await con.fetch(queries.TASKS_WITH_EXPIRED_OFFERS, now, batch):
            task = _task(await fetch_existing(con, queries.GET_TASK, r["id"], missing=f"no task {r['id']}"))
            for offer in await con.fetch(queries.EXPIRED_OFFERS_OF, r["id"], now):
                out = tasks.expire(task, now, ctx.vref(offer["volunteer_id"]))
                await con.execute(queries.SET_OFFER, offer["id"], "expired", now, tasks.EXPIRED_NOTE)
                await _publish(con, out.events, task.id)
                done += 1
            await dispatch_task(con, ctx, r["id"])
    return done


async def my_offers(ctx: Context, principal: Principal, status: str | None) -> list[asyncpg.Record]:
    async with ctx.pool.acquire() as con:
        me = await _volunteer_of(con, principal)
        return await con.fetch(queries.OFFERS_OF_VOLUNTEER, me["id"], status)


# -- check-in and check-out ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Mine:
    volunteer: asyncpg.Record
    task: asyncpg.Record
    assignment: asyncpg.Record


async def _my_assignment(con: Connection, task_id: uuid.UUID, principal: Principal, expected: str) -> _Mine:
    """The caller's assignment on the task with both locked, or NotFound / IllegalAction naming the allowed step."""
    me = await _volunteer_of(con, principal)
    task = await con.fetchrow(queries.GET_TASK_FOR_UPDATE, task_id)
    a = await con.fetchrow(queries.GET_ASSIGNMENT_FOR_UPDATE, task_id, me["id"]) if task else None
    if task is None or a is None:
        raise NotFound(f"you have no assignment on task {task_id}")
    tasks.check_assignment(a["status"], expected)
    return _Mine(me, task, a)


async def check_in(ctx: Context, task_id: uuid.UUID, principal: Principal) -> asyncpg.Record:
    async with ctx.writing() as con:
        mine = await _my_assignment(con, task_id, principal, "assigned")
        now = await _now(con)
        out = tasks.check_in(_task(mine.task), now, ctx.vref(mine.volunteer["id"]))
        a = await fetch_one(con, queries.CHECK_IN, task_id, mine.volunteer["id"], now)
        await _save(con, out.task, now)
        await _publish(con, out.events, out.task.id)
        return a


async def check_out(ctx: Context, task_id: uuid.UUID, principal: Principal) -> asyncpg.Record:
    """Hours and points go to the ledger; the task completes with its last assignment."""
    async with ctx.writing() as con:
        mine = await _my_assignment(con, task_id, principal, "in_progress")
        me, task = mine.volunteer["id"], _task(mine.task)
        now = await _now(con)
        rules = ctx.config.rules
        got = tasks.credit(
            mine.assignment["checked_in_at"],
            now,
            max_hours=rules.max_hours_per_task,
            points_for=rules.points_for,
            task_type=task.task_type,
        )
        out = tasks.check_out(task, await _counts(con, task_id), now, ctx.vref(me), got)
        hours = Decimal(str(got.hours))
        a = await fetch_one(con, queries.CHECK_OUT, task_id, me, now, hours, got.points)
        await con.execute(queries.INSERT_LEDGER, me, task_id, "task", hours, got.points, principal.sub, got.note, now)
        await _save(con, out.task, now)
        await _publish(con, out.events, task.id)
        return a


# -- cancellation ----------------------------------------------------------------------------------------------


async def cancel_task(ctx: Context, task_id: uuid.UUID, reason: str, principal: Principal) -> asyncpg.Record:
    async with ctx.writing() as con:
        row = await con.fetchrow(queries.GET_TASK_FOR_UPDATE, task_id)
        if row is None or not principal.covers(row["grid_id"]):
            raise NotFound(f"no task {task_id}")
        now = await _now(con)
        out = tasks.cancel(_task(row), now, reason)
        await con.execute(queries.WITHDRAW_PENDING, task_id, now)
        await con.execute(queries.CANCEL_ASSIGNMENTS, task_id)
        row = await _save(con, out.task, now)
        await _publish(con, out.events, out.task.id)
        return row


# -- reads -----------------------------------------------------------------------------------------------------


async def list_tasks(
    ctx: Context, principal: Principal, *, status: str | None, cursor: str | None, limit: int
) -> tuple[list[asyncpg.Record], str | None]:
    """Staff and analysts: the tasks in their areas, a page at a time; a volunteer: their own (one page)."""
    async with ctx.pool.acquire() as con:
        if not principal.has_role(*access.VIEWERS):
            me = await con.fetchrow(queries.GET_VOLUNTEER_BY_SUB, principal.sub)
            return (await con.fetch(queries.TASKS_OF_VOLUNTEER, me["id"], limit) if me else []), None
        at, cid = pagination.decode(cursor) if cursor else (None, None)
        rows = await con.fetch(queries.LIST_TASKS, principal.visible_areas(), status, at, cid, limit + 1)
    return pagination.page(rows, limit)


@dataclass(frozen=True)
class TaskDetail:
    task: asyncpg.Record
    offers: list[asyncpg.Record] | None = None  # None: not the caller's to see
    assignments: list[asyncpg.Record] | None = None


async def task_detail(ctx: Context, task_id: uuid.UUID, principal: Principal) -> TaskDetail:
    """Staff covering the task see its offers and assignments; a volunteer offered it sees the task alone."""
    async with ctx.pool.acquire() as con:
        task = await con.fetchrow(queries.GET_TASK, task_id)
        if task is None:
            raise NotFound(f"no task {task_id}")
        offers = await con.fetch(queries.OFFERS_OF_TASK, task["id"])
        if principal.has_role(*access.VIEWERS) and principal.covers(task["grid_id"]):
            return TaskDetail(task, offers, await con.fetch(queries.ASSIGNMENTS_OF_TASK, task["id"]))
        me = await con.fetchrow(queries.GET_VOLUNTEER_BY_SUB, principal.sub)
    if me is None or me["id"] not in {o["volunteer_id"] for o in offers}:
        raise NotFound(f"no task {task_id}")
    return TaskDetail(task)


# -- from cases ------------------------------------------------------------------------------------------------

URGENT_SEVERITIES = frozenset({Severity.high.value, Severity.critical.value})


def on_case_dispatched(ctx: Context) -> Handler:
    """The handler of gov.case.dispatched.v1: a dispatched case whose policy needs field work becomes a task,
    once per case. A task the domain refuses (a task type this service's configuration does not know, a grid
    its area copy lacks) raises a domain error, which the consumer dead-letters as `rejected` at once
    (docs/volunteers.md, "From cases")."""

    async def handle(con: Connection, event: EventModel, env: CloudEvent) -> None:
        assert isinstance(event, CaseDispatched)
        if not event.field_work_task_type:
            return
        now = event.occurred_at
        await create_task(
            con,
            ctx,
            NewTask(
                task_type=event.field_work_task_type,
                title=f"{event.number} 现场处置",
                grid_id=event.grid_id,
                window_start=now,
                window_end=now + timedelta(hours=ctx.config.rules.case_task_window_hours),
                urgent=event.severity in URGENT_SEVERITIES,
                origin="case",
                origin_ref=event.case_id,
                case_id=event.case_id,
            ),
        )

    return handle


# -- from meeting notices --------------------------------------------------------------------------------------


async def create_meeting_publicity(
    con: Connection, ctx: Context, notice: meetings.MeetingNotice
) -> asyncpg.Record | None:
    """The publicity task of a noticed meeting, created and dispatched (the caller holds the transaction); None
    when the meeting is past or too near (domain/meetings.py) or its task exists already (one per meeting). A
    village the area copy holds no grid of raises InvalidInput."""
    grids = [r["id"] for r in await con.fetch(queries.GRIDS_OF, notice.village_id)]
    new = meetings.publicity_task(notice, await _now(con), grids)
    return None if new is None else await create_task(con, ctx, new)


def on_meeting_noticed(ctx: Context) -> Handler:
    """The handler of gov.livelihood.meeting_noticed.v1: a 村民会议 or 村民代表会议 called by the livelihood service
    becomes one publicity task (会议宣传) in the village's first grid, offered like any other. A village without
    grids in the area copy is dead-lettered as `rejected`, as a case's unknown grid is (docs/volunteers.md)."""

    async def handle(con: Connection, event: EventModel, env: CloudEvent) -> None:
        assert isinstance(event, MeetingNoticed)
        await create_meeting_publicity(
            con,
            ctx,
            meetings.MeetingNotice(
                meeting_id=event.meeting_id,
                village_id=event.village_id,
                kind=event.kind,
                starts_at=event.starts_at,
                place=event.place,
                noticed_at=event.occurred_at,
            ),
        )

    return handle

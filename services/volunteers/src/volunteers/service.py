"""Use cases of the volunteers service: registry, tasks, the dispatch loop
(offer, decline, expire, widen, unfilled), check-in/out with hours and points.
Each runs in one transaction with its events in the outbox."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Optional

import asyncpg

from gov_contracts import tasks as K
from gov_contracts import volunteers as V
from govkit import outbox, pseudonym
from govkit.auth import Principal
from govkit.problems import Problem
from volunteers import queries as Q
from volunteers.config import VolunteersConfig
from volunteers.domain import dispatch as D

SOURCE = "volunteers"
TERMINAL = frozenset({"completed", "cancelled", "unfilled"})


@dataclass
class Context:
    pool: asyncpg.Pool
    config: VolunteersConfig
    pseudonym_key: str


def vref(ctx: Context, volunteer_id) -> str:
    return pseudonym.ref(ctx.pseudonym_key, "volunteer", str(volunteer_id))


def _problem(status: int, field: str, msg: str) -> Problem:
    return Problem(status, "Invalid request", f"{field}: {msg}", errors=[{"field": field, "message": msg}])


# -- registry ---------------------------------------------------------------------------------------------------

@dataclass
class NewVolunteer:
    name: str
    roles: list[str]
    home_grid: str
    skills: list[str]
    availability: list[dict]
    phone: Optional[str] = None
    party_branch: Optional[str] = None
    max_concurrent: int = 2
    active: bool = True
    account_sub: Optional[str] = None
    external_id: Optional[str] = None


def _facts(ctx: Context, row, now) -> dict:
    return dict(volunteer_ref=vref(ctx, row["id"]), roles=list(row["roles"]),
                party_member="party_member" in row["roles"], home_grid=row["home_grid"], skills=list(row["skills"]),
                active=row["active"], occurred_at=now)


async def register_volunteer(con, ctx: Context, new: NewVolunteer, *, field_prefix: str = "body") -> asyncpg.Record:
    """Insert a volunteer (the caller holds the transaction)."""
    if await con.fetchval(Q.AREA_KIND, new.home_grid) != "grid":
        raise _problem(422, f"{field_prefix}.home_grid", f"{new.home_grid!r} is not a known grid")
    now = await con.fetchval(Q.DB_NOW)
    try:
        row = await con.fetchrow(Q.INSERT_VOLUNTEER, uuid.uuid4(), new.external_id, new.account_sub, new.name,
                                 new.phone, new.roles, new.party_branch, new.home_grid, new.skills,
                                 new.availability, new.max_concurrent, new.active, now)
    except asyncpg.UniqueViolationError as e:
        field = "account_sub" if "account_sub" in str(e) else "external_id"
        raise _problem(409, f"{field_prefix}.{field}", "already registered") from None
    await outbox.add(con, V.VolunteerRegisteredV2(**_facts(ctx, row, now)), key=str(row["id"]), source=SOURCE)
    return row


async def add_leave(con, volunteer_id, starts: datetime, ends: datetime, reason: Optional[str]) -> None:
    await con.execute(Q.INSERT_LEAVE, volunteer_id, starts, ends, reason)


# -- tasks ------------------------------------------------------------------------------------------------------

@dataclass
class NewTask:
    task_type: str
    title: str
    grid_id: str
    window_start: datetime
    window_end: datetime
    required_skills: Optional[list[str]] = None
    headcount: int = 1
    urgent: bool = False
    beneficiary_ref: Optional[str] = None
    origin: str = "manual"
    origin_ref: Optional[str] = None
    case_id: Optional[str] = None


def _task_facts(ctx: Context, task, now, volunteer_id=None, note=None) -> dict:
    return dict(task_id=str(task["id"]), task_type=task["task_type"], grid_id=task["grid_id"], status=task["status"],
                case_id=str(task["case_id"]) if task["case_id"] else None, occurred_at=now,
                volunteer_ref=vref(ctx, volunteer_id) if volunteer_id else None, note=note)


async def _emit(con, ctx: Context, model, task, now, volunteer_id=None, note=None, **extra) -> None:
    await outbox.add(con, model(**_task_facts(ctx, task, now, volunteer_id, note), **extra), key=str(task["id"]),
                     source=SOURCE)


async def create_task(con, ctx: Context, new: NewTask) -> Optional[asyncpg.Record]:
    """Insert and dispatch; None when a task of the same origin exists already (idempotent)."""
    if new.task_type not in ctx.config.dispatch.default_skills:
        raise _problem(422, "body.task_type", f"unknown task type {new.task_type!r}")
    if await con.fetchval(Q.AREA_KIND, new.grid_id) != "grid":
        raise _problem(422, "body.grid_id", f"{new.grid_id!r} is not a known grid")
    if new.window_end <= new.window_start:
        raise _problem(422, "body.window_end", "must be after window_start")
    skills = new.required_skills if new.required_skills is not None else ctx.config.dispatch.default_skills[new.task_type]
    now = await con.fetchval(Q.DB_NOW)
    task = await con.fetchrow(Q.INSERT_TASK, uuid.uuid4(), new.task_type, new.title, new.grid_id, new.window_start,
                              new.window_end, skills, new.headcount, new.urgent, new.beneficiary_ref, new.origin,
                              new.origin_ref, uuid.UUID(new.case_id) if new.case_id else None, now)
    if task is None:
        return None
    await _emit(con, ctx, K.TaskCreated, task, now, headcount=task["headcount"], urgent=task["urgent"],
                window_start=task["window_start"], window_end=task["window_end"])
    return await dispatch_task(con, ctx, task["id"])


def _candidate(r) -> D.Candidate:
    windows = tuple(D.Window(int(w["weekday"]), time.fromisoformat(w["start"]), time.fromisoformat(w["end"]))
                    for w in r["availability"])
    leave = tuple((datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in r["leave"])
    return D.Candidate(id=str(r["id"]), roles=tuple(r["roles"]), home_grid=r["home_grid"], skills=frozenset(r["skills"]),
                       availability=windows, leave=leave, max_concurrent=r["max_concurrent"], active=r["active"],
                       load=r["load"], hours_30d=float(r["hours_30d"]), offers_made=r["offers_made"],
                       offers_accepted=r["offers_accepted"])


def scope_path(grid_id: str, scope: str) -> str:
    parts = grid_id.split(".")
    return ".".join(parts[: {"grid": 3, "village": 2, "town": 1}[scope]])


async def ranked_candidates(con, task, now) -> list[D.Candidate]:
    excluded = frozenset(str(r["volunteer_id"]) for r in await con.fetch(Q.EXCLUDED, task["id"]))
    spec = D.TaskSpec(id=str(task["id"]), task_type=task["task_type"], grid_id=task["grid_id"],
                      window_start=task["window_start"], window_end=task["window_end"],
                      required_skills=frozenset(task["required_skills"]), scope=task["scope_level"], excluded=excluded)
    rows = await con.fetch(Q.CANDIDATES, scope_path(task["grid_id"], task["scope_level"]), now,
                           task["window_start"], task["window_end"], list(task["required_skills"]))
    return D.rank([_candidate(r) for r in rows], spec)


async def dispatch_task(con, ctx: Context, task_id) -> asyncpg.Record:
    """Offer the task to as many candidates as it still needs; widen or give up when nobody is left."""
    task = await con.fetchrow(Q.GET_TASK_FOR_UPDATE, task_id)
    if task["status"] in TERMINAL:
        return task
    now = await con.fetchval(Q.DB_NOW)
    while True:
        counts = await con.fetchrow(Q.TASK_COUNTS, task_id)
        needed = task["headcount"] - counts["assigned"] - counts["pending"]
        if needed <= 0:
            return task
        chosen = (await ranked_candidates(con, task, now))[:needed]
        if chosen:
            expiry = ctx.config.urgent_expiry_s if task["urgent"] else ctx.config.expiry_s
            for i, c in enumerate(chosen):
                offer = await con.fetchrow(Q.INSERT_OFFER, uuid.uuid4(), task_id, uuid.UUID(c.id), i + 1, now,
                                           now + timedelta(seconds=expiry))
                task = await con.fetchrow(Q.SET_TASK_STATUS, task_id, "offered", task["scope_level"], now, None)
                await _emit(con, ctx, K.TaskOffered, task, now, c.id, expires_at=offer["expires_at"])
            return task
        if counts["pending"] > 0:
            return task  # wait for the outstanding offers
        wider = D.widen(task["scope_level"])
        if wider is None:
            task = await con.fetchrow(Q.SET_TASK_STATUS, task_id, "unfilled", task["scope_level"], now, None)
            await _emit(con, ctx, K.TaskUnfilled, task, now,
                        note=f"nobody eligible in the town ({counts['assigned']} of {task['headcount']} filled)")
            return task
        task = await con.fetchrow(Q.SET_TASK_STATUS, task_id, task["status"], wider, now, None)


async def _volunteer_of(con, principal: Principal):
    row = await con.fetchrow(Q.GET_VOLUNTEER_BY_SUB, principal.sub)
    if row is None:
        raise Problem(403, "Forbidden", "your account is not registered as a volunteer")
    return row


async def respond(ctx: Context, offer_id: uuid.UUID, accept: bool, reason: Optional[str],
                  principal: Principal) -> asyncpg.Record:
    async with ctx.pool.acquire() as con, con.transaction():
        me = await _volunteer_of(con, principal)
        offer = await con.fetchrow(Q.GET_OFFER, offer_id)
        if offer is None or offer["volunteer_id"] != me["id"]:
            raise Problem(404, "Not found", f"no offer {offer_id} for you")
        task = await con.fetchrow(Q.GET_TASK_FOR_UPDATE, offer["task_id"])  # task first, then offer: one lock order
        offer = await con.fetchrow(Q.GET_OFFER_FOR_UPDATE, offer_id)
        if offer["status"] != "pending":
            raise Problem(409, "Offer no longer open", f"the offer is {offer['status']}",
                          type_="/problems/illegal-action", status_now=offer["status"], allowed_actions=[])
        now = await con.fetchval(Q.DB_NOW)
        if accept:
            offer = await con.fetchrow(Q.SET_OFFER, offer_id, "accepted", now, None)
            await con.execute(Q.INSERT_ASSIGNMENT, task["id"], me["id"], now)
            counts = await con.fetchrow(Q.TASK_COUNTS, task["id"])
            full = counts["assigned"] >= task["headcount"]
            task = await con.fetchrow(Q.SET_TASK_STATUS, task["id"], "assigned" if full else task["status"],
                                      task["scope_level"], now, now if full else None)
            await _emit(con, ctx, K.TaskAssigned, task, now, me["id"])
        else:
            offer = await con.fetchrow(Q.SET_OFFER, offer_id, "declined", now, reason)
            await _emit(con, ctx, K.TaskOfferDeclined, task, now, me["id"], note=reason)
            await dispatch_task(con, ctx, task["id"])
        return offer


async def expire_offers(ctx: Context, *, batch: int = 50) -> int:
    """Pass expired offers on. Tasks are locked SKIP LOCKED, so each offer expires in one replica."""
    done = 0
    async with ctx.pool.acquire() as con, con.transaction():
        now = await con.fetchval(Q.DB_NOW)
        for r in await con.fetch(Q.TASKS_WITH_EXPIRED_OFFERS, now, batch):
            task = await con.fetchrow(Q.GET_TASK, r["id"])
            for offer in await con.fetch(Q.EXPIRED_OFFERS_OF, r["id"], now):
                await con.execute(Q.SET_OFFER, offer["id"], "expired", now, "no answer in time")
                await _emit(con, ctx, K.TaskOfferExpired, task, now, offer["volunteer_id"], note="no answer in time")
                done += 1
            await dispatch_task(con, ctx, r["id"])
    return done


_NEXT_STEP = {"assigned": "check-in", "in_progress": "check-out"}


async def _my_assignment(con, task_id: uuid.UUID, principal: Principal, expected: str):
    """(me, task, assignment), all locked, or a 404/409 problem naming the allowed step."""
    me = await _volunteer_of(con, principal)
    task = await con.fetchrow(Q.GET_TASK_FOR_UPDATE, task_id)
    a = await con.fetchrow(Q.GET_ASSIGNMENT_FOR_UPDATE, task_id, me["id"]) if task else None
    if a is None:
        raise Problem(404, "Not found", f"you have no assignment on task {task_id}")
    if a["status"] != expected:
        nxt = _NEXT_STEP.get(a["status"])
        raise Problem(409, "Action not allowed in this state", f"the assignment is {a['status']}",
                      type_="/problems/illegal-action", status_now=a["status"], allowed_actions=[nxt] if nxt else [])
    return me, task, a


async def check_in(ctx: Context, task_id: uuid.UUID, principal: Principal):
    async with ctx.pool.acquire() as con, con.transaction():
        me, task, a = await _my_assignment(con, task_id, principal, "assigned")
        now = await con.fetchval(Q.DB_NOW)
        a = await con.fetchrow(Q.CHECK_IN, task_id, me["id"], now)
        task = await con.fetchrow(Q.SET_TASK_STATUS, task_id, "in_progress", task["scope_level"], now, task["filled_at"])
        await _emit(con, ctx, K.TaskCheckedIn, task, now, me["id"])
        return a


async def check_out(ctx: Context, task_id: uuid.UUID, principal: Principal):
    async with ctx.pool.acquire() as con, con.transaction():
        me, task, a = await _my_assignment(con, task_id, principal, "in_progress")
        now = await con.fetchval(Q.DB_NOW)
        raw = (now - a["checked_in_at"]).total_seconds() / 3600
        hours = round(min(raw, ctx.config.dispatch.max_hours_per_task), 2)
        points = ctx.config.dispatch.points_for(task["task_type"], hours)
        a = await con.fetchrow(Q.CHECK_OUT, task_id, me["id"], now, Decimal(str(hours)), points)
        await con.execute(Q.INSERT_LEDGER, me["id"], task_id, "task", Decimal(str(hours)), points, principal.sub,
                          None if raw <= hours else f"capped from {raw:.2f} h", now)
        counts = await con.fetchrow(Q.TASK_COUNTS, task_id)
        done = counts["completed"] >= counts["assigned"] and counts["assigned"] >= task["headcount"]
        task = await con.fetchrow(Q.SET_TASK_STATUS, task_id, "completed" if done else task["status"],
                                  task["scope_level"], now, task["filled_at"])
        await _emit(con, ctx, K.TaskCompleted, task, now, me["id"], hours=hours, points=points)
        return a


async def correct_hours(ctx: Context, volunteer_id: uuid.UUID, *, task_id: Optional[uuid.UUID], hours_delta: float,
                        points_delta: int, reason: str, principal: Principal):
    async with ctx.pool.acquire() as con, con.transaction():
        v = await con.fetchrow(Q.GET_VOLUNTEER, volunteer_id)
        if v is None or not principal.covers(v["home_grid"]):
            raise Problem(404, "Not found", f"no volunteer {volunteer_id}")
        now = await con.fetchval(Q.DB_NOW)
        await con.execute(Q.INSERT_LEDGER, volunteer_id, task_id, "correction", Decimal(str(hours_delta)),
                          points_delta, principal.sub, reason, now)
        await outbox.add(con, V.HoursCorrected(volunteer_ref=vref(ctx, volunteer_id),
                                               task_id=str(task_id) if task_id else None, hours_delta=hours_delta,
                                               points_delta=points_delta, actor=principal.sub, reason=reason,
                                               occurred_at=now), key=str(volunteer_id), source=SOURCE)
        return await con.fetchrow(Q.TOTALS, volunteer_id)


async def cancel_task(ctx: Context, task_id: uuid.UUID, reason: str, principal: Principal):
    async with ctx.pool.acquire() as con, con.transaction():
        task = await con.fetchrow(Q.GET_TASK_FOR_UPDATE, task_id)
        if task is None or not principal.covers(task["grid_id"]):
            raise Problem(404, "Not found", f"no task {task_id}")
        if task["status"] in TERMINAL:
            raise Problem(409, "Action not allowed in this state", f"the task is {task['status']}",
                          type_="/problems/illegal-action", status_now=task["status"], allowed_actions=[])
        now = await con.fetchval(Q.DB_NOW)
        await con.execute(Q.WITHDRAW_PENDING, task_id, now)
        await con.execute(Q.CANCEL_ASSIGNMENTS, task_id)
        task = await con.fetchrow(Q.SET_TASK_STATUS, task_id, "cancelled", task["scope_level"], now, task["filled_at"])
        await _emit(con, ctx, K.TaskCancelled, task, now, note=reason)
        return task


# -- from cases -------------------------------------------------------------------------------------------------

CTX: Optional[Context] = None  # set when the service starts; used by the event handlers


async def on_case_dispatched(con, event, env) -> None:
    """A dispatched case whose policy needs field work becomes a task, once per case."""
    if not event.field_work_task_type or CTX is None:
        return
    now = event.occurred_at
    await create_task(con, CTX, NewTask(
        task_type=event.field_work_task_type, title=f"{event.number} 现场处置", grid_id=event.grid_id,
        window_start=now, window_end=now + timedelta(hours=CTX.config.dispatch.case_task_window_hours),
        urgent=event.severity in ("high", "critical"), origin="case", origin_ref=event.case_id,
        case_id=event.case_id))

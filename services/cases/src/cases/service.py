"""Use cases of the cases service; each runs in one transaction and writes its
events to the outbox in that transaction."""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Optional

import asyncpg

from cases import authz
from cases import queries as Q
from cases.domain import model as M
from cases.domain.policy import Policy
from gov_contracts import cases as E
from govkit import outbox, pseudonym
from govkit.auth import Principal
from govkit.problems import Problem

SOURCE = "cases"
SYSTEM = "system"


@dataclass
class Context:
    pool: asyncpg.Pool
    policy: Policy
    pseudonym_key: str
    number_prefix: str = "CP"
    duplicate_threshold: float = 0.3


# -- creating ---------------------------------------------------------------------------------------------------

@dataclass
class NewCase:
    category: str
    title: str
    description: str
    grid_id: str
    severity: str
    source: str
    address: Optional[str] = None
    lat: Optional[float] = None
    lon: Optional[float] = None
    reporter_name: Optional[str] = None
    reporter_phone: Optional[str] = None
    parties: list[dict] | None = None
    attachments: list[str] | None = None
    tags: list[str] | None = None


def request_hash(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


async def _replay(con, principal_sub: str, key: str, rhash: str) -> Optional[asyncpg.Record]:
    found = await con.fetchrow(Q.IDEMPOTENCY_GET, principal_sub, key)
    if found is None:
        return None
    if found["request_hash"] != rhash:
        raise Problem(422, "Idempotency-Key reused", "this Idempotency-Key was used for a different request",
                      errors=[{"field": "header.Idempotency-Key", "message": "reused with a different body"}])
    return await con.fetchrow(Q.GET_CASE, found["case_id"])


async def create_case(ctx: Context, new: NewCase, *, principal: Principal, reporter_sub: Optional[str],
                      idempotency_key: Optional[str] = None) -> tuple[asyncpg.Record, bool]:
    """Returns (case, created); created is False when the Idempotency-Key replays an earlier request."""
    if new.category not in ctx.policy.categories:
        raise Problem(422, "Invalid request", f"body.category: unknown category {new.category!r}",
                      errors=[{"field": "body.category", "message": f"one of {', '.join(ctx.policy.categories)}"}])
    rhash = request_hash(new.__dict__)
    async with ctx.pool.acquire() as con:
        if idempotency_key:
            prior = await _replay(con, principal.sub, idempotency_key, rhash)
            if prior is not None:
                return prior, False
        kind = await con.fetchval(Q.GRID_EXISTS, new.grid_id)
        if kind != "grid":
            raise Problem(422, "Invalid request", f"body.grid_id: {new.grid_id!r} is not a known grid",
                          errors=[{"field": "body.grid_id", "message": "not a known grid"}])
        now = await con.fetchval(Q.DB_NOW)
        # its own tiny transaction: the counter row is locked for microseconds, not for the whole create
        seq = await con.fetchval(Q.NEXT_NUMBER, ctx.number_prefix, now.year)
        number = f"{ctx.number_prefix}-{now.year}-{seq:06d}"
        accept, _ = ctx.policy.deadlines(new.category, new.severity)
        key = ctx.pseudonym_key
        reporter_ref = (pseudonym.ref(key, "person", f"phone:{new.reporter_phone}") if new.reporter_phone
                        else pseudonym.ref(key, "account", reporter_sub or principal.sub))
        address_ref = pseudonym.ref(key, "address", new.address) if new.address else None
        party_refs = [pseudonym.ref(key, "person", f"{p.get('name', '')}|{p.get('phone', '')}")
                      for p in (new.parties or [])]
        case_id = uuid.uuid4()
        async with con.transaction():
            if idempotency_key:
                await con.execute(Q.IDEMPOTENCY_PUT, principal.sub, idempotency_key, rhash, case_id)
                claimed = await con.fetchrow(Q.IDEMPOTENCY_GET, principal.sub, idempotency_key)
                if claimed["case_id"] != case_id:  # a concurrent twin won
                    prior = await _replay(con, principal.sub, idempotency_key, rhash)
                    return prior, False
            text = f"{new.title} {new.description}"
            dups = [r["id"] for r in await con.fetch(Q.FIND_DUPLICATES, new.grid_id, new.category, now, text,
                                                     ctx.duplicate_threshold)]
            row = await con.fetchrow(
                Q.INSERT_CASE, case_id, number, new.category, new.title, new.description, new.grid_id, new.address,
                address_ref, new.lat, new.lon, new.source, new.severity, M.Level.grid.value, reporter_ref,
                reporter_sub, party_refs, new.attachments or [], new.tags or [], dups, now + accept, now)
            await con.execute(Q.INSERT_REPORTER, case_id, new.reporter_name, new.reporter_phone, new.parties or [])
            await con.execute(Q.INSERT_TRANSITION, case_id, "report", None, M.Status.reported.value, None,
                              M.Level.grid.value, principal.sub, None,
                              {"duplicate_candidates": [str(d) for d in dups]}, now)
            await _publish(con, E.CaseReportedV2, row, principal.sub, None, title=new.title, source=new.source,
                           reporter_ref=reporter_ref, address_ref=address_ref, party_refs=party_refs, tags=new.tags or [],
                           duplicate_candidates=[str(d) for d in dups])
    return row, True


# -- transitions --------------------------------------------------------------------------------------------------

def _facts(row: asyncpg.Record, actor: str, reason: Optional[str]) -> dict[str, Any]:
    return dict(case_id=str(row["id"]), number=row["number"], category=row["category"], severity=row["severity"],
                grid_id=row["grid_id"], status=row["status"], level=row["level"], occurred_at=row["updated_at"],
                actor=actor, reason=reason, accept_due=row["accept_due"], resolve_due=row["resolve_due"])


async def _publish(con, model, row, actor: str, reason: Optional[str], **extra) -> None:
    await outbox.add(con, model(**_facts(row, actor, reason), **extra), key=str(row["id"]), source=SOURCE)


EVENT_FOR = {
    M.Action.accept: E.CaseAccepted, M.Action.reject: E.CaseRejected, M.Action.withdraw: E.CaseWithdrawn,
    M.Action.dispatch: E.CaseDispatched, M.Action.start: E.CaseStarted, M.Action.resolve: E.CaseResolved,
    M.Action.verify: E.CaseVerified, M.Action.reopen: E.CaseReopened, M.Action.close: E.CaseClosed,
    M.Action.escalate: E.CaseEscalated, M.Action.refer: E.CaseReferred,
    M.Action.record_outcome: E.CaseReferralOutcomeRecorded, M.Action.merge: E.CaseMerged,
}


@dataclass
class ActionInput:
    reason: Optional[str] = None
    unit_level: Optional[str] = None
    unit_id: Optional[str] = None
    assignee: Optional[str] = None
    resolution: Optional[str] = None
    court: Optional[str] = None
    outcome: Optional[str] = None
    into: Optional[str] = None


def illegal(e: M.IllegalAction) -> Problem:
    return Problem(409, "Action not allowed in this state", str(e), type_="/problems/illegal-action",
                   status_now=e.status.value, action=e.action.value, allowed_actions=[a.value for a in e.allowed])


def _unit_for(grid_id: str, level: M.Level) -> str:
    parts = grid_id.split(".")
    return {M.Level.grid: grid_id, M.Level.village: ".".join(parts[:2]), M.Level.town: parts[0]}.get(level, "county")


async def act(ctx: Context, case_id: uuid.UUID, action: M.Action, inp: ActionInput, *,
              principal: Optional[Principal], automatic: bool = False) -> asyncpg.Record:
    async with ctx.pool.acquire() as con, con.transaction():
        return await act_in(con, ctx, case_id, action, inp, principal=principal, automatic=automatic)


async def act_in(con, ctx: Context, case_id: uuid.UUID, action: M.Action, inp: ActionInput, *,
                 principal: Optional[Principal], automatic: bool = False) -> asyncpg.Record:
    row = await con.fetchrow(Q.GET_CASE_FOR_UPDATE, case_id)
    if row is None:
        raise Problem(404, "Not found", f"no case {case_id}")
    actor = principal.sub if principal else SYSTEM
    if principal is not None:
        if not authz.can_view(principal, row):
            raise Problem(404, "Not found", f"no case {case_id}")
        denial = authz.act_denial(principal, row, action)
        if denial:
            raise Problem(403, "Forbidden", denial)
    status, level = M.Status(row["status"]), M.Level(row["level"])
    pol = ctx.policy.get(row["category"])
    to_level = None
    extra: dict[str, Any] = {}
    target = None
    if action is M.Action.dispatch:
        to_level = _check_dispatch(row, inp, pol.level, principal)
        extra = dict(unit_level=to_level.value, unit_id=inp.unit_id, assignee=inp.assignee,
                     field_work_task_type=pol.field_work)
    if action is M.Action.merge:
        target = await _merge_target(con, row, inp, principal)
    try:
        out = M.transition(status, action, level=level, category=row["category"], to_level=to_level)
    except M.IllegalAction as e:
        raise illegal(e) from None
    now = await con.fetchval(Q.DB_NOW)
    accept_t, resolve_t = ctx.policy.deadlines(row["category"], row["severity"])
    f = dict(row)
    f.update(status=out.status.value, level=out.level.value, updated_at=now)
    if action is M.Action.accept:
        f.update(resolve_due=now + resolve_t, due_at=now + resolve_t)
    elif action is M.Action.dispatch:
        f.update(assigned_unit=inp.unit_id, assignee=inp.assignee)
    elif action is M.Action.resolve or action is M.Action.record_outcome:
        f.update(due_at=None, resolved_by=actor, resolved_at=now,
                 resolution=inp.resolution if action is M.Action.resolve else inp.outcome)
    elif action is M.Action.reopen:
        f.update(reopen_count=row["reopen_count"] + 1, resolve_due=now + resolve_t, due_at=now + resolve_t,
                 resolved_by=None, resolved_at=None)
    elif action is M.Action.escalate:
        f.update(escalations=row["escalations"] + 1, assigned_unit=None, assignee=None)
        if out.status is M.Status.reported:
            f.update(accept_due=now + accept_t, due_at=now + accept_t)
        else:
            f.update(resolve_due=now + resolve_t, due_at=now + resolve_t)
        extra = dict(from_level=level.value, automatic=automatic)
    elif action is M.Action.refer:
        f.update(referral_court=inp.court, due_at=None)
        extra = dict(court=inp.court)
    if out.status in M.TERMINAL:
        f.update(due_at=None)
        if out.status is M.Status.closed:
            f.update(closed_at=now)
    if action is M.Action.merge:
        f.update(merged_into=target["id"])
    new = await con.fetchrow(Q.UPDATE_CASE, case_id, f["status"], f["level"], f["assigned_unit"], f["assignee"],
                             f["accept_due"], f["resolve_due"], f["due_at"], f["overdue"], f["escalations"],
                             f["reopen_count"], f["resolved_by"], f["resolved_at"], f["resolution"],
                             f["referral_court"], f["merged_into"], f["closed_at"], now)
    data = {k: v for k, v in dict(unit_level=inp.unit_level, unit_id=inp.unit_id, assignee=inp.assignee,
                                  resolution=inp.resolution, court=inp.court, outcome=inp.outcome,
                                  into=str(target["id"]) if target else None, automatic=automatic or None).items()
            if v is not None}
    await con.execute(Q.INSERT_TRANSITION, case_id, action.value, status.value, out.status.value, level.value,
                      out.level.value, actor, inp.reason, data, now)
    if action is M.Action.resolve:
        extra = dict(resolution=inp.resolution)
    elif action is M.Action.reopen:
        extra = dict(reopen_count=new["reopen_count"])
    elif action is M.Action.close:
        on_time = bool(new["resolved_at"] and new["resolve_due"] and new["resolved_at"] <= new["resolve_due"]
                       and not new["overdue"])
        extra = dict(on_time=on_time, escalations=new["escalations"], reopen_count=new["reopen_count"])
    elif action is M.Action.record_outcome:
        extra = dict(outcome=inp.outcome)
    elif action is M.Action.merge:
        extra = dict(into_case_id=str(target["id"]), into_number=target["number"])
    await _publish(con, EVENT_FOR[action], new, actor, inp.reason, **extra)
    if action is M.Action.merge:
        absorbed = await con.fetchrow(Q.RAISE_REPORT_COUNT, target["id"], row["report_count"], now)
        await con.execute(Q.INSERT_TRANSITION, target["id"], "absorb", absorbed["status"], absorbed["status"],
                          absorbed["level"], absorbed["level"], actor, inp.reason,
                          {"merged_case": str(case_id), "number": row["number"]}, now)
        await _publish(con, E.CaseReportCountRaised, absorbed, actor, inp.reason,
                       report_count=absorbed["report_count"], merged_case_id=str(case_id))
    return new


def _check_dispatch(row, inp: ActionInput, policy_level: M.Level, principal: Optional[Principal]) -> M.Level:
    def bad(field: str, msg: str) -> Problem:
        return Problem(422, "Invalid request", f"body.{field}: {msg}", errors=[{"field": f"body.{field}", "message": msg}])
    if not inp.unit_level:
        raise bad("unit_level", "required for dispatch")
    try:
        lv = M.Level(inp.unit_level)
    except ValueError:
        raise bad("unit_level", "one of grid, village, town, county") from None
    if lv.rank < policy_level.rank:
        raise bad("unit_level", f"{row['category']} is handled at {policy_level.value} level or above")
    if principal is not None:
        mine = authz.staff_level(principal)
        if mine is not None and lv.rank > mine.rank:
            raise bad("unit_level", "dispatch within your level; escalate to hand a case upwards")
    if not inp.unit_id:
        raise bad("unit_id", "required for dispatch")
    if not inp.unit_id.startswith("dept.") and inp.unit_id != _unit_for(row["grid_id"], lv):
        raise bad("unit_id", f"the {lv.value} unit of this case is {_unit_for(row['grid_id'], lv)} (or a dept.* department)")
    return lv


async def _merge_target(con, row, inp: ActionInput, principal: Optional[Principal]):
    if not inp.into:
        raise Problem(422, "Invalid request", "body.into: the case to merge into is required",
                      errors=[{"field": "body.into", "message": "required"}])
    target = await find(con, inp.into)
    if target is None or (principal and not authz.in_purview(principal, target)):
        raise Problem(422, "Invalid request", f"body.into: no case {inp.into}",
                      errors=[{"field": "body.into", "message": "no such case"}])
    if target["id"] == row["id"]:
        raise Problem(422, "Invalid request", "body.into: a case cannot be merged into itself",
                      errors=[{"field": "body.into", "message": "same case"}])
    if M.Status(target["status"]) in M.TERMINAL:
        raise Problem(409, "Target case is not open", f"case {target['number']} is {target['status']}")
    return target


async def find(con, ref: str) -> Optional[asyncpg.Record]:
    try:
        return await con.fetchrow(Q.GET_CASE, uuid.UUID(ref))
    except ValueError:
        return await con.fetchrow(Q.GET_CASE_BY_NUMBER, ref)


# -- deadlines ----------------------------------------------------------------------------------------------------

async def sweep_deadlines(ctx: Context, *, now: Optional[datetime] = None, batch: int = 100) -> int:
    """Mark cases past their deadline overdue and escalate them one level.

    Safe with many replicas: each due case is locked (SKIP LOCKED) by one sweeper,
    and the escalation moves its deadline, so it is handled once.
    """
    handled = 0
    while True:
        async with ctx.pool.acquire() as con, con.transaction():
            at = now or await con.fetchval(Q.DB_NOW)
            ids = [r["id"] for r in await con.fetch(Q.DUE_CASES, at, batch)]
            for cid in ids:
                await _overdue(con, ctx, cid)
        handled += len(ids)
        if len(ids) < batch:
            return handled


async def _overdue(con, ctx: Context, case_id) -> None:
    row = await con.fetchrow(Q.GET_CASE, case_id)
    status, level = M.Status(row["status"]), M.Level(row["level"])
    deadline = "accept" if status is M.Status.reported else "resolve"
    due = row["due_at"]
    escalate = level.up() is not None and status in M.RULES[M.Action.escalate][0]
    now = await con.fetchval(Q.DB_NOW)
    # at county level (or a state that cannot escalate) the clock stops: the case stays marked overdue
    marked = await con.fetchrow(Q.UPDATE_CASE, case_id, row["status"], row["level"], row["assigned_unit"],
                                row["assignee"], row["accept_due"], row["resolve_due"],
                                row["due_at"] if escalate else None, True, row["escalations"],
                                row["reopen_count"], row["resolved_by"], row["resolved_at"], row["resolution"],
                                row["referral_court"], row["merged_into"], row["closed_at"], now)
    await con.execute(Q.INSERT_TRANSITION, case_id, "overdue", status.value, status.value, level.value, level.value,
                      SYSTEM, f"{deadline} deadline passed", {"due_at": due.isoformat()}, now)
    await _publish(con, E.CaseOverdue, marked, SYSTEM, f"{deadline} deadline passed", deadline=deadline, due_at=due)
    if escalate:
        await act_in(con, ctx, case_id, M.Action.escalate, ActionInput(reason=f"{deadline} deadline passed"),
                     principal=None, automatic=True)


# -- other writes -------------------------------------------------------------------------------------------------

async def _in_purview(con, case_id: uuid.UUID, principal: Principal, what: str) -> asyncpg.Record:
    """The case locked for a write that its staff or reporter may make, not a dispatched assignee from outside."""
    row = await con.fetchrow(Q.GET_CASE_FOR_UPDATE, case_id)
    if row is None or not authz.can_view(principal, row):
        raise Problem(404, "Not found", f"no case {case_id}")
    if not authz.in_purview(principal, row):
        raise Problem(403, "Forbidden", f"as the dispatched assignee you may read, start and resolve this case, "
                                        f"not {what} it")
    return row


async def rate(ctx: Context, case_id: uuid.UUID, score: int, note: Optional[str], principal: Principal):
    async with ctx.pool.acquire() as con, con.transaction():
        row = await _in_purview(con, case_id, principal, "rate")
        if row["status"] != M.Status.closed.value:
            raise Problem(409, "Action not allowed in this state", "satisfaction is recorded after the case is closed",
                          type_="/problems/illegal-action", status_now=row["status"], action="rate",
                          allowed_actions=[a.value for a in M.allowed_actions(M.Status(row["status"]), M.Level(row["level"]), row["category"])])
        if row["satisfaction"] is not None:
            raise Problem(409, "Already rated", f"case {row['number']} was rated {row['satisfaction']}")
        now = await con.fetchval(Q.DB_NOW)
        new = await con.fetchrow(Q.RATE, case_id, score, note, now)
        await con.execute(Q.INSERT_TRANSITION, case_id, "rate", row["status"], row["status"], row["level"],
                          row["level"], principal.sub, note, {"satisfaction": score}, now)
        await _publish(con, E.CaseRated, new, principal.sub, note, satisfaction=score)
        return new


async def add_attachment(ctx: Context, case_id: uuid.UUID, url: str, principal: Principal):
    async with ctx.pool.acquire() as con, con.transaction():
        row = await _in_purview(con, case_id, principal, "attach files to")
        now = await con.fetchval(Q.DB_NOW)
        new = await con.fetchrow(Q.ADD_ATTACHMENT, case_id, url, now)
        await con.execute(Q.INSERT_TRANSITION, case_id, "attach", row["status"], row["status"], row["level"],
                          row["level"], principal.sub, None, {"url": url}, now)
        return new


async def on_task_event(con, event, env) -> None:
    """A task's progress appears on the timeline of the case it came from."""
    if not event.case_id:
        return
    try:
        case_id = uuid.UUID(event.case_id)
    except ValueError:
        return
    await con.execute(Q.INSERT_TASK_EVENT, env.id, case_id, event.task_id, env.type, event.status,
                      event.volunteer_ref, event.note, event.occurred_at)


def due_in(td: timedelta) -> float:
    return td.total_seconds() / 3600

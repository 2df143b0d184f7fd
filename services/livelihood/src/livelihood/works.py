"""Use cases of implementation (实施): milestones with dates and photos (URLs), spending against the budget —
never above it without a recorded budget change decision — and the budget changes themselves."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from gov_contracts import livelihood as ev
from gov_contracts.errors import Conflict, Forbidden, IllegalAction, NotFound
from govkit.auth import Principal
from govkit.db import Connection
from livelihood import queries
from livelihood.context import Context, Row
from livelihood.domain import guards
from livelihood.events import facts, publish
from livelihood.proposals import flow_of, load_for_update, require_scope

RECORDERS = ("village_admin",)


async def _implementing(con: Connection, ctx: Context, p: Principal, proposal_id: uuid.UUID) -> Row:
    if not p.has_role(*RECORDERS):
        raise Forbidden(f"implementation is recorded by {', '.join(RECORDERS)}")
    row = await load_for_update(con, proposal_id)
    require_scope(p, row["village_id"])
    flow = flow_of(ctx, row["flow"])
    if row["stage"] != flow.of_kind("start").target:
        raise IllegalAction(
            f"the project is not being implemented (stage {row['stage']})",
            status=row["stage"],
            action="record",
            allowed=flow.allowed(row["stage"]),
        )
    return row


async def add_milestone(
    ctx: Context, p: Principal, proposal_id: uuid.UUID, title: str, due_on: date, photo_urls: list[str]
) -> dict[str, Any]:
    async with ctx.pool.acquire() as con, con.transaction():
        row = await _implementing(con, ctx, p, proposal_id)
        now = ctx.clock.now()
        m = await con.fetchrow(queries.INSERT_MILESTONE, uuid.uuid4(), proposal_id, title, due_on, photo_urls, now)
        assert m is not None
        event = ev.MilestoneRecorded(**facts(row, now, p.sub), milestone_id=str(m["id"]), title=title, due_on=due_on)
        await publish(con, event, str(proposal_id))
        return dict(m)


async def milestone_done(
    ctx: Context, p: Principal, proposal_id: uuid.UUID, milestone_id: uuid.UUID, done_on: date, photo_urls: list[str]
) -> dict[str, Any]:
    async with ctx.pool.acquire() as con, con.transaction():
        row = await _implementing(con, ctx, p, proposal_id)
        m = await con.fetchrow(queries.MILESTONE_DONE, milestone_id, proposal_id, done_on, photo_urls)
        if m is None:
            raise NotFound(f"no milestone {milestone_id} of this proposal")
        now = ctx.clock.now()
        event = ev.MilestoneRecorded(
            **facts(row, now, p.sub), milestone_id=str(m["id"]), title=m["title"], due_on=m["due_on"], done_on=done_on
        )
        await publish(con, event, str(proposal_id))
        return dict(m)


async def record_spending(
    ctx: Context, p: Principal, proposal_id: uuid.UUID, amount: Decimal, note: str, spent_on: date
) -> dict[str, Any]:
    async with ctx.pool.acquire() as con, con.transaction():
        row = await _implementing(con, ctx, p, proposal_id)
        spent = await con.fetchval(queries.SPENT, proposal_id)
        guards.check_spending(row["budget"], spent, amount)
        now = ctx.clock.now()
        s = await con.fetchrow(queries.INSERT_SPENDING, uuid.uuid4(), proposal_id, amount, note, spent_on, p.sub, now)
        assert s is not None
        event = ev.SpendingRecorded(
            **facts(row, now, p.sub), spending_id=str(s["id"]), amount_yuan=amount, spent_total_yuan=spent + amount
        )
        await publish(con, event, str(proposal_id))
        return {**dict(s), "spent_total_yuan": spent + amount, "budget_yuan": row["budget"]}


async def change_budget(
    ctx: Context, p: Principal, proposal_id: uuid.UUID, budget: Decimal, decision: str
) -> dict[str, Any]:
    async with ctx.pool.acquire() as con, con.transaction():
        row = await _implementing(con, ctx, p, proposal_id)
        spent = await con.fetchval(queries.SPENT, proposal_id)
        if budget < spent:
            raise Conflict(f"the budget cannot go below what is spent already ({spent})")
        now = ctx.clock.now()
        await con.execute(
            queries.INSERT_BUDGET_CHANGE, uuid.uuid4(), proposal_id, row["budget"], budget, decision, p.sub, now
        )
        new = await con.fetchrow(queries.SET_BUDGET, proposal_id, budget, now)
        assert new is not None
        event = ev.BudgetChanged(**facts(new, now, p.sub), previous_budget_yuan=row["budget"], decision=decision)
        await publish(con, event, str(proposal_id))
        return {"budget_yuan": budget, "previous_budget_yuan": row["budget"], "spent_yuan": spent}

"""Use cases of proposals: submit (提), the flow's steps (review, step, resubmit, withdraw, publish the decision
notice, start, accept, publish the results), the reads and the ranking. Each runs in one transaction: load,
authorize, apply the flow's rule, save, add the timeline entry and the event to the outbox."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from gov_contracts import livelihood as ev
from gov_contracts.errors import Conflict, Forbidden, IllegalAction, InvalidInput, NotFound
from govkit.auth import Principal
from govkit.db import Connection
from livelihood import queries
from livelihood.context import Context, Row
from livelihood.domain import evidence as evidence_rules
from livelihood.domain import guards
from livelihood.domain.flow import Action, Flow
from livelihood.events import facts, publish


@dataclass(frozen=True)
class NewProposal:
    title: str
    description: str
    village_id: str
    grid_ids: list[str]
    category: str
    budget_yuan: Decimal
    funding_source: str
    households: int
    people: int
    case_ids: list[str]
    flow: str | None = None


def flow_of(ctx: Context, name: str) -> Flow:
    return ctx.config.flows[name]


def require_scope(p: Principal, village_id: str) -> None:
    if not p.covers(village_id):
        raise Forbidden(f"your area scope does not cover {village_id}")


async def require_representative(con: Connection, ctx: Context, p: Principal, village_id: str) -> None:
    if await con.fetchval(queries.IS_REPRESENTATIVE, village_id, p.sub, ctx.today()) is None:
        raise Forbidden(f"{p.sub} is not a villagers' representative of {village_id} in office today")


async def _check_places(con: Connection, village_id: str, grid_ids: list[str]) -> None:
    village = await con.fetchrow(queries.AREA, village_id)
    if village is None or village["kind"] not in ("village", "community"):
        raise InvalidInput("body.village_id", f"{village_id!r} is not a village or community")
    grids = {r["id"] for r in await con.fetch(queries.AREAS_UNDER, village_id)}
    for i, g in enumerate(grid_ids):
        if g not in grids:
            raise InvalidInput(f"body.grid_ids[{i}]", f"{g!r} is not a grid of {village_id}")


async def _timeline(
    con: Connection,
    p: Row,
    at: Any,
    actor: str,
    action: str,
    before: str | None,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    await con.execute(queries.INSERT_TIMELINE, p["id"], at, actor, action, before, p["stage"], reason, data or {})


async def submit(ctx: Context, p: Principal, new: NewProposal) -> Row:
    name = new.flow or ctx.config.default_flow
    if name not in ctx.config.flows:
        raise InvalidInput("body.flow", f"{name!r} is not one of {', '.join(sorted(ctx.config.flows))}")
    flow = flow_of(ctx, name)
    if new.category not in ctx.rules.categories:
        raise InvalidInput("body.category", f"{new.category!r} is not one of {', '.join(ctx.rules.categories)}")
    if not p.has_role(*flow.proposer_roles):
        raise Forbidden(f"in the flow {flow.label} proposals come from {', '.join(flow.proposer_roles)}")
    async with ctx.pool.acquire() as con, con.transaction():
        await _check_places(con, new.village_id, new.grid_ids)
        if p.has_role("representative") and "representative" in flow.proposer_roles:
            await require_representative(con, ctx, p, new.village_id)
        else:
            require_scope(p, new.village_id)
        known = {str(r["case_id"]) for r in await con.fetch(queries.KNOWN_CASES, new.case_ids, new.village_id)}
        for i, c in enumerate(new.case_ids):
            if c not in known:
                raise InvalidInput(f"body.case_ids[{i}]", f"{c} is not a known case of {new.village_id}")
        now = ctx.clock.now()
        n = await con.fetchval(queries.NEXT_NUMBER, now.year)
        row = await con.fetchrow(
            queries.INSERT_PROPOSAL,
            uuid.uuid4(),
            f"MS-{now.year}-{n:04d}",
            new.village_id,
            new.grid_ids,
            new.title,
            new.description,
            new.category,
            new.budget_yuan,
            new.funding_source,
            new.households,
            new.people,
            [uuid.UUID(c) for c in new.case_ids],
            flow.name,
            flow.initial,
            p.sub,
            now,
        )
        assert row is not None
        await _timeline(con, row, now, p.sub, "submit", None)
        event = ev.ProposalSubmitted(
            **facts(row, now, p.sub),
            title=new.title,
            funding_source=new.funding_source,
            households=new.households,
            people=new.people,
            case_ids=new.case_ids,
        )
        await publish(con, event, str(row["id"]))
        return row


async def load_for_update(con: Connection, proposal_id: uuid.UUID) -> Row:
    row = await con.fetchrow(queries.GET_PROPOSAL_FOR_UPDATE, proposal_id)
    if row is None:
        raise NotFound(f"no proposal {proposal_id}")
    return row


async def act(
    ctx: Context, p: Principal, proposal_id: uuid.UUID, name: str, reason: str | None, merged_into: uuid.UUID | None
) -> Row:
    """One step of the proposal's flow, by its action name."""
    async with ctx.pool.acquire() as con, con.transaction():
        row = await load_for_update(con, proposal_id)
        flow = flow_of(ctx, row["flow"])
        action = flow.action(name, row["stage"])
        if action.kind == "decide":
            raise IllegalAction(
                f"{name} is recorded by a meeting: enter the tally of the meeting that deliberates it",
                status=row["stage"],
                action=name,
                allowed=flow.allowed(row["stage"]),
            )
        flow.authorize(action, p.roles)
        if action.kind in ("resubmit", "withdraw") and "representative" in action.roles:
            if row["proposer_sub"] != p.sub:
                raise Forbidden("only the representative who proposed it may do this")
        else:
            require_scope(p, row["village_id"])
        if action.reason_required and not (reason and reason.strip()):
            raise InvalidInput("body.reason", f"{action.label} needs a reason")
        step = Step(con, ctx, p, row, action, reason, merged_into, ctx.clock.now())
        return await STEPS[action.kind](step)


@dataclass(frozen=True)
class Step:
    """One step being taken: the transaction's connection, the caller, the proposal as loaded (locked), the
    flow's action and the request's inputs."""

    con: Connection
    ctx: Context
    p: Principal
    row: Row
    action: Action
    reason: str | None
    merged_into: uuid.UUID | None
    now: datetime

    @property
    def key(self) -> str:
        return str(self.row["id"])

    def facts(self, new: Row) -> dict[str, Any]:
        return facts(new, self.now, self.p.sub)

    async def move(self, merged_into: uuid.UUID | None = None, data: dict[str, Any] | None = None) -> Row:
        """To the action's target stage, with the timeline entry."""
        new = await self.con.fetchrow(queries.SET_STAGE, self.row["id"], self.action.target, self.now, merged_into)
        assert new is not None
        await _timeline(self.con, new, self.now, self.p.sub, self.action.name, self.row["stage"], self.reason, data)
        return new


async def _review(s: Step) -> Row:
    outcome = "merged" if s.action.target == "merged" else s.action.target  # approved or returned
    if outcome == "merged":
        if s.merged_into is None:
            raise InvalidInput("body.merged_into", "name the proposal this one is merged into")
        other = await s.con.fetchrow(queries.GET_PROPOSAL, s.merged_into)
        if other is None or other["village_id"] != s.row["village_id"] or other["id"] == s.row["id"]:
            raise InvalidInput("body.merged_into", "not another proposal of the same village")
        if flow_of(s.ctx, other["flow"]).is_terminal(other["stage"]):
            raise InvalidInput("body.merged_into", f"{other['number']} is closed ({other['stage']})")
    new = await s.move(merged_into=s.merged_into)
    merged = str(s.merged_into) if s.merged_into else None
    await publish(
        s.con, ev.ProposalReviewed(**s.facts(new), outcome=outcome, reason=s.reason, merged_into=merged), s.key
    )
    return new


async def _step(s: Step) -> Row:
    new = await s.move()
    await publish(s.con, ev.ProposalStepped(**s.facts(new), action=s.action.name, reason=s.reason), s.key)
    return new


async def _publish_notice(s: Step) -> Row:
    kind = "results" if s.action.kind == "publish_results" else "decision"
    if kind == "decision" and not any(d["adopted"] for d in await s.con.fetch(queries.DECISIONS_OF, s.row["id"])):
        # the flow's structure makes this unreachable; the rule keeps its own guard all the same
        raise Conflict("no adopted decision of a quorate meeting to publish")
    start = s.ctx.today()
    end = start + timedelta(days=s.ctx.rules.notice_days)
    notice = await s.con.fetchrow(queries.INSERT_NOTICE, uuid.uuid4(), s.row["id"], kind, start, end, s.now)
    assert notice is not None
    notice_id = str(notice["id"])
    new = await s.move(data={"notice_id": notice_id})
    base = s.facts(new)
    published = ev.NoticePublished(**base, notice_id=notice_id, notice_kind=kind, starts_on=start, ends_on=end)
    await publish(s.con, published, s.key)
    if kind == "results":
        spent = await s.con.fetchval(queries.SPENT, s.row["id"])
        await publish(s.con, ev.ResultsPublished(**base, notice_id=notice_id, spent_total_yuan=spent), s.key)
    return new


async def _start(s: Step) -> Row:
    notice = await s.con.fetchrow(queries.NOTICE_OF, s.row["id"], "decision")
    open_objections = await s.con.fetchval(queries.OPEN_OBJECTIONS, s.row["id"])
    guards.check_start(notice["ends_on"] if notice else None, s.ctx.today(), open_objections)
    new = await s.move()
    await publish(s.con, ev.ImplementationStarted(**s.facts(new)), s.key)
    return new


async def _accept(s: Step) -> Row:
    guards.check_accept(await s.con.fetchval(queries.OPEN_MILESTONES, s.row["id"]))
    new = await s.move()
    spent = await s.con.fetchval(queries.SPENT, s.row["id"])
    await publish(s.con, ev.ProjectAccepted(**s.facts(new), spent_total_yuan=spent), s.key)
    return new


STEPS = {
    "review": _review,
    "step": _step,
    "resubmit": _step,
    "withdraw": _step,
    "publish_notice": _publish_notice,
    "start": _start,
    "accept": _accept,
    "publish_results": _publish_notice,
}


# -- reads -------------------------------------------------------------------------------------------------------------


def _theme(ctx: Context, category: str) -> str:
    return ctx.rules.categories.get(category, category)


async def detail(ctx: Context, p: Principal, proposal_id: uuid.UUID) -> dict[str, Any]:
    async with ctx.pool.acquire() as con:
        row = await con.fetchrow(queries.GET_PROPOSAL, proposal_id)
        if row is None or not p.covers(row["village_id"]):
            raise NotFound(f"no proposal {proposal_id}")
        demand = await con.fetchrow(queries.DEMAND_OF, row["village_id"])
        out = proposal_view(ctx, row, demand)
        out["timeline"] = [dict(t) for t in await con.fetch(queries.TIMELINE, row["id"])]
        out["decisions"] = [dict(d) for d in await con.fetch(queries.DECISIONS_OF, row["id"])]
        out["notices"] = [
            dict(n) for kind in ("decision", "results") if (n := await con.fetchrow(queries.NOTICE_OF, row["id"], kind))
        ]
        out["objections"] = [dict(o) for o in await con.fetch(queries.OBJECTIONS, row["id"])]
        out["milestones"] = [dict(m) for m in await con.fetch(queries.MILESTONES, row["id"])]
        out["spending"] = [dict(s) for s in await con.fetch(queries.SPENDING, row["id"])]
        out["budget_changes"] = [dict(b) for b in await con.fetch(queries.BUDGET_CHANGES, row["id"])]
        out["spent_yuan"] = await con.fetchval(queries.SPENT, row["id"])
    return out


def proposal_view(ctx: Context, row: Row, demand: Row | None) -> dict[str, Any]:
    flow = flow_of(ctx, row["flow"])
    proof = evidence_rules.evidence(
        _theme(ctx, row["category"]), dict(demand) if demand else None, [str(c) for c in row["case_ids"]]
    )
    return {
        "id": str(row["id"]),
        "number": row["number"],
        "title": row["title"],
        "description": row["description"],
        "village_id": row["village_id"],
        "grid_ids": list(row["grid_ids"]),
        "category": row["category"],
        "category_label": _theme(ctx, row["category"]),
        "budget_yuan": row["budget"],
        "funding_source": row["funding_source"],
        "households": row["households"],
        "people": row["people"],
        "case_ids": [str(c) for c in row["case_ids"]],
        "flow": flow.name,
        "flow_label": flow.label,
        "stage": row["stage"],
        "stage_label": flow.stages[row["stage"]],
        "allowed_actions": flow.allowed(row["stage"]),
        "proposer": row["proposer_sub"],
        "merged_into": str(row["merged_into"]) if row["merged_into"] else None,
        "evidence": {**proof.__dict__, "total": proof.total, "summary": proof.summary()},
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


async def list_proposals(
    ctx: Context, p: Principal, village_id: str | None, stage: str | None, ranked: bool, limit: int
) -> list[dict[str, Any]]:
    if ranked and not village_id:
        raise InvalidInput("query.village_id", "ranking compares the proposals of one village: name it")
    async with ctx.pool.acquire() as con:
        rows = await con.fetch(queries.LIST_PROPOSALS, p.visible_areas(), village_id, stage, limit)
        demands = {r["village_id"]: await con.fetchrow(queries.DEMAND_OF, r["village_id"]) for r in rows}
    views = [proposal_view(ctx, r, demands[r["village_id"]]) for r in rows]
    if ranked:
        w = ctx.rules.ranking
        candidates = [
            evidence_rules.Candidate(v["id"], v["evidence"]["total"], v["people"], v["households"], v["budget_yuan"])
            for v in views
        ]
        scores = dict(evidence_rules.rank(candidates, w.evidence, w.people, w.cost))
        for v in views:
            v["score"] = scores[v["id"]]
        views.sort(key=lambda v: (-v["score"], v["id"]))
        for i, v in enumerate(views, 1):
            v["rank"] = i
    return views

"""Public notices (公示) and objections (异议): anyone may read a notice and object during its period,
anonymously if they choose; the village answers each objection. Objectors' names and phones never leave this
schema."""

from __future__ import annotations

import uuid
from typing import Any

from gov_contracts import livelihood as ev
from gov_contracts.errors import Conflict, Forbidden, NotFound
from govkit.auth import Principal
from livelihood import queries
from livelihood.context import Context
from livelihood.events import facts, publish
from livelihood.proposals import load_for_update, proposal_view, require_scope

ANSWERERS = ("village_admin", "party_branch")


async def public_notice(ctx: Context, notice_id: uuid.UUID) -> dict[str, Any]:
    """What the village board shows: the proposal, the decision or the results, and the objections with their
    answers (never who objected)."""
    async with ctx.pool.acquire() as con:
        notice = await con.fetchrow(queries.GET_NOTICE, notice_id)
        if notice is None:
            raise NotFound(f"no notice {notice_id}")
        row = await con.fetchrow(queries.GET_PROPOSAL, notice["proposal_id"])
        assert row is not None
        village = await con.fetchrow(queries.AREA, row["village_id"])
        decisions = [dict(d) for d in await con.fetch(queries.DECISIONS_OF, row["id"]) if d["quorate"]]
        objections = [
            {k: o[k] for k in ("id", "text", "lodged_at", "answer", "answered_at")}
            for o in await con.fetch(queries.OBJECTIONS, row["id"])
        ]
        milestones = [dict(m) for m in await con.fetch(queries.MILESTONES, row["id"])]
        spent = await con.fetchval(queries.SPENT, row["id"])
        meeting = None
        if decisions:
            meeting_row = await con.fetchrow(queries.GET_MEETING, decisions[-1]["meeting_id"])
            meeting = dict(meeting_row) if meeting_row else None
    view = proposal_view(ctx, row, None)
    view.pop("proposer", None)
    return {
        "notice": {**dict(notice), "open": notice["starts_on"] <= ctx.today() <= notice["ends_on"]},
        "village_name": village["name"] if village else row["village_id"],
        "proposal": view,
        "decision": decisions[-1] if decisions else None,
        "meeting": {k: meeting[k] for k in ("kind", "starts_at", "place")} if meeting else None,
        "objections": objections,
        "milestones": milestones,
        "spent_yuan": spent,
    }


async def lodge_objection(
    ctx: Context, notice_id: uuid.UUID, text: str, name: str | None, phone: str | None
) -> dict[str, Any]:
    async with ctx.pool.acquire() as con, con.transaction():
        notice = await con.fetchrow(queries.GET_NOTICE, notice_id)
        if notice is None:
            raise NotFound(f"no notice {notice_id}")
        today = ctx.today()
        if not notice["starts_on"] <= today <= notice["ends_on"]:
            raise Conflict(f"the notice period was {notice['starts_on']} to {notice['ends_on']}: objections are closed")
        row = await load_for_update(con, notice["proposal_id"])
        now = ctx.clock.now()
        objection = await con.fetchrow(
            queries.INSERT_OBJECTION, uuid.uuid4(), notice_id, row["id"], text, name, phone, now
        )
        assert objection is not None
        event = ev.ObjectionLodged(
            **facts(row, now, "public"), objection_id=str(objection["id"]), notice_id=str(notice_id)
        )
        await publish(con, event, str(row["id"]))
        return {"id": str(objection["id"]), "lodged_at": objection["lodged_at"]}


async def answer_objection(
    ctx: Context, p: Principal, proposal_id: uuid.UUID, objection_id: uuid.UUID, answer: str
) -> dict[str, Any]:
    if not p.has_role(*ANSWERERS):
        raise Forbidden(f"objections are answered by {', '.join(ANSWERERS)}")
    async with ctx.pool.acquire() as con, con.transaction():
        row = await load_for_update(con, proposal_id)
        require_scope(p, row["village_id"])
        now = ctx.clock.now()
        done = await con.fetchrow(queries.ANSWER_OBJECTION, objection_id, proposal_id, answer, p.sub, now)
        if done is None:
            known = await con.fetchrow(queries.GET_OBJECTION, objection_id, proposal_id)
            if known is None:
                raise NotFound(f"no objection {objection_id} to this proposal")
            raise Conflict("this objection is answered already")
        await con.execute(
            queries.INSERT_TIMELINE,
            proposal_id,
            now,
            p.sub,
            "answer_objection",
            row["stage"],
            row["stage"],
            None,
            {"objection_id": str(objection_id)},
        )
        event = ev.ObjectionAnswered(
            **facts(row, now, p.sub), objection_id=str(objection_id), notice_id=str(done["notice_id"])
        )
        await publish(con, event, str(proposal_id))
        return {"id": str(objection_id), "answered_at": now}

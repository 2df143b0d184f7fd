"""Use cases of meetings (群众议): calling a 村民会议 or 村民代表会议 with due notice, and the paper tally of
each proposal entered twice by two clerks; the matching entries decide by the configured quorum and majority."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from gov_contracts import livelihood as ev
from gov_contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from govkit.auth import Principal
from livelihood import queries
from livelihood.context import Context, Row
from livelihood.domain import meetings
from livelihood.events import facts, publish
from livelihood.proposals import flow_of, load_for_update, require_scope

CALLERS = ("village_admin", "party_branch")


async def notice_meeting(
    ctx: Context,
    p: Principal,
    village_id: str,
    kind: str,
    starts_at: datetime,
    place: str,
    proposal_ids: list[uuid.UUID],
) -> Row:
    if not p.has_role(*CALLERS):
        raise Forbidden(f"a meeting is called by {', '.join(CALLERS)}")
    require_scope(p, village_id)
    now = ctx.clock.now()
    days = ctx.rules.meeting_notice_days
    if starts_at < now + timedelta(days=days):
        raise InvalidInput("body.starts_at", f"a meeting is noticed at least {days} days before it sits")
    async with ctx.pool.acquire() as con, con.transaction():
        for i, pid in enumerate(proposal_ids):
            row = await con.fetchrow(queries.GET_PROPOSAL, pid)
            if row is None or row["village_id"] != village_id:
                raise InvalidInput(f"body.proposal_ids[{i}]", f"{pid} is not a proposal of {village_id}")
            decide = flow_of(ctx, row["flow"]).of_kind("decide")
            if row["stage"] not in decide.sources:
                raise InvalidInput(
                    f"body.proposal_ids[{i}]", f"{row['number']} is at stage {row['stage']}, not ready to be decided"
                )
        invitees = [r["sub"] for r in await con.fetch(queries.REPRESENTATIVES_OF, village_id, starts_at.date())]
        meeting = await con.fetchrow(
            queries.INSERT_MEETING, uuid.uuid4(), village_id, kind, starts_at, place, proposal_ids, invitees, now, p.sub
        )
        assert meeting is not None
        event = ev.MeetingNoticed(
            meeting_id=str(meeting["id"]),
            village_id=village_id,
            kind=kind,
            starts_at=starts_at,
            place=place,
            proposal_ids=[str(x) for x in proposal_ids],
            invitee_subs=invitees,
            occurred_at=now,
            actor=p.sub,
        )
        await publish(con, event, str(meeting["id"]))
        return meeting


def _tally(row: Row) -> meetings.Tally:
    return meetings.Tally(
        present=row["present"],
        eligible=row["eligible"],
        votes_for=row["votes_for"],
        votes_against=row["votes_against"],
        abstentions=row["abstentions"],
        households=row["households"],
        households_represented=row["households_represented"],
    )


async def enter_tally(
    ctx: Context, p: Principal, meeting_id: uuid.UUID, proposal_id: uuid.UUID, tally: meetings.Tally
) -> dict[str, Any]:
    """Record this clerk's entry; with two clerks' matching entries, decide. The outcome: waiting for the
    second entry, inquorate (no decision), adopted or not adopted."""
    if not p.has_role("clerk"):
        raise Forbidden("tallies are entered by clerks (role clerk)")
    tally.check()
    async with ctx.pool.acquire() as con, con.transaction():
        meeting = await con.fetchrow(queries.GET_MEETING, meeting_id)
        if meeting is None or not p.covers(meeting["village_id"]):
            raise NotFound(f"no meeting {meeting_id}")
        if proposal_id not in meeting["agenda"]:
            raise InvalidInput("body.proposal_id", "not on this meeting's agenda")
        now = ctx.clock.now()
        if now < meeting["starts_at"]:
            raise Conflict(f"the meeting sits at {meeting['starts_at'].isoformat()}: no tally before it")
        if await con.fetchrow(queries.GET_DECISION, meeting_id, proposal_id):
            raise Conflict("this proposal's tally at this meeting is already recorded")
        t = tally
        await con.execute(
            queries.UPSERT_TALLY,
            meeting_id,
            proposal_id,
            p.sub,
            t.present,
            t.eligible,
            t.households,
            t.households_represented,
            t.votes_for,
            t.votes_against,
            t.abstentions,
            now,
        )
    # the entry is kept whatever follows: a mismatch is shown, and a clerk re-enters
    async with ctx.pool.acquire() as con, con.transaction():
        entries = [(r["clerk_sub"], _tally(r)) for r in await con.fetch(queries.TALLIES, meeting_id, proposal_id)]
        agreed = meetings.matching(entries)  # Conflict naming the differing fields
        if agreed is None:
            return {"outcome": "waiting_for_second_entry", "entries": len(entries)}
        rule = ctx.config.meeting_rules[meeting["kind"]]
        decision = meetings.decide(rule, agreed)
        await con.execute(
            queries.INSERT_DECISION,
            meeting_id,
            proposal_id,
            decision.quorate,
            decision.adopted,
            decision.why,
            asdict(agreed),
            now,
        )
        if not decision.quorate:
            return {"outcome": "inquorate", "why": decision.why}
        row = await load_for_update(con, proposal_id)
        flow = flow_of(ctx, row["flow"])
        act = flow.action(flow.of_kind("decide").name, row["stage"])
        target = act.target if decision.adopted else (act.otherwise or act.target)
        before = row["stage"]
        new = await con.fetchrow(queries.SET_STAGE, proposal_id, target, now, None)
        assert new is not None
        await con.execute(
            queries.INSERT_TIMELINE,
            proposal_id,
            now,
            p.sub,
            act.name,
            before,
            target,
            decision.why,
            {"meeting_id": str(meeting_id), **asdict(agreed)},
        )
        event = ev.ProposalDecided(
            **facts(new, now, p.sub),
            meeting_id=str(meeting_id),
            meeting_kind=meeting["kind"],
            adopted=decision.adopted,
            present=agreed.present,
            eligible=agreed.eligible,
            votes_for=agreed.votes_for,
            votes_against=agreed.votes_against,
            abstentions=agreed.abstentions,
        )
        await publish(con, event, str(proposal_id))
        return {"outcome": "adopted" if decision.adopted else "not_adopted", "why": decision.why, "stage": target}

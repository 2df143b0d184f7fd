"""The livelihood HTTP API: representatives, proposals and their steps, meetings and tallies, implementation,
and the public notices (read and object without signing in)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse

from govkit.auth import CurrentPrincipal
from govkit.inputs import AreaId
from govkit.openapi import problems
from livelihood import meeting_cases, notice_cases, proposals, register, render, works
from livelihood.api.schemas import (
    ActionIn,
    AnswerIn,
    BudgetChangeIn,
    MeetingIn,
    MilestoneDoneIn,
    MilestoneIn,
    ObjectionIn,
    Outcome,
    ProposalIn,
    Received,
    RepresentativeIn,
    SpendingIn,
    TallyIn,
)
from livelihood.context import Context
from livelihood.domain.meetings import Tally

router = APIRouter(prefix="/v1", tags=["livelihood"])
public = APIRouter(prefix="/v1/public", tags=["public notices"])


def service_context(request: Request) -> Context:
    return request.app.state.livelihood


Ctx = Annotated[Context, Depends(service_context)]


def conflict(description: str) -> dict[int | str, dict[str, Any]]:
    return {409: {"description": description}}


ACTION_409 = conflict(
    "not allowed at this stage (the body names the stage and the allowed actions), "
    "or a rule of the step is not met (notice period, objections, budget)"
)


@router.post(
    "/representatives",
    status_code=201,
    responses=problems(403, 422),
    summary="Register a villagers' representative (村民代表) of a village for a term (town_admin)",
)
async def add_representative(body: RepresentativeIn, ctx: Ctx, p: CurrentPrincipal) -> dict[str, Any]:
    return await register.register(
        ctx, p, body.village_id, body.sub, body.name, body.phone, body.term_start, body.term_end
    )


@router.get("/representatives", responses=problems(403), summary="Representatives of a village (in office on a day)")
async def list_representatives(
    ctx: Ctx, p: CurrentPrincipal, village_id: AreaId, on: date | None = None
) -> dict[str, Any]:
    return {"items": await register.representatives(ctx, p, village_id, on)}


@router.post(
    "/proposals",
    status_code=201,
    responses=problems(403, 422),
    summary="Propose a livelihood project (提): by a representative of the village, with evidence",
)
async def submit(body: ProposalIn, ctx: Ctx, p: CurrentPrincipal) -> dict[str, Any]:
    new = proposals.NewProposal(
        title=body.title,
        description=body.description,
        village_id=body.village_id,
        grid_ids=list(body.grid_ids),
        category=body.category,
        budget_yuan=body.budget_yuan,
        funding_source=body.funding_source,
        households=body.households,
        people=body.people,
        case_ids=[str(c) for c in body.case_ids],
        flow=body.flow,
    )
    row = await proposals.submit(ctx, p, new)
    return await proposals.detail(ctx, p, row["id"])


@router.get(
    "/proposals",
    responses=problems(422),
    summary="Proposals of the caller's areas; ranked=true ranks one village's by evidence, people, cost",
)
async def list_proposals(
    ctx: Ctx,
    p: CurrentPrincipal,
    village_id: AreaId | None = None,
    stage: Annotated[str | None, Query(max_length=50)] = None,
    ranked: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    return {"items": await proposals.list_proposals(ctx, p, village_id, stage, ranked, limit)}


@router.get(
    "/proposals/{proposal_id}",
    responses=problems(404),
    summary="A proposal with its evidence, timeline, decisions, notices, objections and implementation",
)
async def get_proposal(proposal_id: uuid.UUID, ctx: Ctx, p: CurrentPrincipal) -> dict[str, Any]:
    return await proposals.detail(ctx, p, proposal_id)


@router.post(
    "/proposals/{proposal_id}/actions/{action}",
    responses={**problems(403, 404, 422), **ACTION_409},
    summary="Take a step of the proposal's flow (approve, return, merge, publish_notice, start, accept, ...)",
)
async def act(
    proposal_id: uuid.UUID,
    action: Annotated[str, Path(max_length=50)],
    ctx: Ctx,
    p: CurrentPrincipal,
    body: ActionIn | None = None,
) -> dict[str, Any]:
    body = body or ActionIn()
    await proposals.act(ctx, p, proposal_id, action, body.reason, body.merged_into)
    return await proposals.detail(ctx, p, proposal_id)


@router.post(
    "/meetings",
    status_code=201,
    responses=problems(403, 422),
    summary="Call a 村民会议 or 村民代表会议 to decide proposals, noticed the configured days ahead",
)
async def notice_meeting(body: MeetingIn, ctx: Ctx, p: CurrentPrincipal) -> dict[str, Any]:
    m = await meeting_cases.notice_meeting(
        ctx, p, body.village_id, body.kind, body.starts_at, body.place, list(body.proposal_ids)
    )
    return {**dict(m), "id": str(m["id"]), "agenda": [str(x) for x in m["agenda"]]}


@router.post(
    "/meetings/{meeting_id}/tallies",
    response_model=Outcome,
    responses={
        **problems(403, 404, 422),
        409: {"description": "the two clerks' entries differ (named), or the tally is recorded already"},
    },
    summary="A clerk's entry of a proposal's paper tally; two clerks' matching entries decide",
)
async def enter_tally(meeting_id: uuid.UUID, body: TallyIn, ctx: Ctx, p: CurrentPrincipal) -> dict[str, Any]:
    tally = Tally(
        present=body.present,
        eligible=body.eligible,
        votes_for=body.votes_for,
        votes_against=body.votes_against,
        abstentions=body.abstentions,
        households=body.households,
        households_represented=body.households_represented,
    )
    return await meeting_cases.enter_tally(ctx, p, meeting_id, body.proposal_id, tally)


@router.post(
    "/proposals/{proposal_id}/objections/{objection_id}/answer",
    response_model=Received,
    responses={**problems(403, 404), **conflict("answered already")},
    summary="Answer an objection to the notice",
)
async def answer(
    proposal_id: uuid.UUID, objection_id: uuid.UUID, body: AnswerIn, ctx: Ctx, p: CurrentPrincipal
) -> dict[str, Any]:
    return await notice_cases.answer_objection(ctx, p, proposal_id, objection_id, body.answer)


@router.post(
    "/proposals/{proposal_id}/milestones",
    status_code=201,
    responses={**problems(403, 404), **ACTION_409},
    summary="Add a milestone of the implementation",
)
async def add_milestone(proposal_id: uuid.UUID, body: MilestoneIn, ctx: Ctx, p: CurrentPrincipal) -> dict[str, Any]:
    return await works.add_milestone(ctx, p, proposal_id, body.title, body.due_on, body.photo_urls)


@router.post(
    "/proposals/{proposal_id}/milestones/{milestone_id}/done",
    responses={**problems(403, 404), **ACTION_409},
    summary="Record a milestone done, with photos (URLs)",
)
async def milestone_done(
    proposal_id: uuid.UUID, milestone_id: uuid.UUID, body: MilestoneDoneIn, ctx: Ctx, p: CurrentPrincipal
) -> dict[str, Any]:
    return await works.milestone_done(ctx, p, proposal_id, milestone_id, body.done_on, body.photo_urls)


@router.post(
    "/proposals/{proposal_id}/spending",
    status_code=201,
    responses={**problems(403, 404), **ACTION_409},
    summary="Record spending against the budget (refused above it)",
)
async def spend(proposal_id: uuid.UUID, body: SpendingIn, ctx: Ctx, p: CurrentPrincipal) -> dict[str, Any]:
    return await works.record_spending(ctx, p, proposal_id, body.amount_yuan, body.note, body.spent_on)


@router.post(
    "/proposals/{proposal_id}/budget-changes",
    responses={**problems(403, 404), **ACTION_409},
    summary="Change the budget by a recorded decision",
)
async def change_budget(proposal_id: uuid.UUID, body: BudgetChangeIn, ctx: Ctx, p: CurrentPrincipal) -> dict[str, Any]:
    return await works.change_budget(ctx, p, proposal_id, body.budget_yuan, body.decision)


# the page first: /notices/{notice_id} would take "<id>.html" for an id
@public.get(
    "/notices/{notice_id}.html",
    response_class=HTMLResponse,
    responses=problems(404),
    summary="The printable notice for the village board (A4, Chinese); no sign-in",
)
async def notice_page(notice_id: uuid.UUID, ctx: Ctx) -> HTMLResponse:
    return HTMLResponse(render.notice_html(await notice_cases.public_notice(ctx, notice_id)))


@public.get("/notices/{notice_id}", responses=problems(404), summary="A public notice (公示) as JSON; no sign-in")
async def notice_json(notice_id: uuid.UUID, ctx: Ctx) -> dict[str, Any]:
    return await notice_cases.public_notice(ctx, notice_id)


@public.post(
    "/notices/{notice_id}/objections",
    status_code=201,
    response_model=Received,
    responses={**problems(404, 422), **conflict("the notice period is over")},
    summary="Object to a notice during its period (异议), anonymously if you leave name and phone out",
)
async def object_to(notice_id: uuid.UUID, body: ObjectionIn, ctx: Ctx) -> dict[str, Any]:
    return await notice_cases.lodge_objection(ctx, notice_id, body.text, body.name, body.phone)

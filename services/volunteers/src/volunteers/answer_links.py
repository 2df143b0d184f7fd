"""Use cases of answer links: the link of an offer (made on first use, the same one afterwards), what a link
shows, and an answer through it. The token rules are domain/answer_links.py; the page is api/answer_page.py.

An answer through a link is the same use case as POST /v1/offers/{id}/accept|decline
(service.answer_offer), with the volunteer taken from the link instead of a token, and marks the link used in
the same transaction: a link answers once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from volunteers import queries, service
from volunteers.context import Connection, Context, fetch_one
from volunteers.domain import answer_links as link_rules
from volunteers.domain.tasks import OfferNoLongerOpen


@dataclass(frozen=True)
class OfferToLink:
    offer_id: uuid.UUID
    volunteer_id: uuid.UUID
    expires_at: datetime


def answer_url(ctx: Context, token: str) -> str:
    return f"{ctx.config.public_url}/a/{token}"


async def urls_for(con: Connection, ctx: Context, offers: Sequence[OfferToLink], now: datetime) -> dict[uuid.UUID, str]:
    """The answer URL of each offer, by offer id (the caller holds the transaction). A link is made the first
    time an offer is asked for; later calls find the same one, so every message about an offer has one URL."""
    by_offer = {o.offer_id: o for o in offers}
    if not by_offer:
        return {}
    await con.execute(
        queries.INSERT_ANSWER_LINKS,
        [link_rules.new_link_id() for _ in by_offer],
        list(by_offer),
        [o.expires_at for o in by_offer.values()],
        now,
    )
    key = link_rules.link_key(ctx.pseudonym_key)
    urls = {}
    for r in await con.fetch(queries.ANSWER_LINKS_OF_OFFERS, list(by_offer)):
        offer = by_offer[r["offer_id"]]
        urls[offer.offer_id] = answer_url(
            ctx, link_rules.token(key, r["id"], offer.offer_id, offer.volunteer_id, r["expires_at"])
        )
    return urls


@dataclass(frozen=True)
class Checked:
    link: asyncpg.Record  # queries.ANSWER_LINK: the link, its offer, task and grid name
    state: link_rules.LinkState
    now: datetime


async def _checked(con: Connection, ctx: Context, token: link_rules.ParsedToken) -> Checked:
    row = await con.fetchrow(queries.ANSWER_LINK, token.link_id)
    if row is None:
        raise link_rules.AnswerLinkInvalid("not an answer link")
    link_rules.check_mac(
        link_rules.link_key(ctx.pseudonym_key), token, row["offer_id"], row["volunteer_id"], row["link_expires_at"]
    )
    now = await con.fetchval(queries.DB_NOW)
    expires_at = min(row["link_expires_at"], row["offer_expires_at"])
    return Checked(
        row,
        link_rules.state(used_at=row["used_at"], offer_status=row["offer_status"], expires_at=expires_at, now=now),
        now,
    )


async def open_link(ctx: Context, raw_token: str) -> asyncpg.Record:
    """The offer and task a link answers, for the page; changes nothing (chat apps open links to preview them).
    AnswerLinkInvalid, AnswerLinkUsed or AnswerLinkExpired when it may not answer."""
    token = link_rules.parse(raw_token)
    async with ctx.pool.acquire() as con:
        checked = await _checked(con, ctx, token)
    link_rules.check_open(checked.state, checked.link["offer_status"])
    return checked.link


async def answer(ctx: Context, raw_token: str, accept: bool, reason: str | None) -> asyncpg.Record:
    """Accept or decline the link's offer and use the link up, in one transaction; the link as it is after."""
    token = link_rules.parse(raw_token)
    async with ctx.writing() as con:
        # the link's row first: two answers through one link run one after the other, the second finds it used
        if await con.fetchval(queries.LOCK_ANSWER_LINK, token.link_id) is None:
            raise link_rules.AnswerLinkInvalid("not an answer link")
        checked = await _checked(con, ctx, token)
        link = checked.link
        link_rules.check_open(checked.state, link["offer_status"])
        try:
            await service.answer_offer(con, ctx, link["offer_id"], link["volunteer_id"], accept, reason)
        except OfferNoLongerOpen as e:  # taken by the timer's expiry or a withdrawal since the check
            raise link_rules.AnswerLinkExpired(e.detail, status=e.status, allowed=[]) from None
        await con.execute(queries.USE_ANSWER_LINK, link["id"], checked.now, "accept" if accept else "decline")
        return await fetch_one(con, queries.ANSWER_LINK, link["id"])

"""The contact lookup of the notifications service: whom to tell about an offer or a pairing, and how.

Events carry only a volunteer's pseudonymous `volunteer_ref`; a service granted `volunteer_contact:read` asks
here, per offer (task id + ref) or pairing (pairing id + ref), for the volunteer's account, name and phone and,
for an offer still open, its answer link. Each volunteer found is an audited read of their name and phone
(personal_data_reads, one multi-row insert in the reads' transaction). A batch costs a fixed number of
statements, whatever its size: the offers of all its tasks, the pairings, the links and the audit rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from govkit.auth import Principal
from volunteers import access, answer_links, queries
from volunteers.context import Context, Row

AUDITED_FIELDS = ["name", "phone"]


@dataclass(frozen=True)
class ContactQuery:
    volunteer_ref: str
    task_id: uuid.UUID | None = None  # exactly one of task_id and pairing_id (checked at the edge)
    pairing_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Contact:
    volunteer_ref: str
    found: bool
    account_sub: str | None = None
    name: str | None = None
    phone: str | None = None
    offer_status: str | None = None
    expires_at: datetime | None = None
    answer_url: str | None = None
    task: dict[str, Any] | None = None


TASK_FIELDS = ("title", "task_type", "grid_id", "window_start", "window_end", "urgent")


def _person(ref: str, row: Row) -> dict[str, Any]:
    return {"volunteer_ref": ref, "found": True, **{k: row[k] for k in ("account_sub", "name", "phone")}}


async def lookup(ctx: Context, principal: Principal, asked: Sequence[ContactQuery]) -> list[Contact]:
    """One answer per query, in the order asked; found=False when the task has no offer to that volunteer, the
    pairing is not theirs, or either does not exist."""
    access.require_contact_reader(principal)
    task_ids = list({q.task_id for q in asked if q.task_id is not None})
    pairing_ids = list({q.pairing_id for q in asked if q.pairing_id is not None})
    refs: dict[uuid.UUID, str] = {}

    def ref_of(volunteer_id: uuid.UUID) -> str:
        if volunteer_id not in refs:
            refs[volunteer_id] = ctx.vref(volunteer_id)
        return refs[volunteer_id]

    async with ctx.pool.acquire() as con, con.transaction():
        now = await con.fetchval(queries.DB_NOW)
        offers = {
            (r["task_id"], ref_of(r["volunteer_id"])): r
            for r in (await con.fetch(queries.CONTACT_OFFERS, task_ids) if task_ids else [])
        }
        pairings = {
            r["pairing_id"]: r for r in (await con.fetch(queries.CONTACT_PAIRINGS, pairing_ids) if pairing_ids else [])
        }
        matches: list[Row | None] = []
        for q in asked:
            if q.task_id is not None:
                matches.append(offers.get((q.task_id, q.volunteer_ref)))
            else:
                pairing = pairings.get(q.pairing_id)
                mine = pairing is not None and ref_of(pairing["volunteer_id"]) == q.volunteer_ref
                matches.append(pairing if mine else None)
        open_offers = [
            answer_links.OfferToLink(r["offer_id"], r["volunteer_id"], r["expires_at"])
            for q, r in zip(asked, matches, strict=True)
            if q.task_id is not None and r is not None and r["offer_status"] == "pending" and r["expires_at"] > now
        ]
        urls = await answer_links.urls_for(con, ctx, open_offers, now)
        found = [r["volunteer_id"] for r in matches if r is not None]
        if found:
            await con.execute(queries.AUDIT_PERSONAL_READS, found, principal.sub, AUDITED_FIELDS)

    out = []
    for q, r in zip(asked, matches, strict=True):
        if r is None:
            out.append(Contact(volunteer_ref=q.volunteer_ref, found=False))
        elif q.task_id is not None:
            out.append(
                Contact(
                    **_person(q.volunteer_ref, r),
                    offer_status=r["offer_status"],
                    expires_at=r["expires_at"],
                    answer_url=urls.get(r["offer_id"]),
                    task={k: r[k] for k in TASK_FIELDS},
                )
            )
        else:
            out.append(Contact(**_person(q.volunteer_ref, r)))
    return out

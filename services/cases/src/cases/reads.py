"""Use cases of the cases service that read, for a signed-in caller: one case, its timeline, the list.
What a caller sees is authz.can_view; the list's SQL filter is its twin (queries.F_VISIBLE)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from cases import authz, queries, repository
from cases.domain.lifecycle import InvalidCaseInput
from cases.queries import CaseFilter
from cases.repository import Connection
from cases.service import CaseRef, Context
from gov_contracts.errors import NotFound
from govkit import pagination
from govkit.auth import PERSONAL_DATA, Principal


async def _visible(con: Connection, ref: CaseRef, principal: Principal) -> asyncpg.Record:
    row = await repository.find(con, ref)
    if row is None or not authz.can_view(principal, row):
        raise NotFound(f"no case {ref}")
    return row


async def get_case(ctx: Context, ref: CaseRef, principal: Principal) -> tuple[asyncpg.Record, dict[str, Any] | None]:
    """The case and, for a caller with personal_data:read, its reporter (the read is audited)."""
    async with ctx.pool.acquire() as con:
        row = await _visible(con, ref, principal)
        if not principal.can(PERSONAL_DATA):
            return row, None
        async with con.transaction():
            found = await con.fetchrow(queries.GET_REPORTER, row["id"])
            if found is None:
                return row, None
            await con.execute(queries.AUDIT_PERSONAL_READ, row["id"], principal.sub, ["name", "phone", "parties"])
    return row, dict(name=found["name"], phone=found["phone"], parties=found["parties"])


async def timeline(ctx: Context, ref: CaseRef, principal: Principal) -> list[asyncpg.Record]:
    """Every transition of the case and every step of the tasks it gave rise to, in order."""
    async with ctx.pool.acquire() as con:
        row = await _visible(con, ref, principal)
        return list(await con.fetch(queries.TIMELINE, row["id"]))


async def list_cases(ctx: Context, wanted: CaseFilter, principal: Principal) -> tuple[list[asyncpg.Record], str | None]:
    """One page of the cases the caller sees, newest first, and the cursor of the next page (None at the end)."""
    unknown = [c for c in wanted.categories if c not in ctx.policy.categories]
    if unknown:  # as a create refuses it: an empty list would say "no such cases", not "no such category"
        raise InvalidCaseInput(
            "query.category", f"one of {', '.join(ctx.policy.categories)}", detail=f"unknown category {unknown[0]!r}"
        )
    sql, args = queries.list_cases_sql(wanted, scopes=authz.scopes(principal), sub=principal.sub)
    async with ctx.pool.acquire() as con, con.transaction():
        await con.execute(queries.FORCE_CUSTOM_PLAN)
        rows = await con.fetch(sql, *args)
    return pagination.page(list(rows), wanted.limit)


async def notes(ctx: Context, ref: CaseRef, principal: Principal) -> list[tuple[asyncpg.Record, list[asyncpg.Record]]]:
    """The case's progress notes, newest first, each with its attachments in upload order."""
    async with ctx.pool.acquire() as con:
        row = await _visible(con, ref, principal)
        found = await con.fetch(queries.CASE_NOTES, row["id"])
        files = await con.fetch(queries.CASE_NOTE_ATTACHMENTS, row["id"])
    by_note: dict[Any, list[asyncpg.Record]] = {}
    for f in files:
        by_note.setdefault(f["note_id"], []).append(f)
    return [(n, by_note.get(n["id"], [])) for n in found]


async def attachment(
    ctx: Context, ref: CaseRef, attachment_id: str, principal: Principal
) -> tuple[asyncpg.Record, bytes]:
    """One attachment's record and bytes, for whoever sees the case; the download is recorded in
    personal_data_reads (a photo may show people and places) as `attachment:<id>`."""
    try:
        wanted = uuid.UUID(attachment_id)
    except ValueError:
        raise NotFound(f"no attachment {attachment_id}") from None
    async with ctx.pool.acquire() as con:
        row = await _visible(con, ref, principal)
        found = await con.fetchrow(queries.CASE_ATTACHMENT, row["id"], wanted)
        if found is None:
            raise NotFound(f"no attachment {attachment_id}")
    # no connection held while a remote store answers
    stored = await ctx.blobs.get(found["storage_key"])
    if stored is None:
        raise RuntimeError(f"attachment {attachment_id}: nothing stored under {found['storage_key']}")
    async with ctx.pool.acquire() as con:
        await con.execute(queries.AUDIT_PERSONAL_READ, row["id"], principal.sub, [f"attachment:{wanted}"])
    return found, stored[0]

"""Use cases of the cases service that write: each runs in one transaction and writes its events
to the outbox in that transaction. Load, authorize, apply the domain's rule, save, publish;
refusals are gov_contracts.errors, mapped to HTTP at the edge."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from cases import authz, queries, repository
from cases.attachments import CleanFile
from cases.domain import lifecycle
from cases.domain.lifecycle import SYSTEM, ActionInput, Actor, Case, InvalidCaseInput
from cases.domain.model import Action, Level, Status
from cases.domain.policy import Policy
from cases.grid_locator import GridLocator
from cases.repository import Connection
from cases.storage import PostgresStorage, Storage
from gov_contracts import CloudEvent
from gov_contracts import cases as events
from gov_contracts.errors import Forbidden, InvalidInput, NotFound
from gov_contracts.tasks import TaskFacts
from govkit import pseudonym
from govkit.auth import Principal
from govkit.clock import Clock, SystemClock

__all__ = [
    "ActionInput",
    "Context",
    "NewCase",
    "act",
    "add_attachment",
    "add_note",
    "add_report_media",
    "store_report_media",
    "create_case",
    "intake_ticket",
    "record_callback",
    "on_task_event",
    "rate",
    "sweep_deadlines",
]

CaseRef = str | uuid.UUID  # an id or a number such as CP-2026-000123


@dataclass
class Context:
    pool: asyncpg.Pool
    policy: Policy
    pseudonym_key: str
    number_prefix: str = "CP"
    duplicate_threshold: float = 0.3
    clock: Clock = field(default_factory=SystemClock)  # the time every write records (CASES_CLOCK_FILE: a drill)
    storage: Storage | None = None  # where attachment bytes go; None: the cases schema (PostgresStorage)
    attachment_max_bytes: int = 10 * 1024 * 1024
    attachment_max_files: int = 5

    grids: GridLocator | None = None  # point → grid; None: one over the pool, made on first use

    @property
    def locator(self) -> GridLocator:
        if self.grids is None:
            self.grids = GridLocator(self.pool)
        return self.grids

    @property
    def blobs(self) -> Storage:
        if self.storage is None:
            self.storage = PostgresStorage(self.pool)
        return self.storage


# -- creating ---------------------------------------------------------------------------------------------------


@dataclass
class NewCase:
    category: str
    title: str
    description: str
    grid_id: str | None  # None: placed by lat/lon (place_in_grid)
    severity: str
    source: str
    address: str | None = None
    lat: float | None = None
    lon: float | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    parties: list[dict] | None = None
    attachments: list[str] | None = None
    tags: list[str] | None = None
    external_source: str | None = None  # a ticket of an outside system (12345 工单): the system and its id
    external_id: str | None = None


class IdempotencyKeyReused(InvalidInput):
    title = "Idempotency-Key reused"

    def __init__(self) -> None:
        super().__init__("header.Idempotency-Key", "reused with a different body")
        self.detail = "this Idempotency-Key was used for a different request"
        self.args = (self.detail,)


# fields NewCase gained after Idempotency-Keys were stored: left out of the hash while unset, so that a retry of a
# request stored before them still hashes as it did
LATER_FIELDS = ("external_source", "external_id")


def request_hash(payload: dict) -> str:
    kept = {k: v for k, v in payload.items() if not (k in LATER_FIELDS and v is None)}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


async def _replay(con: Connection, principal_sub: str, key: str, rhash: str) -> asyncpg.Record | None:
    found = await con.fetchrow(queries.IDEMPOTENCY_GET, principal_sub, key)
    if found is None:
        return None
    if found["request_hash"] != rhash:
        raise IdempotencyKeyReused()
    return await con.fetchrow(queries.GET_CASE, found["case_id"])


# how far (metres) a case's point may lie outside the grid it names: GPS error and a reporter at the grid's edge
GRID_TOLERANCE_M = 30.0


async def place_in_grid(ctx: Context, new: NewCase) -> str:
    """The case's grid: the one it names, or the one holding its point (lon, lat) when it names none.

    No grid and no point: 422 naming body.grid_id. A point in no grid's shape: 422 naming body.lat. A grid and a
    point more than GRID_TOLERANCE_M outside that grid's shape: 422 naming body.lat. When the area copy holds no
    grid shapes at all (an area file without geometry), a point places nothing and the grid is required, as
    before; a named grid without a shape is not checked against the point."""
    lat, lon = new.lat, new.lon
    if lat is None or lon is None:
        if new.grid_id is None:
            raise InvalidCaseInput(
                "body.grid_id", "Field required", detail="a grid_id is required (or lat and lon to place the case by)"
            )
        return new.grid_id
    index = await ctx.locator.index()
    if new.grid_id is None:
        if not len(index):
            raise InvalidCaseInput(
                "body.grid_id",
                "Field required",
                detail="a grid_id is required: the area tree has no grid shapes to place lat/lon in",
            )
        found = index.grid_at(lon, lat)
        if found is None:
            raise InvalidCaseInput(
                "body.lat", "in no grid", detail=f"the point lat {lat}, lon {lon} lies in no grid of the area tree"
            )
        return found
    away = index.distance_m(new.grid_id, lon, lat)
    if away is not None and away > GRID_TOLERANCE_M:
        raise InvalidCaseInput(
            "body.lat",
            f"not in grid {new.grid_id}",
            detail=f"the point lat {lat}, lon {lon} lies {away:.0f} m outside grid {new.grid_id} "
            f"(at most {GRID_TOLERANCE_M:.0f} m allowed)",
        )
    return new.grid_id


def _check_new(ctx: Context, new: NewCase, grid_id: str, principal: Principal) -> None:
    if not authz.can_create(principal, grid_id):
        raise Forbidden(f"you may not report cases in {grid_id}")
    if new.category not in ctx.policy.categories:
        raise InvalidCaseInput(
            "body.category", f"one of {', '.join(ctx.policy.categories)}", detail=f"unknown category {new.category!r}"
        )


@dataclass(frozen=True)
class _Refs:
    """Pseudonymous references of the people and the place, for the events."""

    reporter: str
    address: str | None
    parties: list[str]


def _refs(key: str, new: NewCase, account: str) -> _Refs:
    reporter = (
        pseudonym.ref(key, "person", f"phone:{new.reporter_phone}")
        if new.reporter_phone
        else pseudonym.ref(key, "account", account)
    )
    return _Refs(
        reporter,
        pseudonym.ref(key, "address", new.address) if new.address else None,
        [pseudonym.ref(key, "person", f"{p.get('name', '')}|{p.get('phone', '')}") for p in (new.parties or [])],
    )


async def create_case(
    ctx: Context,
    new: NewCase,
    *,
    principal: Principal,
    reporter_sub: str | None,
    idempotency_key: str | None = None,
    claim_as: str | None = None,
) -> tuple[asyncpg.Record, bool]:
    """Returns (case, created); created is False when the Idempotency-Key replays an earlier request.

    One statement (queries.CREATE_CASE) is the whole create: one round trip, one transaction. When it stores
    nothing, either a twin request holds the Idempotency-Key (its case is the answer, or a different body is
    refused) or the grid is not a grid of the area tree. A case without a grid is placed by its point first
    (place_in_grid); the Idempotency-Key's hash is of the request as sent. `claim_as`: whose key it is, when not
    the caller's (a ticket's key is its system's)."""
    claimant = claim_as or principal.sub
    rhash = request_hash(new.__dict__)
    grid_id = await place_in_grid(ctx, new)
    new = dataclasses.replace(new, grid_id=grid_id)
    _check_new(ctx, new, grid_id, principal)
    refs = _refs(ctx.pseudonym_key, new, reporter_sub or principal.sub)
    # one instant for the case's times and its deadline (CREATE_CASE's $33 and $19), to the microsecond
    now = ctx.clock.now()
    accept_due, _ = ctx.policy.due(new.category, new.severity, now)
    async with ctx.pool.acquire() as con:
        for _attempt in range(2):
            case_id = uuid.uuid4()
            event = repository.outbox_values(_reported(new, grid_id, case_id, refs, principal.sub), key=str(case_id))
            row = await con.fetchrow(
                queries.CREATE_CASE,
                case_id,
                ctx.number_prefix,
                new.category,
                new.title,
                new.description,
                grid_id,
                new.address,
                refs.address,
                new.lat,
                new.lon,
                new.source,
                new.severity,
                Level.grid.value,
                refs.reporter,
                reporter_sub,
                refs.parties,
                new.attachments or [],
                new.tags or [],
                accept_due,
                ctx.duplicate_threshold,
                new.reporter_name,
                new.reporter_phone,
                new.parties or [],
                principal.sub,
                claimant if idempotency_key else None,
                idempotency_key,
                rhash,
                *event,
                now,
                new.external_source,
                new.external_id,
            )
            if row is not None:
                return row, True
            if idempotency_key:
                prior = await _replay(con, claimant, idempotency_key, rhash)
                if prior is not None:
                    return prior, False
            if await con.fetchval(queries.GRID_EXISTS, grid_id) != "grid":
                raise InvalidCaseInput("body.grid_id", "not a known grid", detail=f"{grid_id!r} is not a known grid")
            # a grid, and no twin holds the key any more (it was deleted after this statement saw it): once more
    raise RuntimeError("create_case: the Idempotency-Key was held and then gone, twice")


def _reported(new: NewCase, grid_id: str, case_id: uuid.UUID, refs: _Refs, actor: str) -> events.CaseReportedV2:
    """The event of a new case, but for queries.EVENT_FILLED_IN_SQL: CREATE_CASE sets those from the stored case
    (the values here only stand in for them)."""
    return events.CaseReportedV2(
        case_id=str(case_id),
        number="",
        category=new.category,
        severity=new.severity,
        grid_id=grid_id,
        status=Status.reported.value,
        level=Level.grid.value,
        occurred_at=_STAND_IN_TIME,
        actor=actor,
        reason=None,
        accept_due=None,
        resolve_due=None,
        title=new.title,
        source=new.source,
        reporter_ref=refs.reporter,
        address_ref=refs.address,
        party_refs=refs.parties,
        tags=new.tags or [],
        duplicate_candidates=[],
        external_source=new.external_source,
        external_id=new.external_id,
    )


_STAND_IN_TIME = datetime(1970, 1, 1, tzinfo=UTC)


# -- external tickets (12345 工单) -----------------------------------------------------------------------------------


async def intake_ticket(ctx: Context, new: NewCase, *, principal: Principal) -> tuple[asyncpg.Record, bool]:
    """The case of an outside system's ticket: made on the first intake, the same case on every later one (even
    with a changed body: the ticket is the case). Returns (case, created). Two intakes at once make one case: the
    ticket is claimed as an Idempotency-Key of `ticket:<source>` (and a unique index holds whatever slips by)."""
    assert new.external_source and new.external_id
    async with ctx.pool.acquire() as con:
        known = await con.fetchrow(queries.TICKET_CASE, new.external_source, new.external_id)
    if known is not None:
        return known, False
    try:
        row, created = await create_case(
            ctx,
            new,
            principal=principal,
            reporter_sub=principal.sub,
            idempotency_key=new.external_id,
            claim_as=f"ticket:{new.external_source}",
        )
    except (IdempotencyKeyReused, asyncpg.UniqueViolationError):
        row, created = None, False
    if row is None or not created:
        async with ctx.pool.acquire() as con:
            row = await con.fetchrow(queries.TICKET_CASE, new.external_source, new.external_id)
        assert row is not None, "a ticket claimed is a case"
    return row, created


CALLBACK_RESULTS = ("satisfied", "basically_satisfied", "unsatisfied", "unreachable")


async def record_callback(
    ctx: Context, case_ref: CaseRef, result: str, note: str | None, principal: Principal
) -> asyncpg.Record:
    """The hotline's call-back (回访) of a ticket's reporter after the case was resolved; once, unless the
    reporter could not be reached before."""
    async with ctx.pool.acquire() as con, con.transaction():
        row = await _in_purview(con, case_ref, principal, "record a call-back for")
        case = repository.to_case(row)
        lifecycle.check_callback(case, row["external_id"], row["callback_result"])
        now = ctx.clock.now()
        saved = await con.fetchrow(queries.RECORD_CALLBACK, case.id, result, now)
        assert saved is not None
        after = repository.to_case(saved)
        await repository.add_transition(
            con, "callback", case, after, actor=principal.sub, reason=note, data={"result": result}
        )
        await repository.publish(
            con,
            events.CaseCallbackRecorded(
                **lifecycle.facts(after, principal.sub, note),
                result=result,
                external_source=row["external_source"],
                external_id=row["external_id"],
            ),
        )
        return saved


# -- actions ------------------------------------------------------------------------------------------------------


async def act(
    ctx: Context, case_ref: CaseRef, action: Action, inp: ActionInput, *, principal: Principal
) -> asyncpg.Record:
    """`principal` does `action` to the case; the case as saved."""
    async with ctx.pool.acquire() as con, con.transaction():
        row = await repository.find(con, case_ref, for_update=True)
        if row is None or not authz.can_view(principal, row):
            raise NotFound(f"no case {case_ref}")
        # before authorization, as the HTTP API always answered: a request without the field is 422, not 403
        lifecycle.require_input(action, inp)
        denial = authz.act_denial(principal, row, action)
        if denial:
            raise Forbidden(denial)
        target = await _merge_target(con, inp, principal) if action is Action.merge else None
        actor = Actor(principal.sub, level=authz.staff_level(principal))
        return await _apply(con, ctx, repository.to_case(row), action, inp, actor, target)


async def _merge_target(con: Connection, inp: ActionInput, principal: Principal) -> Case | None:
    if not inp.into:
        return None  # lifecycle.apply refuses the merge
    target = await repository.find(con, inp.into)
    if target is None or not authz.in_purview(principal, target):
        raise InvalidCaseInput("body.into", "no such case", detail=f"no case {inp.into}")
    return repository.to_case(target)


def _timeline_data(inp: ActionInput, target: Case | None, actor: Actor) -> dict[str, Any]:
    data = dict(
        unit_level=inp.unit_level,
        unit_id=inp.unit_id,
        assignee=inp.assignee,
        resolution=inp.resolution,
        court=inp.court,
        outcome=inp.outcome,
        into=str(target.id) if target else None,
        due=inp.due.isoformat() if inp.due else None,
        automatic=actor.automatic or None,
    )
    return {k: v for k, v in data.items() if v is not None}


async def _apply(
    con: Connection,
    ctx: Context,
    case: Case,
    action: Action,
    inp: ActionInput,
    actor: Actor,
    target: Case | None,
    now: datetime | None = None,
) -> asyncpg.Record:
    now = now or ctx.clock.now()
    new, event = lifecycle.apply(case, action, inp, now, ctx.policy, actor=actor, target=target)
    saved = await repository.save(con, new)
    await repository.add_transition(
        con, action.value, case, new, actor=actor.id, reason=inp.reason, data=_timeline_data(inp, target, actor)
    )
    await repository.publish(con, event)
    if target is not None:
        # the count is raised in SQL: the target is not locked, and another merge may raise it at the same time
        raised = repository.to_case(await repository.raise_report_count(con, target.id, case.report_count, now))
        await repository.add_transition(
            con,
            "absorb",
            raised,
            raised,
            actor=actor.id,
            reason=inp.reason,
            data={"merged_case": str(case.id), "number": case.number},
        )
        await repository.publish(con, lifecycle.report_count_raised(raised, case, actor.id, inp.reason))
    return saved


# -- deadlines ----------------------------------------------------------------------------------------------------


async def sweep_deadlines(ctx: Context, *, now: datetime | None = None, batch: int = 100) -> int:
    """Mark cases past their deadline overdue and escalate them one level.

    Safe with many replicas: each due case is locked (SKIP LOCKED) by one sweeper,
    and the escalation moves its deadline, so it is handled once.
    """
    handled = 0
    while True:
        async with ctx.pool.acquire() as con, con.transaction():
            at = now or ctx.clock.now()
            ids = [r["id"] for r in await con.fetch(queries.DUE_CASES, at, batch)]
            for case_id in ids:
                await _overdue(con, ctx, case_id, at)
        handled += len(ids)
        if len(ids) < batch:
            return handled


async def _overdue(con: Connection, ctx: Context, case_id: uuid.UUID, now: datetime) -> None:
    case = repository.to_case(await repository.get(con, case_id))
    marked, event, escalate = lifecycle.mark_overdue(case, now)
    await repository.save(con, marked)
    await repository.add_transition(
        con, "overdue", case, marked, actor=SYSTEM, reason=event.reason, data={"due_at": event.due_at.isoformat()}
    )
    await repository.publish(con, event)
    if escalate:
        await _apply(con, ctx, marked, Action.escalate, ActionInput(reason=event.reason), lifecycle.TIMER, None, now)


# -- other writes -------------------------------------------------------------------------------------------------


async def _in_purview(con: Connection, case_ref: CaseRef, principal: Principal, what: str) -> asyncpg.Record:
    """The case locked for a write that its staff or reporter may make, not a dispatched assignee from outside."""
    row = await repository.find(con, case_ref, for_update=True)
    if row is None or not authz.can_view(principal, row):
        raise NotFound(f"no case {case_ref}")
    if not authz.in_purview(principal, row):
        raise Forbidden(f"as the dispatched assignee you may read, start and resolve this case, not {what} it")
    return row


async def rate(ctx: Context, case_ref: CaseRef, score: int, note: str | None, principal: Principal) -> asyncpg.Record:
    async with ctx.pool.acquire() as con, con.transaction():
        row = await _in_purview(con, case_ref, principal, "rate")
        case = repository.to_case(row)
        lifecycle.check_rateable(case, row["satisfaction"])
        now = ctx.clock.now()
        new = await repository.rate(con, case.id, score, note, now)
        rated = repository.to_case(new)
        await repository.add_transition(
            con, "rate", case, rated, actor=principal.sub, reason=note, data={"satisfaction": score}
        )
        await repository.publish(
            con, events.CaseRated(**lifecycle.facts(rated, principal.sub, note), satisfaction=score)
        )
        return new


async def add_attachment(ctx: Context, case_ref: CaseRef, url: str, principal: Principal) -> asyncpg.Record:
    async with ctx.pool.acquire() as con, con.transaction():
        case = repository.to_case(await _in_purview(con, case_ref, principal, "attach files to"))
        now = ctx.clock.now()
        new = await repository.add_attachment(con, case.id, url, now)
        await repository.add_transition(
            con, "attach", case, repository.to_case(new), actor=principal.sub, reason=None, data={"url": url}
        )
        return new


async def add_note(
    ctx: Context, case_ref: CaseRef, text: str, files: list[CleanFile], principal: Principal
) -> tuple[asyncpg.Record, list[asyncpg.Record]]:
    """A progress note (办理记录) by whoever may act on the case, its dispatched assignee included, with its
    files (already checked and stripped by cases.attachments); on the timeline as `note`. No event: the
    contracts have none for a note (a `gov.case.note_added.v1` would be the place)."""
    async with ctx.pool.acquire() as con:
        row = await repository.find(con, case_ref)
        if row is None or not authz.can_view(principal, row):
            raise NotFound(f"no case {case_ref}")
        denial = authz.note_denial(principal, row)
        if denial:
            raise Forbidden(denial)
    case_id = row["id"]
    ids = [uuid.uuid4() for _ in files]
    # the bytes first, outside the transaction (a remote store must not hold it open); a failed insert
    # below leaves unreferenced blobs, never a note whose file is missing
    for attachment_id, f in zip(ids, files, strict=True):
        await ctx.blobs.put(_blob_key(case_id, attachment_id), f.data, f.content_type)
    async with ctx.pool.acquire() as con, con.transaction():
        locked = await repository.find(con, case_id, for_update=True)
        assert locked is not None, "a case is never deleted"
        case = repository.to_case(locked)
        now = ctx.clock.now()
        note_id = uuid.uuid4()
        note = await con.fetchrow(queries.INSERT_NOTE, note_id, case_id, principal.sub, text, now)
        stored = [
            await con.fetchrow(
                queries.INSERT_NOTE_ATTACHMENT,
                attachment_id,
                case_id,
                note_id,
                i,
                f.filename,
                f.content_type,
                len(f.data),
                f.sha256,
                _blob_key(case_id, attachment_id),
                now,
            )
            for i, (attachment_id, f) in enumerate(zip(ids, files, strict=True))
        ]
        await repository.add_transition(
            con,
            "note",
            case,
            dataclasses.replace(case, updated_at=now),
            actor=principal.sub,
            reason=text,
            data={"note_id": str(note_id), "attachments": [str(a) for a in ids]},
        )
        assert note is not None
        return note, [a for a in stored if a is not None]


async def store_report_media(ctx: Context, media_id: uuid.UUID, f: CleanFile) -> None:
    """The bytes of an Open311 report's media, stored before its case exists (the case carries its URL)."""
    await ctx.blobs.put(f"open311/{media_id}", f.data, f.content_type)


async def add_report_media(ctx: Context, case_id: uuid.UUID, media_id: uuid.UUID, f: CleanFile) -> None:
    """The record of a report's media (no note): served publicly while the category is `public`."""
    async with ctx.pool.acquire() as con:
        await con.execute(
            queries.INSERT_NOTE_ATTACHMENT,
            media_id,
            case_id,
            None,
            0,
            f.filename,
            f.content_type,
            len(f.data),
            f.sha256,
            f"open311/{media_id}",
            ctx.clock.now(),
        )


def _blob_key(case_id: uuid.UUID, attachment_id: uuid.UUID) -> str:
    return f"cases/{case_id}/{attachment_id}"


# -- consumer handlers --------------------------------------------------------------------------------------------


async def on_task_event(con: asyncpg.Connection, event: TaskFacts, env: CloudEvent) -> None:
    """A task's progress appears on the timeline of the case it came from."""
    if not event.case_id:
        return
    try:
        case_id = uuid.UUID(event.case_id)
    except ValueError:
        return
    await con.execute(
        queries.INSERT_TASK_EVENT,
        env.id,
        case_id,
        event.task_id,
        env.type,
        event.status,
        event.volunteer_ref,
        event.note,
        event.occurred_at,
    )

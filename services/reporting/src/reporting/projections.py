"""Projections of case, task and volunteer events into the reporting schema.

Each handler runs inside the consumer's inbox transaction. Rollups are updated
incrementally per ISO week and per area level (r_rollup, r_open), so a weekly
report reads a few rows of its own area.
Table names are unqualified: `rebuild` runs the same handlers against shadow
tables that its session sees under these names.
"""
from __future__ import annotations

import uuid

from gov_contracts import CloudEvent
from gov_contracts import cases as C
from gov_contracts import tasks as K
from gov_contracts import volunteers as V
from govkit.consumer import PoisonEvent

LEVELS = ("grid", "village", "town", "county")
ENDED = ("closed", "rejected", "withdrawn", "merged")

DAY = "(($1::timestamptz) at time zone 'Asia/Shanghai')::date"
WEEK = "date_trunc('week', ($1::timestamptz) at time zone 'Asia/Shanghai')::date"

# one row per level: the grid, its village and its town
BUMP = f"""
insert into r_rollup (week, area_id, category, metric, n)
select {WEEK}, a, $3, $4, $5 from unnest($2::text[]) a
on conflict (area_id, week, category, metric) do update set n = r_rollup.n + excluded.n
"""
OPEN_DELTA = """
insert into r_open (area_id, category, n) select a, $2, $3 from unnest($1::text[]) a
on conflict (area_id, category) do update set n = r_open.n + excluded.n
"""


def levels(grid_id: str) -> list[str]:
    parts = grid_id.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


INSERT_CASE = """
insert into r_cases (case_id, number, category, severity, grid_id, grid_path, title, tags, status, level, max_level,
                     reporter_ref, address_ref, party_refs, reported_at, updated_at)
values ($1, $2, $3, $4, $5::text, $5::text::ltree, $6, $7, $8, $9, $9, $10, $11, $12, $13, $13)
on conflict (case_id) do nothing
"""
UPDATE_CASE = """
update r_cases set status = $2, level = $3,
    max_level = case when array_position($4::text[], $3) > array_position($4::text[], max_level) then $3 else max_level end,
    updated_at = $5
where case_id = $1
returning *
"""
SET = "update r_cases set {col} = $2 where case_id = $1"
CLOSE = "update r_cases set closed_at = $2, ended_at = $2, on_time = $3 where case_id = $1"


async def _bump(con, at, grid, category, metric, n=1):
    await con.execute(BUMP, at, levels(grid), category, metric, n)


async def on_case_event(con, ev: C.CaseFacts, env: CloudEvent) -> None:
    kind = env.type.split(".")[2]
    at, grid, cat = ev.occurred_at, ev.grid_id, ev.category
    if kind == "reported":
        await con.execute(INSERT_CASE, _uuid(ev.case_id), ev.number, cat, ev.severity, grid, ev.title, ev.tags,
                          ev.status, ev.level, ev.reporter_ref, ev.address_ref, ev.party_refs, at)
        await _bump(con, at, grid, cat, "new")
        await con.execute(OPEN_DELTA, levels(grid), cat, 1)
        return
    row = await con.fetchrow(UPDATE_CASE, _uuid(ev.case_id), ev.status, ev.level, list(LEVELS), at)
    if row is None:
        return  # an event of a case reported before this projection's history: nothing to attach it to
    cid = row["case_id"]
    if kind == "accepted":
        await con.execute(SET.format(col="accepted_at"), cid, at)
        await _bump(con, at, grid, cat, "accepted")
    elif kind in ("resolved", "referral_outcome_recorded"):
        await con.execute(SET.format(col="resolved_at"), cid, at)
        await _bump(con, at, grid, cat, "resolved")
    elif kind == "closed":
        await con.execute(CLOSE, cid, at, ev.on_time)
        await _bump(con, at, grid, cat, "closed")
        await _ended(con, at, grid, cat)
    elif kind in ("rejected", "withdrawn", "merged"):
        await con.execute(SET.format(col="ended_at"), cid, at)
        await _bump(con, at, grid, cat, kind)
        await _ended(con, at, grid, cat)
    elif kind == "escalated":
        await con.execute(SET.format(col="escalations"), cid, row["escalations"] + 1)
        await _bump(con, at, grid, cat, "escalated")
    elif kind == "overdue":
        await con.execute(SET.format(col="overdue"), cid, True)
        await _bump(con, at, grid, cat, "overdue")
    elif kind == "referred":
        await con.execute(SET.format(col="referred"), cid, True)
        await _bump(con, at, grid, cat, "referred")
    elif kind == "reopened":
        await con.execute(SET.format(col="reopen_count"), cid, ev.reopen_count)
        await _bump(con, at, grid, cat, "reopened")
    elif kind == "rated":
        await con.execute(SET.format(col="satisfaction"), cid, ev.satisfaction)
        await con.execute(SET.format(col="rated_at"), cid, at)
    elif kind == "report_count_raised":
        await con.execute(SET.format(col="report_count"), cid, ev.report_count)
        await _bump(con, at, grid, cat, "repeat")


async def _ended(con, at, grid, cat):
    await _bump(con, at, grid, cat, "ended")
    await con.execute(OPEN_DELTA, levels(grid), cat, -1)


def _uuid(v: str):
    try:
        return uuid.UUID(v)
    except (TypeError, ValueError):
        raise PoisonEvent("schema_violation", f"{v!r} is not a UUID") from None


UPSERT_TASK = """
insert into r_tasks (task_id, task_type, grid_id, grid_path, case_id, status, created_at, updated_at)
values ($1, $2, $3::text, $3::text::ltree, $4, $5, $6, $6)
on conflict (task_id) do update set status = excluded.status, updated_at = excluded.updated_at
returning filled_at
"""
INSERT_HOURS = f"""
insert into r_hours (event_id, day, grid_id, grid_path, volunteer_ref, task_type, hours)
values ($2, {DAY}, $3::text, $3::text::ltree, $4, $5, $6)
on conflict (event_id) do nothing
"""


async def on_task_event(con, ev: K.TaskFacts, env: CloudEvent) -> None:
    kind = env.type.split(".")[2]
    at, grid, cat = ev.occurred_at, ev.grid_id, f"task:{ev.task_type}"
    filled = await con.fetchval(UPSERT_TASK, _uuid(ev.task_id), ev.task_type, grid,
                                _uuid(ev.case_id) if ev.case_id else None, ev.status, at)
    if kind == "created":
        await _bump(con, at, grid, cat, "task_created")
    elif kind == "assigned" and ev.status == "assigned" and filled is None:
        await con.execute("update r_tasks set filled_at = $2 where task_id = $1", _uuid(ev.task_id), at)
        await _bump(con, at, grid, cat, "task_filled")
    elif kind == "unfilled":
        await _bump(con, at, grid, cat, "task_unfilled")
    elif kind == "completed" and ev.volunteer_ref:
        await con.execute(INSERT_HOURS, at, env.id, grid, ev.volunteer_ref, ev.task_type, ev.hours)


UPSERT_VOLUNTEER = """
insert into r_volunteers (volunteer_ref, roles, party_member, home_grid) values ($1, $2, $3, $4)
on conflict (volunteer_ref) do update set roles = excluded.roles, party_member = excluded.party_member,
    home_grid = excluded.home_grid
"""


async def on_volunteer_event(con, ev: V.VolunteerFacts, env: CloudEvent) -> None:
    await con.execute(UPSERT_VOLUNTEER, ev.volunteer_ref, ev.roles, ev.party_member, ev.home_grid)


async def on_hours_corrected(con, ev: V.HoursCorrected, env: CloudEvent) -> None:
    grid = await con.fetchval("select home_grid from r_volunteers where volunteer_ref = $1", ev.volunteer_ref)
    if grid:
        await con.execute(INSERT_HOURS, ev.occurred_at, env.id, grid, ev.volunteer_ref, "correction", ev.hours_delta)


def handlers() -> dict:
    from gov_contracts.registry import REGISTRY
    from gov_contracts import topics as T
    out = {}
    for name, et in REGISTRY.items():
        if et.topic == T.CASES:
            out[name] = on_case_event
        elif et.topic == T.TASKS:
            out[name] = on_task_event
    out["gov.volunteer.registered.v1"] = on_volunteer_event  # records from before v2 stay on the topic
    out["gov.volunteer.registered.v2"] = on_volunteer_event
    out["gov.volunteer.updated.v1"] = on_volunteer_event
    out["gov.volunteer.hours_corrected.v1"] = on_hours_corrected
    return out

PROJECTION_TABLES = ("r_cases", "r_rollup", "r_open", "r_tasks", "r_volunteers", "r_hours")

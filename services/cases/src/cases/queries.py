"""Every SQL statement of the cases service, and the builder of the case list's statement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

# A create in one statement (one round trip, one transaction): the grid check, the Idempotency-Key claim, the
# duplicate search, the number, the case, its reporter row, the transition and the outbox event. It returns the
# case, or no row when the grid is not a grid of the area tree or a twin request holds the Idempotency-Key.
# The times are $33, the service's clock read once for the create (not the database's now()), and the accept
# deadline $19 is computed from that same instant in Python (Policy.due: hours or working days); the number comes
# from next_case_number (V004: a sequence per prefix and year of $33 in UTC). The event's payload ($32) is the
# CaseReportedV2 without what only the database knows: EVENT_FILLED_IN_SQL below, set from the stored case.
EVENT_FILLED_IN_SQL = ("number", "occurred_at", "accept_due", "duplicate_candidates")
CREATE_CASE = """
with grid as (
    select id from areas where id = $6::text and kind = 'grid'
),
claim as (
    insert into idempotency_keys (principal, key, request_hash, case_id)
    select $25::text, $26::text, $27::text, $1::uuid from grid where $26::text is not null
    on conflict (principal, key) do nothing
    returning case_id
),
dups as (
    select array(
        select id from cases
        where grid_id = $6::text and category = $3::text and created_at > $33::timestamptz - interval '72 hours'
          and status not in ('merged', 'rejected', 'withdrawn')
          and similarity(search_text, $4::text || ' ' || $5::text) >= $20::float4
        order by similarity(search_text, $4::text || ' ' || $5::text) desc, created_at desc
        limit 5
    ) as ids
),
c as (
    insert into cases (id, number, category, title, description, grid_id, area_path, address, address_ref, lat, lon,
                       source, severity, status, level, reporter_ref, reporter_sub, party_refs, attachments, tags,
                       duplicate_candidates, accept_due, due_at, created_at, updated_at, external_source, external_id)
    select $1::uuid, next_case_number($2::text, extract(year from $33::timestamptz at time zone 'UTC')::int), $3::text,
           $4::text, $5::text, grid.id, grid.id::ltree, $7::text, $8::text, $9::float8, $10::float8, $11::text,
           $12::text, 'reported', $13::text, $14::text, $15::text, $16::text[], $17::text[], $18::text[], dups.ids,
           $19::timestamptz, $19::timestamptz, $33::timestamptz, $33::timestamptz, $34::text, $35::text
    from grid, dups
    where $26::text is null or exists (select from claim)
    returning *
),
reporter as (
    insert into case_reporters (case_id, name, phone, parties)
    select id, $21::text, $22::text, $23::jsonb from c
),
transition as (
    insert into case_transitions (case_id, action, from_status, to_status, from_level, to_level, actor, reason, data,
                                  at)
    select id, 'report', null, status, null, level, $24::text, null,
           jsonb_build_object('duplicate_candidates', to_jsonb(duplicate_candidates::text[])), updated_at
    from c
),
event as (
    insert into outbox (event_id, topic, key, event_type, headers, payload)
    select $28::uuid, $29::text, id::text, $30::text, $31::jsonb,
           convert_to(($32::jsonb || jsonb_build_object(
               'number', number,
               'occurred_at', to_char(updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'accept_due', to_char(accept_due at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'duplicate_candidates', to_jsonb(duplicate_candidates::text[])))::text, 'UTF8')
    from c
)
select * from c
"""

GRID_EXISTS = "select kind from areas where id = $1"

TICKET_CASE = "select * from cases where external_source = $1 and external_id = $2"

RECORD_CALLBACK = """
update cases set callback_result = $2, callback_at = $3, updated_at = $3 where id = $1 returning *
"""

IDEMPOTENCY_GET = "select request_hash, case_id from idempotency_keys where principal = $1 and key = $2"

GET_CASE = "select * from cases where id = $1"
GET_CASE_FOR_UPDATE = "select * from cases where id = $1 for update"
GET_CASE_BY_NUMBER = "select * from cases where number = $1"
GET_CASE_BY_NUMBER_FOR_UPDATE = "select * from cases where number = $1 for update"

# what the lifecycle changes (domain.lifecycle.Case): $1 is the id, then these in this order
UPDATE_CASE_FIELDS = (
    "status",
    "level",
    "assigned_unit",
    "assignee",
    "accept_due",
    "resolve_due",
    "due_at",
    "overdue",
    "escalations",
    "reopen_count",
    "resolved_by",
    "resolved_at",
    "resolution",
    "referral_court",
    "merged_into",
    "closed_at",
    "updated_at",
    "extensions",
    "returns",
    "pending_kind",
    "pending_due",
    "pending_reason",
    "pending_by",
    "pending_at",
    "suspended_at",
    "suspended_from",
    "held_due",
    "suspended_seconds",
    "dispatched_at",
    "dispatched_from",
    "supervised_at",
    "supervising_level",
    "supervise_due",
)
UPDATE_CASE = (
    "update cases set "
    + ", ".join(f"{name} = ${n}" for n, name in enumerate(UPDATE_CASE_FIELDS, 2))
    + " where id = $1 returning *"
)

RAISE_REPORT_COUNT = """
update cases set report_count = report_count + $2, updated_at = $3 where id = $1 returning *
"""

RATE = "update cases set satisfaction = $2, satisfaction_note = $3, updated_at = $4 where id = $1 returning *"

ADD_ATTACHMENT = """
update cases set attachments = array_append(attachments, $2), updated_at = $3 where id = $1 returning *
"""

INSERT_TRANSITION = """
insert into case_transitions (case_id, action, from_status, to_status, from_level, to_level, actor, reason, data, at)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
"""

TIMELINE = """
select 'transition' as kind, action as what, from_status, to_status, from_level, to_level, actor,
       reason, data, at, id as seq
from case_transitions where case_id = $1
union all
select 'task', event_type, null, status, null, null, coalesce(volunteer_ref, 'volunteers'),
       note, jsonb_build_object('task_id', task_id), at, seq
from case_task_events where case_id = $1
order by at, kind desc, seq
"""

INSERT_TASK_EVENT = """
insert into case_task_events (event_id, case_id, task_id, event_type, status, volunteer_ref, note, at)
select $1, $2, $3, $4, $5, $6, $7, $8 where exists (select 1 from cases where id = $2)
on conflict (event_id) do nothing
"""

INSERT_NOTE = "insert into case_notes (id, case_id, author, text, at) values ($1, $2, $3, $4, $5) returning *"
INSERT_NOTE_ATTACHMENT = """
insert into case_attachments (id, case_id, note_id, position, filename, content_type, size, sha256, storage_key, at)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning *
"""
PUBLIC_MEDIA = """
select a.content_type, a.storage_key, c.category from case_attachments a join cases c on c.id = a.case_id
where a.id = $1 and a.note_id is null
"""
CASE_NOTES = "select * from case_notes where case_id = $1 order by at desc, id"
CASE_NOTE_ATTACHMENTS = "select * from case_attachments where case_id = $1 order by position"
CASE_ATTACHMENT = "select * from case_attachments where case_id = $1 and id = $2"

GET_REPORTER = "select name, phone, parties from case_reporters where case_id = $1"
AUDIT_PERSONAL_READ = "insert into personal_data_reads (case_id, reader, fields) values ($1, $2, $3)"

DUE_CASES = """
select id from cases
where due_at is not null and due_at <= $1
order by due_at
limit $2
for update skip locked
"""

# a cached generic plan cannot see the search text or the filters' selectivity (bench/README.md)
FORCE_CUSTOM_PLAN = "set local plan_cache_mode = force_custom_plan"

# list: fragments joined by list_cases_sql() and Open311's list; every value is a $n parameter
LIST_SELECT = "select * from cases"
LIST_ORDER = " order by created_at desc, id desc limit {limit}"
# what authz.can_view allows: the area scopes (authz.scopes), the reporter's own cases, the assignee's
F_VISIBLE = "(area_path <@ ${n}::ltree[] or reporter_sub = ${m} or assignee = ${m})"
F_AREA = "area_path <@ ${n}::ltree"
F_STATUS = "status = any(${n}::text[])"
F_CATEGORY = "category = any(${n}::text[])"
F_SEVERITY = "severity = any(${n}::text[])"
F_OVERDUE = "overdue = ${n} and status not in ('closed', 'rejected', 'withdrawn', 'merged')"
F_FROM = "created_at >= ${n}"
F_TO = "created_at < ${n}"
F_TEXT = "search_text ilike '%' || ${n} || '%'"
F_CURSOR = "(created_at, id) < (${n}, ${m})"

# Open311 GeoReport v2 (public_requests.py): public request lists by case number, and an inclusive end_date
F_NUMBERS = "number = any(${n}::text[])"
F_NOT_CATEGORY = "category <> all(${n}::text[])"
F_UNTIL = "created_at <= ${n}"


class Where:
    """A list statement being built: fragments above joined by `and`, their values numbered $1, $2, ..."""

    def __init__(self) -> None:
        self.fragments: list[str] = []
        self.args: list[Any] = []

    def add(self, fragment: str, *values: Any) -> None:
        """`fragment` names its one or two values {n} and {m}."""
        names = {}
        for key, value in zip(("n", "m"), values, strict=False):
            self.args.append(value)
            names[key] = len(self.args)
        self.fragments.append(fragment.format(**names))

    def sql(self, limit: int) -> str:
        return LIST_SELECT + " where " + " and ".join(self.fragments) + LIST_ORDER.format(limit=limit)


@dataclass(frozen=True)
class CaseFilter:
    """The filters of GET /v1/cases; `text` is searched as typed (no wildcards), `cursor` is decoded."""

    area: str | None = None
    statuses: Sequence[str] = ()
    categories: Sequence[str] = ()
    severities: Sequence[str] = ()
    overdue: bool | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    text: str | None = None
    cursor: tuple[datetime, UUID] | None = None
    limit: int = 20


def list_cases_sql(f: CaseFilter, *, scopes: list[str], sub: str) -> tuple[str, list[Any]]:
    """The statement and arguments of GET /v1/cases for a caller with these area scopes (authz.scopes) and subject:
    one row more than `f.limit`, so that the page knows whether another follows (govkit.pagination.page)."""
    where = Where()
    where.add(F_VISIBLE, scopes, sub)
    if f.area:
        where.add(F_AREA, f.area)
    if f.statuses:
        where.add(F_STATUS, list(f.statuses))
    if f.categories:
        where.add(F_CATEGORY, list(f.categories))
    if f.severities:
        where.add(F_SEVERITY, list(f.severities))
    if f.overdue is not None:
        where.add(F_OVERDUE, f.overdue)
    if f.created_from:
        where.add(F_FROM, f.created_from)
    if f.created_to:
        where.add(F_TO, f.created_to)
    if f.text:
        where.add(F_TEXT, f.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"))
    if f.cursor:
        where.add(F_CURSOR, *f.cursor)
    return where.sql(f.limit + 1), where.args


# -- GeoJSON
# the public map of an area's cases (public_requests.list_public_places): only cases with a point
F_PLACED = "lat is not null and lon is not null"

"""Every SQL statement of the cases service, and the builder of the case list's statement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

NEXT_NUMBER = """
insert into case_numbers (prefix, year, last) values ($1, $2, 1)
on conflict (prefix, year) do update set last = case_numbers.last + 1
returning last
"""

INSERT_CASE = """
insert into cases (id, number, category, title, description, grid_id, area_path, address, address_ref, lat, lon,
                   source, severity, status, level, reporter_ref, reporter_sub, party_refs, attachments, tags,
                   duplicate_candidates, accept_due, due_at, created_at, updated_at)
values ($1, $2, $3, $4, $5, $6::text, $6::text::ltree, $7, $8, $9, $10, $11, $12, 'reported', $13, $14, $15, $16,
        $17, $18, $19, $20, $20, $21, $21)
returning *
"""

INSERT_REPORTER = "insert into case_reporters (case_id, name, phone, parties) values ($1, $2, $3, $4)"

FIND_DUPLICATES = """
select id from cases
where grid_id = $1 and category = $2 and created_at > $3::timestamptz - interval '72 hours'
  and status not in ('merged', 'rejected', 'withdrawn')
  and similarity(search_text, $4) >= $5
order by similarity(search_text, $4) desc, created_at desc
limit 5
"""

GRID_EXISTS = "select kind from areas where id = $1"

IDEMPOTENCY_GET = "select request_hash, case_id from idempotency_keys where principal = $1 and key = $2"
IDEMPOTENCY_CLAIMED = "select case_id from idempotency_keys where principal = $1 and key = $2"
IDEMPOTENCY_PUT = """
insert into idempotency_keys (principal, key, request_hash, case_id) values ($1, $2, $3, $4)
on conflict (principal, key) do nothing
"""

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

GET_REPORTER = "select name, phone, parties from case_reporters where case_id = $1"
AUDIT_PERSONAL_READ = "insert into personal_data_reads (case_id, reader, fields) values ($1, $2, $3)"

DUE_CASES = """
select id from cases
where due_at is not null and due_at <= $1
order by due_at
limit $2
for update skip locked
"""

DB_NOW = "select now()"
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

"""The statements of the projections (reporting.projections), one per change they make.

Table names are unqualified: `rebuild` runs the same statements against shadow
tables that its session sees under these names. Days and weeks are those of
China Standard Time (gov_contracts.vocabulary.LOCAL_TZ).
"""

# $2: the area and every area above it (one row per level)
BUMP = """
insert into r_rollup (week, area_id, category, metric, n)
select date_trunc('week', ($1::timestamptz) at time zone 'Asia/Shanghai')::date, a, $3, $4, $5
from unnest($2::text[]) a
on conflict (area_id, week, category, metric) do update set n = r_rollup.n + excluded.n
"""
OPEN_DELTA = """
insert into r_open (area_id, category, n) select a, $2, $3 from unnest($1::text[]) a
on conflict (area_id, category) do update set n = r_open.n + excluded.n
"""

INSERT_CASE = """
insert into r_cases (case_id, number, category, severity, grid_id, grid_path, title, tags, status, level, max_level,
                     reporter_ref, address_ref, party_refs, reported_at, updated_at)
values ($1, $2, $3, $4, $5::text, $5::text::ltree, $6, $7, $8, $9, $9, $10, $11, $12, $13, $13)
on conflict (case_id) do nothing
"""
# $4: the levels lowest first, so that max_level is the highest level reached
ADVANCE_CASE = """
update r_cases set status = $2, level = $3,
    max_level = case when array_position($4::text[], $3) > array_position($4::text[], max_level) then $3
                     else max_level end,
    updated_at = $5
where case_id = $1
returning case_id
"""
SET_ACCEPTED_AT = "update r_cases set accepted_at = $2 where case_id = $1"
SET_RESOLVED_AT = "update r_cases set resolved_at = $2 where case_id = $1"
SET_ENDED_AT = "update r_cases set ended_at = $2 where case_id = $1"
CLOSE_CASE = "update r_cases set closed_at = $2, ended_at = $2, on_time = $3 where case_id = $1"
COUNT_ESCALATION = "update r_cases set escalations = escalations + 1 where case_id = $1"
MARK_OVERDUE = "update r_cases set overdue = true where case_id = $1"
MARK_REFERRED = "update r_cases set referred = true where case_id = $1"
SET_REOPEN_COUNT = "update r_cases set reopen_count = $2 where case_id = $1"
SET_REPORT_COUNT = "update r_cases set report_count = $2 where case_id = $1"
RATE_CASE = "update r_cases set satisfaction = $2, rated_at = $3 where case_id = $1"

UPSERT_TASK = """
insert into r_tasks (task_id, task_type, grid_id, grid_path, case_id, status, created_at, updated_at)
values ($1, $2, $3::text, $3::text::ltree, $4, $5, $6, $6)
on conflict (task_id) do update set status = excluded.status, updated_at = excluded.updated_at
returning filled_at
"""
SET_TASK_FILLED_AT = "update r_tasks set filled_at = $2 where task_id = $1"
INSERT_HOURS = """
insert into r_hours (event_id, day, grid_id, grid_path, volunteer_ref, task_type, hours)
values ($2, (($1::timestamptz) at time zone 'Asia/Shanghai')::date, $3::text, $3::text::ltree, $4, $5, $6)
on conflict (event_id) do nothing
"""

UPSERT_VOLUNTEER = """
insert into r_volunteers (volunteer_ref, roles, party_member, home_grid) values ($1, $2, $3, $4)
on conflict (volunteer_ref) do update set roles = excluded.roles, party_member = excluded.party_member,
    home_grid = excluded.home_grid
"""
VOLUNTEER_HOME_GRID = "select home_grid from r_volunteers where volunteer_ref = $1"

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
                     reporter_ref, address_ref, party_refs, reported_at, updated_at, resolve_due)
values ($1, $2, $3, $4, $5::text, $5::text::ltree, $6, $7, $8, $9, $9, $10, $11, $12, $13, $13, $14)
on conflict (case_id) do nothing
"""
# $4: the levels lowest first, so that max_level is the highest level reached; $6 the resolve deadline the event
# carries; suspended from the first event whose status is 'suspended' until one whose status is not
ADVANCE_CASE = """
update r_cases set status = $2, level = $3,
    max_level = case when array_position($4::text[], $3) > array_position($4::text[], max_level) then $3
                     else max_level end,
    updated_at = $5, resolve_due = $6,
    suspended_at = case when $2 = 'suspended' then coalesce(suspended_at, $5) end
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
SET_EXTENSIONS = "update r_cases set extensions = $2 where case_id = $1"
# the previous supervision's time, so the caller counts the case once a week (case_projection.supervised_anew)
SUPERVISE_CASE = """
update r_cases c set supervised_at = coalesce(c.supervised_at, $2), supervised_last = $2
from (select supervised_last from r_cases where case_id = $1) previous
where c.case_id = $1
returning previous.supervised_last
"""

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

# -- livelihood projects: every proposal event carries the proposal's facts after it (gov_contracts.livelihood) ----
# $1 id, $2 number, $3 village, $4 grids, $5 category, $6 flow, $7 stage, $8 stage rank, $9 budget, $10 occurred_at;
# the facts change only for an event at least as late as the one they are from (same instant: the later stage)
UPSERT_PROPOSAL = """
insert into r_livelihood_projects (proposal_id, number, village_id, village_path, grid_ids, category, flow, stage,
                                   stage_rank, budget_yuan, facts_at, first_at)
values ($1, $2, $3::text, $3::text::ltree, $4, $5, $6, $7, $8, $9, $10, $10)
on conflict (proposal_id) do update set number = excluded.number, village_id = excluded.village_id,
    village_path = excluded.village_path, grid_ids = excluded.grid_ids, category = excluded.category,
    flow = excluded.flow, stage = excluded.stage, stage_rank = excluded.stage_rank,
    budget_yuan = excluded.budget_yuan, facts_at = excluded.facts_at
where (excluded.facts_at, excluded.stage_rank) >= (r_livelihood_projects.facts_at, r_livelihood_projects.stage_rank)
"""
PROPOSAL_SEEN = "update r_livelihood_projects set first_at = least(first_at, $2) where proposal_id = $1"
INSERT_STEP = """
insert into r_livelihood_steps (event_id, proposal_id, occurred_at, stage, stage_rank, budget_yuan, spent_total_yuan)
values ($1, $2, $3, $4, $5, $6, $7)
on conflict (event_id) do nothing
"""
SET_SUBMITTED = """
update r_livelihood_projects set submitted_at = $2, title = $3, funding_source = $4, households = $5, people = $6,
    evidence_cases = $7
where proposal_id = $1
"""
# a later decision wins (there is one per proposal in the configured flows)
SET_DECIDED = """
update r_livelihood_projects set adopted = $2, decided_at = $3, meeting_kind = $4
where proposal_id = $1 and (decided_at is null or decided_at <= $3)
"""
# least() ignores nulls: the first time it happened, whatever order the events come in
SET_IMPLEMENTATION_STARTED = """
update r_livelihood_projects set implementation_started_at = least(implementation_started_at, $2) where proposal_id = $1
"""
SET_ACCEPTED = "update r_livelihood_projects set accepted_at = least(accepted_at, $2) where proposal_id = $1"
SET_RESULTS_PUBLISHED = """
update r_livelihood_projects set results_published_at = least(results_published_at, $2) where proposal_id = $1
"""
SET_SPENT = """
update r_livelihood_projects set spent_yuan = $2, spent_at = $3
where proposal_id = $1 and (spent_at is null or spent_at <= $3)
"""
UPSERT_MILESTONE = """
insert into r_livelihood_milestones (milestone_id, proposal_id, title, due_on, done_on, recorded_at, updated_at)
values ($1, $2, $3, $4, $5, $6, $6)
on conflict (milestone_id) do update set proposal_id = excluded.proposal_id, title = excluded.title,
    due_on = excluded.due_on, done_on = excluded.done_on, updated_at = excluded.updated_at
where excluded.updated_at >= r_livelihood_milestones.updated_at
"""
MILESTONE_SEEN = "update r_livelihood_milestones set recorded_at = least(recorded_at, $2) where milestone_id = $1"
UPSERT_MEETING = """
insert into r_livelihood_meetings (meeting_id, village_id, village_path, kind, starts_at, proposal_ids, noticed_at)
values ($1, $2::text, $2::text::ltree, $3, $4, $5, $6)
on conflict (meeting_id) do update set village_id = excluded.village_id, village_path = excluded.village_path,
    kind = excluded.kind, starts_at = excluded.starts_at, proposal_ids = excluded.proposal_ids,
    noticed_at = excluded.noticed_at
where excluded.noticed_at >= r_livelihood_meetings.noticed_at
"""

# -- the case events as runs (reporting.case_projection): rows and rollup deltas as arrays, one element per row -------
# $1..$8 case_id, number, category, severity, grid_id, title, reporter_ref, address_ref; $9..$30 the columns events
# change (case_projection.MUTABLE); $31/$32 and $33/$34 tags and party_refs, flat, and where each row's start
INSERT_CASES = """
insert into r_cases (case_id, number, category, severity, grid_id, grid_path, title, reporter_ref, address_ref,
                     status, level, max_level, report_count, reported_at, accepted_at, resolved_at, closed_at, ended_at,
                     rated_at, overdue, escalations, referred, reopen_count, on_time, satisfaction, updated_at,
                     resolve_due, extensions, supervised_at, supervised_last, suspended_at, tags, party_refs)
select u.case_id, u.number, u.category, u.severity, u.grid_id, u.grid_id::ltree, u.title, u.reporter_ref, u.address_ref,
       u.status, u.level, u.max_level, u.report_count, u.reported_at, u.accepted_at, u.resolved_at, u.closed_at,
       u.ended_at, u.rated_at, u.overdue, u.escalations, u.referred, u.reopen_count, u.on_time, u.satisfaction,
       u.updated_at, u.resolve_due, u.extensions, u.supervised_at, u.supervised_last, u.suspended_at,
       ($31::text[])[($32::int[])[u.i] : ($32::int[])[u.i + 1] - 1],
       ($33::text[])[($34::int[])[u.i] : ($34::int[])[u.i + 1] - 1]
from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::text[], $10::text[], $11::text[], $12::int[], $13::timestamptz[], $14::timestamptz[],
            $15::timestamptz[], $16::timestamptz[], $17::timestamptz[], $18::timestamptz[], $19::bool[], $20::int[],
            $21::bool[], $22::int[], $23::bool[], $24::int[], $25::timestamptz[], $26::timestamptz[], $27::int[],
            $28::timestamptz[], $29::timestamptz[], $30::timestamptz[]) with ordinality
     as u(case_id, number, category, severity, grid_id, title, reporter_ref, address_ref, status, level, max_level,
          report_count, reported_at, accepted_at, resolved_at, closed_at, ended_at, rated_at, overdue, escalations,
          referred, reopen_count, on_time, satisfaction, updated_at, resolve_due, extensions, supervised_at,
          supervised_last, suspended_at, i)
on conflict (case_id) do nothing
"""
UPDATE_CASES = """
update r_cases c set status = u.status, level = u.level, max_level = u.max_level, report_count = u.report_count,
    reported_at = u.reported_at, accepted_at = u.accepted_at, resolved_at = u.resolved_at, closed_at = u.closed_at,
    ended_at = u.ended_at, rated_at = u.rated_at, overdue = u.overdue, escalations = u.escalations,
    referred = u.referred, reopen_count = u.reopen_count, on_time = u.on_time, satisfaction = u.satisfaction,
    updated_at = u.updated_at, resolve_due = u.resolve_due, extensions = u.extensions, supervised_at = u.supervised_at,
    supervised_last = u.supervised_last, suspended_at = u.suspended_at
from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[], $6::timestamptz[], $7::timestamptz[],
            $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[], $12::bool[], $13::int[],
            $14::bool[], $15::int[], $16::bool[], $17::int[], $18::timestamptz[], $19::timestamptz[], $20::int[],
            $21::timestamptz[], $22::timestamptz[], $23::timestamptz[])
     as u(case_id, status, level, max_level, report_count, reported_at, accepted_at, resolved_at, closed_at, ended_at,
          rated_at, overdue, escalations, referred, reopen_count, on_time, satisfaction, updated_at, resolve_due,
          extensions, supervised_at, supervised_last, suspended_at)
where c.case_id = u.case_id
"""
# every rollup delta of a run, one key per element (case_projection.Deltas)
CASE_ROLLUPS = """
with rollup_d as (
    insert into r_rollup (week, area_id, category, metric, n)
    select * from unnest($1::date[], $2::text[], $3::text[], $4::text[], $5::int[])
    on conflict (area_id, week, category, metric) do update set n = r_rollup.n + excluded.n
), open_d as (
    insert into r_open (area_id, category, n) select * from unnest($6::text[], $7::text[], $8::int[])
    on conflict (area_id, category) do update set n = r_open.n + excluded.n
), closed_d as (
    insert into r_closed (area_id, week, category, closed, on_time, reworked, grassroots)
    select * from unnest($9::text[], $10::date[], $11::text[], $12::int[], $13::int[], $14::int[], $15::int[])
    on conflict (area_id, week, category) do update set closed = r_closed.closed + excluded.closed,
        on_time = r_closed.on_time + excluded.on_time, reworked = r_closed.reworked + excluded.reworked,
        grassroots = r_closed.grassroots + excluded.grassroots
), resolve_d as (
    insert into r_resolve (area_id, week, took, n)
    select * from unnest($16::text[], $17::date[], $18::interval[], $19::int[])
    on conflict (area_id, week, took) do update set n = r_resolve.n + excluded.n
), open_at_d as (
    insert into r_open_at (week_end, grid_id, kind, severity, grid_path, n, overdue, repeats)
    select w, g, k, s, g::ltree, n, o, r
    from unnest($20::date[], $21::text[], $22::text[], $23::text[], $24::int[], $25::int[], $26::int[])
         as u(w, g, k, s, n, o, r)
    on conflict (week_end, grid_id, kind, severity) do update set n = r_open_at.n + excluded.n,
        overdue = r_open_at.overdue + excluded.overdue, repeats = r_open_at.repeats + excluded.repeats
), repeat_address_d as (
    insert into r_repeat_address (week_end, grid_id, address_ref, grid_path, n)
    select w, g, a, g::ltree, n from unnest($27::date[], $28::text[], $29::text[], $30::int[]) as u(w, g, a, n)
    on conflict (week_end, grid_id, address_ref) do update set n = r_repeat_address.n + excluded.n
), due_d as (
    insert into r_due (area_id, week, category, due, on_time, extended)
    select * from unnest($35::text[], $36::date[], $37::text[], $38::int[], $39::int[], $40::int[])
    on conflict (area_id, week, category) do update set due = r_due.due + excluded.due,
        on_time = r_due.on_time + excluded.on_time, extended = r_due.extended + excluded.extended
), suspended_at_d as (
    insert into r_suspended_at (area_id, week_end, n) select * from unnest($41::text[], $42::date[], $43::int[])
    on conflict (area_id, week_end) do update set n = r_suspended_at.n + excluded.n
)
insert into r_repeat_party (area_id, week_end, party_ref, n)
select * from unnest($31::text[], $32::date[], $33::text[], $34::int[])
on conflict (area_id, week_end, party_ref) do update set n = r_repeat_party.n + excluded.n
"""

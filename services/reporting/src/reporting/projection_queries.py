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

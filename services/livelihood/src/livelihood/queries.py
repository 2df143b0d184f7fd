"""Every SQL statement of the livelihood service, in one place."""

AREA = "select id, kind, name, parent_id from areas where id = $1"
AREAS_UNDER = "select id from areas where parent_id = $1"
AREA_NAMES = "select id, name from areas where id = any($1::text[])"

# -- representatives -----------------------------------------------------------------------------------------------
INSERT_REPRESENTATIVE = """
insert into representatives (id, village_id, sub, name, phone, term_start, term_end) values ($1, $2, $3, $4, $5, $6, $7)
on conflict (village_id, sub, term_start) do update set name = excluded.name, phone = excluded.phone,
    term_end = excluded.term_end
returning *
"""
REPRESENTATIVES_OF = """
select * from representatives where village_id = $1 and ($2::date is null or (term_start <= $2 and term_end >= $2))
order by sub
"""
IS_REPRESENTATIVE = """
select 1 from representatives where village_id = $1 and sub = $2 and term_start <= $3 and term_end >= $3
"""
AUDIT_READ = "insert into personal_data_reads (subject, reader, purpose) select s, $2, $3 from unnest($1::text[]) as s"

# -- proposals ------------------------------------------------------------------------------------------------------
NEXT_NUMBER = """
insert into proposal_numbers (year, last) values ($1, 1)
on conflict (year) do update set last = proposal_numbers.last + 1
returning last
"""
INSERT_PROPOSAL = """
insert into proposals (id, number, village_id, grid_ids, title, description, category, budget, funding_source,
                       households, people, case_ids, flow, stage, proposer_sub, created_at, updated_at)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16)
returning *
"""
GET_PROPOSAL = "select * from proposals where id = $1"
GET_PROPOSAL_FOR_UPDATE = "select * from proposals where id = $1 for update"
SET_STAGE = """
update proposals set stage = $2, updated_at = $3, merged_into = coalesce($4, merged_into) where id = $1 returning *
"""
SET_BUDGET = "update proposals set budget = $2, updated_at = $3 where id = $1 returning *"
LIST_PROPOSALS = """
select * from proposals
where village_id::ltree <@ any($1::ltree[]) and ($2::text is null or village_id = $2)
  and ($3::text is null or stage = $3)
order by created_at desc limit $4
"""
INSERT_TIMELINE = """
insert into timeline (proposal_id, at, actor, action, stage_from, stage_to, reason, data)
values ($1, $2, $3, $4, $5, $6, $7, $8)
"""
TIMELINE = (
    "select at, actor, action, stage_from, stage_to, reason, data from timeline where proposal_id = $1 order by id"
)
KNOWN_CASES = (
    "select case_id, number, category, grid_id from case_copy where case_id = any($1::uuid[]) and village_id = $2"
)

# -- meetings --------------------------------------------------------------------------------------------------------
INSERT_MEETING = """
insert into meetings (id, village_id, kind, starts_at, place, agenda, invitee_subs, noticed_at, created_by)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning *
"""
GET_MEETING = "select * from meetings where id = $1"
UPSERT_TALLY = """
insert into tally_entries (meeting_id, proposal_id, clerk_sub, present, eligible, households, households_represented,
                           votes_for, votes_against, abstentions, entered_at)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
on conflict (meeting_id, proposal_id, clerk_sub) do update set present = excluded.present,
    eligible = excluded.eligible, households = excluded.households,
    households_represented = excluded.households_represented, votes_for = excluded.votes_for,
    votes_against = excluded.votes_against, abstentions = excluded.abstentions, entered_at = excluded.entered_at
"""
TALLIES = "select * from tally_entries where meeting_id = $1 and proposal_id = $2 order by entered_at"
GET_DECISION = "select * from decisions where meeting_id = $1 and proposal_id = $2"
INSERT_DECISION = """
insert into decisions (meeting_id, proposal_id, quorate, adopted, why, tally, decided_at)
values ($1, $2, $3, $4, $5, $6, $7)
"""
DECISIONS_OF = "select * from decisions where proposal_id = $1 order by decided_at"

# -- notices and objections -------------------------------------------------------------------------------------
INSERT_NOTICE = """
insert into notices (id, proposal_id, kind, starts_on, ends_on, published_at) values ($1, $2, $3, $4, $5, $6)
returning *
"""
GET_NOTICE = "select * from notices where id = $1"
NOTICE_OF = "select * from notices where proposal_id = $1 and kind = $2"
INSERT_OBJECTION = """
insert into objections (id, notice_id, proposal_id, text, name, phone, lodged_at) values ($1, $2, $3, $4, $5, $6, $7)
returning id, lodged_at
"""
OBJECTIONS = """
select id, text, lodged_at, answer, answered_at, (name is not null or phone is not null) as named
from objections where proposal_id = $1 order by lodged_at
"""
OPEN_OBJECTIONS = "select count(*) from objections where proposal_id = $1 and answered_at is null"
ANSWER_OBJECTION = """
update objections set answer = $3, answered_by = $4, answered_at = $5
where id = $1 and proposal_id = $2 and answered_at is null returning id, notice_id
"""
GET_OBJECTION = "select id, answered_at from objections where id = $1 and proposal_id = $2"

# -- implementation ------------------------------------------------------------------------------------------------
INSERT_MILESTONE = """
insert into milestones (id, proposal_id, title, due_on, photo_urls, created_at) values ($1, $2, $3, $4, $5, $6)
returning *
"""
MILESTONE_DONE = """
update milestones set done_on = $3, photo_urls = photo_urls || $4::text[]
where id = $1 and proposal_id = $2 returning *
"""
MILESTONES = "select * from milestones where proposal_id = $1 order by due_on, created_at"
OPEN_MILESTONES = "select count(*) from milestones where proposal_id = $1 and done_on is null"
SPENT = "select coalesce(sum(amount), 0) from spending where proposal_id = $1"
INSERT_SPENDING = """
insert into spending (id, proposal_id, amount, note, spent_on, recorded_by, recorded_at)
values ($1, $2, $3, $4, $5, $6, $7) returning *
"""
SPENDING = (
    "select id, amount, note, spent_on, recorded_at from spending where proposal_id = $1 order by spent_on, recorded_at"
)
INSERT_BUDGET_CHANGE = """
insert into budget_changes (id, proposal_id, previous, budget, decision, actor, at) values ($1, $2, $3, $4, $5, $6, $7)
"""
BUDGET_CHANGES = "select previous, budget, decision, actor, at from budget_changes where proposal_id = $1 order by at"

# -- evidence ---------------------------------------------------------------------------------------------------
UPSERT_CASE = """
insert into case_copy (case_id, number, category, grid_id, village_id, status, reported_at)
values ($1, $2, $3, $4, $5, $6, $7)
on conflict (case_id) do update set status = excluded.status
"""
UPSERT_DEMAND = """
insert into demand (village_id, week, weeks, themes, published_at) values ($1, $2, $3, $4, $5)
on conflict (village_id) do update set week = excluded.week, weeks = excluded.weeks, themes = excluded.themes,
    published_at = excluded.published_at
where demand.week <= excluded.week
"""
DEMAND_OF = "select * from demand where village_id = $1"

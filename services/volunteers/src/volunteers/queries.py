"""Every SQL statement of the volunteers service."""

DB_NOW = "select now()"

INSERT_VOLUNTEER = """
insert into volunteers (id, external_id, account_sub, name, phone, roles, party_branch, home_grid, home_path, skills,
                        availability, max_concurrent, active, created_at, updated_at)
values ($1, $2, $3, $4, $5, $6, $7, $8::text, $8::text::ltree, $9, $10, $11, $12, $13, $13)
returning *
"""
GET_VOLUNTEER = "select * from volunteers where id = $1"
GET_VOLUNTEER_BY_SUB = "select * from volunteers where account_sub = $1"
GET_VOLUNTEER_BY_EXTERNAL = "select * from volunteers where external_id = $1"
AREA_KIND = "select kind from areas where id = $1"
# the grids of a village (or community) in the area copy; the publicity rule picks one (domain/meetings.py)
GRIDS_OF = "select id from areas where parent_id = $1 and kind = 'grid'"
INSERT_LEAVE = "insert into volunteer_leave (volunteer_id, starts_at, ends_at, reason) values ($1, $2, $3, $4)"
AUDIT_PERSONAL_READ = "insert into personal_data_reads (volunteer_id, reader, fields) values ($1, $2, $3)"

INSERT_TASK = """
insert into tasks (id, task_type, title, grid_id, grid_path, window_start, window_end, required_skills, headcount,
                   urgent, beneficiary_ref, origin, origin_ref, case_id, status, scope_level, created_at, updated_at)
values ($1, $2, $3, $4::text, $4::text::ltree, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'open', 'grid', $14, $14)
on conflict (origin, origin_ref) where origin_ref is not null do nothing
returning *
"""
GET_TASK = "select * from tasks where id = $1"
GET_TASK_FOR_UPDATE = "select * from tasks where id = $1 for update"
SET_TASK_STATUS = (
    "update tasks set status = $2, scope_level = $3, updated_at = $4, filled_at = $5 where id = $1 returning *"
)

TASK_COUNTS = """
select (select count(*) from assignments where task_id = $1 and status <> 'cancelled') as assigned,
       (select count(*) from assignments where task_id = $1 and status = 'completed') as completed,
       (select count(*) from offers where task_id = $1 and status = 'pending') as pending
"""
EXCLUDED = "select volunteer_id from offers where task_id = $1"

CANDIDATES = """
select v.id, v.roles, v.home_grid, v.skills, v.availability, v.max_concurrent, v.active,
       (select count(*) from assignments a where a.volunteer_id = v.id and a.status in ('assigned', 'in_progress'))
       + (select count(*) from offers po where po.volunteer_id = v.id and po.status = 'pending') as load,
       coalesce((select sum(l.hours) from ledger l
                 where l.volunteer_id = v.id and l.at > $2::timestamptz - interval '30 days'), 0)::float8 as hours_30d,
       (select count(*) from offers o where o.volunteer_id = v.id and o.status <> 'pending') as offers_made,
       (select count(*) from offers o where o.volunteer_id = v.id and o.status = 'accepted') as offers_accepted,
       (select coalesce(jsonb_agg(jsonb_build_array(lv.starts_at, lv.ends_at)), '[]'::jsonb) from volunteer_leave lv
         where lv.volunteer_id = v.id and lv.ends_at > $3 and lv.starts_at < $4) as leave
from volunteers v
where v.active and v.home_path <@ $1::ltree and v.skills @> $5::text[]
"""

# the write's re-check of what the index (or the query above) proposed: the same columns for the proposed
# volunteers, once their rows are locked (LOCK_VOLUNTEERS, a statement before, so that this one's snapshot
# holds every offer made by whoever held a lock before)
CANDIDATES_OF = CANDIDATES.replace("where v.active and v.home_path <@ $1::ltree", "where v.id = any($1::uuid[])")
assert CANDIDATES_OF != CANDIDATES
# offers are only made to volunteers whose rows the dispatching transaction holds; one held by another
# dispatch right now is passed over (never waited for: no lock order to keep, no deadlock)
LOCK_VOLUNTEERS = "select id from volunteers where id = any($1::uuid[]) order by id for no key update skip locked"

# -- the candidate index (candidate_index.py): everything ranking reads, per volunteer, without the time -------
_INDEX_ROWS = """
select v.id, v.roles, v.home_grid, v.skills, v.availability, v.max_concurrent, v.active,
       coalesce(a.n, 0) + coalesce(o.pending, 0) as load,
       coalesce(o.made, 0) as offers_made, coalesce(o.accepted, 0) as offers_accepted,
       coalesce(l.entries, '[]'::jsonb) as ledger, coalesce(lv.periods, '[]'::jsonb) as leave
from volunteers v
left join (select volunteer_id, count(*) as n from assignments
           where status in ('assigned', 'in_progress'){f} group by 1) a on a.volunteer_id = v.id
left join (select volunteer_id, count(*) filter (where status = 'pending') as pending,
                  count(*) filter (where status <> 'pending') as made,
                  count(*) filter (where status = 'accepted') as accepted
           from offers where true{f} group by 1) o on o.volunteer_id = v.id
left join (select volunteer_id, jsonb_agg(jsonb_build_array(at, (hours * 100)::int) order by at) as entries
           from ledger where at > $1{f} group by 1) l on l.volunteer_id = v.id
left join (select volunteer_id, jsonb_agg(jsonb_build_array(starts_at, ends_at) order by starts_at) as periods
           from volunteer_leave where ends_at > $1{f} group by 1) lv on lv.volunteer_id = v.id
where {w}
"""
INDEX_ALL = _INDEX_ROWS.format(f="", w="v.active")  # $1: ledger entries and leave ending after this
INDEX_OF = _INDEX_ROWS.format(f=" and volunteer_id = any($2::uuid[])", w="v.id = any($2::uuid[])")
# the snapshot's xmin: every transaction below it has ended, so a later refresh reads the changes of those from
# xmin on (some again: applying a change is reading the volunteer afresh, so twice is harmless)
INDEX_SNAPSHOT = "select pg_snapshot_xmin(pg_current_snapshot())::text as xmin, now() as now"
INDEX_CHANGED = """
select pg_snapshot_xmin(pg_current_snapshot())::text as xmin, now() as now,
       array(select distinct volunteer_id from dispatch_changes where xid >= $1::text::xid8) as changed
"""
PRUNE_DISPATCH_CHANGES = "delete from dispatch_changes where at < now() - $1::interval"

INSERT_OFFER = """
insert into offers (id, task_id, volunteer_id, status, rank, offered_at, expires_at)
values ($1, $2, $3, 'pending', $4, $5, $6)
returning *
"""
GET_OFFER = "select * from offers where id = $1"
GET_OFFER_FOR_UPDATE = "select * from offers where id = $1 for update"
SET_OFFER = "update offers set status = $2, responded_at = $3, reason = $4 where id = $1 returning *"
WITHDRAW_PENDING = "update offers set status = 'withdrawn', responded_at = $2 where task_id = $1 and status = 'pending'"
TASKS_WITH_EXPIRED_OFFERS = """
select t.id from tasks t
where exists (select 1 from offers o where o.task_id = t.id and o.status = 'pending' and o.expires_at <= $1)
order by t.id
limit $2
for update of t skip locked
"""
EXPIRED_OFFERS_OF = """
select * from offers where task_id = $1 and status = 'pending' and expires_at <= $2 order by rank for update
"""

INSERT_ASSIGNMENT = """
insert into assignments (task_id, volunteer_id, status, accepted_at) values ($1, $2, 'assigned', $3) returning *
"""
GET_ASSIGNMENT_FOR_UPDATE = "select * from assignments where task_id = $1 and volunteer_id = $2 for update"
CHECK_IN = """
update assignments set status = 'in_progress', checked_in_at = $3
where task_id = $1 and volunteer_id = $2 returning *
"""
CHECK_OUT = """
update assignments set status = 'completed', checked_out_at = $3, hours = $4, points = $5
where task_id = $1 and volunteer_id = $2 returning *
"""
CANCEL_ASSIGNMENTS = (
    "update assignments set status = 'cancelled' where task_id = $1 and status in ('assigned', 'in_progress')"
)
INSERT_LEDGER = """
insert into ledger (volunteer_id, task_id, kind, hours, points, actor, reason, at)
values ($1, $2, $3, $4, $5, $6, $7, $8)
"""
LEDGER = "select * from ledger where volunteer_id = $1 order by at, id"
TOTALS = """
select coalesce(sum(hours), 0)::float8 as hours, coalesce(sum(points), 0)::int as points
from ledger where volunteer_id = $1
"""

OFFERS_OF_VOLUNTEER = """
select o.*, t.task_type, t.title, t.grid_id, t.window_start, t.window_end, t.urgent
from offers o join tasks t on t.id = o.task_id
where o.volunteer_id = $1 and ($2::text is null or o.status = $2)
order by o.offered_at desc limit 100
"""
OFFER_WITH_TASK = """
select o.*, t.task_type, t.title, t.grid_id, t.window_start, t.window_end, t.urgent
from offers o join tasks t on t.id = o.task_id
where o.id = $1
"""
OFFERS_OF_TASK = "select * from offers where task_id = $1 order by offered_at, rank"
ASSIGNMENTS_OF_TASK = "select * from assignments where task_id = $1 order by accepted_at"
TASKS_OF_VOLUNTEER = """
select t.* from tasks t join assignments a on a.task_id = t.id
where a.volunteer_id = $1 order by t.window_start desc limit $2
"""
LIST_TASKS = """
select * from tasks where grid_path <@ any($1::ltree[]) and ($2::text is null or status = $2)
  and ($3::timestamptz is null or (created_at, id) < ($3, $4::uuid))
order by created_at desc, id desc limit $5
"""

# -- CSV import, volunteer listing, recurring schedules and pairings (registry_import.py, recurring.py) ----------
VOLUNTEERS_BY_EXTERNAL_IDS = "select id, external_id, home_grid from volunteers where external_id = any($1::text[])"
LIST_VOLUNTEERS = """
select * from volunteers
where home_path <@ any($1::ltree[]) and ($2::ltree is null or home_path <@ $2::ltree)
  and ($3::text is null or $3 = any(roles)) and ($4::text is null or $4 = any(skills))
  and ($5::boolean is null or active = $5)
  and ($6::timestamptz is null or (created_at, id) < ($6, $7::uuid))
order by created_at desc, id desc limit $8
"""
TASK_BY_ORIGIN = "select * from tasks where origin = $1 and origin_ref = $2"

INSERT_SCHEDULE = """
insert into schedules (id, name, task_type, grid_id, weekdays, start_time, duration_minutes, headcount,
                       required_skills, beneficiary_refs, active, created_at)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, true, $11)
returning *
"""
GET_SCHEDULE = "select * from schedules where id = $1"
LIST_SCHEDULES = """
select * from schedules
where grid_id::ltree <@ any($1::ltree[]) and ($2::ltree is null or grid_id::ltree <@ $2::ltree)
  and ($3::boolean is null or active = $3)
order by created_at desc, id desc limit $4
"""
SET_SCHEDULE_ACTIVE = "update schedules set active = $2 where id = $1 returning *"
ACTIVE_SCHEDULES = "select * from schedules where active order by id"
SCHEDULE_RUNS_FROM = "select schedule_id, occurs_on from schedule_runs where occurs_on >= $1"
# the claim: whoever inserts the row creates the occurrence's task, in the same transaction
CLAIM_SCHEDULE_RUN = """
insert into schedule_runs (schedule_id, occurs_on) values ($1, $2) on conflict do nothing returning schedule_id
"""
SET_SCHEDULE_RUN_TASK = "update schedule_runs set task_id = $3 where schedule_id = $1 and occurs_on = $2"
RUNS_OF_SCHEDULE = """
select r.occurs_on, r.task_id, t.status from schedule_runs r left join tasks t on t.id = r.task_id
where r.schedule_id = $1 and r.occurs_on >= $2 order by r.occurs_on limit 100
"""

INSERT_PAIRING = """
insert into pairings (id, volunteer_id, household_ref, household_name, grid_id, every_days, next_due, active)
values ($1, $2, $3, $4, $5, $6, $7, true)
returning *
"""
GET_PAIRING = "select * from pairings where id = $1"
SET_PAIRING_ACTIVE = "update pairings set active = $2 where id = $1 returning *"
# the visit task of a pairing's current due date has origin_ref '<pairing id>:<next_due>'
_PAIRING_VISIT = "t.origin = 'pairing' and t.origin_ref = p.id::text || ':' || to_char(p.next_due, 'YYYY-MM-DD')"
PAIRINGS_VISITED = f"""
select p.id, p.every_days, p.next_due, t.id as task_id,
       coalesce((select max(a.checked_out_at) from assignments a where a.task_id = t.id and a.status = 'completed'),
                t.updated_at) as visited_at
from pairings p join tasks t on {_PAIRING_VISIT}
where p.active and t.status = 'completed'
order by p.id limit $1
for update of p skip locked
"""
ADVANCE_PAIRING = """
update pairings set next_due = $3, last_visit_at = $4 where id = $1 and next_due = $2
"""
PAIRINGS_DUE = f"""
select p.* from pairings p
where p.active and p.next_due <= $1 and not exists (select 1 from tasks t where {_PAIRING_VISIT})
order by p.next_due, p.id limit $2
for update of p skip locked
"""
LIST_PAIRINGS = f"""
select p.*, t.id as visit_task_id, t.status as visit_status,
       (p.active and p.next_due < $2 and coalesce(t.status, '') <> 'completed') as overdue
from pairings p left join tasks t on {_PAIRING_VISIT}
where (p.grid_id::ltree <@ any($1::ltree[]) or p.volunteer_id = $3)
  and ($4::boolean is null or (p.active and p.next_due < $2 and coalesce(t.status, '') <> 'completed') = $4)
  and ($5::uuid is null or p.volunteer_id = $5) and ($6::ltree is null or p.grid_id::ltree <@ $6::ltree)
order by p.next_due, p.id limit $7
"""
# the pairing timer's overdue report: once per (pairing, due date), marked in overdue_reported_for
PAIRINGS_OVERDUE = f"""
select p.id, p.volunteer_id, p.grid_id, p.active, p.next_due, p.overdue_reported_for,
       coalesce(t.status = 'completed', false) as visited
from pairings p left join tasks t on {_PAIRING_VISIT}
where p.active and p.next_due < $1 and coalesce(t.status, '') <> 'completed'
  and p.overdue_reported_for is distinct from p.next_due
order by p.next_due, p.id limit $2
for update of p skip locked
"""
MARK_PAIRING_OVERDUE_REPORTED = "update pairings set overdue_reported_for = $2 where id = $1 and next_due = $2"

# -- contacts for the notifications service and answer links (contacts.py, answer_links.py) ----------------------
# every offer of the tasks asked about; the caller keeps those whose volunteer has the asked volunteer_ref
CONTACT_OFFERS = """
select o.id as offer_id, o.task_id, o.volunteer_id, o.status as offer_status, o.expires_at,
       v.name, v.phone, v.account_sub,
       t.title, t.task_type, t.grid_id, t.window_start, t.window_end, t.urgent
from offers o join volunteers v on v.id = o.volunteer_id join tasks t on t.id = o.task_id
where o.task_id = any($1::uuid[])
"""
CONTACT_PAIRINGS = """
select p.id as pairing_id, p.volunteer_id, v.name, v.phone, v.account_sub
from pairings p join volunteers v on v.id = p.volunteer_id
where p.id = any($1::uuid[])
"""
AUDIT_PERSONAL_READS = """
insert into personal_data_reads (volunteer_id, reader, fields)
select volunteer_id, $2, $3 from unnest($1::uuid[]) as r(volunteer_id)
"""

INSERT_ANSWER_LINKS = """
insert into answer_links (id, offer_id, expires_at, created_at)
select l.id, l.offer_id, l.expires_at, $4
from unnest($1::text[], $2::uuid[], $3::timestamptz[]) as l(id, offer_id, expires_at)
on conflict (offer_id) do nothing
"""
ANSWER_LINKS_OF_OFFERS = "select id, offer_id, expires_at from answer_links where offer_id = any($1::uuid[])"
LOCK_ANSWER_LINK = "select id from answer_links where id = $1 for update"
# a link with its offer, task and the grid's name: what the page shows and checks
ANSWER_LINK = """
select l.id, l.offer_id, l.expires_at as link_expires_at, l.used_at, l.used_answer,
       o.volunteer_id, o.status as offer_status, o.expires_at as offer_expires_at, o.reason,
       t.id as task_id, t.title, t.task_type, t.grid_id, t.window_start, t.window_end, t.urgent,
       a.name as grid_name
from answer_links l join offers o on o.id = l.offer_id join tasks t on t.id = o.task_id
left join areas a on a.id = t.grid_id
where l.id = $1
"""
USE_ANSWER_LINK = "update answer_links set used_at = $2, used_answer = $3 where id = $1 and used_at is null"

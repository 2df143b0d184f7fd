"""Every SQL statement of the notifications service, in one place."""

# -- copies of cases, tasks and offers (from the bus) -------------------------------------------------------------

# $11: the event says the handling unit ($12-$14: set by a dispatch, cleared by a return); else it stays
UPSERT_CASE = """
insert into case_copy (case_id, number, category, severity, grid_id, level, status, accept_due, resolve_due, updated_at,
                       unit_id, unit_level, assignee)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $12, $13, $14)
on conflict (case_id) do update set number = excluded.number, category = excluded.category,
    severity = excluded.severity, grid_id = excluded.grid_id, level = excluded.level, status = excluded.status,
    accept_due = excluded.accept_due, resolve_due = excluded.resolve_due, updated_at = excluded.updated_at,
    unit_id = case when $11::bool then excluded.unit_id else case_copy.unit_id end,
    unit_level = case when $11::bool then excluded.unit_level else case_copy.unit_level end,
    assignee = case when $11::bool then excluded.assignee else case_copy.assignee end
where case_copy.updated_at <= excluded.updated_at
"""
CASE_LEVEL = "select level from case_copy where case_id = $1"
CASE_UNIT = "select unit_id, unit_level, assignee from case_copy where case_id = $1"

UPSERT_TASK = """
insert into task_copy (task_id, task_type, grid_id, case_id, urgent, window_start, window_end)
values ($1, $2, $3, $4, $5, $6, $7)
on conflict (task_id) do update set urgent = excluded.urgent, window_start = excluded.window_start,
    window_end = excluded.window_end
"""
GET_TASK = "select * from task_copy where task_id = $1"

UPSERT_OFFER = """
insert into offer_copy (task_id, volunteer_ref, offered_at, expires_at, remind_at, status)
values ($1, $2, $3, $4, $5, 'pending')
on conflict (task_id, volunteer_ref) do update set offered_at = excluded.offered_at,
    expires_at = excluded.expires_at, remind_at = excluded.remind_at, status = 'pending'
"""
CLOSE_OFFER = "update offer_copy set status = $3 where task_id = $1 and volunteer_ref = $2"
CLOSE_OFFERS_OF_TASK = "update offer_copy set status = 'closed' where task_id = $1 and status = 'pending'"

# offers to remind of now; the row is claimed (remind_at cleared) in the same statement
CLAIM_REMINDERS = """
update offer_copy o set remind_at = null
from (select task_id, volunteer_ref from offer_copy
      where status = 'pending' and remind_at <= $1 and expires_at > $1
      order by remind_at limit $2 for update skip locked) due
where o.task_id = due.task_id and o.volunteer_ref = due.volunteer_ref
returning o.task_id, o.volunteer_ref, o.expires_at
"""

CLAIM_ACCEPT_DEADLINES = """
update case_copy c set accept_warned = c.accept_due
from (select case_id from case_copy
      where status = 'reported' and accept_due is not null
        and accept_due <= $1::timestamptz + $2::interval and accept_due > $1
        and accept_warned is distinct from accept_due
      limit $3 for update skip locked) due
where c.case_id = due.case_id
returning c.*
"""
CLAIM_RESOLVE_DEADLINES = """
update case_copy c set resolve_warned = c.resolve_due
from (select case_id from case_copy
      where status in ('accepted', 'dispatched', 'in_progress') and resolve_due is not null
        and resolve_due <= $1::timestamptz + $2::interval and resolve_due > $1
        and resolve_warned is distinct from resolve_due
      limit $3 for update skip locked) due
where c.case_id = due.case_id
returning c.*
"""

# -- recipients ------------------------------------------------------------------------------------------------------

STAFF_AT = """
select s.sub, s.phone is not null as has_phone, s.email is not null as has_email, p.channels, p.quiet_start,
       p.quiet_end
from staff s left join preferences p on p.sub = s.sub
where s.active and s.area_id = $1 and (cardinality($2::text[]) = 0 or s.role = any($2::text[]))
"""
STAFF_OF_UNIT = """
select s.sub, s.phone is not null as has_phone, s.email is not null as has_email, p.channels, p.quiet_start,
       p.quiet_end
from staff s left join preferences p on p.sub = s.sub
where s.active and s.unit = $1
"""
STAFF_BY_SUBS = """
select x.sub, coalesce(s.phone is not null and s.active, false) as has_phone,
       coalesce(s.email is not null and s.active, false) as has_email, p.channels, p.quiet_start, p.quiet_end
from unnest($1::text[]) as x (sub)
left join staff s on s.sub = x.sub
left join preferences p on p.sub = x.sub
"""
ON_DUTY = """
select s.sub, s.phone is not null as has_phone, s.email is not null as has_email, p.channels, p.quiet_start,
       p.quiet_end
from roster r join staff s on s.sub = r.sub and s.active
left join preferences p on p.sub = s.sub
where r.day = $1 and r.area_id = $2
"""
ROBOTS_OF = "select id, kind from robots where active and area_id = $1"
PREFERENCES_OF = "select channels, quiet_start, quiet_end from preferences where sub = $1"

# -- deliveries ------------------------------------------------------------------------------------------------------

INSERT_DELIVERIES = """
insert into deliveries (id, source_id, kind, recipient, channel, urgent, facts, case_id, task_id, area_id, occurred_at,
                        expires_at, due_at, held)
select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::jsonb[],
                     $8::uuid[], $9::uuid[], $10::text[], $11::timestamptz[], $12::timestamptz[], $13::timestamptz[],
                     $14::bool[])
on conflict (source_id, recipient, channel) do nothing
"""

CLAIM_DUE = """
update deliveries d set status = 'sending', lease_until = $2 + $4::interval, attempts = d.attempts + 1
from (select id from deliveries
      where channel = $1 and status = 'queued' and due_at <= $2
      order by due_at limit $3 for update skip locked) due
where d.id = due.id
returning d.*
"""
# a sender that died mid-send leaves 'sending' rows behind: after the lease they are due again
RELEASE_EXPIRED_LEASES = """
update deliveries set status = 'queued', due_at = $2
where id in (select id from deliveries where channel = $1 and status = 'sending' and lease_until < $2
             limit 500 for update skip locked)
"""
MARK_SENT = """
update deliveries set status = 'sent', sent_at = $2, lease_until = null, address = $3, text = $4, provider_id = $5,
    inbox_sub = $6, last_error = null
where id = $1 and status = 'sending'
"""
MARK_RETRY = """
update deliveries set status = 'queued', due_at = $2, lease_until = null, last_error = $3
where id = $1 and status = 'sending'
"""
MARK_FINAL = """
update deliveries set status = $2, lease_until = null, last_error = $3, address = coalesce($4, address)
where id = $1 and status = 'sending'
"""
INSERT_ATTEMPT = """
insert into delivery_attempts (delivery_id, attempt, at, outcome, reason) values ($1, $2, $3, $4, $5)
on conflict do nothing
"""
NOTIFY_INBOX = "select pg_notify('notifications_inbox', $1)"
NOTIFY_DUE = "select pg_notify('notifications_due', '')"

QUEUE_DEPTH = "select channel, count(*) as n from deliveries where status = 'queued' group by channel"

DELIVERY_LOG = """
select id, source_id, kind, recipient, channel, urgent, case_id, task_id, area_id, status, held, due_at, attempts,
       last_error, address, created_at, sent_at, read_at
from deliveries
where ($1::uuid is null or case_id = $1) and ($2::uuid is null or task_id = $2)
  and ($3::text is null or kind = $3) and ($4::text is null or status = $4)
  and (area_id::ltree <@ any($5::ltree[]))
  and (($6::timestamptz, $7::uuid) is null or (created_at, id) < ($6, $7))
order by created_at desc, id desc
limit $8
"""
ATTEMPTS_OF = "select delivery_id, attempt, at, outcome, reason from delivery_attempts where delivery_id = any($1)"

# -- the in-app inbox ----------------------------------------------------------------------------------------------

INBOX = """
select id, kind, urgent, facts, case_id, task_id, text, status, created_at, sent_at, read_at
from deliveries
where inbox_sub = $1 and channel = 'in_app' and status in ('sent', 'read')
  and ($2::bool is false or status = 'sent')
  and ($3::timestamptz is null or sent_at > $3)
order by sent_at desc, id desc
limit $4
"""
INBOX_SINCE = """
select id, kind, urgent, facts, case_id, task_id, text, status, created_at, sent_at, read_at
from deliveries
where inbox_sub = $1 and channel = 'in_app' and status in ('sent', 'read') and sent_at > $2
order by sent_at, id
limit 100
"""
INBOX_ITEM_SENT_AT = "select sent_at from deliveries where id = $1 and inbox_sub = $2 and channel = 'in_app'"
MARK_READ = """
update deliveries set status = 'read', read_at = $3
where id = $1 and inbox_sub = $2 and channel = 'in_app' and status in ('sent', 'read')
returning id, status, read_at
"""
UNREAD_COUNT = "select count(*) from deliveries where inbox_sub = $1 and channel = 'in_app' and status = 'sent'"

# -- directory, roster, robots, preferences ------------------------------------------------------------------------

UPSERT_STAFF = """
insert into staff (sub, name, role, area_id, unit, phone, email, active)
values ($1, $2, $3, $4, $5, $6, $7, $8)
on conflict (sub) do update set name = excluded.name, role = excluded.role, area_id = excluded.area_id,
    unit = excluded.unit, phone = excluded.phone, email = excluded.email, active = excluded.active, updated_at = now()
returning *, (xmax = 0) as created
"""
LIST_STAFF = """
select * from staff where area_id::ltree <@ any($1::ltree[]) and ($2::text is null or role = $2)
order by area_id, sub limit $3
"""
GET_STAFF = "select * from staff where sub = $1"
AUDIT_READ = """
insert into personal_data_reads (subject, reader, purpose) select s, $2, $3 from unnest($1::text[]) as s
"""
STAFF_CONTACTS = "select sub, name, phone, email, active from staff where sub = any($1::text[])"

SET_ROSTER_DAY = "delete from roster where day = $1 and area_id = $2"
INSERT_ROSTER = "insert into roster (day, area_id, sub) select $1, $2, unnest($3::text[]) on conflict do nothing"
LIST_ROSTER = """
select r.day, r.area_id, r.sub, s.role from roster r join staff s on s.sub = r.sub
where r.day between $1 and $2 and r.area_id::ltree <@ any($3::ltree[])
order by r.day, r.area_id, r.sub
"""
KNOWN_SUBS = "select sub from staff where sub = any($1::text[])"

INSERT_ROBOT = """
insert into robots (kind, area_id, label, url, secret) values ($1, $2, $3, $4, $5)
returning id, kind, area_id, label, active, created_at
"""
LIST_ROBOTS = """
select id, kind, area_id, label, active, created_at from robots where area_id::ltree <@ any($1::ltree[]) order by id
"""
DEACTIVATE_ROBOT = "update robots set active = false where id = $1 and area_id::ltree <@ any($2::ltree[]) returning id"
ROBOTS_BY_ID = "select id, kind, url, secret, active from robots where id = any($1::bigint[])"

UPSERT_PREFERENCES = """
insert into preferences (sub, channels, quiet_start, quiet_end, updated_at) values ($1, $2, $3, $4, now())
on conflict (sub) do update set channels = excluded.channels, quiet_start = excluded.quiet_start,
    quiet_end = excluded.quiet_end, updated_at = now()
returning channels, quiet_start, quiet_end
"""

AREA_NAMES = "select id, name from areas where id = any($1::text[])"
AREA_KIND = "select kind from areas where id = $1"

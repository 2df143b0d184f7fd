-- Staff directory, on-duty roster, group robots, preferences; copies of cases, tasks and offers for routing; one delivery row per (trigger, recipient, channel) with its attempts; the in-app inbox is the in_app deliveries.
create table staff (
    sub        text primary key,
    name       text not null,
    role       text not null check (role in ('grid_manager', 'village_admin', 'town_admin', 'county_admin',
                                             'department', 'leader')),
    area_id    text not null,
    unit       text,
    phone      text,
    email      text,
    active     boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index staff_area on staff (area_id, role) where active;
create index staff_unit on staff (unit) where active and unit is not null;

-- 值班表: who is on duty for an area on a local (Asia/Shanghai) day
create table roster (
    day     date not null,
    area_id text not null,
    sub     text not null references staff (sub) on delete cascade,
    primary key (day, area_id, sub)
);

create table robots (
    id         bigserial primary key,
    kind       text not null check (kind in ('wecom', 'dingtalk')),
    area_id    text not null,
    label      text not null,
    url        text not null,
    secret     text,
    active     boolean not null default true,
    created_at timestamptz not null default now()
);
create index robots_area on robots (area_id) where active;

create table preferences (
    sub         text primary key,
    channels    jsonb not null default '{}',  -- kind -> channels chosen
    quiet_start time,
    quiet_end   time,
    updated_at  timestamptz not null default now(),
    check ((quiet_start is null) = (quiet_end is null))
);

-- every read of a staff member's contact data, by whom and why
create table personal_data_reads (
    id      bigserial primary key,
    subject text not null,
    reader  text not null,
    purpose text not null,
    at      timestamptz not null default now()
);

create table case_copy (
    case_id          uuid primary key,
    number           text not null,
    category         text not null,
    severity         text not null,
    grid_id          text not null,
    level            text not null,
    status           text not null,
    accept_due       timestamptz,
    resolve_due      timestamptz,
    accept_warned    timestamptz,  -- the accept_due already warned of
    resolve_warned   timestamptz,
    updated_at       timestamptz not null
);
create index case_copy_accept on case_copy (accept_due) where status = 'reported';
create index case_copy_resolve on case_copy (resolve_due) where status in ('accepted', 'dispatched', 'in_progress');

create table task_copy (
    task_id      uuid primary key,
    task_type    text not null,
    grid_id      text not null,
    case_id      uuid,
    urgent       boolean not null default false,
    window_start timestamptz,
    window_end   timestamptz
);

create table offer_copy (
    task_id       uuid not null,
    volunteer_ref text not null,
    offered_at    timestamptz not null,
    expires_at    timestamptz not null,
    remind_at     timestamptz,
    status        text not null default 'pending',
    primary key (task_id, volunteer_ref)
);
create index offer_copy_remind on offer_copy (remind_at) where status = 'pending' and remind_at is not null;

create table deliveries (
    id          uuid primary key,
    source_id   text not null,  -- event id or timer trigger id
    kind        text not null,
    recipient   text not null,  -- staff:<sub>, volunteer:<ref>, robot:<id>
    channel     text not null check (channel in ('in_app', 'sms', 'email', 'wecom', 'dingtalk')),
    urgent      boolean not null,
    facts       jsonb not null,  -- what the message is written from; nothing personal
    case_id     uuid,
    task_id     uuid,
    area_id     text not null,
    occurred_at timestamptz not null,  -- of the fact: delivery latency is measured from here
    expires_at  timestamptz,  -- a message still waiting after this is skipped
    status      text not null default 'queued'
                check (status in ('queued', 'sending', 'sent', 'failed', 'skipped', 'read')),
    due_at      timestamptz not null,
    held        boolean not null default false,  -- due_at was moved to the end of quiet hours
    attempts    int not null default 0,
    lease_until timestamptz,
    last_error  text,
    address     text,  -- masked: 138****1234, robot #3
    inbox_sub   text,  -- in_app: whose inbox
    text        text,  -- as sent, links masked
    provider_id text,
    created_at  timestamptz not null default now(),
    sent_at     timestamptz,
    read_at     timestamptz,
    unique (source_id, recipient, channel)
);
create index deliveries_due on deliveries (channel, due_at) where status = 'queued';
create index deliveries_leased on deliveries (channel, lease_until) where status = 'sending';
create index deliveries_inbox on deliveries (inbox_sub, created_at desc) where inbox_sub is not null;
create index deliveries_case on deliveries (case_id) where case_id is not null;
create index deliveries_task on deliveries (task_id) where task_id is not null;

create table delivery_attempts (
    delivery_id uuid not null references deliveries (id) on delete cascade,
    attempt     int not null,
    at          timestamptz not null,
    outcome     text not null check (outcome in ('sent', 'retry', 'failed', 'skipped')),
    reason      text,
    primary key (delivery_id, attempt)
);

-- Volunteer registry, tasks, offers and assignments, the hours/points ledger, recurring schedules and pairings.
create table volunteers (
    id             uuid primary key,
    external_id    text unique,
    account_sub    text unique,
    name           text not null,
    phone          text,
    roles          text[] not null,
    party_branch   text,
    home_grid      text not null,
    home_path      ltree not null,
    skills         text[] not null default '{}',
    availability   jsonb not null default '[]',
    max_concurrent int not null default 2 check (max_concurrent between 1 and 20),
    active         boolean not null default true,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now()
);
create index volunteers_home on volunteers using gist (home_path);

create table volunteer_leave (
    id           bigserial primary key,
    volunteer_id uuid not null references volunteers (id),
    starts_at    timestamptz not null,
    ends_at      timestamptz not null,
    reason       text,
    check (ends_at > starts_at)
);
create index volunteer_leave_v on volunteer_leave (volunteer_id, ends_at);

create table tasks (
    id              uuid primary key,
    task_type       text not null,
    title           text not null,
    grid_id         text not null,
    grid_path       ltree not null,
    window_start    timestamptz not null,
    window_end      timestamptz not null,
    required_skills text[] not null default '{}',
    headcount       int not null default 1 check (headcount between 1 and 50),
    urgent          boolean not null default false,
    beneficiary_ref text,
    origin          text not null check (origin in ('case', 'schedule', 'pairing', 'manual')),
    origin_ref      text,
    case_id         uuid,
    status          text not null,
    scope_level     text not null default 'grid',
    created_at      timestamptz not null,
    updated_at      timestamptz not null,
    filled_at       timestamptz,
    check (window_end > window_start)
);
create unique index tasks_origin on tasks (origin, origin_ref) where origin_ref is not null;
create index tasks_status on tasks (status, window_start);
create index tasks_grid on tasks using gist (grid_path);

create table offers (
    id           uuid primary key,
    task_id      uuid not null references tasks (id),
    volunteer_id uuid not null references volunteers (id),
    status       text not null check (status in ('pending', 'accepted', 'declined', 'expired', 'withdrawn')),
    rank         int not null,
    offered_at   timestamptz not null,
    expires_at   timestamptz not null,
    responded_at timestamptz,
    reason       text,
    unique (task_id, volunteer_id)
);
create index offers_pending on offers (expires_at) where status = 'pending';
create index offers_volunteer on offers (volunteer_id, offered_at desc);

create table assignments (
    task_id        uuid not null references tasks (id),
    volunteer_id   uuid not null references volunteers (id),
    status         text not null check (status in ('assigned', 'in_progress', 'completed', 'cancelled')),
    accepted_at    timestamptz not null,
    checked_in_at  timestamptz,
    checked_out_at timestamptz,
    hours          numeric(6, 2),
    points         int,
    primary key (task_id, volunteer_id)
);
create index assignments_volunteer on assignments (volunteer_id, status);

create table ledger (
    id           bigserial primary key,
    volunteer_id uuid not null references volunteers (id),
    task_id      uuid,
    kind         text not null check (kind in ('task', 'correction')),
    hours        numeric(6, 2) not null default 0,
    points       int not null default 0,
    actor        text not null,
    reason       text,
    at           timestamptz not null default now()
);
create index ledger_volunteer on ledger (volunteer_id, at);

create function forbid_change() returns trigger language plpgsql as $$
begin
    raise exception '% is append-only', tg_table_name;
end $$;
create trigger ledger_append_only before update or delete on ledger for each row execute function forbid_change();

create table personal_data_reads (
    id           bigserial primary key,
    volunteer_id uuid not null,
    reader       text not null,
    fields       text[] not null,
    at           timestamptz not null default now()
);

create table schedules (
    id               uuid primary key,
    name             text not null,
    task_type        text not null,
    grid_id          text not null,
    weekdays         int[] not null,
    start_time       time not null,
    duration_minutes int not null check (duration_minutes between 5 and 1440),
    headcount        int not null default 1,
    required_skills  text[] not null default '{}',
    beneficiary_refs text[] not null default '{}',
    active           boolean not null default true,
    created_at       timestamptz not null default now()
);

create table pairings (
    id             uuid primary key,
    volunteer_id   uuid not null references volunteers (id),
    household_ref  text not null,
    household_name text,
    grid_id        text not null,
    every_days     int not null check (every_days between 1 and 365),
    last_visit_at  timestamptz,
    next_due       date not null,
    active         boolean not null default true,
    unique (volunteer_id, household_ref)
);

create table idempotency_keys (
    principal    text not null,
    key          text not null,
    request_hash text not null,
    ref          uuid not null,
    created_at   timestamptz not null default now(),
    primary key (principal, key)
);

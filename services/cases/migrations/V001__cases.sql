-- The case record, its append-only transitions, reporter personal data kept apart, numbering, idempotency, and task progress for the timeline.
create table case_numbers (
    prefix text not null,
    year   int not null,
    last   int not null,
    primary key (prefix, year)
);

create table cases (
    id             uuid primary key,
    number         text not null unique,
    category       text not null,
    title          text not null,
    description    text not null,
    grid_id        text not null,
    area_path      ltree not null,
    address        text,
    address_ref    text,
    lat            double precision,
    lon            double precision,
    source         text not null,
    severity       text not null,
    status         text not null,
    level          text not null,
    assigned_unit  text,
    assignee       text,
    reporter_ref   text not null,
    reporter_sub   text,
    party_refs     text[] not null default '{}',
    attachments    text[] not null default '{}',
    tags           text[] not null default '{}',
    report_count   int not null default 1,
    duplicate_candidates uuid[] not null default '{}',
    merged_into    uuid references cases (id),
    accept_due     timestamptz,
    resolve_due    timestamptz,
    due_at         timestamptz,
    overdue        boolean not null default false,
    escalations    int not null default 0,
    reopen_count   int not null default 0,
    resolved_by    text,
    resolved_at    timestamptz,
    resolution     text,
    referral_court text,
    satisfaction   smallint check (satisfaction between 1 and 5),
    satisfaction_note text,
    created_at     timestamptz not null,
    updated_at     timestamptz not null,
    closed_at      timestamptz,
    search_text    text generated always as (title || ' ' || description) stored
);
create index cases_created on cases (created_at desc, id desc);
create index cases_area on cases using gist (area_path);
create index cases_status on cases (status, created_at desc);
create index cases_category on cases (category, created_at desc);
create index cases_due on cases (due_at) where due_at is not null;
create index cases_dup on cases (grid_id, category, created_at desc);
create index cases_text on cases using gin (search_text gin_trgm_ops);
create index cases_reporter on cases (reporter_sub, created_at desc) where reporter_sub is not null;

create table case_transitions (
    id          bigserial primary key,
    case_id     uuid not null references cases (id),
    action      text not null,
    from_status text,
    to_status   text not null,
    from_level  text,
    to_level    text not null,
    actor       text not null,
    reason      text,
    data        jsonb not null default '{}',
    at          timestamptz not null
);
create index case_transitions_case on case_transitions (case_id, id);

create function forbid_change() returns trigger language plpgsql as $$
begin
    raise exception '% is append-only', tg_table_name;
end $$;
create trigger case_transitions_append_only before update or delete on case_transitions
    for each row execute function forbid_change();

-- personal data: only here, only through the permission-checked and audited API
create table case_reporters (
    case_id  uuid primary key references cases (id),
    name     text,
    phone    text,
    parties  jsonb not null default '[]'
);

create table personal_data_reads (
    id      bigserial primary key,
    case_id uuid not null,
    reader  text not null,
    fields  text[] not null,
    at      timestamptz not null default now()
);
create trigger personal_data_reads_append_only before update or delete on personal_data_reads
    for each row execute function forbid_change();

create table idempotency_keys (
    principal    text not null,
    key          text not null,
    request_hash text not null,
    case_id      uuid not null,
    created_at   timestamptz not null default now(),
    primary key (principal, key)
);

create table case_task_events (
    event_id   text primary key,
    case_id    uuid not null,
    task_id    text not null,
    event_type text not null,
    status     text not null,
    volunteer_ref text,
    note       text,
    at         timestamptz not null
);
create index case_task_events_case on case_task_events (case_id, at);

-- Projections for the weekly risk assessment: one row per case and task, daily rollups per grid/category/metric, volunteer hours; no personal data.
create table r_cases (
    case_id       uuid primary key,
    number        text not null,
    category      text not null,
    severity      text not null,
    grid_id       text not null,
    grid_path     ltree not null,
    title         text,
    tags          text[] not null default '{}',
    status        text not null,
    level         text not null,
    max_level     text not null default 'grid',
    reporter_ref  text,
    address_ref   text,
    party_refs    text[] not null default '{}',
    report_count  int not null default 1,
    reported_at   timestamptz,
    accepted_at   timestamptz,
    resolved_at   timestamptz,
    closed_at     timestamptz,
    ended_at      timestamptz,
    rated_at      timestamptz,
    overdue       boolean not null default false,
    escalations   int not null default 0,
    referred      boolean not null default false,
    reopen_count  int not null default 0,
    on_time       boolean,
    satisfaction  smallint,
    updated_at    timestamptz not null
);
create index r_cases_path on r_cases using gist (grid_path);
create index r_cases_closed on r_cases (closed_at) where closed_at is not null;
create index r_cases_resolved on r_cases (resolved_at) where resolved_at is not null;
create index r_cases_rated on r_cases (rated_at) where rated_at is not null;
create index r_cases_open on r_cases (reported_at) where ended_at is null;
create index r_cases_ended on r_cases (ended_at) where ended_at is not null;
create index r_cases_category on r_cases (category, reported_at);

-- incremental rollups: a weekly report sums 7 days of these, whatever the history
create table r_daily (
    day       date not null,
    grid_id   text not null,
    grid_path ltree not null,
    category  text not null,
    metric    text not null,
    n         int not null,
    primary key (day, grid_id, category, metric)
);
create index r_daily_path on r_daily using gist (grid_path);
create index r_daily_day on r_daily (day);

-- current open cases per grid and category; open at a past week end = this minus later deltas
create table r_open (
    grid_id   text not null,
    grid_path ltree not null,
    category  text not null,
    n         int not null,
    primary key (grid_id, category)
);

create table r_tasks (
    task_id    uuid primary key,
    task_type  text not null,
    grid_id    text not null,
    grid_path  ltree not null,
    case_id    uuid,
    status     text not null,
    created_at timestamptz,
    filled_at  timestamptz,
    updated_at timestamptz not null
);
create index r_tasks_filled on r_tasks (filled_at) where filled_at is not null;

create table r_volunteers (
    volunteer_ref text primary key,
    roles         text[] not null,
    party_member  boolean not null,
    home_grid     text not null
);

create table r_hours (
    event_id      text primary key,
    day           date not null,
    grid_id       text not null,
    grid_path     ltree not null,
    volunteer_ref text not null,
    task_type     text not null,
    hours         numeric(8, 2) not null
);
create index r_hours_day on r_hours (day);

create table r_published (
    week       text not null,
    area_id    text not null,
    published_at timestamptz not null default now(),
    primary key (week, area_id)
);

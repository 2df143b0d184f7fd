-- Rollups the weekly report reads instead of scanning r_cases (issue 13, target 6): closed cases per area, week and category; resolve times per area and week; the ended cases open at each week's end; 30-day repeat addresses and parties per week end. Kept by the case projection (reporting.case_projection), backfilled below from r_cases.

-- cases whose closed_at is in the week, for the area and every area above it (as r_rollup)
create table r_closed (
    area_id    text not null,
    week       date not null,   -- Monday of the ISO week of closed_at, China Standard Time
    category   text not null,
    closed     int not null,
    on_time    int not null,
    reworked   int not null,    -- reopen_count > 0
    grassroots int not null,    -- max_level grid or village
    primary key (area_id, week, category)
);

-- cases whose (last) resolved_at is in the week, by time from report to resolution: exact, so the percentiles are
create table r_resolve (
    area_id text not null,
    week    date not null,      -- of resolved_at
    took    interval not null,  -- resolved_at - reported_at
    n       int not null,
    primary key (area_id, week, took)
);

-- cases reported before a week's end (a Monday 00:00) and ended at or after it, per week end; the cases still open
-- are read from r_cases (r_cases_open_cover)
create table r_open_at (
    week_end  date not null,
    grid_id   text not null,
    kind      text not null,    -- dispute (dispute.*), petition or other
    severity  text not null,
    grid_path ltree not null,
    n         int not null,
    overdue   int not null,
    repeats   int not null,     -- report_count > 1
    primary key (week_end, grid_id, kind, severity)
);

-- cases with an address reported in the 30 days before each week end, per grid and address
create table r_repeat_address (
    week_end    date not null,
    grid_id     text not null,
    address_ref text not null,
    grid_path   ltree not null,
    n           int not null,
    primary key (week_end, grid_id, address_ref)
);
create index r_repeat_address_hits on r_repeat_address (week_end) include (grid_path, n) where n >= 2;

-- cases per party reported in the 30 days before each week end, for the grid and every area above it
create table r_repeat_party (
    area_id   text not null,
    week_end  date not null,
    party_ref text not null,
    n         int not null,
    primary key (area_id, week_end, party_ref)
);
create index r_repeat_party_hits on r_repeat_party (area_id, week_end, n desc, party_ref) where n >= 2;

-- backfill (the statements below are also run by tests/integration/test_reporting_batch.py and bench/reporting_bench.py)
insert into r_closed (area_id, week, category, closed, on_time, reworked, grassroots)
select subpath(grid_path, 0, depth)::text, date_trunc('week', closed_at at time zone 'Asia/Shanghai')::date, category,
       count(*), count(*) filter (where on_time), count(*) filter (where reopen_count > 0),
       count(*) filter (where max_level in ('grid', 'village'))
from r_cases cross join generate_series(1, nlevel(grid_path)) depth
where closed_at is not null
group by 1, 2, 3;

insert into r_resolve (area_id, week, took, n)
select subpath(grid_path, 0, depth)::text, date_trunc('week', resolved_at at time zone 'Asia/Shanghai')::date,
       resolved_at - reported_at, count(*)
from r_cases cross join generate_series(1, nlevel(grid_path)) depth
where resolved_at is not null and reported_at is not null
group by 1, 2, 3;

insert into r_open_at (week_end, grid_id, kind, severity, grid_path, n, overdue, repeats)
select m::date, grid_id,
       case when category like 'dispute.%' then 'dispute' when category = 'petition' then 'petition' else 'other' end,
       severity, grid_path, count(*), count(*) filter (where overdue), count(*) filter (where report_count > 1)
from r_cases
cross join lateral (select (reported_at at time zone 'Asia/Shanghai')::date as reported_on,
                           (ended_at at time zone 'Asia/Shanghai')::date as ended_on) l
cross join generate_series((l.reported_on + (8 - extract(isodow from l.reported_on))::int)::timestamp,
                           l.ended_on::timestamp, interval '7 days') m
where ended_at is not null and reported_at is not null
group by 1, 2, 3, 4, 5;

insert into r_repeat_address (week_end, grid_id, address_ref, grid_path, n)
select m::date, grid_id, address_ref, grid_path, count(*)
from r_cases
cross join lateral (select (reported_at at time zone 'Asia/Shanghai')::date as reported_on) l
cross join generate_series((l.reported_on + (8 - extract(isodow from l.reported_on))::int)::timestamp,
                           (l.reported_on + 30)::timestamp, interval '7 days') m
where address_ref is not null and reported_at is not null
group by 1, 2, 3, 4;

insert into r_repeat_party (area_id, week_end, party_ref, n)
select subpath(grid_path, 0, depth)::text, m::date, p, count(*)
from r_cases
cross join unnest(party_refs) p
cross join lateral (select (reported_at at time zone 'Asia/Shanghai')::date as reported_on) l
cross join generate_series((l.reported_on + (8 - extract(isodow from l.reported_on))::int)::timestamp,
                           (l.reported_on + 30)::timestamp, interval '7 days') m
cross join generate_series(1, nlevel(grid_path)) depth
where reported_at is not null
group by 1, 2, 3;

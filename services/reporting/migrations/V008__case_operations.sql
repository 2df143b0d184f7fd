-- The case operations of issue 14 (extension, suspension, return, supervision) in the weekly report: r_cases keeps what each case's events say about them, r_due counts the due cases extended (延期率), and r_suspended_at the cases suspended at each week's end (挂起中) whose suspension is over. Kept by the case projection (reporting.case_projection).

alter table r_cases
    add column extensions int not null default 0,    -- extensions approved so far (CaseExtensionDecided)
    add column supervised_at timestamptz,            -- first put under supervision (督办 lasts until the case ends)
    add column supervised_last timestamptz,          -- the latest supervision, so a case counts once per week
    add column suspended_at timestamptz;             -- since when it is suspended, while it is (status 'suspended')

alter table r_due add column extended int not null default 0;  -- of the cases due, those with an approved extension

-- cases suspended at a week's end (a Monday 00:00) whose suspension has ended since, for the area and every area
-- above it; the cases suspended now are read from r_cases (r_cases_suspended)
create table r_suspended_at (
    area_id  text not null,
    week_end date not null,
    n        int not null,
    primary key (area_id, week_end)
);

create index r_cases_supervised on r_cases (supervised_at) include (grid_path, ended_at) where supervised_at is not null;
create index r_cases_suspended on r_cases (suspended_at) include (grid_path) where suspended_at is not null;

-- backfill (also run by tests/integration/test_reporting_batch.py): r_due again with its new column. Cases projected
-- before this migration have no extensions, supervision or suspension until `./gov reporting rebuild` replays them
delete from r_due;
insert into r_due (area_id, week, category, due, on_time, extended)
select subpath(grid_path, 0, depth)::text, date_trunc('week', resolve_due at time zone 'Asia/Shanghai')::date, category,
       count(*), count(*) filter (where closed_at is not null and on_time), count(*) filter (where extensions > 0)
from r_cases cross join generate_series(1, nlevel(grid_path)) depth
where resolve_due is not null and (ended_at is null or closed_at is not null)
group by 1, 2, 3;

-- 按期办结率 divides by the cases due in the week (应结案数, issue 14 item 8): r_cases keeps each case's resolve deadline (resolve_due, from every case event's facts) and r_due counts per area, week of that deadline and category the cases due and those closed on time. Kept by the case projection (reporting.case_projection), backfilled below from r_cases.

alter table r_cases add column resolve_due timestamptz;

-- cases whose resolve deadline falls in the week, for the area and every area above it (as r_closed); a case
-- rejected, withdrawn or merged is not counted (docs/kpis.md)
create table r_due (
    area_id  text not null,
    week     date not null,   -- Monday of the ISO week of resolve_due, China Standard Time
    category text not null,
    due      int not null,    -- 应结案数
    on_time  int not null,    -- of them closed with on_time (按期办结数)
    primary key (area_id, week, category)
);

-- backfill (also run by tests/integration/test_reporting_batch.py). The cases projected before this migration
-- have no resolve_due yet (the events carried it, the projection did not keep it): `./gov reporting rebuild`
-- replays them and fills both
insert into r_due (area_id, week, category, due, on_time)
select subpath(grid_path, 0, depth)::text, date_trunc('week', resolve_due at time zone 'Asia/Shanghai')::date, category,
       count(*), count(*) filter (where closed_at is not null and on_time)
from r_cases cross join generate_series(1, nlevel(grid_path)) depth
where resolve_due is not null and (ended_at is null or closed_at is not null)
group by 1, 2, 3;

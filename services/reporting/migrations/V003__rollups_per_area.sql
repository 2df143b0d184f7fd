-- Rollups per ISO week for every area level (grid, village, town), so a report reads a few rows for its area, not a scan of all grids' days.
drop table r_daily;
drop table r_open;

create table r_rollup (
    week     date not null,   -- Monday of the ISO week, China Standard Time
    area_id  text not null,   -- the grid, its village and its town: one row each
    category text not null,
    metric   text not null,
    n        int not null,
    primary key (area_id, week, category, metric)
);

create table r_open (
    area_id  text not null,
    category text not null,
    n        int not null,
    primary key (area_id, category)
);

-- Index-only reads for the report's 30-day repeat checks and the grids' weekly new counts (measured in bench/reporting_bench.py).
create index r_cases_recent on r_cases (reported_at) include (grid_id, grid_path, address_ref, party_refs);
create index r_rollup_week on r_rollup (week, metric);
create index r_cases_open_cover on r_cases (reported_at) include (grid_id, grid_path, category, severity, overdue, report_count)
    where ended_at is null;
create index r_cases_ended_cover on r_cases (ended_at) include (reported_at, grid_id, grid_path, category, severity, overdue, report_count)
    where ended_at is not null;

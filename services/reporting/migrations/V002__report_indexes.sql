-- Indexes so a weekly report reads only the week's cases and the open ones, whatever the history (bench/README.md).
create index r_cases_reported on r_cases (reported_at);

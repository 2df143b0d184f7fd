-- Exactly-once recurring work: each schedule occurrence is claimed by inserting its row, in the task's transaction.
create table schedule_runs (
    schedule_id uuid not null references schedules (id),
    occurs_on   date not null,
    task_id     uuid references tasks (id),
    claimed_at  timestamptz not null default now(),
    primary key (schedule_id, occurs_on)
);

-- the generators and the overdue listing look pairings up by due date
create index pairings_due on pairings (next_due) where active;
create index schedules_active on schedules (grid_id) where active;

-- Livelihood projects (民生实事) from gov.livelihood.v1: one row per proposal, one per proposal event (its stage, budget and spent total then, so a report can ask how things stood at a week's end), milestones, meetings; and the claim rows of the weekly livelihood-demand publication.
create table r_livelihood_projects (
    proposal_id   uuid primary key,
    number        text not null,
    village_id    text not null,
    village_path  ltree not null,
    grid_ids      text[] not null default '{}',
    category      text not null,
    flow          text not null,
    stage         text not null,
    stage_rank    int not null,           -- breaks ties between events of the same instant (domain.livelihood)
    budget_yuan   numeric not null,       -- exact, as the events carry it
    facts_at      timestamptz not null,   -- occurred_at of the event the columns above are from (the latest)
    first_at      timestamptz not null,   -- earliest event seen
    submitted_at  timestamptz,            -- gov.livelihood.proposal_submitted.v1
    title         text,
    funding_source text,
    households    int,
    people        int,
    evidence_cases int not null default 0,
    adopted       boolean,                -- null until decided
    decided_at    timestamptz,
    meeting_kind  text,
    spent_yuan    numeric not null default 0,
    spent_at      timestamptz,            -- occurred_at of the event spent_yuan is from
    implementation_started_at timestamptz,
    accepted_at   timestamptz,
    results_published_at timestamptz
);
create index r_lv_projects_path on r_livelihood_projects using gist (village_path);
create index r_lv_projects_grids on r_livelihood_projects using gin (grid_ids);

create table r_livelihood_steps (
    event_id      text primary key,
    proposal_id   uuid not null,
    occurred_at   timestamptz not null,
    stage         text not null,
    stage_rank    int not null,
    budget_yuan   numeric not null,
    spent_total_yuan numeric           -- the events that carry a spent total
);
create index r_lv_steps_proposal on r_livelihood_steps (proposal_id, occurred_at);

create table r_livelihood_milestones (
    milestone_id  text primary key,
    proposal_id   uuid not null,
    title         text not null,
    due_on        date not null,
    done_on       date,
    recorded_at   timestamptz not null,  -- first recorded
    updated_at    timestamptz not null   -- occurred_at of the event the row is from
);
create index r_lv_milestones_proposal on r_livelihood_milestones (proposal_id);

create table r_livelihood_meetings (
    meeting_id    text primary key,
    village_id    text not null,
    village_path  ltree not null,
    kind          text not null,
    starts_at     timestamptz not null,
    proposal_ids  text[] not null default '{}',
    noticed_at    timestamptz not null
);
create index r_lv_meetings_path on r_livelihood_meetings using gist (village_path);

-- once per (village, week) across replicas, like r_published for the weekly reports
create table r_demand_published (
    week         text not null,
    village_id   text not null,
    published_at timestamptz not null default now(),
    primary key (week, village_id)
);

-- Representatives' register, proposals with their timeline, meetings with double-entered tallies and decisions, notices and objections, milestones, spending and budget changes; copies of cases and of reporting's demand analysis for evidence.
create table representatives (
    id          uuid primary key,
    village_id  text not null,
    sub         text not null,
    name        text not null,
    phone       text,
    term_start  date not null,
    term_end    date not null,
    created_at  timestamptz not null default now(),
    check (term_end > term_start),
    unique (village_id, sub, term_start)
);
create index representatives_village on representatives (village_id, term_end);

create table proposal_numbers (
    year int primary key,
    last int not null
);

create table proposals (
    id             uuid primary key,
    number         text not null unique,
    village_id     text not null,
    grid_ids       text[] not null default '{}',
    title          text not null,
    description    text not null,
    category       text not null,
    budget         numeric(14, 2) not null check (budget >= 0),
    funding_source text not null,
    households     int not null check (households >= 0),
    people         int not null check (people >= 0),
    case_ids       uuid[] not null default '{}',
    flow           text not null,
    stage          text not null,
    proposer_sub   text not null,
    merged_into    uuid references proposals (id),
    created_at     timestamptz not null,
    updated_at     timestamptz not null
);
create index proposals_village on proposals (village_id, stage);

create table timeline (
    id          bigserial primary key,
    proposal_id uuid not null references proposals (id),
    at          timestamptz not null,
    actor       text not null,
    action      text not null,
    stage_from  text,
    stage_to    text not null,
    reason      text,
    data        jsonb not null default '{}'
);
create index timeline_proposal on timeline (proposal_id, id);

create table meetings (
    id           uuid primary key,
    village_id   text not null,
    kind         text not null check (kind in ('villagers_meeting', 'representatives_meeting')),
    starts_at    timestamptz not null,
    place        text not null,
    agenda       uuid[] not null,
    invitee_subs text[] not null default '{}',
    noticed_at   timestamptz not null,
    created_by   text not null
);

create table tally_entries (
    meeting_id             uuid not null references meetings (id),
    proposal_id            uuid not null references proposals (id),
    clerk_sub              text not null,
    present                int not null,
    eligible               int not null,
    households             int not null default 0,
    households_represented int not null default 0,
    votes_for              int not null,
    votes_against          int not null,
    abstentions            int not null,
    entered_at             timestamptz not null,
    primary key (meeting_id, proposal_id, clerk_sub)
);

create table decisions (
    meeting_id  uuid not null references meetings (id),
    proposal_id uuid not null references proposals (id),
    quorate     boolean not null,
    adopted     boolean not null,
    why         text not null,
    tally       jsonb not null,
    decided_at  timestamptz not null,
    primary key (meeting_id, proposal_id)
);

create table notices (
    id           uuid primary key,
    proposal_id  uuid not null references proposals (id),
    kind         text not null check (kind in ('decision', 'results')),
    starts_on    date not null,
    ends_on      date not null,
    published_at timestamptz not null,
    unique (proposal_id, kind)
);

-- the objector's name and phone are optional and never leave this schema
create table objections (
    id          uuid primary key,
    notice_id   uuid not null references notices (id),
    proposal_id uuid not null references proposals (id),
    text        text not null,
    name        text,
    phone       text,
    lodged_at   timestamptz not null,
    answer      text,
    answered_by text,
    answered_at timestamptz
);
create index objections_open on objections (proposal_id) where answered_at is null;

create table milestones (
    id          uuid primary key,
    proposal_id uuid not null references proposals (id),
    title       text not null,
    due_on      date not null,
    done_on     date,
    photo_urls  text[] not null default '{}',
    created_at  timestamptz not null
);
create index milestones_proposal on milestones (proposal_id, due_on);

create table spending (
    id          uuid primary key,
    proposal_id uuid not null references proposals (id),
    amount      numeric(14, 2) not null check (amount > 0),
    note        text not null,
    spent_on    date not null,
    recorded_by text not null,
    recorded_at timestamptz not null
);
create index spending_proposal on spending (proposal_id);

create table budget_changes (
    id          uuid primary key,
    proposal_id uuid not null references proposals (id),
    previous    numeric(14, 2) not null,
    budget      numeric(14, 2) not null,
    decision    text not null,
    actor       text not null,
    at          timestamptz not null
);

create table case_copy (
    case_id     uuid primary key,
    number      text not null,
    category    text not null,
    grid_id     text not null,
    village_id  text not null,
    status      text not null,
    reported_at timestamptz not null
);
create index case_copy_village on case_copy (village_id, category);

create table demand (
    village_id   text primary key,
    week         text not null,
    weeks        int not null,
    themes       jsonb not null,
    published_at timestamptz not null
);

create table personal_data_reads (
    id      bigserial primary key,
    subject text not null,
    reader  text not null,
    purpose text not null,
    at      timestamptz not null default now()
);

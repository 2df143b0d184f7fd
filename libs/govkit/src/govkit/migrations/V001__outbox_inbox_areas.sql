-- Platform tables every service holds in its own schema: the outbox it publishes from, the inbox it deduplicates with, and its copy of the area tree.
create table outbox (
    id           bigserial primary key,
    event_id     uuid not null unique,
    topic        text not null,
    key          text not null,
    event_type   text not null,
    headers      jsonb not null,
    payload      bytea not null,
    created_at   timestamptz not null default now(),
    published_at timestamptz
);
create index outbox_unpublished on outbox (id) where published_at is null;

create function outbox_notify() returns trigger language plpgsql as $$
begin
    perform pg_notify(current_schema() || '_outbox', '');
    return null;
end $$;
create trigger outbox_notify after insert on outbox
    for each statement execute function outbox_notify();

create table inbox (
    consumer     text not null,
    event_id     text not null,
    event_type   text not null,
    topic        text not null,
    partition    int not null,
    "offset"     bigint not null,
    processed_at timestamptz not null default now(),
    primary key (consumer, event_id)
);

create table areas (
    id           text primary key,
    path         ltree not null unique,
    kind         text not null check (kind in ('town', 'village', 'community', 'grid')),
    name         text not null,
    parent_id    text,
    invented     boolean not null default false,
    tree_version text not null,
    updated_at   timestamptz not null default now()
);
create index areas_path_gist on areas using gist (path);

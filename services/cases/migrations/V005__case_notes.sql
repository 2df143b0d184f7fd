-- Progress notes (办理记录) on a case with their attachments (images stripped of metadata, PDFs), and the blob table of the default attachment storage (cases.storage.PostgresStorage).
create table case_notes (
    id      uuid primary key,
    case_id uuid not null references cases (id),
    author  text not null,
    text    text not null,
    at      timestamptz not null
);
create index case_notes_case on case_notes (case_id, at desc);

create table case_attachments (
    id           uuid primary key,
    case_id      uuid not null references cases (id),
    note_id      uuid references case_notes (id),
    position     int not null,
    filename     text not null,
    content_type text not null,
    size         bigint not null,
    sha256       text not null,
    storage_key  text not null,
    at           timestamptz not null
);
create index case_attachments_note on case_attachments (note_id, position);

create table case_attachment_blobs (
    key          text primary key,
    content_type text not null,
    data         bytea not null,
    stored_at    timestamptz not null default now()
);

-- a progress note is a record of what was done: never changed, never deleted, like the timeline
create trigger case_notes_append_only before update or delete on case_notes
    for each row execute function forbid_change();
create trigger case_attachments_append_only before update or delete on case_attachments
    for each row execute function forbid_change();

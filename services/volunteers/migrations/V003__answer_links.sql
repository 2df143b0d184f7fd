-- A volunteer answers an offer from a link in an SMS: one signed, single-use link per offer; and a pairing's
-- overdue visit is reported once per due date (gov.pairing.visit_overdue.v1).
create table answer_links (
    id          text primary key,
    offer_id    uuid not null unique references offers (id),
    expires_at  timestamptz not null,
    created_at  timestamptz not null default now(),
    used_at     timestamptz,
    used_answer text check (used_answer in ('accept', 'decline')),
    check ((used_at is null) = (used_answer is null))
);

alter table pairings add column overdue_reported_for date;

-- The operations beside the main loop (issue 14): extension (延期) and suspension (缓办/挂起) requests awaiting the
-- level above, the suspended clock, returns (退单) to the dispatching level, supervision (督办), and external tickets
-- (12345 工单) with the hotline's call-back (回访). cases.domain.lifecycle says what each column means.
alter table cases
    add column extensions        int not null default 0,
    add column returns           int not null default 0,
    add column pending_kind      text check (pending_kind in ('extension', 'suspension')),
    add column pending_due       timestamptz,
    add column pending_reason    text,
    add column pending_by        text,
    add column pending_at        timestamptz,
    add column suspended_at      timestamptz,
    add column suspended_from    text,
    add column held_due          timestamptz,
    add column suspended_seconds bigint not null default 0,
    add column dispatched_at     timestamptz,
    add column dispatched_from   text,
    add column supervised_at     timestamptz,
    add column supervising_level text,
    add column supervise_due     timestamptz,
    add column external_source   text,
    add column external_id       text,
    add column callback_result   text,
    add column callback_at       timestamptz;

-- the same ticket sent twice is one case
create unique index cases_external_ticket on cases (external_source, external_id) where external_id is not null;
create index cases_supervised on cases (supervised_at) where supervised_at is not null;

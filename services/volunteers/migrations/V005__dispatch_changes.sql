-- The dispatch index (candidate_index.py) keeps every volunteer's ranking inputs in memory; it follows the writes of
-- every replica, and of anyone else, through this log: one row per changed volunteer per write, stamped with the
-- writing transaction's id, so that a refresh reads exactly what committed since the snapshot of the one before.
create table dispatch_changes (
    seq          bigserial primary key,
    xid          xid8 not null default pg_current_xact_id(),
    volunteer_id uuid not null,
    at           timestamptz not null default now()
);
create index dispatch_changes_xid on dispatch_changes (xid);

create function note_dispatch_change() returns trigger language plpgsql as $$
begin
    if tg_table_name = 'volunteers' then
        insert into dispatch_changes (volunteer_id) values (coalesce(new.id, old.id));
    elsif tg_op = 'DELETE' then
        insert into dispatch_changes (volunteer_id) values (old.volunteer_id);
    else
        insert into dispatch_changes (volunteer_id) values (new.volunteer_id);
        if tg_op = 'UPDATE' and old.volunteer_id is distinct from new.volunteer_id then
            insert into dispatch_changes (volunteer_id) values (old.volunteer_id);
        end if;
    end if;
    return null;
end $$;

create trigger volunteers_dispatch after insert or update or delete on volunteers
    for each row execute function note_dispatch_change();
create trigger volunteer_leave_dispatch after insert or update or delete on volunteer_leave
    for each row execute function note_dispatch_change();
create trigger offers_dispatch after insert or delete on offers
    for each row execute function note_dispatch_change();
create trigger offers_status_dispatch after update on offers
    for each row when (old.status is distinct from new.status or old.volunteer_id is distinct from new.volunteer_id)
    execute function note_dispatch_change();
create trigger assignments_dispatch after insert or delete on assignments
    for each row execute function note_dispatch_change();
create trigger assignments_status_dispatch after update on assignments
    for each row when (old.status is distinct from new.status or old.volunteer_id is distinct from new.volunteer_id)
    execute function note_dispatch_change();
create trigger ledger_dispatch after insert on ledger
    for each row execute function note_dispatch_change();

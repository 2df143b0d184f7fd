-- Case numbers come from one sequence per prefix and year, made on first use by next_case_number, instead of the case_numbers row every create locked and updated: the counters move into their sequences and the table goes.
create function next_case_number(prefix text, year int) returns text language plpgsql as $$
declare
    seq text := quote_ident(lower(format('case_number_%s_%s', prefix, year)));
    n bigint;
begin
    if to_regclass(seq) is null then
        -- the year's first number: one session creates the sequence, the others wait here and then find it
        perform pg_advisory_xact_lock(hashtext(current_schema() || '.case_numbers'));
        execute format('create sequence if not exists %s as bigint cache 1', seq);
    end if;
    n := nextval(seq::regclass);
    return format('%s-%s-%s', prefix, year, lpad(n::text, greatest(6, length(n::text)), '0'));
end $$;

do $$
declare
    c record;
    seq text;
begin
    for c in select prefix, year, last from case_numbers loop
        seq := quote_ident(lower(format('case_number_%s_%s', c.prefix, c.year)));
        execute format('create sequence %s as bigint cache 1', seq);
        perform setval(seq::regclass, greatest(c.last, 1), c.last > 0);
    end loop;
end $$;

drop table case_numbers;

-- The unit a case is dispatched to and its named assignee, so that supervision and decisions on its requests reach the handling unit; cleared when the unit returns the case.
alter table case_copy add column unit_id text, add column unit_level text, add column assignee text;

-- Publicity tasks (会议宣传) made from the livelihood service's meeting notices: origin 'meeting', origin_ref = meeting id.
alter table tasks drop constraint tasks_origin_check;
alter table tasks add constraint tasks_origin_check check (origin in ('case', 'schedule', 'pairing', 'manual', 'meeting'));

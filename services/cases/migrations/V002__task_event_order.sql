-- Task events that share a timestamp (one transaction in the volunteers service) keep their arrival order on the timeline.
alter table case_task_events add column seq bigserial;

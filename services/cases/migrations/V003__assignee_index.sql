-- The case list shows a dispatched assignee the cases assigned to them (authz.can_view), as it shows reporters theirs.
create index cases_assignee on cases (assignee, created_at desc) where assignee is not null;

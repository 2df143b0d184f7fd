"""Topic names. One topic per stream of facts, keyed by aggregate id."""

AREAS = "gov.areas.v1"  # compacted, key = area id
CASES = "gov.cases.v1"  # key = case id
TASKS = "gov.tasks.v1"  # key = task id
VOLUNTEERS = "gov.volunteers.v1"  # key = volunteer id
REPORTS = "gov.reports.v1"  # key = area id
LIVELIHOOD = "gov.livelihood.v1"  # key = proposal id (meeting notices: meeting id)
DEADLETTER = "gov.deadletter.v1"  # key = original key; see docs/events.md

ALL = (AREAS, CASES, TASKS, VOLUNTEERS, REPORTS, LIVELIHOOD, DEADLETTER)
COMPACTED = frozenset({AREAS})

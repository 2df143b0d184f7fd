"""Prometheus metrics every service exposes on /metrics."""

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter("gov_http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram("gov_http_request_seconds", "HTTP request latency", ["service", "method", "route"])
EVENTS_CONSUMED = Counter(
    "gov_events_consumed_total",
    "Events taken from Kafka by outcome (applied, duplicate, ignored, dead_lettered)",
    ["service", "topic", "outcome"],
)
EVENTS_PUBLISHED = Counter("gov_events_published_total", "Outbox events published to Kafka", ["service", "topic"])
OUTBOX_BACKLOG = Gauge("gov_outbox_backlog", "Outbox rows not yet published", ["service"])
DEAD_LETTERS = Counter("gov_dead_letters_total", "Events sent to the dead-letter topic", ["service", "reason"])
DEAD_LETTER_FAILURES = Counter(
    "gov_dead_letter_failures_total",
    "Failed attempts to store a dead letter (transient: broker unreachable; "
    "refused: the broker will not take it, e.g. no write permission on the dead-letter topic)",
    ["service", "kind"],
)
CONSUMER_LAG = Gauge(
    "gov_consumer_lag",
    "Records not yet processed: the partition's end offset minus the group's committed offset, "
    "measured every CONSUMER_LAG_INTERVAL_S",
    ["service", "topic", "partition"],
)
CONSUMER_STALLED = Gauge(
    "gov_consumer_stalled_seconds",
    "How long the committed offset has not moved while records wait (0 when caught up or moving)",
    ["service", "topic", "partition"],
)
CONSUMER_OLDEST_UNPROCESSED = Gauge(
    "gov_consumer_oldest_unprocessed_age_seconds",
    "Age of the oldest record not yet processed: by its timestamp "
    "when it is in the handler, else at least the stall time (0 when caught up)",
    ["service", "topic", "partition"],
)
RETENTION_PRUNED = Counter("gov_retention_pruned_rows_total", "Rows deleted by retention", ["service", "table"])
HANDLER_RETRIES = Counter(
    "gov_handler_retries_total", "Event handling attempts that failed and were retried", ["service", "kind"]
)

"""Prometheus metrics every service exposes on /metrics."""
from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter("gov_http_requests_total", "HTTP requests", ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram("gov_http_request_seconds", "HTTP request latency", ["service", "method", "route"])
EVENTS_CONSUMED = Counter(
    "gov_events_consumed_total", "Events taken from Kafka by outcome "
    "(applied, duplicate, ignored, dead_lettered)", ["service", "topic", "outcome"])
EVENTS_PUBLISHED = Counter("gov_events_published_total", "Outbox events published to Kafka", ["service", "topic"])
OUTBOX_BACKLOG = Gauge("gov_outbox_backlog", "Outbox rows not yet published", ["service"])
DEAD_LETTERS = Counter("gov_dead_letters_total", "Events sent to the dead-letter topic", ["service", "reason"])
DEAD_LETTER_FAILURES = Counter(
    "gov_dead_letter_failures_total", "Failed attempts to store a dead letter (transient: broker unreachable; "
    "refused: the broker will not take it, e.g. no write permission on the dead-letter topic)", ["service", "kind"])
CONSUMER_LAG = Gauge("gov_consumer_lag", "Records behind the partition's high watermark", ["service", "topic", "partition"])
HANDLER_RETRIES = Counter("gov_handler_retries_total", "Event handling attempts that failed and were retried", ["service", "kind"])

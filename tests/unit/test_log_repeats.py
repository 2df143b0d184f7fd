"""aiokafka's repeated connection errors while Kafka is down come through once per window, with a count of
the ones held back; our own records are never held."""

import json
import logging

from govkit.logging import JsonFormatter, RepeatFilter, _AiokafkaOnly


def record(name: str, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)


def test_one_record_per_template_and_window_then_the_count_of_the_held_ones():
    now = [0.0]
    gate = _AiokafkaOnly(RepeatFilter(every_s=30, clock=lambda: now[0]))
    passed = []
    for i in range(150):
        now[0] = i * 0.2  # 150 lines in 30 s, as aiokafka logs while the broker is away
        r = record("aiokafka.conn", "Unable connect to node with id %s: %s", 1, "refused")
        if gate.filter(r):
            passed.append(r)
    assert len(passed) == 1
    now[0] = 31.0
    r = record("aiokafka.conn", "Unable connect to node with id %s: %s", 2, "refused")
    assert gate.filter(r) and getattr(r, "repeated") == 149  # noqa: B009  (set by the filter, not a LogRecord field)
    assert json.loads(JsonFormatter("cases").format(r))["repeated"] == 149
    other = record("aiokafka.client", "Unable to update metadata from %s", 1)
    assert gate.filter(other)  # another template has its own window


def test_our_own_records_are_never_held_back():
    gate = _AiokafkaOnly(RepeatFilter(every_s=30, clock=lambda: 0.0))
    assert all(gate.filter(record("govkit.consumer", "dead-lettered %s", i)) for i in range(100))

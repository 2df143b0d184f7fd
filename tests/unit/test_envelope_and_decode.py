import json
from datetime import datetime, timezone

import pytest
from aiokafka import ConsumerRecord

from gov_contracts import CloudEvent
from gov_contracts.areas import AreaUpserted
from gov_contracts.envelope import EnvelopeError
from govkit.consumer import PoisonEvent, decode, dead_letter_headers

AREA = AreaUpserted(id="changping.kongjiafan.g03", kind="grid", name="孔家畈村第3网格",
                    parent_id="changping.kongjiafan", tree_version="v1")


def record(value: bytes, headers, topic="gov.areas.v1"):
    return ConsumerRecord(topic, 2, 41, 0, 0, b"k", value, None, 1, len(value), headers)


def test_headers_round_trip_in_binary_mode():
    ce = CloudEvent(type="gov.area.upserted.v1", source="govctl/areas", subject="changping",
                    time=datetime(2026, 11, 29, 3, 0, tzinfo=timezone.utc),
                    traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    h = dict(ce.headers())
    assert h["ce_specversion"] == b"1.0" and h["content-type"] == b"application/json"
    assert h["ce_time"] == b"2026-11-29T03:00:00Z"
    assert CloudEvent.from_headers(ce.headers()) == ce


@pytest.mark.parametrize("drop", ["ce_id", "ce_type", "ce_source", "ce_specversion"])
def test_missing_required_header_is_an_envelope_error(drop):
    headers = [(k, v) for k, v in CloudEvent(type="t", source="s").headers() if k != drop]
    with pytest.raises(EnvelopeError, match=drop):
        CloudEvent.from_headers(headers)


def test_decode_returns_the_typed_event():
    d = decode(record(AREA.model_dump_json().encode(), CloudEvent(type="gov.area.upserted.v1", source="x").headers()),
               __import__("gov_contracts").REGISTRY)
    assert d.event == AREA and d.event_type.name == "gov.area.upserted.v1"


@pytest.mark.parametrize("value,type_,topic,reason", [
    (b"{oops", "gov.area.upserted.v1", "gov.areas.v1", "invalid_json"),
    (json.dumps({"id": "Bad Id", "kind": "grid", "name": "x", "tree_version": "v"}).encode(),
     "gov.area.upserted.v1", "gov.areas.v1", "schema_violation"),
    (AREA.model_dump_json().encode(), "gov.area.renamed.v9", "gov.areas.v1", "unknown_type"),
    (AREA.model_dump_json().encode(), "gov.area.upserted.v1", "gov.cases.v1", "wrong_topic"),
])
def test_poison_is_classified(value, type_, topic, reason):
    from gov_contracts import REGISTRY
    with pytest.raises(PoisonEvent) as e:
        decode(record(value, CloudEvent(type=type_, source="x").headers(), topic=topic), REGISTRY)
    assert e.value.reason == reason


def test_schema_violation_names_the_field():
    from gov_contracts import REGISTRY
    value = json.dumps({"id": "changping", "kind": "castle", "name": "x", "tree_version": "v"}).encode()
    with pytest.raises(PoisonEvent, match="kind"):
        decode(record(value, CloudEvent(type="gov.area.upserted.v1", source="x").headers()), REGISTRY)


def test_dead_letter_headers_keep_the_original_and_say_where_it_came_from():
    rec = record(b"x", [("ce_id", b"1"), ("dlq_reason", b"old")])
    h = dead_letter_headers(rec, consumer="cases", reason="invalid_json", error="boom")
    d = dict(h)
    assert d["ce_id"] == b"1" and d["dlq_reason"] == b"invalid_json"
    assert (d["dlq_topic"], d["dlq_partition"], d["dlq_offset"]) == (b"gov.areas.v1", b"2", b"41")
    assert d["dlq_consumer_group"] == b"cases" and d["dlq_error"] == b"boom"
    assert [k for k, _ in h].count("dlq_reason") == 1

import json
from datetime import UTC, datetime

import pytest
from aiokafka import ConsumerRecord

from gov_contracts import CloudEvent
from gov_contracts.areas import AreaKind, AreaUpserted
from gov_contracts.envelope import EnvelopeError
from govkit.consumer import PoisonEvent, decode
from govkit.dead_letters import dead_letter_headers

AREA = AreaUpserted(
    id="changping.kongjiafan.g03",
    kind=AreaKind.grid,
    name="孔家畈村第3网格",
    parent_id="changping.kongjiafan",
    tree_version="v1",
)


def record(value: bytes, headers, topic="gov.areas.v1"):
    return ConsumerRecord(topic, 2, 41, 0, 0, b"k", value, None, 1, len(value), headers)


def test_headers_round_trip_in_binary_mode():
    ce = CloudEvent(
        type="gov.area.upserted.v1",
        source="govctl/areas",
        subject="changping",
        time=datetime(2026, 11, 29, 3, 0, tzinfo=UTC),
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )
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
    d = decode(
        record(AREA.model_dump_json().encode(), CloudEvent(type="gov.area.upserted.v1", source="x").headers()),
        __import__("gov_contracts").REGISTRY,
    )
    assert d.event == AREA and d.event_type.name == "gov.area.upserted.v1"


@pytest.mark.parametrize(
    "value,type_,topic,reason",
    [
        (b"{oops", "gov.area.upserted.v1", "gov.areas.v1", "invalid_json"),
        (
            json.dumps({"id": "Bad Id", "kind": "grid", "name": "x", "tree_version": "v"}).encode(),
            "gov.area.upserted.v1",
            "gov.areas.v1",
            "schema_violation",
        ),
        (AREA.model_dump_json().encode(), "gov.area.renamed.v9", "gov.areas.v1", "unknown_type"),
        (AREA.model_dump_json().encode(), "gov.area.upserted.v1", "gov.cases.v1", "wrong_topic"),
    ],
)
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


def test_any_exception_while_parsing_the_value_is_invalid_json():
    from gov_contracts import REGISTRY

    deep = b"[" * 1100 + b"]" * 1100  # json.loads raises RecursionError
    with pytest.raises(PoisonEvent) as e:
        decode(record(deep, CloudEvent(type="gov.area.upserted.v1", source="x").headers()), REGISTRY)
    assert e.value.reason == "invalid_json" and "RecursionError" in str(e.value)


@pytest.mark.parametrize(
    "headers",
    [
        [("ce_id", b"\xff\xfe"), ("ce_source", b"x"), ("ce_type", b"gov.area.upserted.v1"), ("ce_specversion", b"1.0")],
        [("ce_id", None), ("ce_source", b"x"), ("ce_type", b"gov.area.upserted.v1"), ("ce_specversion", b"1.0")],
    ],
)
def test_undecodable_or_null_headers_are_an_invalid_envelope(headers):
    from gov_contracts import REGISTRY

    with pytest.raises(PoisonEvent) as e:
        decode(record(AREA.model_dump_json().encode(), headers), REGISTRY)
    assert e.value.reason == "invalid_envelope" and "ce_id" in str(e.value)


def test_memory_error_is_the_process_not_the_record(monkeypatch):
    from gov_contracts import REGISTRY

    def starved(_):
        raise MemoryError

    monkeypatch.setattr("govkit.consumer.json.loads", starved)  # the module's json, by name
    with pytest.raises(MemoryError):
        decode(
            record(AREA.model_dump_json().encode(), CloudEvent(type="gov.area.upserted.v1", source="x").headers()),
            REGISTRY,
        )


def test_a_dead_letter_that_fits_is_stored_whole_and_one_that_does_not_is_cut_to_fit():
    import hashlib

    from govkit.dead_letters import fit, record_size

    value = b"v" * 50_000
    rec = ConsumerRecord(
        "gov.areas.v1", 2, 41, 0, 0, b"k", value, None, 1, len(value), [("ce_id", b"1"), ("traceparent", b"t" * 3000)]
    )
    h = dead_letter_headers(rec, consumer="cases", reason="schema_violation", error="boom")
    whole = fit(rec, h, 100_000)
    assert not whole.truncated and whole.value == value and whole.headers == h
    cut = fit(rec, h, 20_000)
    d = dict(cut.headers)
    assert cut.truncated and 19_900 < record_size(cut.key, cut.value, cut.headers) <= 20_000
    assert value.startswith(cut.value) and len(cut.value) > 15_000
    assert d["dlq_truncated"] == b"true" and d["dlq_original_size"] == b"50000"
    assert d["dlq_original_sha256"] == hashlib.sha256(value).hexdigest().encode()
    assert d["ce_id"] == b"1" and d["dlq_offset"] == b"41" and d["dlq_reason"] == b"schema_violation"
    traceparent = d["traceparent"]
    assert traceparent is not None and len(traceparent) <= 1024  # original headers are cut short too


def test_producer_failures_are_classified():
    from aiokafka.errors import (
        KafkaConnectionError,
        KafkaTimeoutError,
        MessageSizeTooLargeError,
        NotEnoughReplicasError,
        TopicAuthorizationFailedError,
    )

    from govkit.dead_letters import too_large, transient

    assert too_large(MessageSizeTooLargeError()) and not transient(MessageSizeTooLargeError())
    for e in (KafkaConnectionError(), KafkaTimeoutError(), NotEnoughReplicasError(), ConnectionRefusedError()):
        assert transient(e) and not too_large(e)
    assert not transient(TopicAuthorizationFailedError()) and not too_large(TopicAuthorizationFailedError())

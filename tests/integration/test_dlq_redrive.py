"""`./gov dlq list` and `./gov dlq redrive` on the real broker: a dead letter of a
record of a test topic is re-published to that topic with the original key,
value and headers, exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer, TopicPartition

from gov_contracts.topics import DEADLETTER

from .conftest import end_offsets, read_topic
from .kafka_helpers import ce_headers, publish_raw

ROOT = Path(__file__).resolve().parents[2]


def gov_run(home: Path, bootstrap: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GOV_HOME": str(home), "GOV_ROOT": str(ROOT)}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    return subprocess.run(
        [sys.executable, "-m", "govctl", "dlq", *args, "--bootstrap", bootstrap],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=ROOT,
    )


def gov(home: Path, bootstrap: str, *args: str) -> str:
    r = gov_run(home, bootstrap, *args)
    assert r.returncode == 0, f"gov dlq {' '.join(args)}: {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


async def test_redrive_puts_the_original_record_back_once(stack, test_topic, tmp_path):
    bootstrap = stack.bootstrap
    group = f"test-redrive-{uuid.uuid4().hex[:8]}"
    thing = f"thing-{uuid.uuid4().hex[:6]}"
    key = thing.encode()
    value = json.dumps({"thing_id": thing, "seq": 7, "note": "第七次"}, ensure_ascii=False).encode()
    headers = ce_headers("gov.test.thing_happened.v1", subject=thing, traceparent=f"00-{'a' * 32}-{'b' * 16}-01")
    event_id = dict(headers)["ce_id"].decode()

    # the original record on the test topic, and the dead letter a consumer of `group` wrote for it
    original = await publish_raw(bootstrap, test_topic, value, key=key, headers=headers)
    dlq_headers = headers + [
        ("dlq_reason", b"handler_error"),
        ("dlq_error", "RuntimeError: 处理失败 (test)".encode()),
        ("dlq_topic", test_topic.encode()),
        ("dlq_partition", str(original.partition).encode()),
        ("dlq_offset", str(original.offset).encode()),
        ("dlq_consumer_group", group.encode()),
    ]
    dead = await publish_raw(bootstrap, DEADLETTER, value, key=key, headers=dlq_headers)
    before = await end_offsets(bootstrap, test_topic)
    home = tmp_path / "gov-home"

    # list shows it with where it came from and why
    out = gov(home, bootstrap, "list", "--group", group)
    rows = [line for line in out.splitlines() if line.startswith(f"{dead.partition}:{dead.offset} ")]
    assert len(rows) == 1, out
    row = rows[0]
    for part in (
        "handler_error",
        group,
        f"{test_topic}/{original.partition}@{original.offset}",
        "gov.test.thing_happened.v1",
        event_id,
        "RuntimeError: 处理失败 (test)",
    ):
        assert part in row, f"{part!r} not in {row!r}"
    assert " no " in row  # not re-driven yet
    assert "no dead letters of group" in gov(home, bootstrap, "list", "--group", f"{group}-other")

    # another reason, and a dry run: nothing is sent
    out = gov(home, bootstrap, "redrive", "--group", group, "--reason", "schema_violation")
    assert "re-drove 0 dead letter(s)" in out, out
    out = gov(home, bootstrap, "redrive", "--group", group, "--dry-run")
    assert "would re-drive 1 dead letter(s)" in out and event_id in out, out
    assert await end_offsets(bootstrap, test_topic) == before
    assert not (home / "dlq-redriven.json").exists()

    # the re-drive: the original key, value and headers, without dlq_*, on the original topic
    out = gov(home, bootstrap, "redrive", "--group", group)
    assert "re-drove 1 dead letter(s)" in out, out
    after = await end_offsets(bootstrap, test_topic)
    new = {tp: after[tp] - before[tp] for tp in after if after[tp] != before[tp]}
    assert list(new.values()) == [1], f"expected one new record, got {new}"
    tp = next(iter(new))
    assert tp == TopicPartition(test_topic, original.partition)  # placed by key, like the original
    [rec] = await read_topic(bootstrap, test_topic, expect=1, start={tp: before[tp]})
    assert rec.key == key and rec.value == value
    assert [(k, bytes(v)) for k, v in rec.headers] == headers
    assert not any(k.startswith("dlq_") for k, _ in rec.headers)
    assert f"-> {test_topic}/{tp.partition}@{before[tp]}" in out

    state = json.loads((home / "dlq-redriven.json").read_text())
    entry = state["redriven"][f"{dead.partition}:{dead.offset}"]
    assert entry["group"] == group and entry["event_id"] == event_id
    assert entry["to"] == f"{test_topic}/{tp.partition}@{before[tp]}"

    # a second re-drive sends nothing; list says it was re-driven
    out = gov(home, bootstrap, "redrive", "--group", group)
    assert "re-drove 0 dead letter(s)" in out and "1 already re-driven" in out, out
    assert await end_offsets(bootstrap, test_topic) == after
    row = [
        line
        for line in gov(home, bootstrap, "list", "--group", group).splitlines()
        if line.startswith(f"{dead.partition}:{dead.offset} ")
    ][0]
    assert " yes " in row


async def test_invalid_envelopes_and_truncated_dead_letters_are_never_redriven(stack, test_topic, tmp_path):
    bootstrap = stack.bootstrap
    group = f"test-refuse-{uuid.uuid4().hex[:8]}"
    home = tmp_path / "gov-home"
    value = json.dumps({"thing_id": "t", "seq": 1}).encode()

    def dead_letter(reason: str, extra=(), stored: bytes = value):
        headers = ce_headers("gov.test.thing_happened.v1", subject="t") + [
            ("dlq_reason", reason.encode()),
            ("dlq_error", b"boom"),
            ("dlq_topic", test_topic.encode()),
            ("dlq_partition", b"0"),
            ("dlq_offset", b"5"),
            ("dlq_consumer_group", group.encode()),
            *extra,
        ]
        return publish_raw(bootstrap, DEADLETTER, stored, key=b"t", headers=headers)

    envelope = await dead_letter("invalid_envelope")
    truncated = await dead_letter(
        "schema_violation",
        [("dlq_truncated", b"true"), ("dlq_original_size", b"1048000"), ("dlq_original_sha256", b"ab" * 32)],
        stored=value[:10],
    )
    fine = await dead_letter("handler_error")
    before = await end_offsets(bootstrap, test_topic)

    # asked for by reason: refused, in one line, and nothing is sent
    for reason in ("invalid_envelope", "invalid_json", "wrong_topic"):
        r = gov_run(home, bootstrap, "redrive", "--group", group, "--reason", reason)
        assert r.returncode == 1 and r.stdout == "", r
        [line] = r.stderr.splitlines()
        assert f"reason {reason} are never re-driven" in line and "fix the producer" in line, line
    assert await end_offsets(bootstrap, test_topic) == before

    # list shows what a truncated dead letter holds
    out = gov(home, bootstrap, "list", "--group", group)
    row = next(line for line in out.splitlines() if line.startswith(f"{truncated.partition}:{truncated.offset} "))
    assert "10 of 1048000 B" in row, row
    assert "1 stored truncated" in out and "never re-driven" in out, out
    row = next(line for line in out.splitlines() if line.startswith(f"{fine.partition}:{fine.offset} "))
    assert " whole " in row, row

    # a re-drive of the whole group sends only the one that can be applied, and says why not the others
    out = gov(home, bootstrap, "redrive", "--group", group)
    assert "re-drove 1 dead letter(s)" in out and "2 cannot be re-driven" in out, out
    lines = out.splitlines()
    assert any(f"{envelope.partition}:{envelope.offset}" in x and "skipped: invalid_envelope" in x for x in lines), out
    assert any(
        f"{truncated.partition}:{truncated.offset}" in x
        and "skipped: stored truncated" in x
        and f"{test_topic}/0@5" in x
        for x in lines
    ), out
    after = await end_offsets(bootstrap, test_topic)
    assert sum(after.values()) - sum(before.values()) == 1


async def test_dead_letters_older_than_the_inbox_retention_are_not_redriven(stack, test_topic, tmp_path):
    """Other groups forget an event's id after INBOX_RETENTION_DAYS; a copy re-sent later would be applied
    again by them, so such a dead letter is refused and a fresh one of the same group is still re-driven."""
    bootstrap = stack.bootstrap
    group = f"test-old-{uuid.uuid4().hex[:8]}"
    home = tmp_path / "gov-home"
    value = json.dumps({"thing_id": "t", "seq": 1}).encode()

    def headers():
        return ce_headers("gov.test.thing_happened.v1", subject="t") + [
            ("dlq_reason", b"handler_error"),
            ("dlq_error", b"boom"),
            ("dlq_topic", test_topic.encode()),
            ("dlq_partition", b"0"),
            ("dlq_offset", b"7"),
            ("dlq_consumer_group", group.encode()),
        ]

    forty_days_ago = int((time.time() - 40 * 86400) * 1000)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        old = await producer.send_and_wait(DEADLETTER, value, key=b"t", headers=headers(), timestamp_ms=forty_days_ago)
    finally:
        await producer.stop()
    fresh = await publish_raw(bootstrap, DEADLETTER, value, key=b"t", headers=headers())
    before = await end_offsets(bootstrap, test_topic)

    out = gov(home, bootstrap, "redrive", "--group", group)
    assert "re-drove 1 dead letter(s)" in out and "1 cannot be re-driven" in out, out
    [skipped] = [x for x in out.splitlines() if f"{old.partition}:{old.offset} " in x]
    assert "skipped: dead-lettered 40 days ago" in skipped and "INBOX_RETENTION_DAYS" in skipped, skipped
    assert any(f"{fresh.partition}:{fresh.offset}" in x and "->" in x for x in out.splitlines()), out
    after = await end_offsets(bootstrap, test_topic)
    assert sum(after.values()) - sum(before.values()) == 1

    # a longer retention, as the operator configured it for the services, lets the old one through
    env = {**os.environ, "GOV_HOME": str(home), "GOV_ROOT": str(ROOT), "INBOX_RETENTION_DAYS": "60"}
    r = subprocess.run(
        [sys.executable, "-m", "govctl", "dlq", "redrive", "--group", group, "--bootstrap", bootstrap],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=ROOT,
    )
    assert r.returncode == 0 and "re-drove 1 dead letter(s)" in r.stdout, r

"""examples/notifier: an outside team's subscriber (confluent-kafka, its own group,
the published gov_contracts models and their Chinese labels) reads case events
from gov.cases.v1 on the real broker, prints one Chinese line per event, and
commits only after printing."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from gov_contracts import cases, event_type_for, topics

from .conftest import end_offsets
from .kafka_helpers import ce_headers, committed_offset, publish_raw

ROOT = Path(__file__).resolve().parents[2]
NOTIFIER = ROOT / "examples" / "notifier" / "notifier.py"
# long ago: reporting's weekly figures of the current weeks are not touched by these events,
# and as events of cases nobody reported they change no projection
WHEN = datetime(2020, 3, 2, 8, 30, tzinfo=UTC)


def facts(case_id: str, number: str, category: str, grid: str, status: str, level: str) -> dict:
    return dict(
        case_id=case_id,
        number=number,
        category=category,
        severity="medium",
        grid_id=grid,
        status=status,
        level=level,
        occurred_at=WHEN,
        actor="system",
    )


async def publish(bootstrap: str, event: cases.CaseFacts):
    et = event_type_for(type(event))
    return await publish_raw(
        bootstrap,
        topics.CASES,
        event.model_dump_json().encode(),
        key=event.case_id.encode(),
        headers=ce_headers(et.name, subject=event.case_id),
    )


async def start_group_at_end(bootstrap: str, group: str) -> dict:
    """The notifier's group starts where the topic ends now (not at the events of other tests)."""
    ends = await end_offsets(bootstrap, topics.CASES)
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await c.start()
    try:
        c.assign(list(ends))
        await c.commit({tp: off for tp, off in ends.items()})
    finally:
        await c.stop()
    return ends


def notifier(bootstrap: str, group: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # it finds gov_contracts itself
    return subprocess.run(
        [sys.executable, str(NOTIFIER), "--bootstrap", bootstrap, "--group", group, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=ROOT,
    )


async def test_notifier_prints_case_events_and_commits_after_printing(stack):
    bootstrap = stack.bootstrap
    group = f"notifier-test-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(bootstrap, group)

    land, sanitation = str(uuid.uuid4()), str(uuid.uuid4())
    n = random.randrange(100000, 999999)
    land_no, san_no = f"CP-2026-{n:06d}", f"CP-2026-{n + 1:06d}"
    g03, g01 = "changping.kongjiafan.g03", "changping.kongjiafan.g01"
    events = [
        cases.CaseOverdue(
            **facts(land, land_no, "dispute.land", g03, "accepted", "grid"), deadline="resolve", due_at=WHEN
        ),
        cases.CaseEscalated(
            **facts(land, land_no, "dispute.land", g03, "accepted", "village"), from_level="grid", automatic=True
        ),
        cases.CaseResolved(
            **facts(sanitation, san_no, "environment.sanitation", g01, "resolved", "grid"), resolution="垃圾已清运"
        ),
    ]
    sent = [await publish(bootstrap, e) for e in events]

    r = notifier(bootstrap, group, "--max-messages", "3", "--timeout", "60")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert sorted(lines) == sorted(
        [
            f"[{land_no}] 土地山林纠纷 办结超期 ({g03})",
            f"[{land_no}] 土地山林纠纷 已升级至村级 ({g03})",
            f"[{san_no}] 环境卫生 已办结 ({g01})",
        ]
    ), r.stdout + r.stderr
    # one case's events come in the order they were published (one key, one partition)
    assert lines.index(f"[{land_no}] 土地山林纠纷 办结超期 ({g03})") < lines.index(
        f"[{land_no}] 土地山林纠纷 已升级至村级 ({g03})"
    )
    assert "3 record(s) handled" in r.stderr

    # every printed record's offset is committed for the group, and nothing is printed twice
    for meta in sent:
        committed = await committed_offset(bootstrap, group, topics.CASES, meta.partition)
        assert committed is not None and committed >= meta.offset + 1, (meta, committed)
    again = notifier(bootstrap, group, "--timeout", "6")
    assert again.returncode == 0, again.stderr
    assert again.stdout == "", again.stdout


def test_notification_lines():
    """The wording, without a broker."""
    sys.path.insert(0, str(NOTIFIER.parent))
    try:
        import notifier as N
    finally:
        sys.path.remove(str(NOTIFIER.parent))
    base = facts(
        str(uuid.uuid4()), "CP-2026-000123", "dispute.land", "changping.kongjiafan.g03", "dispatched", "village"
    )
    assert (
        N.notification(cases.CaseEscalated(**base, from_level="grid", automatic=False))
        == "[CP-2026-000123] 土地山林纠纷 已升级至村级 (changping.kongjiafan.g03)"
    )
    assert (
        N.notification(cases.CaseDispatched(**base, unit_level="village", unit_id="changping.kongjiafan"))
        == "[CP-2026-000123] 土地山林纠纷 已派遣至村级 changping.kongjiafan (changping.kongjiafan.g03)"
    )
    assert N.notification(cases.CaseClosed(**base, on_time=True, escalations=1, reopen_count=0)).endswith(
        "已结案（按期） (changping.kongjiafan.g03)"
    )
    # the names come from the contracts' label table (gov_contracts.labels), not from a copy in the example
    assert (
        N.notification(cases.CaseSuspensionDecided(**{**base, "status": "suspended"}, approved=True))
        == "[CP-2026-000123] 土地山林纠纷 缓办审批（缓办中） (changping.kongjiafan.g03)"
    )
    assert N.notification(
        cases.CaseSupervised(
            **{**base, "category": "hazard.geologic", "status": "in_progress"}, supervising_level="town"
        )
    ).endswith("地质灾害隐患 督办（处置中） (changping.kongjiafan.g03)")
    assert N.notification(cases.CaseAccepted(**{**base, "category": "hazard.flood"})).startswith(
        "[CP-2026-000123] hazard.flood "  # a category the package does not know: its code
    )
    source = NOTIFIER.read_text(encoding="utf-8")
    assert (
        "gov_contracts.labels" in source and "邻里纠纷" not in source and "网格级" not in source
    )  # no tables of its own
    assert N.parse([], b"{}") is None  # no envelope: skipped, not a crash
    headers = ce_headers("gov.case.escalated.v1")
    assert N.parse(headers, b'{"case_id": 1}') is None  # not the schema: skipped
    assert isinstance(
        N.parse(headers, cases.CaseEscalated(**base, from_level="grid", automatic=True).model_dump_json().encode()),
        cases.CaseEscalated,
    )

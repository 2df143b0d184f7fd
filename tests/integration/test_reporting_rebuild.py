"""`./gov reporting rebuild` never leaves the read model worse than it found it.

On the real broker and database, with the service's own consumer (group
`reporting`) running as the live one: a poisoned history is skipped and
reported exactly as the live consumer dead-letters it, and the projections
come out equal to the live ones; events published during a rebuild are applied
once; a failure in the middle or a kill -9 leaves the live tables as they were,
and the next rebuild cleans up the leftover shadow.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import threading
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from gov_contracts import REGISTRY, CloudEvent
from gov_contracts import topics as T
from govctl import cli
from govkit import db
from govkit.consumer import EventConsumer
from govkit.kafka import Producer
from reporting import projections
from reporting.rebuild import CONSUMER, TOPICS, RebuildFailed, rebuild

from .conftest import read_topic
from .kafka_helpers import eventually, running

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOWN = "rbtown"
GRIDS = [f"{TOWN}.v1.g1", f"{TOWN}.v1.g2", f"{TOWN}.v2.g1"]
START = datetime(2026, 10, 5, 9, tzinfo=UTC)


# --- events as the services publish them -------------------------------------------------------


class History:
    """Records to publish, in order: (topic, key, value, headers)."""

    def __init__(self):
        self.records: list[tuple[str, bytes, bytes, list]] = []

    def event(self, type_name: str, key: str, **fields) -> int:
        et = REGISTRY[type_name]
        value = et.model(**fields).model_dump_json().encode()
        return self.raw(et.topic, key, value, CloudEvent(type=type_name, source="tests", subject=key).headers())

    def raw(self, topic: str, key: str, value: bytes, headers: list) -> int:
        self.records.append((topic, key.encode(), value, headers))
        return len(self.records) - 1

    def case(self, n: int, grid: str, category: str, *steps: tuple[str, dict], case_id: str | None = None) -> str:
        case_id = case_id or str(uuid.uuid4())
        at = START + timedelta(hours=n)
        facts = dict(
            case_id=case_id,
            number=f"CP-RB-{n:05d}",
            category=category,
            severity="medium",
            grid_id=grid,
            status="reported",
            level="grid",
            actor="tests",
        )
        self.event(
            "gov.case.reported.v1",
            case_id,
            **facts,
            occurred_at=at,
            title="重建测试",
            source="grid_patrol",
            reporter_ref=f"person_{n}",
            address_ref=f"addr_{n % 7}",
        )
        for hours, (kind, fields) in enumerate(steps, start=1):
            facts.update({k: v for k, v in fields.items() if k in ("status", "level")})
            extra = {k: v for k, v in fields.items() if k not in ("status", "level")}
            self.event(f"gov.case.{kind}.v1", case_id, **facts, occurred_at=at + timedelta(hours=hours), **extra)
        return case_id

    def task(self, n: int, grid: str, case_id: str, volunteer: str) -> None:
        task_id = str(uuid.uuid4())
        at = START + timedelta(hours=n, minutes=30)
        facts = dict(task_id=task_id, task_type="dispute_mediation", grid_id=grid, case_id=case_id)
        self.event("gov.task.created.v1", task_id, **facts, status="open", occurred_at=at)
        self.event(
            "gov.task.assigned.v1",
            task_id,
            **facts,
            status="assigned",
            occurred_at=at + timedelta(hours=1),
            volunteer_ref=volunteer,
        )
        self.event(
            "gov.task.completed.v1",
            task_id,
            **facts,
            status="completed",
            occurred_at=at + timedelta(hours=4),
            volunteer_ref=volunteer,
            hours=2.5,
            points=10,
        )

    def volunteer(self, n: int, kind: str = "registered") -> str:
        ref = f"vol_rb_{n}"
        self.event(
            f"gov.volunteer.{kind}.v1",
            ref,
            volunteer_ref=ref,
            roles=["party_member"],
            party_member=True,
            home_grid=GRIDS[n % len(GRIDS)],
            skills=["mediation"],
            active=True,
            occurred_at=START + timedelta(minutes=n),
        )
        return ref


CLOSED: list[tuple[str, dict[str, object]]] = [
    ("accepted", dict(status="accepted")),
    ("resolved", dict(status="resolved", resolution="ok")),
    ("verified", dict(status="verified")),
    ("closed", dict(status="closed", on_time=True, escalations=0, reopen_count=0)),
]


def ordinary_history(h: History, cases: int, tag: str = "") -> list[str]:
    """Cases in every state, tasks with hours, volunteers and an hours correction."""
    volunteers = [h.volunteer(i) for i in range(4)]
    h.volunteer(0, kind="updated")
    ids = []
    for n in range(cases):
        grid, category = GRIDS[n % len(GRIDS)], ["dispute.neighbor", "hazard.fire", "other"][n % 3]
        by_kind: dict[int, list[tuple[str, dict[str, object]]]] = {
            0: CLOSED + [("rated", dict(status="closed", satisfaction=4))],
            1: [
                ("accepted", dict(status="accepted")),
                ("escalated", dict(status="accepted", level="village", from_level="grid", automatic=True)),
            ],
            2: [
                ("accepted", dict(status="accepted")),
                ("overdue", dict(status="accepted", deadline="resolve", due_at=START)),
            ],
            3: [("rejected", dict(status="rejected"))],
            4: [
                ("accepted", dict(status="accepted")),
                ("resolved", dict(status="resolved", resolution="ok")),
                ("reopened", dict(status="reopened", reopen_count=1)),
            ],
            5: [],
        }
        steps = by_kind[n % 6]
        ids.append(h.case(n, grid, category + tag, *steps))
        if n % 5 == 0:
            h.task(n, grid, ids[-1], volunteers[n % len(volunteers)])
    h.event(
        "gov.volunteer.hours_corrected.v1",
        volunteers[1],
        volunteer_ref=volunteers[1],
        hours_delta=-1.5,
        points_delta=-5,
        actor="tests",
        reason="录入错误",
        occurred_at=START + timedelta(days=1),
    )
    return ids


async def publish(bootstrap: str, h: History) -> list:
    """Publishes in order (one key's records stay in order); returns each record's metadata."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=10)
    await producer.start()
    try:
        sent = [await producer.send(topic, value, key=key, headers=headers) for topic, key, value, headers in h.records]
        return list(await asyncio.gather(*sent))
    finally:
        await producer.stop()


# --- the live consumer and the state it leaves ---------------------------------------------------


@pytest.fixture
async def rcon(stack):
    con = await db.connect(stack.service_dsn("reporting"), "reporting")
    yield con
    await con.close()


@pytest.fixture
async def live(stack):
    """The reporting service's consumer (same group, handlers and inbox) over the replayed topics."""
    pool = await db.create_pool(stack.service_dsn("reporting"), "reporting", max_size=3)
    producer = Producer(stack.bootstrap, "test-reporting-live")
    consumer = EventConsumer(
        service="reporting",
        group_id=CONSUMER,
        topics=list(TOPICS),
        pool=pool,
        producer=producer,
        handlers=projections.handlers(),
        max_attempts=2,
    )
    async with running(stack.bootstrap, consumer):
        yield consumer
    await producer.stop()
    await pool.close()


async def lag(bootstrap: str) -> int:
    """Records of the replayed topics the live consumer group has not committed yet."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(CONSUMER)
        await consumer._client.force_metadata_update()
        parts = [TopicPartition(t, p) for t in TOPICS for p in consumer.partitions_for_topic(t) or ()]
        end = await consumer.end_offsets(parts)
        return sum(end[tp] - max(committed[tp].offset if tp in committed else 0, 0) for tp in parts)
    finally:
        await consumer.stop()
        await admin.close()


async def caught_up(bootstrap: str) -> None:
    async def done():
        return await lag(bootstrap) == 0

    await eventually(done, timeout=90, every=0.5)


async def snapshot(con) -> dict:
    """Every row of every projection as text, the inbox of the replayed topics, and the area copy."""
    out = {}
    for table in projections.PROJECTION_TABLES:
        out[table] = [r[0] for r in await con.fetch(f"select t::text from {table} t order by 1")]
    out["inbox"] = sorted(
        tuple(r)
        for r in await con.fetch(
            'select event_id, event_type, topic, partition, "offset" from inbox '
            "where consumer = $1 and topic = any($2)",
            CONSUMER,
            list(TOPICS),
        )
    )
    out["inbox of other topics"] = sorted(
        tuple(r)
        for r in await con.fetch(
            'select consumer, event_id, topic, "offset", processed_at from inbox '
            "where not (consumer = $1 and topic = any($2))",
            CONSUMER,
            list(TOPICS),
        )
    )
    out["areas"] = [r[0] for r in await con.fetch("select a::text from areas a order by 1")]
    return out


async def storage(con) -> dict:
    """Each live table's relation and file: a rebuild that failed must not have replaced or rewritten one."""
    return {
        r["relname"]: (r["oid"], r["relfilenode"])
        for r in await con.fetch(
            "select relname, oid, relfilenode from pg_class where relnamespace = 'reporting'::regnamespace "
            "and relname = any($1)",
            list(projections.PROJECTION_TABLES) + ["inbox", "inbox_watermark"],
        )
    }


async def shadows(con) -> list[str]:
    return [
        r[0]
        for r in await con.fetch(
            "select relname from pg_class where relnamespace = 'reporting'::regnamespace "
            r"and relname like '%\_\_rebuild'"
            " order by 1"
        )
    ]


async def run_rebuild(stack, **kw) -> dict:
    return await rebuild(stack.service_dsn("reporting"), stack.bootstrap, progress=None, **kw)


class PausedRebuild:
    """A rebuild in its own thread and event loop, held after its first batch until `resume()`."""

    def __init__(self, stack, **kw):
        self.replaying, self.resumed = threading.Event(), threading.Event()
        self.task = asyncio.create_task(
            asyncio.to_thread(
                asyncio.run, rebuild(stack.service_dsn("reporting"), stack.bootstrap, progress=self.progress, **kw)
            )
        )

    def progress(self, done, total, started):  # runs in the rebuild's thread
        if not self.replaying.is_set():
            self.replaying.set()
            assert self.resumed.wait(120)

    async def paused(self) -> None:
        assert await asyncio.to_thread(self.replaying.wait, 120)

    async def resume(self) -> dict:
        self.resumed.set()
        return await self.task


def skipped_coordinates(result: dict) -> set:
    return {(s["topic"], s["partition"], s["offset"], s["reason"]) for s in result["first_skipped"]}


# --- the tests ---------------------------------------------------------------------------------


async def test_a_poisoned_history_is_skipped_reported_and_the_projections_equal_the_live_ones(stack, rcon, live):
    # what earlier tests left in the projections is made to equal their topics first
    baseline = await run_rebuild(stack, report_first=10_000)

    h = History()
    ids = ordinary_history(h, 24)
    reopened = ids[4]  # reopened once, validly
    overflow = h.event(
        "gov.case.reopened.v1",
        reopened,
        case_id=reopened,
        number="CP-RB-00004",
        category="dispute.neighbor",
        severity="medium",
        grid_id=GRIDS[1],
        status="reopened",
        level="grid",
        actor="tests",
        occurred_at=START + timedelta(days=2),
        reopen_count=3_000_000_000,
    )
    not_json = h.raw(
        T.CASES,
        ids[5],
        b'{"case_id": "' + ids[5].encode() + b'", ',
        CloudEvent(type="gov.case.accepted.v1", source="tests", subject=ids[5]).headers(),
    )
    unknown = h.raw(
        T.CASES,
        ids[5],
        json.dumps({"case_id": ids[5]}).encode(),
        CloudEvent(type="gov.case.teleported.v1", source="tests", subject=ids[5]).headers(),
    )
    bad_id = h.event(
        "gov.case.accepted.v1",
        "not-a-uuid",
        case_id="not-a-uuid",
        number="CP-RB-X",
        category="other",
        severity="low",
        grid_id=GRIDS[0],
        status="accepted",
        level="grid",
        actor="tests",
        occurred_at=START,
    )
    h.event(
        "gov.case.accepted.v1",
        ids[5],
        case_id=ids[5],
        number="CP-RB-00005",
        category="hazard.fire",
        severity="medium",
        grid_id=GRIDS[2],
        status="accepted",
        level="grid",
        actor="tests",
        occurred_at=START + timedelta(days=3),
    )
    metas = await publish(stack.bootstrap, h)
    poison = {overflow: "data_error", not_json: "invalid_json", unknown: "unknown_type", bad_id: "schema_violation"}
    expected = {(metas[i].topic, metas[i].partition, metas[i].offset, reason) for i, reason in poison.items()}
    await caught_up(stack.bootstrap)
    before = await snapshot(rcon)
    assert await rcon.fetchval("select reopen_count from r_cases where case_id = $1", uuid.UUID(reopened)) == 1
    # the record after the poison in the same partition was applied
    assert await rcon.fetchval("select accepted_at from r_cases where case_id = $1", uuid.UUID(ids[5])) is not None

    result = await run_rebuild(stack, report_first=10_000)

    assert await snapshot(rcon) == before
    assert Counter(result["skipped_by_reason"]) - Counter(baseline["skipped_by_reason"]) == Counter(poison.values())
    assert skipped_coordinates(result) - skipped_coordinates(baseline) == expected
    assert result["applied"] - baseline["applied"] == len(h.records) - len(poison)
    assert result["events"] - baseline["events"] == len(h.records)
    assert await shadows(rcon) == []
    # the live consumer dead-lettered exactly these records, for the same reasons
    letters = await read_topic(stack.bootstrap, T.DEADLETTER, expect=10_000, timeout=5)
    dead = {
        (h_["dlq_topic"], int(h_["dlq_partition"]), int(h_["dlq_offset"]), h_["dlq_reason"])
        for h_ in ({k: (v or b"").decode("utf-8", "replace") for k, v in rec.headers} for rec in letters)
        if h_.get("dlq_consumer_group") == CONSUMER
    }
    mine = {(metas[i].topic, metas[i].partition, metas[i].offset) for i in range(len(metas))}
    assert {d for d in dead if d[:3] in mine} == expected


async def test_events_published_during_a_rebuild_are_applied_exactly_once(stack, rcon, live):
    h = History()
    ordinary_history(h, 60)
    await publish(stack.bootstrap, h)
    await caught_up(stack.bootstrap)
    category = f"catchup.{uuid.uuid4().hex[:6]}"
    late = History()
    for n in range(12):
        late.case(1000 + n, GRIDS[0], category, ("accepted", dict(status="accepted")))

    async def count_live():
        return await rcon.fetchval("select count(*) from r_cases where category = $1", category)

    rebuilding = PausedRebuild(stack, batch=100)
    await rebuilding.paused()
    await publish(stack.bootstrap, late)  # after the rebuild read its first end offsets

    async def applied_live():
        return await count_live() == 12

    await eventually(applied_live, timeout=60)  # the live consumer does not wait for the rebuild
    # one rebuild at a time, and a refused one leaves the running one's shadows alone
    shadows_now = await shadows(rcon)
    with pytest.raises(RebuildFailed, match="another rebuild is running"):
        await run_rebuild(stack)
    assert await shadows(rcon) == shadows_now and "r_cases__rebuild" in shadows_now
    result = await rebuilding.resume()
    await caught_up(stack.bootstrap)

    assert await count_live() == 12
    for area in (GRIDS[0], f"{TOWN}.v1", TOWN):
        counts = dict(
            await rcon.fetch(
                "select metric, sum(n)::int from r_rollup where area_id = $1 and category = $2 group by metric",
                area,
                category,
            )
        )
        assert counts == {"new": 12, "accepted": 12}, area
        assert await rcon.fetchval("select n from r_open where area_id = $1 and category = $2", area, category) == 12
    assert (
        await rcon.fetchval(
            "select count(*) from inbox where consumer = $1 and event_type = 'gov.case.accepted.v1' "
            "and event_id = any($2)",
            CONSUMER,
            [dict(hd)["ce_id"].decode() for *_, hd in late.records],
        )
        == 12
    )
    assert result["swap_seconds"] < 10 and await shadows(rcon) == []
    # the watermarks cover what the rebuild applied, so a replay of these offsets is a no-op to the live consumer
    assert await rcon.fetchval(
        'select bool_and(w.applied_offset >= i.max_offset) from (select topic, partition, max("offset") max_offset '
        "from inbox where consumer = $1 and topic = any($2) group by 1, 2) i "
        "join inbox_watermark w on w.consumer = $1 and (w.topic, w.partition) = (i.topic, i.partition)",
        CONSUMER,
        list(TOPICS),
    )


async def test_a_migration_during_a_rebuild_fails_it_and_keeps_the_migrated_table(stack, rcon):
    h = History()
    ordinary_history(h, 10)
    await publish(stack.bootstrap, h)
    rebuilding = PausedRebuild(stack, batch=20)
    await rebuilding.paused()
    await rcon.execute("create index r_volunteers_rb_test on r_volunteers (home_grid)")
    try:
        before, files = await snapshot(rcon), await storage(rcon)
        with pytest.raises(RebuildFailed, match="r_volunteers changed while the rebuild ran"):
            await rebuilding.resume()
        assert await snapshot(rcon) == before and await storage(rcon) == files and await shadows(rcon) == []
        assert await rcon.fetchval("select to_regclass('r_volunteers_rb_test') is not null")
    finally:
        await rcon.execute("drop index if exists r_volunteers_rb_test")


def test_a_failure_in_the_middle_leaves_the_live_tables_untouched(stack, monkeypatch, capsys):
    async def prepare():
        h = History()
        ordinary_history(h, 240)  # about 900 events: the failure comes after the first progress update
        await publish(stack.bootstrap, h)
        con = await db.connect(stack.service_dsn("reporting"), "reporting")
        try:
            return await snapshot(con), await storage(con)
        finally:
            await con.close()

    before, files = asyncio.run(prepare())
    # event ids: a batch that fails is applied again event by event, so an id may come twice
    seen: set[str] = set()

    def count(ids):
        seen.update(ids)
        if len(seen) >= 700:  # after the first batch of 500, whichever handler (batch or per-event) gets there
            raise RuntimeError("injected failure")

    def failing_handlers():
        def fail_from_the_700th(handler):
            async def wrapped(con, event, envelope):
                count([envelope.id])
                await handler(con, event, envelope)

            return wrapped

        return {name: fail_from_the_700th(handler) for name, handler in real_handlers().items()}

    def failing_batch_handlers():
        def fail_from_the_700th(batch):
            async def wrapped(con, items):
                count([envelope.id for _, envelope in items])
                await batch(con, items)

            return wrapped

        real = real_batch_handlers()
        wrapped = {id(b): fail_from_the_700th(b) for b in real.values()}  # one wrapper per batch handler: runs stay
        return {name: wrapped[id(b)] for name, b in real.items()}

    real_handlers, real_batch_handlers = projections.handlers, projections.batch_handlers
    monkeypatch.setattr(projections, "handlers", failing_handlers)
    monkeypatch.setattr(projections, "batch_handlers", failing_batch_handlers)
    monkeypatch.setenv("GOV_HOME", str(stack.home))
    with pytest.raises(SystemExit) as exited:
        cli.main(["reporting", "rebuild"])
    assert exited.value.code == 1
    lines = [line for line in re.split(r"[\r\n]", capsys.readouterr().err) if line.strip()]
    assert lines[0].startswith("rebuild [")  # the progress bar
    assert re.fullmatch(
        r"gov: reporting rebuild failed, the projections are unchanged: gov\.\S+ \S+ at "
        r"gov\.\S+/\d+@\d+: RuntimeError: injected failure",
        lines[-1],
    ), lines[-1]
    assert sum(line.startswith("gov:") for line in lines) == 1

    async def after():
        con = await db.connect(stack.service_dsn("reporting"), "reporting")
        try:
            return await snapshot(con), await storage(con), await shadows(con)
        finally:
            await con.close()

    now, now_files, left = asyncio.run(after())
    assert now == before and now_files == files and left == []

    # the same in-process, where the caller gets the reason as an exception
    seen.clear()
    with pytest.raises(RebuildFailed, match="RuntimeError: injected failure"):
        asyncio.run(rebuild(stack.service_dsn("reporting"), stack.bootstrap, progress=None))
    assert asyncio.run(after()) == (before, files, [])


async def test_a_killed_rebuild_changes_nothing_and_the_next_one_cleans_up(stack, rcon):
    h = History()
    ordinary_history(h, 1200, tag=".bulk")
    await publish(stack.bootstrap, h)
    first = await run_rebuild(stack)  # the live state: this history applied
    print(f"\nrebuild of {first['events']} events: {first['events_per_s']} events/s (swap {first['swap_seconds']} s)")
    before, files = await snapshot(rcon), await storage(rcon)

    env = {**os.environ, "GOV_HOME": str(stack.home)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "govctl",
        "reporting",
        "rebuild",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None  # stderr=PIPE above
    seen = ""
    while True:
        chunk = await asyncio.wait_for(proc.stderr.read(256), 60)
        assert chunk, f"the rebuild ended before it could be killed: {seen}"
        seen += chunk.decode()
        done = [int(d) for d in re.findall(r"\] (\d+)/\d+ events", seen)]
        if done and done[-1] >= 1000:
            break
    proc.send_signal(signal.SIGKILL)
    assert await proc.wait() == -signal.SIGKILL

    async def backend_gone():
        return not await rcon.fetchval(
            "select count(*) from pg_stat_activity where application_name = 'reporting-rebuild'"
        )

    await eventually(backend_gone, timeout=30)
    assert await snapshot(rcon) == before and await storage(rcon) == files
    assert "r_cases__rebuild" in await shadows(rcon)  # killed in the middle: its shadow is still there

    out = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "govctl",
        "reporting",
        "rebuild",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(out.communicate(), 300)
    assert out.returncode == 0, stderr.decode()[-2000:]
    assert "dropped the shadow tables of an interrupted rebuild" in stdout.decode()
    assert "rebuilt reporting projections" in stdout.decode() and "rebuild [" in stderr.decode()
    assert await snapshot(rcon) == before and await shadows(rcon) == []

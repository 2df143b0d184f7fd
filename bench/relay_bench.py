#!/usr/bin/env python3
"""Benchmark of the outbox relay against raw Kafka produce of the same records.

    ./gov bench relay [options]          or   .venv/bin/python bench/relay_bench.py [options]

On a throwaway stack (PostgreSQL and Kafka, no services), each round:

1. writes N outbox rows (default 100,000) into cases.outbox: CaseReported (gov.case.reported.v2) events of
   generated cases, with the headers `govkit.outbox.add` writes, in chunks of 10,000 rows per transaction;
2. raw produce of the same records, read from the table beforehand and held in memory, with the same client
   (aiokafka) and the same producer settings (`govkit.kafka.producer_config`): once with `send()` per record
   and one gather at the end, once with aiokafka's batch API (`govkit.kafka.send_batched`);
3. the relay (`govkit.outbox.OutboxRelay`, started after the rows were committed) publishes them: from
   `start()` until it has marked all N rows published, for each batch size asked for (the rows written
   afresh for each);
4. optionally the same records through confluent-kafka (librdkafka) with the same guarantees (acks=all,
   idempotence), to compare the clients.

Prints the medians of the rounds (events/s, the CPU time of this process per event) and the ratios, and writes
them to bench/results/relay-<UTC time>.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import ROOT, add_paths, run_header, save_results, tear_down  # noqa: E402

add_paths("cases")

import asyncpg  # noqa: E402
from common import _pg_version, say  # noqa: E402

from gov_contracts import CloudEvent, event_type_for  # noqa: E402
from gov_contracts.cases import CaseReportedV2  # noqa: E402
from govctl import areas as area_file  # noqa: E402
from govctl.stack import Stack  # noqa: E402
from govkit import db  # noqa: E402
from govkit.kafka import Producer, Record, producer_config, send_batched  # noqa: E402
from govkit.outbox import OutboxRelay  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SCHEMA = "cases"
CHUNK = 10_000
INSERT_ROWS = """
insert into outbox (event_id, topic, key, event_type, headers, payload)
select e, t, k, ty, h::jsonb, p from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[])
    as u(e, t, k, ty, h, p)
"""

TITLES = [
    "{v}{g}组{a}与{b}因山林边界发生纠纷，请求村委会调解",
    "{v}{g}组{p}路段塌方，存在安全隐患",
    "{v}{g}组{a}反映{p}自来水停水三天",
    "{v}{g}组独居老人{a}需要助老送餐服务",
    "{v}{g}组{p}附近有人焚烧秸秆",
    "{v}{g}组{a}与{b}宅基地界址争议",
]
PLACES = ["村委会门口", "小学旁", "桥头", "卫生室后面", "水塘边", "老街"]
SURNAMES = "张王李赵刘陈杨黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许"


def case_events(n: int, seed: int) -> list[tuple[Any, ...]]:
    """n CaseReported outbox rows as `outbox.add` writes them: (event_id, topic, key, type, headers, payload)."""
    rng = random.Random(seed)
    events, _ = area_file.load(area_file.DEFAULT_FILE)
    names = {e.id: e.name for e in events}
    grids = [e for e in events if e.kind.value == "grid"]
    cats = ["dispute.land", "dispute.neighbour", "hazard.geological", "livelihood.water", "elderly.care", "other"]
    et = event_type_for(CaseReportedV2)
    now = datetime.now(UTC)
    rows = []
    for i in range(n):
        grid = rng.choice(grids)
        person = lambda: rng.choice(SURNAMES) + rng.choice(["某", "某某", "师傅"])  # noqa: E731
        fill = dict(v=names[grid.parent_id or ""], g=rng.randint(1, 9), a=person(), b=person(), p=rng.choice(PLACES))
        case_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        ev = CaseReportedV2(
            case_id=case_id,
            number=f"CP-2026-{i + 1:06d}",
            category=rng.choice(cats),
            severity=rng.choice(["low", "medium", "medium", "high", "critical"]),
            grid_id=grid.id,
            status="reported",
            level="grid",
            occurred_at=now,
            actor="bench",
            accept_due=now + timedelta(days=1),
            resolve_due=now + timedelta(days=7),
            title=rng.choice(TITLES).format(**fill),
            source=rng.choice(["grid_patrol", "hotline", "visit"]),
            reporter_ref="p_" + uuid.UUID(int=rng.getrandbits(128)).hex,
            address_ref="a_" + uuid.UUID(int=rng.getrandbits(128)).hex,
            party_refs=["p_" + uuid.UUID(int=rng.getrandbits(128)).hex],
            tags=rng.sample(["山林", "边界", "调解", "安全", "供水"], k=rng.randint(0, 2)),
        )
        ce = CloudEvent(
            type=et.name,
            source="cases",
            subject=case_id,
            traceparent=f"00-{uuid.UUID(int=rng.getrandbits(128)).hex}-{rng.getrandbits(64):016x}-01",
        )
        headers = json.dumps([[k, v.decode()] for k, v in ce.headers()], ensure_ascii=False)
        rows.append((uuid.UUID(ce.id), et.topic, case_id, et.name, headers, ev.model_dump_json().encode()))
    return rows


async def write_rows(con: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> None:
    for i in range(0, len(rows), CHUNK):
        chunk = rows[i : i + CHUNK]
        async with con.transaction():
            await con.execute(INSERT_ROWS, *(list(col) for col in zip(*chunk, strict=True)))


async def pending_records(con: asyncpg.Connection) -> list[Record]:
    rows = await con.fetch(
        "select topic, key, headers::text, payload from outbox where published_at is null order by id"
    )
    return [(t, k.encode(), p, [(hk, hv.encode()) for hk, hv in json.loads(h)]) for t, k, h, p in rows]


def timed(n: int, wall: float, cpu: float) -> dict[str, float]:
    return {"events_per_s": round(n / wall), "wall_s": round(wall, 3), "cpu_us_per_event": round(cpu / n * 1e6, 1)}


async def raw_send(producer: Producer, records: list[Record]) -> dict[str, float]:
    p = await producer.get()
    t, c = time.perf_counter(), time.process_time()
    futures = [await p.send(topic, value, key=key, headers=headers) for topic, key, value, headers in records]
    await asyncio.gather(*futures)
    return timed(len(records), time.perf_counter() - t, time.process_time() - c)


async def raw_batched(producer: Producer, records: list[Record]) -> dict[str, float]:
    p = await producer.get()
    t, c = time.perf_counter(), time.process_time()
    await asyncio.gather(*await send_batched(p, records))
    return timed(len(records), time.perf_counter() - t, time.process_time() - c)


async def relay_run(st: Stack, pool: asyncpg.Pool, producer: Producer, n: int, batch_size: int) -> dict[str, float]:
    relay = OutboxRelay(
        dsn=st.service_dsn(SCHEMA), schema=SCHEMA, pool=pool, producer=producer, service="bench", batch_size=batch_size
    )
    t, c = time.perf_counter(), time.process_time()
    relay.start()
    while relay.published < n:
        await asyncio.sleep(0.002)
        if time.perf_counter() - t > 300:
            raise SystemExit(f"bench: the relay published {relay.published} of {n} rows in 300 s")
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    await relay.stop()
    return timed(n, wall, cpu)


def confluent_produce(bootstrap: str, records: list[Record]) -> dict[str, float]:
    from confluent_kafka import Producer as CProducer

    p = CProducer(
        {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 5, "client.id": "raw"}
    )
    failed: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(str(err))

    p.list_topics(timeout=10)  # connected, as the aiokafka producer is before its timing starts
    t, c = time.perf_counter(), time.process_time()
    for topic, key, value, headers in records:
        while True:
            try:
                p.produce(topic, value, key, headers=list(headers), on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                p.poll(0.005)
        p.poll(0)
    left = p.flush(60)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    if left or failed:
        raise SystemExit(f"bench: confluent-kafka: {left} undelivered, {len(failed)} failed: {failed[:3]}")
    # process_time counts librdkafka's threads too: they run in this process
    return timed(len(records), wall, cpu)


async def measure(st: Stack, args: argparse.Namespace) -> dict[str, Any]:
    rows = case_events(args.events, args.seed)
    sizes = sorted({len(r[5]) for r in rows})
    say(f"{len(rows)} CaseReported events, payload {sizes[0]}–{sizes[-1]} bytes (median {statistics.median(sizes)})")
    admin = await asyncpg.connect(st.admin_dsn.rsplit("/", 1)[0] + "/gov")
    con = await db.connect(st.service_dsn(SCHEMA), SCHEMA)
    pool = await db.create_pool(st.service_dsn(SCHEMA), SCHEMA, max_size=2)
    producer = Producer(st.bootstrap, "bench-relay")
    rounds: list[dict[str, Any]] = []
    try:
        await admin.execute("truncate cases.outbox")
        # warm-up: connections, metadata, the broker's JIT
        await write_rows(con, rows[: min(5000, len(rows))])
        warm = await pending_records(con)
        await raw_send(producer, warm)
        await raw_batched(producer, warm)
        await relay_run(st, pool, producer, len(warm), args.batch_sizes[0])
        for r in range(args.rounds):
            await admin.execute("truncate cases.outbox")
            await write_rows(con, rows)
            await admin.execute("analyze cases.outbox")
            records = await pending_records(con)
            assert len(records) == len(rows)
            one: dict[str, Any] = {"raw_send": await raw_send(producer, records)}
            one["raw_batched"] = await raw_batched(producer, records)
            if args.confluent:
                one["confluent"] = await asyncio.to_thread(confluent_produce, st.bootstrap, records)
            for bs in args.batch_sizes:
                if bs != args.batch_sizes[0]:  # each batch size publishes the same rows, written afresh
                    await admin.execute("truncate cases.outbox")
                    await write_rows(con, rows)
                    await admin.execute("analyze cases.outbox")
                one[f"relay_batch_{bs}"] = await relay_run(st, pool, producer, len(rows), bs)
            left = await con.fetchval("select count(*) from outbox where published_at is null")
            if left:
                raise SystemExit(f"bench: {left} rows left unpublished after the relay finished")
            rounds.append(one)
            say(f"round {r + 1}: " + ", ".join(f"{k} {v['events_per_s']}/s" for k, v in one.items()))
        await admin.execute("truncate cases.outbox")
    finally:
        await producer.stop()
        await pool.close()
        await con.close()
        await admin.close()
    medians = {
        k: {f: statistics.median(r[k][f] for r in rounds) for f in rounds[0][k]} for k in rounds[0]
    }  # per figure over the rounds
    ratios = {}
    for bs in args.batch_sizes:
        relay = medians[f"relay_batch_{bs}"]["events_per_s"]
        ratios[f"relay_batch_{bs}_to_raw_send"] = round(relay / medians["raw_send"]["events_per_s"], 2)
        ratios[f"relay_batch_{bs}_to_raw_batched"] = round(relay / medians["raw_batched"]["events_per_s"], 2)
    if args.confluent:
        best_aio = max(medians["raw_send"]["events_per_s"], medians["raw_batched"]["events_per_s"])
        ratios["confluent_to_best_aiokafka"] = round(medians["confluent"]["events_per_s"] / best_aio, 2)
    return {
        "events": len(rows),
        "payload_bytes_median": statistics.median(sizes),
        "rounds": rounds,
        "medians": medians,
        "ratios": ratios,
    }


LABELS = {
    "raw_send": "raw aiokafka send() per record, one gather",
    "raw_batched": "raw aiokafka batch API (send_batched)",
    "confluent": "raw confluent-kafka produce() + flush",
}


def report(res: dict[str, Any]) -> str:
    m = res["machine"]
    out = [
        f"relay benchmark, {res['started_at']}: {m['cpus']} CPUs, Python {m['python']}, {m['postgres']}; "
        f"load average before {m['loadavg_before']}",
        "",
        f"{res['events']} CaseReported events (payload median {res['payload_bytes_median']} bytes, 8 headers), "
        f"gov.cases.v1 with 3 partitions; medians of {res['args']['rounds']} rounds",
        f"{'figure':<52}{'events/s':>10}{'wall s':>9}{'CPU µs/event':>14}",
        "-" * 85,
    ]
    for k, v in res["medians"].items():
        label = LABELS.get(k) or f"relay, batch size {k.rsplit('_', 1)[1]} (start → all marked published)"
        out.append(f"{label:<52}{v['events_per_s']:>10.0f}{v['wall_s']:>9.2f}{v['cpu_us_per_event']:>14.1f}")
    out.append("")
    for k, v in res["ratios"].items():
        out.append(f"{'ratio ' + k.replace('_', ' '):<52}{v:>10.2f}")
    out.append(
        f"\nCPU is this process's (relay or client, asyncpg, librdkafka's threads); stack start "
        f"{res['timings_s']['stack_up']} s, whole run {res['timings_s']['total']} s"
    )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--events", type=int, default=100_000, help="outbox rows per round (100000)")
    p.add_argument("--rounds", type=int, default=3, help="rounds; medians are reported (3)")
    p.add_argument(
        "--batch-sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[500, 2000],
        help="relay batch sizes to measure, comma-separated (500,2000; 500 is OUTBOX_BATCH_SIZE's default)",
    )
    p.add_argument("--no-confluent", dest="confluent", action="store_false", help="skip confluent-kafka")
    p.add_argument("--seed", type=int, default=20261129)
    p.add_argument("--stack-home", help="use the stack already running in this directory (not torn down)")
    p.add_argument("--no-json", action="store_true", help="do not write bench/results/relay-<time>.json")
    args = p.parse_args(argv)

    t_start = time.monotonic()
    started = datetime.now(UTC)
    home = Path(args.stack_home) if args.stack_home else Path(tempfile.mkdtemp(prefix="gov-bench-"))
    st = Stack(home, root=ROOT, partitions=3, kafka_heap_mb=384)
    timings: dict[str, float] = {}
    try:
        t0 = time.monotonic()
        if not args.stack_home:
            say(f"starting a throwaway stack (PostgreSQL, Kafka) in {home}")
            st.up(services=False, demo=False, say=lambda m: say("  " + m))
        timings["stack_up"] = round(time.monotonic() - t0, 1)
        pg_version = asyncio.run(_pg_version(st.service_dsn(SCHEMA)))
        loadavg_before = [round(x, 2) for x in os.getloadavg()]
        results = asyncio.run(measure(st, args))
    finally:
        if not args.stack_home:
            tear_down(st, home)
    timings["total"] = round(time.monotonic() - t_start, 1)
    res = {
        **run_header("relay", started, pg_version, loadavg_before),
        "args": vars(args),
        "producer_config": {k: v for k, v in producer_config("", "").items() if k != "bootstrap_servers"},
        "timings_s": timings,
        **results,
    }
    print(report(res))
    if not args.no_json:
        save_results(res, started)


if __name__ == "__main__":
    main()

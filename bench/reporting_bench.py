#!/usr/bin/env python3
"""Benchmark of the reporting service on a throwaway local stack.

    ./gov bench reporting [--events 200000] [--cases 1000000]

1. Projection apply rate from a backlog: N case events (reported, accepted,
   resolved, closed of N/4 cases) are published to gov.cases.v1, then
   `./gov reporting rebuild`'s code replays them through the real projection
   and the inbox: with the batch handler (runs of case events set-based, one
   inbox statement per batch; what the rebuild does) and with the per-event
   handlers the projection had before (reporting.per_event_cases, one inbox
   row and 2-4 statements per event). Baseline in the same run: bare asyncpg
   executemany of one row per event (event id + payload) into a scratch
   table, in the same batch size. Reported: events/s and ratios.
2. The live path: the reporting service is started and N/4 more case events
   are published; its consumer applies them in batches (govkit.consumer with
   the batch handler). Events/s from the first to the last inbox row, and the
   service's peak RSS while it works.
3. Weekly-report latency over a long history: r_cases is bulk-loaded with M
   cases over two years (and the rollups derived from them as the projections
   would have built them: r_rollup / r_open here, the report's rollups by the
   backfill of migration V006), then kpis.weekly() for the town is timed for
   the latest week and for a week a year back: p50/p99 ms.

Prints a table and writes JSON to bench/results/reporting-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import ROOT, add_paths

# The imports below come after add_paths, which puts the project's source trees on sys.path first (E402).
add_paths("reporting", "cases")

from aiokafka import AIOKafkaProducer  # noqa: E402
from common import pct, say  # noqa: E402

from gov_contracts import REGISTRY, CloudEvent, topics  # noqa: E402
from gov_contracts.vocabulary import LOCAL_TZ, LOCAL_TZ_NAME  # noqa: E402
from govctl import areas as area_file  # noqa: E402
from govctl import procs  # noqa: E402
from govctl.stack import Stack  # noqa: E402
from govkit import db  # noqa: E402
from govkit.areas import on_area_upserted  # noqa: E402
from reporting import kpis, per_event_cases, risk  # noqa: E402
from reporting.config import DEFAULT_RISK  # noqa: E402
from reporting.rebuild import rebuild  # noqa: E402

RESULTS = ROOT / "bench" / "results"
V006 = ROOT / "services" / "reporting" / "migrations" / "V006__report_rollups.sql"
REPORT_ROLLUPS = ("r_closed", "r_resolve", "r_open_at", "r_repeat_address", "r_repeat_party")
CATEGORIES = [
    "dispute.neighbor",
    "dispute.family",
    "dispute.land",
    "dispute.labor",
    "dispute.demolition",
    "petition",
    "hazard.safety",
    "hazard.fire",
    "hazard.geologic",
    "environment.sanitation",
    "livelihood.request",
    "public_order",
    "epidemic",
    "other",
]
SEVERITIES = ["low", "medium", "medium", "high", "critical"]

# the rollups the projections would have built from these cases: per ISO week (China time; $1 the zone), for the
# grid and every area above it (the ltree's prefixes), per category and metric
ROLLUPS_FROM_CASES = """
insert into r_rollup (week, area_id, category, metric, n)
select date_trunc('week', m.at at time zone $1)::date, subpath(c.grid_path, 0, depth)::text, c.category, m.metric,
       count(*)
from r_cases c
cross join lateral (values ('new', c.reported_at), ('accepted', c.accepted_at), ('resolved', c.resolved_at),
                           ('closed', c.closed_at), ('ended', c.ended_at)) m (metric, at)
cross join generate_series(1, nlevel(c.grid_path)) depth
where m.at is not null
group by 1, 2, 3, 4
"""
OPEN_FROM_CASES = """
insert into r_open (area_id, category, n)
select subpath(grid_path, 0, depth)::text, category, count(*)
from r_cases cross join generate_series(1, nlevel(grid_path)) depth
where ended_at is null
group by 1, 2
"""


def backfill_statements() -> list[str]:
    """The statements of V006 that derive the report's rollups from r_cases."""
    text = V006.read_text(encoding="utf-8").split("-- backfill", 1)[1].split("\n", 1)[1]
    return [sql.strip() for sql in text.split(";") if sql.strip()]


def case_events(n_events: int, grids: list[str], rng: random.Random, tag: str = "B"):
    """(type, model json, case id) for n_events/4 cases, each reported, accepted, resolved, closed."""
    start = datetime.now(UTC) - timedelta(days=60)
    out = []
    for i in range(n_events // 4):
        cid = str(uuid.uuid4())
        grid, cat, sev = rng.choice(grids), rng.choice(CATEGORIES), rng.choice(SEVERITIES)
        at = start + timedelta(minutes=rng.randrange(60 * 24 * 55))
        base = dict(
            case_id=cid,
            number=f"CP-{tag}-{i:07d}",
            category=cat,
            severity=sev,
            grid_id=grid,
            level="grid",
            actor="bench",
        )
        steps: list[tuple[str, int, dict[str, object]]] = [
            (
                "reported",
                0,
                dict(
                    status="reported",
                    title="基准测试",
                    source="grid_patrol",
                    reporter_ref=f"p{i % 5000}",
                    address_ref=f"a{i % 20000}",
                ),
            ),
            ("accepted", 2, dict(status="accepted")),
            ("resolved", 30, dict(status="resolved", resolution="ok")),
            ("closed", 40, dict(status="closed", on_time=rng.random() < 0.8, escalations=0, reopen_count=0)),
        ]
        for kind, h, extra in steps:
            et = REGISTRY[f"gov.case.{kind}.v1"]
            ev = et.model.model_validate({**base, "occurred_at": at + timedelta(hours=h), **extra})
            out.append((et.name, ev.model_dump_json().encode(), cid))
    return out


async def publish(bootstrap: str, events) -> float:
    p = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=20, max_batch_size=256 * 1024
    )
    await p.start()
    t0 = time.perf_counter()
    try:
        futs = []
        for name, value, key in events:
            futs.append(
                await p.send(
                    topics.CASES, value, key=key.encode(), headers=CloudEvent(type=name, source="bench").headers()
                )
            )
            if len(futs) >= 5000:
                await asyncio.gather(*futs)
                futs = []
        await asyncio.gather(*futs)
    finally:
        await p.stop()
    return time.perf_counter() - t0


async def baseline(dsn: str, events, batch: int) -> float:
    con = await db.connect(dsn, "reporting")
    try:
        await con.execute(
            "create table if not exists bench_baseline (event_id text primary key, event_type text, payload bytea)"
        )
        await con.execute("truncate bench_baseline")
        t0 = time.perf_counter()
        for i in range(0, len(events), batch):
            chunk = events[i : i + batch]
            async with con.transaction():
                await con.executemany(
                    "insert into bench_baseline values ($1, $2, $3)", [(str(uuid.uuid4()), n, v) for n, v, _ in chunk]
                )
        elapsed = time.perf_counter() - t0
        await con.execute("drop table bench_baseline")
        return elapsed
    finally:
        await con.close()


async def load_history(dsn: str, n_cases: int, grids: list[str], rng: random.Random) -> float:
    """Bulk-load r_cases and derive r_rollup / r_open as the projections would have."""
    con = await db.connect(dsn, "reporting")
    t0 = time.perf_counter()
    try:
        await con.execute("truncate r_cases, r_rollup, r_open, " + ", ".join(REPORT_ROLLUPS))
        await con.execute("create temp table stage (like r_cases including defaults)")
        await con.execute("alter table stage alter column grid_path drop not null")
        now = datetime.now(UTC)
        chunk = 100_000
        for base in range(0, n_cases, chunk):
            rows = []
            for i in range(base, min(base + chunk, n_cases)):
                reported = now - timedelta(minutes=rng.randrange(60 * 24 * 730))
                open_ = rng.random() < 0.01 and (now - reported) < timedelta(days=60)
                resolved: datetime | None = None
                closed: datetime | None = None
                if not open_:
                    resolved = reported + timedelta(hours=rng.randrange(2, 200))
                    closed = resolved + timedelta(hours=rng.randrange(1, 48))
                cat = rng.choice(CATEGORIES)
                rows.append(
                    (
                        uuid.uuid4(),
                        f"CP-H-{i:07d}",
                        cat,
                        rng.choice(SEVERITIES),
                        rng.choice(grids),
                        "基准",
                        "closed" if closed else "accepted",
                        "grid",
                        "grid",
                        f"p{i % 50000}",
                        f"a{i % 200000}",
                        reported,
                        reported + timedelta(hours=1),
                        resolved,
                        closed,
                        closed,
                        closed is not None and rng.random() < 0.8,
                        now,
                    )
                )
            await con.copy_records_to_table(
                "stage",
                records=rows,
                columns=[
                    "case_id",
                    "number",
                    "category",
                    "severity",
                    "grid_id",
                    "title",
                    "status",
                    "level",
                    "max_level",
                    "reporter_ref",
                    "address_ref",
                    "reported_at",
                    "accepted_at",
                    "resolved_at",
                    "closed_at",
                    "ended_at",
                    "on_time",
                    "updated_at",
                ],
            )
            await con.execute(
                "update stage set grid_path = grid_id::ltree; insert into r_cases select * from stage; truncate stage"
            )
            say(f"  loaded {min(base + chunk, n_cases):,} cases")
        await con.execute(ROLLUPS_FROM_CASES, LOCAL_TZ_NAME)
        await con.execute(OPEN_FROM_CASES)
        for sql in backfill_statements():
            await con.execute(sql)
        await con.execute("vacuum analyze r_cases")  # what autovacuum does after a load: index-only scans need it
        for table in ("r_rollup", *REPORT_ROLLUPS):
            await con.execute(f"vacuum analyze {table}")
        return time.perf_counter() - t0
    finally:
        await con.close()


async def time_weekly(dsn: str, week: kpis.Week, runs: int) -> list[float]:
    rule = risk.load(DEFAULT_RISK)
    con = await db.connect(dsn, "reporting")
    try:
        await kpis.weekly(con, "changping", week, rule, {})  # warm
        out = []
        for _ in range(runs):
            t0 = time.perf_counter()
            await kpis.weekly(con, "changping", week, rule, {})
            out.append((time.perf_counter() - t0) * 1000)
        return out
    finally:
        await con.close()


async def live(stack: Stack, events, batch: int) -> dict:
    """The reporting service consumes `events` published while it runs: events/s and its peak RSS."""
    svc = "reporting"
    stack._service_port(svc)
    pid = procs.spawn(
        [sys.executable, "-m", svc, "serve"],
        log=stack.logs / f"{svc}.log",
        env={**os.environ, **stack.service_env(svc)},
        cwd=stack.root,
    )
    stack.state["services"][svc] = {**stack.state["services"].get(svc, {}), "pid": pid}
    stack.save()
    stack.wait_ready(svc, timeout=120)
    con = await db.connect(stack.service_dsn(svc), "reporting")
    try:
        before = await con.fetchval("select count(*) from inbox where consumer = 'reporting'")
        await publish(stack.bootstrap, events)
        peak = 0.0
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            peak = max(peak, procs.rss_mb(pid) or 0.0)
            done = await con.fetchval("select count(*) from inbox where consumer = 'reporting'") - before
            if done >= len(events):
                break
            await asyncio.sleep(0.25)
        span = await con.fetchrow(
            "select min(processed_at), max(processed_at) from (select processed_at from inbox "
            "where consumer = 'reporting' order by processed_at desc limit $1) x",
            len(events),
        )
        assert span is not None
        seconds = max((span[1] - span[0]).total_seconds(), 1e-6)
        return {
            "events": len(events),
            "seconds": round(seconds, 2),
            "events_per_s": round(len(events) / seconds, 1),
            "rss_peak_mb": round(peak, 1),
            "rss_after_mb": procs.rss_mb(pid),
        }
    finally:
        await con.close()
        procs.stop(pid)


def _p50_p99(ms: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(ms), 1), "p99": round(pct(ms, 99), 1)}


async def main_async(args, stack: Stack) -> dict:
    rng = random.Random(7)
    events_areas, _ = area_file.load(area_file.DEFAULT_FILE)
    grids = [e.id for e in events_areas if e.kind.value == "grid"]
    dsn = stack.service_dsn("reporting")
    con = await db.connect(dsn, "reporting")
    for e in events_areas:
        await on_area_upserted(con, e, CloudEvent(type="gov.area.upserted.v1", source="bench", subject=e.id))
    await con.close()

    say(f"generating {args.events:,} case events")
    events = case_events(args.events, grids, rng)
    say("publishing them to gov.cases.v1")
    pub_s = await publish(stack.bootstrap, events)
    say(f"  published in {pub_s:.1f}s; replaying through the projections (rebuild)")
    result = await rebuild(dsn, stack.bootstrap, batch=args.batch, progress=None)
    apply_rate = result["applied"] / result["seconds"]
    say(f"  batch path: applied {result['applied']:,} in {result['seconds']}s; baseline inserts")
    base_s = await baseline(dsn, events, args.batch)
    base_rate = len(events) / base_s
    per_event_rate = None
    if not args.no_per_event:
        say("  the per-event handlers of before (rebuild with reporting.per_event_cases)")
        old = await rebuild(
            dsn,
            stack.bootstrap,
            batch=args.batch,
            progress=None,
            handlers=per_event_cases.handlers(),
            batch_handlers={},
        )
        per_event_rate = old["applied"] / old["seconds"]
        say(f"  per-event path: applied {old['applied']:,} in {old['seconds']}s")
        result = await rebuild(
            dsn, stack.bootstrap, batch=args.batch, progress=None
        )  # the live tables as the service's
    say(f"live: the reporting service consumes {args.events // 4:,} more events")
    live_result = await live(stack, case_events(args.events // 4, grids, rng, tag="L"), args.batch)
    say(f"  {live_result}")

    say(f"loading {args.cases:,} cases of history")
    load_s = await load_history(dsn, args.cases, grids, rng)
    today = datetime.now(LOCAL_TZ).date()
    latest, year_ago = kpis.Week.of(today - timedelta(days=7)), kpis.Week.of(today - timedelta(days=365))
    lat_latest = await time_weekly(dsn, latest, args.runs)
    lat_old = await time_weekly(dsn, year_ago, args.runs)
    return {
        "events": len(events),
        "publish_s": round(pub_s, 2),
        "projection_apply_events_per_s": round(apply_rate, 1),
        "rebuild_events_per_s": result["events_per_s"],
        "per_event_apply_events_per_s": None if per_event_rate is None else round(per_event_rate, 1),
        "baseline_inserts_per_s": round(base_rate, 1),
        "ratio_apply_to_baseline": round(apply_rate / base_rate, 3),
        "ratio_per_event_to_baseline": None if per_event_rate is None else round(per_event_rate / base_rate, 3),
        "live": live_result,
        "history_cases": args.cases,
        "history_load_s": round(load_s, 1),
        "weekly_town_latest_week_ms": _p50_p99(lat_latest),
        "weekly_town_year_ago_ms": _p50_p99(lat_old),
        "runs": args.runs,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--no-per-event", action="store_true", help="skip the replay through the per-event handlers")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="gov-bench-reporting-"))
    stack = Stack(home, root=ROOT, partitions=3)
    try:
        say("starting a throwaway stack")
        stack.up(services=False, demo=False, say=lambda m: say("  " + m))
        out = asyncio.run(main_async(args, stack))
    finally:
        stack.down()
        shutil.rmtree(home, ignore_errors=True)
    print()
    print(f"projection apply from a backlog of {out['events']:,} events (batch path, the rebuild's code):")
    print(
        f"  applied {out['projection_apply_events_per_s']:,.0f}/s; whole rebuild {out['rebuild_events_per_s']:,.0f}/s"
    )
    if out["per_event_apply_events_per_s"] is not None:
        print(f"the same through the per-event handlers of before: {out['per_event_apply_events_per_s']:,.0f}/s")
    print(f"bare asyncpg executemany of the same rows:        {out['baseline_inserts_per_s']:,.0f}/s")
    print(
        f"ratio apply / executemany: batch {out['ratio_apply_to_baseline']}, "
        f"per-event {out['ratio_per_event_to_baseline']}"
    )
    lv = out["live"]
    print(
        f"live consumer (reporting service), {lv['events']:,} events: {lv['events_per_s']:,.0f}/s, "
        f"RSS peak {lv['rss_peak_mb']} MB"
    )
    print(f"weekly report of the town over {out['history_cases']:,} cases of history:")
    for label, key in (("latest week", "weekly_town_latest_week_ms"), ("a year ago ", "weekly_town_year_ago_ms")):
        print(f"  {label}   p50 {out[key]['p50']} ms  p99 {out[key]['p99']} ms")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"reporting-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"figures written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

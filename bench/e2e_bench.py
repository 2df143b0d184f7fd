#!/usr/bin/env python3
"""End-to-end benchmark of the whole stack: HTTP create → cases → outbox → Kafka → every consumer.

    ./gov bench e2e [options]          or   .venv/bin/python bench/e2e_bench.py [options]

On a throwaway stack (PostgreSQL, Kafka, the five services), all measured in one run:

1. idle baseline: the CPU each process uses in 10 s without load;
2. fixed load: N creates through POST /v1/cases (default 3000) from 64 closed-loop clients; the window runs from
   the first request until reporting has projected all N cases (reporting.r_cases) and every consumer group has
   caught up (no lag on any topic). CPU time of every process over the window (utime + stime from /proc, with
   the children it reaped: PostgreSQL's backends come and go) divided by N; the HTTP create rate, and the
   sustainable rate: N ÷ the window, what the stack carries from the request to the last consumer;
3. lag at half the sustainable rate: open-loop creates at that rate for --lag-seconds; each case's time from its
   request to its row appearing in reporting.r_cases (polled every 50 ms), p50/p99/max; CPU per case again;
4. RSS of every process, sampled every 0.5 s through both loads: the maximum.

Prints a table and writes the figures to bench/results/e2e-<UTC time>.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import ROOT, add_paths, run_header, save_results, tear_down  # noqa: E402

add_paths("cases")

import asyncpg  # noqa: E402
import httpx  # noqa: E402
import psutil  # noqa: E402
from aiokafka import AIOKafkaConsumer  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient  # noqa: E402
from cases_bench import POLICY_FILE, Failures, Texts  # noqa: E402
from common import _pg_version, http_client, pct, say, wait_areas  # noqa: E402

from cases.domain import policy as policy_mod  # noqa: E402
from govctl import areas as area_file  # noqa: E402
from govctl import postgres  # noqa: E402
from govctl.stack import Stack  # noqa: E402
from govkit.auth import mint  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SERVICES = ("cases", "volunteers", "reporting", "notifications", "livelihood")
PROCESSES = (*SERVICES, "kafka", "postgres")


# -- processes: CPU and memory ------------------------------------------------------------------------------------


def stack_pids(st: Stack) -> dict[str, int]:
    pids = {svc: st.state["services"][svc]["pid"] for svc in SERVICES}
    pids["kafka"] = st.state["kafka"]["pid"]
    pg = postgres.is_running(st.home / "pg")
    if pg is None:
        raise SystemExit("bench: PostgreSQL is not running")
    pids["postgres"] = pg
    return pids


def cpu_seconds(pid: int) -> float:
    """CPU time of the process, its live descendants and the children it has reaped (psutil reads /proc/<pid>/stat:
    utime, stime, cutime, cstime). A PostgreSQL backend that ends inside the window is counted in the
    postmaster's cutime/cstime, so the sum over a window loses nothing."""
    p = psutil.Process(pid)
    t = p.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    for c in p.children(recursive=True):
        try:
            ct = c.cpu_times()
            total += ct.user + ct.system
        except psutil.NoSuchProcess:  # ended just now: its time moves to the parent's children_* on reaping
            pass
    return total


def rss_mb(pid: int, proportional: bool = False) -> float:
    """Resident memory of the process and its descendants. With `proportional`, the PSS (shared pages divided
    among the processes sharing them): PostgreSQL's backends all map the shared buffers, whose RSS summed
    would count them once per backend."""
    p = psutil.Process(pid)
    procs = [p, *p.children(recursive=True)]
    total = 0
    for c in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += c.memory_full_info().pss if proportional else c.memory_info().rss
    return total / 1024 / 1024


class Meter:
    """CPU snapshots per process and the maximum RSS, sampled in the background."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids
        self.rss_max: dict[str, float] = dict.fromkeys(pids, 0.0)
        self._sampling = False
        self._task: asyncio.Task[None] | None = None

    def cpu(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def sample_rss(self) -> None:
        for name, pid in self.pids.items():
            self.rss_max[name] = max(self.rss_max[name], rss_mb(pid, proportional=name == "postgres"))

    async def _sample(self) -> None:
        while self._sampling:
            self.sample_rss()
            await asyncio.sleep(0.5)

    def start(self) -> None:
        self._sampling = True
        self._task = asyncio.create_task(self._sample())

    async def stop(self) -> None:
        self._sampling = False
        if self._task:
            await self._task


def per_case_ms(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, float]:
    out = {k: round((after[k] - before[k]) * 1000 / n, 3) for k in before}
    out["total"] = round(sum(out[k] for k in before), 3)
    return out


def net_of_idle(
    per_case: dict[str, float], idle_ms_per_s: dict[str, float], window_s: float, n: int
) -> dict[str, float]:
    """CPU per case minus what the process would have used idle over the same window (timers, pollers,
    Kafka's own housekeeping): the part the load itself costs."""
    out = {k: round(per_case[k] - idle_ms_per_s[k] * window_s / n, 3) for k in idle_ms_per_s}
    out["total"] = round(sum(out.values()), 3)
    return out


# -- consumers: projection and lag --------------------------------------------------------------------------------


class Lag:
    """How far each service's consumer group is behind the end of the topics it has offsets for."""

    def __init__(self, bootstrap: str):
        self.bootstrap = bootstrap
        self.admin: AIOKafkaAdminClient | None = None
        self.consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> Lag:
        self.admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await self.admin.start()
        self.consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await self.consumer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.consumer:
            await self.consumer.stop()
        if self.admin:
            await self.admin.close()

    async def total(self) -> dict[str, int]:
        assert self.admin and self.consumer
        out = {}
        for group in SERVICES:
            committed = await self.admin.list_consumer_group_offsets(group)
            tps = [tp for tp in committed if not tp.topic.startswith("__")]
            if not tps:
                out[group] = 0
                continue
            ends = await self.consumer.end_offsets(tps)
            out[group] = sum(max(ends[tp] - committed[tp].offset, 0) for tp in tps)
        return out


async def wait_caught_up(rep: asyncpg.Connection, lag: Lag, expected: int, timeout: float) -> float:
    """Seconds until reporting holds `expected` cases and no consumer group lags; polled every 0.25 s."""
    t0 = time.monotonic()
    while True:
        n = await rep.fetchval("select count(*) from reporting.r_cases")
        if n >= expected and sum((await lag.total()).values()) == 0:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise SystemExit(
                f"bench: after {timeout:.0f} s reporting holds {n} of {expected} cases; lag {await lag.total()}"
            )
        await asyncio.sleep(0.25)


# -- phases -------------------------------------------------------------------------------------------------------


async def post(client: httpx.AsyncClient, body: dict[str, Any], fails: Failures) -> str | None:
    r = await client.post("/v1/cases", json=body)
    if r.status_code != 201:
        fails.add(f"HTTP {r.status_code}", r.text)
        return None
    return str(r.json()["id"])


async def closed_loop(client: httpx.AsyncClient, bodies: list[dict[str, Any]], c: int, fails: Failures) -> float:
    next_i = 0

    async def worker() -> None:
        nonlocal next_i
        while next_i < len(bodies):
            i = next_i
            next_i += 1
            await post(client, bodies[i], fails)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(c)))
    return time.perf_counter() - t0


async def phase_idle(meter: Meter, seconds: float) -> dict[str, float]:
    say(f"idle baseline: {seconds:.0f} s without load")
    before = meter.cpu()
    await asyncio.sleep(seconds)
    after = meter.cpu()
    return {k: round((after[k] - before[k]) * 1000 / seconds, 2) for k in before}


async def phase_fixed(
    args: argparse.Namespace,
    client: httpx.AsyncClient,
    texts: Texts,
    meter: Meter,
    rep: asyncpg.Connection,
    lag: Lag,
    idle: dict[str, float],
) -> dict[str, Any]:
    bodies = [texts.case() for _ in range(args.creates)]
    start_count = await rep.fetchval("select count(*) from reporting.r_cases")
    say(f"fixed load: {len(bodies)} creates from {args.concurrency} closed-loop clients")
    fails = Failures()
    before = meter.cpu()
    t0 = time.perf_counter()
    http_wall = await closed_loop(client, bodies, args.concurrency, fails)
    fails.check("fixed load", len(bodies))
    await wait_caught_up(rep, lag, start_count + len(bodies), args.drain_timeout)
    window = time.perf_counter() - t0
    after = meter.cpu()
    res: dict[str, Any] = {
        "creates": len(bodies),
        "concurrency": args.concurrency,
        "http_creates_per_s": round(len(bodies) / http_wall, 1),
        "window_s": round(window, 2),
        "sustainable_per_s": round(len(bodies) / window, 1),
        "cpu_ms_per_case": per_case_ms(before, after, len(bodies)),
        "cpu_ms_per_case_net_of_idle": net_of_idle(per_case_ms(before, after, len(bodies)), idle, window, len(bodies)),
    }
    say(
        f"fixed load: HTTP {res['http_creates_per_s']}/s, all projected and consumed after {window:.1f} s: "
        f"{res['sustainable_per_s']} cases/s end to end; CPU {res['cpu_ms_per_case']['total']} ms per case"
    )
    return res


async def phase_lag(
    args: argparse.Namespace,
    client: httpx.AsyncClient,
    texts: Texts,
    meter: Meter,
    rep: asyncpg.Connection,
    lag: Lag,
    rate: float,
    idle: dict[str, float],
) -> dict[str, Any]:
    n = max(int(rate * args.lag_seconds), 10)
    bodies = [texts.case() for _ in range(n)]
    start_count = await rep.fetchval("select count(*) from reporting.r_cases")
    say(f"lag: {n} creates open-loop at {rate:.1f}/s ({args.lag_seconds:.0f} s), reporting polled every 50 ms")
    fails = Failures()
    sent_at: dict[str, float] = {}
    seen_at: dict[str, float] = {}
    http_lat: list[float] = []
    done_sending = False

    async def one(i: int, t_req: float) -> None:
        case_id = await post(client, bodies[i], fails)
        http_lat.append(time.perf_counter() - t_req)
        if case_id:
            sent_at[case_id] = t_req

    async def poll() -> None:
        while not done_sending or len(seen_at) < len(sent_at):
            waiting = [k for k in sent_at if k not in seen_at]
            if waiting:
                rows = await rep.fetch(
                    "select case_id::text from reporting.r_cases where case_id = any($1::uuid[])", waiting
                )
                now = time.perf_counter()
                for r in rows:
                    seen_at[r[0]] = now
            await asyncio.sleep(0.05)

    poller = asyncio.create_task(poll())
    before = meter.cpu()
    t0 = time.perf_counter()
    tasks = []
    for i in range(n):  # open loop: request i leaves at t0 + i / rate, whatever the earlier ones do
        delay = t0 + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, time.perf_counter())))
    await asyncio.gather(*tasks)
    send_wall = time.perf_counter() - t0
    done_sending = True
    fails.check("lag", n)
    await asyncio.wait_for(poller, args.drain_timeout)
    await wait_caught_up(rep, lag, start_count + n, args.drain_timeout)
    after = meter.cpu()
    window = time.perf_counter() - t0
    lags = [(seen_at[k] - sent_at[k]) * 1000 for k in sent_at]
    res: dict[str, Any] = {
        "creates": n,
        "target_per_s": round(rate, 1),
        "achieved_per_s": round(n / send_wall, 1),
        "http_p50_ms": round(pct([x * 1000 for x in http_lat], 50), 1),
        "http_p99_ms": round(pct([x * 1000 for x in http_lat], 99), 1),
        "projection_lag_p50_ms": round(pct(lags, 50), 1),
        "projection_lag_p99_ms": round(pct(lags, 99), 1),
        "projection_lag_max_ms": round(max(lags), 1),
        "window_s": round(window, 2),
        "cpu_ms_per_case": per_case_ms(before, after, n),
        "cpu_ms_per_case_net_of_idle": net_of_idle(per_case_ms(before, after, n), idle, window, n),
    }
    say(
        f"lag: create → projection p50 {res['projection_lag_p50_ms']} ms, p99 {res['projection_lag_p99_ms']} ms; "
        f"CPU {res['cpu_ms_per_case']['total']} ms per case"
    )
    return res


async def measure(st: Stack, args: argparse.Namespace, texts: Texts) -> dict[str, Any]:
    pids = stack_pids(st)
    meter = Meter(pids)
    token = mint(key=st.state["jwt_secret"], sub="bench", roles=["town_admin"], areas=["changping"])
    rep = await asyncpg.connect(st.service_dsn("reporting"))
    try:
        async with Lag(st.bootstrap) as lag, http_client(st.url("cases"), token, args.concurrency) as client:
            fails = Failures()
            say(f"warm-up: {args.warmup} creates")
            await closed_loop(client, [texts.case() for _ in range(args.warmup)], 8, fails)
            fails.check("warm-up", args.warmup)
            await wait_caught_up(rep, lag, args.warmup, args.drain_timeout)
            meter.start()
            idle = await phase_idle(meter, args.idle_seconds)
            fixed = await phase_fixed(args, client, texts, meter, rep, lag, idle)
            rate = args.lag_rate or fixed["sustainable_per_s"] / 2
            half = await phase_lag(args, client, texts, meter, rep, lag, rate, idle)
            await meter.stop()
            meter.sample_rss()
    finally:
        await rep.close()
    return {
        "idle_cpu_ms_per_s": idle,
        "fixed_load": fixed,
        "half_rate": half,
        "rss_max_mb": {k: round(v, 1) for k, v in meter.rss_max.items()},
    }


# -- output -------------------------------------------------------------------------------------------------------


def report(res: dict[str, Any]) -> str:
    m, f, h = res["machine"], res["fixed_load"], res["half_rate"]
    w = 11
    out = [
        f"e2e benchmark, {res['started_at']}: {m['cpus']} CPUs, Python {m['python']}, {m['postgres']}; "
        f"load average before {m['loadavg_before']}",
        "",
        "CPU: ms per second idle; ms per case at the fixed load and at half the sustainable rate, each also net of",
        "what the process uses idle over the same window; RSS: the maximum over both loads (PostgreSQL: PSS)",
        "",
        f"{'process':<15}"
        + "".join(f"{col:>{w}}" for col in ("idle ms/s", "fixed", "fixed net", "half", "half net", "RSS MB")),
        "-" * (15 + 6 * w),
    ]
    for p in (*PROCESSES, "total"):
        idle = res["idle_cpu_ms_per_s"].get(p, sum(res["idle_cpu_ms_per_s"].values()))
        rss = res["rss_max_mb"].get(p)
        cells = [f["cpu_ms_per_case"], f["cpu_ms_per_case_net_of_idle"], h["cpu_ms_per_case"]]
        cells.append(h["cpu_ms_per_case_net_of_idle"])
        out.append(
            f"{p:<15}{idle:>{w}.1f}"
            + "".join(f"{c[p]:>{w}.2f}" for c in cells)
            + f"{(f'{rss:.0f}' if rss else ''):>{w}}"
        )
    out += [
        "",
        f"fixed load: {f['creates']} creates, c={f['concurrency']} closed loop: HTTP {f['http_creates_per_s']} "
        f"creates/s; all projected by reporting and every group caught up after {f['window_s']} s",
        f"sustainable rate (creates ÷ that window): {f['sustainable_per_s']} cases/s",
        f"half that rate, open loop: {h['creates']} creates at {h['target_per_s']}/s "
        f"(achieved {h['achieved_per_s']}/s); HTTP p50 {h['http_p50_ms']} ms, p99 {h['http_p99_ms']} ms",
        f"create → reporting projection: p50 {h['projection_lag_p50_ms']} ms, p99 {h['projection_lag_p99_ms']} ms, "
        f"max {h['projection_lag_max_ms']} ms (request sent → row seen; 50 ms polling)",
        "",
        f"stack start {res['timings_s']['stack_up']} s; whole run {res['timings_s']['total']} s",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--creates", type=int, default=3000, help="creates of the fixed load (3000)")
    p.add_argument("--concurrency", type=int, default=64, help="closed-loop clients of the fixed load (64)")
    p.add_argument("--warmup", type=int, default=100, help="untimed creates first (100)")
    p.add_argument("--idle-seconds", type=float, default=10, help="length of the idle baseline (10)")
    p.add_argument("--lag-seconds", type=float, default=20, help="length of the half-rate load (20)")
    p.add_argument("--lag-rate", type=float, help="creates/s of the lag test (default: half the sustainable rate)")
    p.add_argument("--drain-timeout", type=float, default=180, help="seconds to wait for the consumers (180)")
    p.add_argument("--seed", type=int, default=20261130)
    p.add_argument("--no-json", action="store_true", help="do not write bench/results/e2e-<time>.json")
    args = p.parse_args(argv)

    t_start = time.monotonic()
    started = datetime.now(UTC)
    policy = policy_mod.load(POLICY_FILE)
    events, _ = area_file.load(area_file.DEFAULT_FILE)
    grids = [{"id": e.id, "parent_id": e.parent_id} for e in events if e.kind.value == "grid"]
    texts = Texts(random.Random(args.seed), grids, {e.id: e.name for e in events}, policy)

    home = Path(tempfile.mkdtemp(prefix="gov-bench-"))
    st = Stack(home, root=ROOT, partitions=3, kafka_heap_mb=384)
    timings: dict[str, float] = {}
    try:
        say(f"starting a throwaway stack in {home}")
        t0 = time.monotonic()
        st.up(services=False, demo=False, say=lambda m: say("  " + m))
        area_file.publish(st.bootstrap, area_file.DEFAULT_FILE)
        st.start_services(say=lambda m: say("  " + m))
        for svc in SERVICES:
            wait_areas(st, svc, len(events))
        timings["stack_up"] = round(time.monotonic() - t0, 1)
        say(f"stack up in {timings['stack_up']} s")
        pg_version = asyncio.run(_pg_version(st.service_dsn("cases")))
        loadavg_before = [round(x, 2) for x in os.getloadavg()]
        results = asyncio.run(measure(st, args, texts))
        loadavg_after = [round(x, 2) for x in os.getloadavg()]
    finally:
        tear_down(st, home)
    timings["total"] = round(time.monotonic() - t_start, 1)
    res = {
        **run_header("e2e", started, pg_version, loadavg_before, loadavg_after),
        "args": vars(args),
        "stack": {"kafka_partitions": 3},
        "timings_s": timings,
        **results,
    }
    print(report(res))
    if not args.no_json:
        save_results(res, started)


if __name__ == "__main__":
    main()

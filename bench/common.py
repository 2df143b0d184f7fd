"""What every benchmark script here shares: output, statistics, the concurrent
request driver, an HTTP client and a few database probes."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import time
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncpg import Record

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def add_paths(*services: str) -> None:
    """Put the project's source trees on sys.path (the script may run outside ./gov)."""
    for d in ("libs/contracts/src", "libs/govkit/src", "tools/govctl/src", *(f"services/{s}/src" for s in services)):
        if str(ROOT / d) not in sys.path:
            sys.path.insert(0, str(ROOT / d))


def tear_down(st: Any, home: Path) -> None:
    """Stop the throwaway stack and remove its directory, even when stopping fails."""
    say("tearing the stack down")
    try:
        st.down()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run_header(
    benchmark: str,
    started: datetime,
    pg_version: str | None,
    loadavg_before: list[float],
    loadavg_after: list[float] | None = None,
) -> dict[str, Any]:
    """What every benchmark's result file begins with: which benchmark, when, and on what machine."""
    machine: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "postgres": pg_version,
        "loadavg_before": loadavg_before,
    }
    if loadavg_after is not None:
        machine["loadavg_after"] = loadavg_after
    machine["platform"] = platform.platform()
    return {"benchmark": benchmark, "started_at": started.strftime("%Y-%m-%d %H:%M:%SZ"), "machine": machine}


def save_results(res: dict[str, Any], started: datetime) -> None:
    """bench/results/<benchmark>-<UTC time>.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{res['benchmark']}-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(res, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"\nfigures written to {path.relative_to(ROOT)}")


def say(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def pct(values: Sequence[float], q: float) -> float:
    """Percentile by linear interpolation between closest ranks (q in 0..100)."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def pairs(rows: Iterable[Record]) -> dict[Any, Any]:
    """{first column: second column} of two-column rows, as dict(rows) builds it."""
    return {r[0]: r[1] for r in rows}


def summary_ms(seconds: list[float], nd: int = 2) -> dict[str, float]:
    ms = [x * 1000 for x in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(pct(ms, 50), nd),
        "p99_ms": round(pct(ms, 99), nd),
        "mean_ms": round(statistics.fmean(ms), nd) if ms else float("nan"),
        "max_ms": round(max(ms), nd) if ms else float("nan"),
    }


def http_client(url: str, token: str, concurrency: int, timeout: float = 120):
    import httpx

    return httpx.AsyncClient(
        base_url=url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
    )


async def outbox_backlog(con, schema: str) -> int:
    return await con.fetchval(f"select count(*) from {schema}.outbox where published_at is null")


def wait_areas(st, service: str, expected: int, timeout: float = 90) -> float:
    """Seconds until the service holds the whole area tree."""
    t0 = time.monotonic()
    st.wait_areas(service, expected, timeout)
    return time.monotonic() - t0


async def drive(n: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> tuple[float, list[float]]:
    """Run one(i) for i in 0..n-1 with `concurrency` workers; returns (wall seconds, per-call seconds)."""
    lat: list[float] = []
    next_i = 0

    async def worker() -> None:
        nonlocal next_i
        while next_i < n:
            i = next_i
            next_i += 1
            t = time.perf_counter()
            await one(i)
            lat.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0, lat


async def _pg_version(dsn: str) -> str:
    import asyncpg

    con = await asyncpg.connect(dsn)
    try:
        return "PostgreSQL " + (await con.fetchval("show server_version")).split()[0]
    finally:
        await con.close()


def _w(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _f(x: float, nd: int = 1) -> str:
    return f"{x:.{nd}f}"

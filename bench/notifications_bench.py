#!/usr/bin/env python3
"""Benchmark of the notifications service: 1,000 offers at once to the SMS gateway, on a throwaway local stack.

    ./gov bench notifications [options]   or   .venv/bin/python bench/notifications_bench.py [options]

One run, all figures measured against the same stack, with the local HTTP receiver of the tests
(tests/notification_receiver.py) standing in for the SMS gateway:

1. burst, end to end: the notifications process is stopped, N tasks are created through POST /v1/tasks (each is
   offered to one volunteer, so N TaskOffered events wait on the bus), then the process is started again.
   Measured: the time until the N-th offer SMS reached the receiver, deliveries/s, and per offer the latency from
   the release (first event consumed; process ready) and from the offer's event time;
2. live: with the service running, more tasks are created at a modest rate; latency from the offer's event time
   (TaskOffered occurred_at) to the SMS at the receiver, split at the moment the delivery was planned;
3. burst, the sender alone: N more offers are planned while quiet hours hold them, all due at the same minute; from
   that minute to the N-th SMS (the consumer is out of the way);
4. baseline: the same N SMS requests (the bodies and signature headers the receiver recorded in 1) posted straight
   to the receiver by one httpx.AsyncClient, configured like the service's, at the SMS channel's concurrency, from
   a separate process; the ratios of the totals.

Prints a table and writes the figures as JSON to bench/results/notifications-<UTC time>.json. The stack lives in a
temporary directory and is torn down at the end, also on errors (unless --keep-stack).
See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from common import ROOT, add_paths, run_header, save_results, tear_down  # noqa: E402

# The imports below come after add_paths, which puts the project's source trees on sys.path first (E402).
add_paths("volunteers", "notifications")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.notification_receiver

import asyncpg  # noqa: E402
import httpx  # noqa: E402
import psutil  # noqa: E402
import yaml  # noqa: E402
from common import (  # noqa: E402
    _f,
    _pg_version,
    _w,
    drive,
    http_client,
    outbox_backlog,
    pct,
    say,
    summary_ms,
    wait_areas,
)

from gov_contracts.vocabulary import LOCAL_TZ  # noqa: E402
from govctl import areas as area_file  # noqa: E402
from govctl import procs  # noqa: E402
from govctl.stack import Stack  # noqa: E402
from govkit.auth import mint  # noqa: E402
from notifications.channels.sms import SMS_MAX_CHARS  # noqa: E402
from notifications.config import DEFAULT_FILE as RULES_FILE  # noqa: E402
from notifications.config import load_rules  # noqa: E402
from tests.notification_receiver import Received, Receiver  # noqa: E402
from volunteers.config import DEFAULT_FILE as DISPATCH_FILE  # noqa: E402
from volunteers.config import SKILLS, load_dispatch  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SMS_PATH = "/sms"
ALL_WEEK = [{"weekday": d, "start": "00:00", "end": "23:59"} for d in range(7)]
SURNAMES = "张王李赵刘陈杨黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰建国志红德福春梅海燕"
TASK_WEIGHTS = {
    "meal_delivery": 20,
    "pairing_visit": 15,
    "sanitation_cleanup": 15,
    "patrol": 12,
    "epidemic_temperature_check": 8,
    "epidemic_publicity": 8,
    "epidemic_disinfection": 7,
    "dispute_mediation": 8,
    "cultural_activity": 7,
}
TITLES = {
    "meal_delivery": "独居老人送餐",
    "pairing_visit": "结对帮扶走访",
    "sanitation_cleanup": "环境卫生清理",
    "patrol": "治安巡逻",
    "epidemic_temperature_check": "卡口体温检测",
    "epidemic_publicity": "防疫知识宣传",
    "epidemic_disinfection": "公共场所消杀",
    "dispute_mediation": "邻里纠纷调解",
    "cultural_activity": "文化广场活动组织",
}
SLOTS = [("09:00", "10:30"), ("10:00", "12:00"), ("14:00", "16:00"), ("15:00", "17:00"), ("19:00", "20:30")]
LINK_TOKEN = re.compile(r"(/a/)[A-Za-z0-9_-]{8,}")
SMS_HEADERS = ("X-Sms-Key-Id", "X-Sms-Timestamp", "X-Sms-Nonce", "X-Sms-Signature")
RECEIVER_ERRORS: Counter[str] = Counter()  # connections the receiver saw fail (a sender closing, a reset)


# -- what the run creates ------------------------------------------------------------------------------------------


def volunteer_body(rng: random.Random, i: int, grid: str) -> dict:
    """A volunteer of this grid who can do any task at any time (all skills, every day 00:00-23:59, 20 at once),
    with a phone (SMS) and an account (in-app inbox)."""
    return {
        "name": rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, rng.randint(1, 2))),
        "phone": f"139{i:08d}",
        "roles": ["volunteer"],
        "home_grid": grid,
        "skills": list(SKILLS),
        "availability": ALL_WEEK,
        "max_concurrent": 20,
        "account_sub": f"bench-vol-{i:04d}",
        "external_id": f"bench-notify-{i:04d}",
    }


def task_body(rng: random.Random, grids: list[str], names: dict[str, str], today: date) -> dict:
    """A task of a weighted type in a grid with volunteers, a short slot within the coming week, headcount 1 (so
    one offer, one TaskOffered, one SMS), not urgent (the offer stays open 15 minutes)."""
    ttype = rng.choices(list(TASK_WEIGHTS), list(TASK_WEIGHTS.values()))[0]
    grid = rng.choice(grids)
    day = today + timedelta(days=rng.randint(1, 6))
    s, e = rng.choice(SLOTS)
    village = names.get(".".join(grid.split(".")[:2]), "")

    def at(hhmm: str) -> str:
        return datetime.combine(day, dtime.fromisoformat(hhmm), LOCAL_TZ).isoformat()

    return {
        "task_type": ttype,
        "title": f"{TITLES[ttype]}（{village}）",
        "grid_id": grid,
        "window_start": at(s),
        "window_end": at(e),
        "headcount": 1,
        "urgent": False,
    }


def rules_file(path: Path, args: argparse.Namespace, offer_expiry_min: float, quiet: tuple[str, str] | None) -> dict:
    """The service's default rules with: the quiet hours given (none by default: the run may be at night), no offer
    reminders (the lead is the whole offer time, so none is planned) and the SMS channel's rate and concurrency
    from the arguments."""
    doc = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    doc["quiet_hours"] = {"start": quiet[0], "end": quiet[1]} if quiet else None
    doc["offer_reminder_minutes"] = offer_expiry_min
    doc["channels"]["sms"] = {**doc["channels"]["sms"], "rate_per_s": args.sms_rate, "concurrency": args.concurrency}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    load_rules(path)  # fails here, not in the service, if the file is wrong
    return {"quiet_hours": doc["quiet_hours"], "offer_reminder_minutes": offer_expiry_min, "channels": doc["channels"]}


# -- helpers -------------------------------------------------------------------------------------------------------


class Failures:
    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self.sample: dict[str, str] = {}

    def add(self, what: str, detail: str) -> None:
        self.counts[what] += 1
        self.sample.setdefault(what, detail[:300])

    def check(self, phase: str, total: int) -> None:
        bad = sum(self.counts.values())
        if bad:
            raise SystemExit(
                f"bench: {phase}: {bad} of {total} requests failed: {dict(self.counts)}; e.g. {self.sample}"
            )


def ts(dt: datetime) -> float:
    return dt.timestamp()


def spread_s(values: list[float], nd: int = 3) -> dict[str, float]:
    """n, p50, p99, mean, min and max in seconds."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_s": round(pct(values, 50), nd),
        "p99_s": round(pct(values, 99), nd),
        "mean_s": round(statistics.fmean(values), nd),
        "min_s": round(min(values), nd),
        "max_s": round(max(values), nd),
    }


def cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of a process so far (0 if it is gone)."""
    try:
        t = psutil.Process(pid).cpu_times()
        return float(t.user + t.system)
    except (psutil.Error, ValueError):
        return 0.0


def machine_busy_s() -> float:
    """Busy CPU seconds of the whole machine so far (every process, not only this stack's)."""
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


@dataclasses.dataclass
class Run:
    st: Stack
    receiver: Receiver
    args: argparse.Namespace
    token: str
    rng: random.Random
    grids: list[str]  # grids with volunteers
    names: dict[str, str]
    today: date
    home: Path
    offer_expiry_min: float

    def pid(self, svc: str) -> int | None:
        pid: int | None = self.st.state["services"][svc]["pid"]
        return pid

    def sms_since(self, mark: int) -> list[Received]:
        with self.receiver.lock:
            return [r for r in self.receiver.received[mark:] if r.path == SMS_PATH]

    def mark(self) -> int:
        with self.receiver.lock:
            return len(self.receiver.received)

    def tasks(self, n: int) -> list[dict]:
        return [task_body(self.rng, self.grids, self.names, self.today) for _ in range(n)]


class Meter:
    """CPU used by the notifications and volunteers processes and by the whole machine between start and stop."""

    def __init__(self, run: Run) -> None:
        self.pids = {"notifications": run.pid("notifications"), "volunteers": run.pid("volunteers")}
        self.t0 = time.monotonic()
        self.cpu0 = {k: cpu_s(p) for k, p in self.pids.items()}
        self.busy0 = machine_busy_s()

    def stop(self, offers: int) -> dict:
        wall = time.monotonic() - self.t0
        used = {k: cpu_s(p) - self.cpu0[k] for k, p in self.pids.items()}
        busy = machine_busy_s() - self.busy0
        return {
            "wall_s": round(wall, 2),
            **{f"{k}_cpu_s": round(v, 2) for k, v in used.items()},
            "machine_busy_cpu_s": round(busy, 2),
            "notifications_cores": round(used["notifications"] / wall, 2),
            "volunteers_cores": round(used["volunteers"] / wall, 2),
            "machine_cores_busy": round(busy / wall, 2),
            "notifications_cpu_ms_per_offer": round(1000 * used["notifications"] / offers, 2),
            "volunteers_cpu_ms_per_offer": round(1000 * used["volunteers"] / offers, 2),
        }


async def create_tasks(run: Run, bodies: list[dict], concurrency: int, rate: float | None = None) -> dict:
    """POST /v1/tasks for every body; at `concurrency` clients, or started at `rate` per second when given."""
    ids: list[str] = [""] * len(bodies)
    fails = Failures()
    async with http_client(run.st.url("volunteers"), run.token, concurrency) as client:

        async def one(i: int) -> None:
            r = await client.post("/v1/tasks", json=bodies[i])
            if r.status_code != 201:
                fails.add(f"HTTP {r.status_code}", r.text)
            else:
                ids[i] = r.json()["id"]

        if rate is None:
            wall, lat = await drive(len(bodies), concurrency, one)
        else:
            lat = []
            t0 = time.perf_counter()

            async def paced(i: int) -> None:
                await asyncio.sleep(max(0.0, t0 + i / rate - time.perf_counter()))
                t = time.perf_counter()
                await one(i)
                lat.append(time.perf_counter() - t)

            await asyncio.gather(*(paced(i) for i in range(len(bodies))))
            wall = time.perf_counter() - t0
    fails.check("POST /v1/tasks", len(bodies))
    return {
        "ids": ids,
        "wall_s": round(wall, 3),
        "tasks_per_s": round(len(bodies) / wall, 1),
        "latency": summary_ms(lat),
    }


async def offers_of(vcon: asyncpg.Connection, ids: list[str]) -> dict:
    uids = [uuid.UUID(i) for i in ids]
    n = await vcon.fetchval("select count(*) from volunteers.offers where task_id = any($1::uuid[])", uids)
    statuses = await vcon.fetch(
        "select status, count(*) from volunteers.tasks where id = any($1::uuid[]) group by 1 order by 1", uids
    )
    return {"offers": n, "tasks_by_status": {r[0]: r[1] for r in statuses}}


async def wait_outbox(vcon: asyncpg.Connection, timeout: float) -> float:
    """Seconds until every event in the volunteers outbox is published."""
    t0 = time.monotonic()
    while (backlog := await outbox_backlog(vcon, "volunteers")) and time.monotonic() - t0 < timeout:
        await asyncio.sleep(0.05)
    if backlog:
        raise SystemExit(f"bench: the volunteers outbox still holds {backlog} unpublished events after {timeout:.0f}s")
    return time.monotonic() - t0


async def sms_rows(ncon: asyncpg.Connection, ids: list[str]) -> list[asyncpg.Record]:
    return await ncon.fetch(
        "select id, task_id, status, held, attempts, occurred_at, created_at, due_at, sent_at, last_error "
        "from notifications.deliveries where channel = 'sms' and task_id = any($1::uuid[])",
        [uuid.UUID(i) for i in ids],
    )


async def in_app_of(ncon: asyncpg.Connection, ids: list[str]) -> dict:
    rows = await ncon.fetch(
        "select status, count(*) from notifications.deliveries where channel = 'in_app' and task_id = any($1::uuid[]) "
        "group by 1",
        [uuid.UUID(i) for i in ids],
    )
    return {r[0]: r[1] for r in rows}


async def consumed_since(ncon: asyncpg.Connection, t: float) -> list[asyncpg.Record]:
    """The events the notifications consumer applied since t, by type (inbox rows; processed_at is the start of
    each event's transaction)."""
    return await ncon.fetch(
        "select event_type, count(*) as n, min(processed_at) as first, max(processed_at) as last "
        "from notifications.inbox where processed_at >= $1 group by 1 order by 1",
        datetime.fromtimestamp(t, UTC),
    )


def consumer_figures(consumed: list[asyncpg.Record]) -> dict:
    n = sum(r["n"] for r in consumed)
    first = min(ts(r["first"]) for r in consumed)
    span = max(ts(r["last"]) for r in consumed) - first
    return {
        "by_type": {r["event_type"].rsplit(".", 2)[-2]: r["n"] for r in consumed},
        "total": n,
        "span_s": round(span, 3),
        "events_per_s": round(n / max(span, 1e-9), 1),
    }


async def wait_sms(
    run: Run, ncon: asyncpg.Connection, mark: int, ids: list[str], expected: int, settle: bool = True
) -> list[Received]:
    """Until `expected` SMS have reached the receiver since `mark`; with `settle`, 1 s more to see duplicates."""
    deadline = time.monotonic() + run.args.deliver_timeout
    last_report = time.monotonic()
    while len(got := run.sms_since(mark)) < expected:
        if time.monotonic() > deadline:
            rows = await sms_rows(ncon, ids)
            st = Counter(r["status"] for r in rows)
            errors = Counter(r["last_error"] for r in rows if r["last_error"])
            raise SystemExit(
                f"bench: {len(got)} of {expected} SMS arrived within {run.args.deliver_timeout:.0f}s; "
                f"deliveries {dict(st)} of {len(rows)}; errors {dict(errors.most_common(3))}; "
                f"see {run.st.logs / 'notifications.log'}"
            )
        if time.monotonic() - last_report > 10:
            say(f"  {len(got)} of {expected} SMS so far")
            last_report = time.monotonic()
        await asyncio.sleep(0.02)
    if settle:
        await asyncio.sleep(1.0)
    return run.sms_since(mark)


def check_sms(got: list[Received], rows: list[asyncpg.Record], expected: int) -> dict:
    """Each SMS of the phase is a planned delivery of the phase, once; every text fits one SMS."""
    by_id = {str(r["id"]): r for r in rows}
    out_ids = [r.body.get("OutId") for r in got]
    ours = [r for r in got if r.body.get("OutId") in by_id]
    texts = [r.text for r in ours]
    return {
        "expected": expected,
        "arrived": len(got),
        "arrived_for_this_phase": len(ours),
        "distinct_out_ids": len(set(out_ids)),
        "duplicates": len(out_ids) - len(set(out_ids)),
        "not_of_this_phase": len(got) - len(ours),
        "deliveries_planned": len(rows),
        "deliveries_by_status": dict(Counter(r["status"] for r in rows)),
        "attempts_over_1": sum(1 for r in rows if r["attempts"] > 1),
        "longest_text_chars": max((len(t) for t in texts), default=0),
        "texts_over_limit": sum(1 for t in texts if len(t) > SMS_MAX_CHARS),
        "texts_shortened": sum(1 for t in texts if "…" in t),
        "text_chars": dict(sorted(Counter(len(t) for t in texts).items())),
        "all_ok": len(ours) == expected == len(got) == len(set(out_ids)) == len(rows)
        and all(r["status"] == "sent" for r in rows)
        and all(len(t) <= SMS_MAX_CHARS for t in texts),
    }


def timeline(arrivals: list[float], planned: list[float], t0: float, step: float = 1.0) -> list[dict]:
    """Per `step` seconds after t0: deliveries planned and SMS arrived so far."""
    end = max([*arrivals, *planned, t0])
    out = []
    k = 1
    while t0 + (k - 1) * step <= end:
        cut = t0 + k * step
        out.append(
            {
                "t_s": round(k * step, 1),
                "planned": sum(p <= cut for p in planned),
                "arrived": sum(a <= cut for a in arrivals),
            }
        )
        k += 1
    return out


def pauses(arrivals: list[float]) -> dict:
    """Gaps between consecutive SMS arrivals: how bursty the sending is (a round of claims, then a wait)."""
    s = sorted(arrivals)
    gaps = [b - a for a, b in zip(s, s[1:], strict=False)]
    return {
        "largest_gap_s": round(max(gaps), 3) if gaps else 0.0,
        "gaps_over_100ms": sum(1 for g in gaps if g > 0.1),
        "time_in_gaps_over_100ms_s": round(sum(g for g in gaps if g > 0.1), 3),
    }


def release_figures(got: list[Received], rows: list[asyncpg.Record], expected: int, t0: float, cpu: dict) -> dict:
    """What happened after the release at t0: the total until the last SMS, the rate, per offer latency."""
    by_id = {str(r["id"]): r for r in rows}
    ours = [r for r in got if r.body.get("OutId") in by_id]
    arrivals = [r.at for r in ours]
    last = max(arrivals)
    return {
        "offers": expected,
        "total_s": round(last - t0, 3),
        "deliveries_per_s": round(len(arrivals) / (last - t0), 1),
        "first_sms_after_s": round(min(arrivals) - t0, 3),
        "latency_from_release": spread_s([a - t0 for a in arrivals]),
        "latency_from_offer_event": spread_s([r.at - ts(by_id[r.body["OutId"]]["occurred_at"]) for r in ours]),
        "latency_planned_to_sms": spread_s([r.at - ts(by_id[r.body["OutId"]]["created_at"]) for r in ours]),
        "sms_pauses": pauses(arrivals),
        "timeline": timeline(arrivals, [ts(r["created_at"]) for r in rows], t0),
        "cpu_while_delivering": cpu,
        "checks": check_sms(got, rows, expected),
    }


@dataclasses.dataclass
class Backlog:
    """Tasks created while the notifications process was stopped: their TaskOffered events wait on the bus."""

    ids: list[str]
    create: dict
    outcome: dict
    expected: int


async def stop_and_create(run: Run, vcon: asyncpg.Connection, label: str) -> Backlog:
    say(f"{label}: stopping the notifications process")
    procs.stop(run.pid("notifications"), timeout=25)
    bodies = run.tasks(run.args.offers)
    say(f"{label}: {len(bodies)} tasks through POST /v1/tasks at concurrency {run.args.create_concurrency}")
    made = await create_tasks(run, bodies, run.args.create_concurrency)
    drained = await wait_outbox(vcon, 120)
    outcome = await offers_of(vcon, made["ids"])
    say(
        f"{label}: {made['tasks_per_s']} tasks/s; {outcome['offers']} offers, every TaskOffered published "
        f"({drained:.2f} s after the last create)"
    )
    return Backlog(made.pop("ids"), made, outcome, outcome["offers"])


# -- phases --------------------------------------------------------------------------------------------------------


async def phase_volunteers(run: Run) -> dict:
    bodies = [volunteer_body(run.rng, i, run.grids[i % len(run.grids)]) for i in range(run.args.volunteers)]
    fails = Failures()
    async with http_client(run.st.url("volunteers"), run.token, 8) as client:

        async def one(i: int) -> None:
            r = await client.post("/v1/volunteers", json=bodies[i])
            if r.status_code != 201:
                fails.add(f"HTTP {r.status_code}", r.text)

        wall, _ = await drive(len(bodies), 8, one)
    fails.check("POST /v1/volunteers", len(bodies))
    grids = len({b["home_grid"] for b in bodies})
    say(f"volunteers: {len(bodies)} registered over {grids} grids in {wall:.1f} s")
    return {"volunteers": len(bodies), "grids": grids, "wall_s": round(wall, 2)}


async def phase_warmup(run: Run, vcon: asyncpg.Connection, ncon: asyncpg.Connection) -> dict:
    """A few offers through the whole path with everything running: fails early if the path is broken."""
    mark = run.mark()
    made = await create_tasks(run, run.tasks(run.args.warmup), 4)
    offers = (await offers_of(vcon, made["ids"]))["offers"]
    got = await wait_sms(run, ncon, mark, made["ids"], offers)
    say(f"warm-up: {run.args.warmup} tasks, {offers} offers, {len(got)} SMS at the receiver")
    return {"tasks": run.args.warmup, "offers": offers, "sms": len(got)}


async def phase_burst(run: Run, vcon: asyncpg.Connection, ncon: asyncpg.Connection) -> dict:
    """N offers waiting on the bus, then the notifications process started: consumer and senders together."""
    b = await stop_and_create(run, vcon, "burst")
    mark = run.mark()
    t_spawn = time.time()
    run.st.start_services(say=lambda m: None)
    t_ready = time.time()
    meter = Meter(run)
    await wait_sms(run, ncon, mark, b.ids, b.expected, settle=False)
    cpu = meter.stop(b.expected)
    await asyncio.sleep(1.0)  # any duplicate would show now
    got = run.sms_since(mark)
    rows = await sms_rows(ncon, b.ids)
    consumed = await consumed_since(ncon, t_spawn)
    t_first = min(ts(r["first"]) for r in consumed)
    fig = release_figures(got, rows, b.expected, t_first, cpu)
    by_id = {str(r["id"]) for r in rows}
    arrivals = [r.at for r in got if r.body.get("OutId") in by_id]
    planned = [ts(r["created_at"]) for r in rows]
    fig.update(
        create=b.create,
        volunteers_outcome=b.outcome,
        start={"spawn_to_ready_s": round(t_ready - t_spawn, 3), "ready_to_first_event_s": round(t_first - t_ready, 3)},
        total_from_ready_s=round(max(arrivals) - t_ready, 3),
        latency_from_ready=spread_s([a - t_ready for a in arrivals]),
        all_planned_after_s=round(max(planned) - t_first, 3),
        planned_per_s=round(len(planned) / max(max(planned) - t_first, 1e-9), 1),
        consumer=consumer_figures(consumed),
        in_app_deliveries=await in_app_of(ncon, b.ids),
        bodies=[
            (r.body, {k: r.headers[k] for k in SMS_HEADERS if k in r.headers})
            for r in got
            if r.body.get("OutId") in by_id
        ],
    )
    return fig


async def phase_live(run: Run, vcon: asyncpg.Connection, ncon: asyncpg.Connection) -> dict:
    """Offers one by one at a modest rate with everything running: latency from the offer to the SMS."""
    args = run.args
    mark = run.mark()
    say(f"live: {args.live} tasks at {args.live_rate}/s with notifications running")
    made = await create_tasks(run, run.tasks(args.live), args.create_concurrency, rate=args.live_rate)
    ids = made.pop("ids")
    await wait_outbox(vcon, 60)
    outcome = await offers_of(vcon, ids)
    expected = outcome["offers"]
    got = await wait_sms(run, ncon, mark, ids, expected)
    rows = await sms_rows(ncon, ids)
    by_id = {str(r["id"]): r for r in rows}
    ours = [r for r in got if r.body.get("OutId") in by_id]

    def lat(frm: str) -> dict:
        return spread_s([r.at - ts(by_id[r.body["OutId"]][frm]) for r in ours])

    return {
        "tasks": args.live,
        "rate_asked_per_s": args.live_rate,
        "create": made,
        "volunteers_outcome": outcome,
        "latency_from_offer_event": lat("occurred_at"),
        "latency_event_to_planned": spread_s([ts(r["created_at"]) - ts(r["occurred_at"]) for r in rows]),
        "latency_planned_to_sms": lat("created_at"),
        "checks": check_sms(got, rows, expected),
    }


async def wait_planned(ncon: asyncpg.Connection, b: Backlog, release: float) -> float:
    """Until every offer of the backlog has its SMS delivery planned (held); the time that took."""
    t0 = time.time()
    while (n := len(await sms_rows(ncon, b.ids))) < b.expected:
        if time.time() > release - 1:
            raise SystemExit(
                f"bench: held burst: only {n} of {b.expected} deliveries planned before the quiet hours ended; "
                "the consumer was slower than estimated (run again, or with fewer --offers)"
            )
        await asyncio.sleep(0.2)
    return time.time() - t0


async def phase_held(run: Run, vcon: asyncpg.Connection, ncon: asyncpg.Connection, events_per_s: float) -> dict:
    """N offers planned while quiet hours hold them; all fall due at the same minute: the senders alone."""
    b = await stop_and_create(run, vcon, "held burst")
    # a TaskCreated and a TaskOffered per task, at the rate of the end-to-end burst (alone the consumer is faster)
    plan_s = 2 * b.expected / max(events_per_s, 5.0)
    now = datetime.now(LOCAL_TZ)
    end = (now + timedelta(seconds=15 + 1.2 * plan_s)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    quiet = ((now - timedelta(hours=1)).strftime("%H:%M"), end.strftime("%H:%M"))
    path = run.home / "rules-held.yaml"
    rules = rules_file(path, run.args, run.offer_expiry_min, quiet)
    os.environ["NOTIFICATIONS_RULES_FILE"] = str(path)
    t_spawn = time.time()
    run.st.start_services(say=lambda m: None)
    release = end.timestamp()
    say(
        f"held burst: notifications started with quiet hours {quiet[0]}-{quiet[1]}; "
        f"release in {release - t_spawn:.0f} s"
    )
    planned_s = await wait_planned(ncon, b, release)
    consumed = await consumed_since(ncon, t_spawn)
    held = sum(1 for r in await sms_rows(ncon, b.ids) if r["held"] and ts(r["due_at"]) == release)
    mark = run.mark()
    await asyncio.sleep(max(0.0, release - time.time()))
    meter = Meter(run)
    await wait_sms(run, ncon, mark, b.ids, b.expected, settle=False)
    cpu = meter.stop(b.expected)
    await asyncio.sleep(1.0)
    got = run.sms_since(mark)
    rows = await sms_rows(ncon, b.ids)
    fig = release_figures(got, rows, b.expected, release, cpu)
    for k in ("latency_from_offer_event", "latency_planned_to_sms"):
        fig.pop(k)  # held: the time before the release says nothing about sending
    fig["timeline"] = timeline([r.at for r in got], [], release, step=0.5)
    fig.update(
        create=b.create,
        volunteers_outcome=b.outcome,
        quiet_hours=rules["quiet_hours"],
        held_until_release=held,
        planned_before_release_s=round(release - (t_spawn + planned_s), 1),
        consumer_alone=consumer_figures(consumed),
        in_app_deliveries=await in_app_of(ncon, b.ids),
    )
    return fig


def phase_direct(run: Run, bodies: list[tuple[dict, dict]]) -> dict:
    """The same SMS requests straight to the receiver, from a separate process (as the service is one): one
    untimed run that opens the connections, the timed runs at the channel's concurrency, one run at each other
    concurrency of --baseline-scan."""
    spec = run.home / "direct.json"
    c = run.args.concurrency
    scan = [(x, 1, "scan") for x in run.args.baseline_scan if x != c]
    plan = [(c, 1, "warm-up"), (c, run.args.baseline_runs, "timed"), *scan]
    items = [{"body": json.dumps(b, ensure_ascii=False), "headers": h} for b, h in bodies]
    spec.write_text(json.dumps({"url": run.receiver.url(SMS_PATH), "plan": plan, "items": items}, ensure_ascii=False))
    mark = run.mark()
    say(f"baseline: {len(items)} SMS posted directly; (concurrency, runs): {plan}")
    p = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--direct-baseline", str(spec)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    if p.returncode != 0:
        raise SystemExit(f"bench: the direct baseline failed: {p.stderr[-2000:]}")
    runs: list[dict] = json.loads(p.stdout.strip().splitlines()[-1])["runs"]
    arrived = len(run.sms_since(mark))
    gave_up = sum(r["errors"].get("gave up", 0) for r in runs)
    if gave_up or arrived < len(items) * len(runs):
        raise SystemExit(f"bench: direct baseline: {gave_up} not sent, {arrived} of {len(items) * len(runs)} arrived")
    main_runs = [r for r in runs if r["kind"] == "timed"]
    walls = [r["wall_s"] for r in main_runs]
    med = statistics.median(walls)
    return {
        "requests": len(items),
        "concurrency": run.args.concurrency,
        "client": "httpx.AsyncClient(trust_env=False, limits=httpx.Limits(max_connections=100)), separate process",
        "runs": main_runs,
        "total_s": round(med, 4),
        "total_s_best": round(min(walls), 4),
        "requests_per_s": round(len(items) / med, 1),
        "latency_p50_ms": statistics.median(r["latency"]["p50_ms"] for r in main_runs),
        "warm_up": [r for r in runs if r["kind"] == "warm-up"],
        "other_concurrency": [r for r in runs if r["kind"] == "scan"],
        "arrived": arrived,
    }


async def _post_all(client: httpx.AsyncClient, url: str, concurrency: int, items: list[tuple[bytes, dict]]) -> dict:
    """One run of the baseline: every request once, `concurrency` at a time. A request that fails on the way is
    counted and sent again (up to 3 times), as the service would retry it."""
    failed: Counter[str] = Counter()

    async def one(i: int) -> None:
        body, headers = items[i]
        for _ in range(3):
            try:
                r = await client.post(
                    url, content=body, headers={"Content-Type": "application/json; charset=utf-8", **headers}
                )
            except httpx.HTTPError as e:
                failed[type(e).__name__] += 1
                continue
            if r.status_code == 200 and r.json().get("Code") == "OK":
                return
            failed[f"HTTP {r.status_code}"] += 1
        failed["gave up"] += 1

    wall, lat = await drive(len(items), concurrency, one)
    return {
        "concurrency": concurrency,
        "wall_s": round(wall, 4),
        "requests_per_s": round(len(items) / wall, 1),
        "latency": summary_ms(lat, 3),
        "errors": dict(failed),
    }


async def _direct(spec: dict) -> dict:
    """The baseline's own process: the runs of the plan through one client, configured like the service's."""
    items = [(x["body"].encode(), x["headers"]) for x in spec["items"]]
    runs = []
    async with httpx.AsyncClient(trust_env=False, limits=httpx.Limits(max_connections=100), timeout=10) as client:
        for concurrency, n, kind in spec["plan"]:
            for _ in range(n):
                runs.append({"kind": kind, **await _post_all(client, spec["url"], concurrency, items)})
    return {"runs": runs}


# -- the run -------------------------------------------------------------------------------------------------------


async def measure(run: Run) -> dict:
    vcon = await asyncpg.connect(run.st.service_dsn("volunteers"))
    ncon = await asyncpg.connect(run.st.service_dsn("notifications"))
    try:
        vols = await phase_volunteers(run)
        warm = await phase_warmup(run, vcon, ncon)
        burst = await phase_burst(run, vcon, ncon)
        say(
            f"burst: {burst['checks']['arrived']} SMS; {burst['total_s']} s from the first event consumed, "
            f"{burst['total_from_ready_s']} s from ready; {burst['deliveries_per_s']}/s"
        )
        live = await phase_live(run, vcon, ncon)
        lv = live["latency_from_offer_event"]
        say(f"live: offer event to SMS p50 {lv['p50_s']} s, p99 {lv['p99_s']} s")
        held = None
        if not run.args.no_held:
            held = await phase_held(run, vcon, ncon, burst["consumer"]["events_per_s"])
            say(f"held burst: {held['checks']['arrived']} SMS {held['total_s']} s after the release")
        service_sms = run.sms_since(0)
        out_ids = [r.body.get("OutId") for r in service_sms]
    finally:
        await vcon.close()
        await ncon.close()
    direct = phase_direct(run, burst.pop("bodies"))
    say(f"baseline: {direct['total_s']} s median ({direct['requests_per_s']}/s)")
    return {
        "setup": vols,
        "warmup": warm,
        "burst": burst,
        "live": live,
        "held_burst": held,
        "direct": direct,
        "sms_from_the_service": {"total": len(out_ids), "duplicates": len(out_ids) - len(set(out_ids))},
        "ratio_burst_to_direct": round(burst["total_s"] / direct["total_s"], 1),
        "ratio_burst_from_ready_to_direct": round(burst["total_from_ready_s"] / direct["total_s"], 1),
        "ratio_held_burst_to_direct": round(held["total_s"] / direct["total_s"], 1) if held else None,
        "receiver_connection_errors": dict(RECEIVER_ERRORS),
        "sample_texts": [LINK_TOKEN.sub(r"\1…", r.text) for r in service_sms[-3:]],
    }


def _row(label: str, *cols: str) -> str:
    widths = (13, 13, 13)
    return label + " " * max(1, 62 - _w(label)) + "".join(c.rjust(w) for c, w in zip(cols, widths, strict=False))


def _lat(label: str, d: dict) -> str:
    return _row(label, "", _f(d["p50_s"], 3), _f(d["p99_s"], 3))


def _cpu(c: dict) -> list[str]:
    return [
        _row(
            "CPU while sending (cores): notifications; volunteers; machine",
            _f(c["notifications_cores"], 2),
            _f(c["volunteers_cores"], 2),
            _f(c["machine_cores_busy"], 2),
        ),
        _row(
            "  CPU ms per offer (SMS + in-app): notifications; volunteers",
            _f(c["notifications_cpu_ms_per_offer"], 2),
            _f(c["volunteers_cpu_ms_per_offer"], 2),
        ),
    ]


def _pauses(p: dict) -> str:
    return _row(
        "  pauses between SMS > 100 ms: count; seconds in them",
        str(p["gaps_over_100ms"]),
        _f(p["time_in_gaps_over_100ms_s"], 2),
    )


def report_burst(b: dict, a: dict) -> list[str]:
    n = b["offers"]
    return [
        f"Burst, end to end: {n} offers waiting on the bus, then the notifications process started",
        _row("figure", "value", "p50 s", "p99 s"),
        "-" * 101,
        _row(
            f"tasks created while it was stopped (c={a['create_concurrency']}), tasks/s", _f(b["create"]["tasks_per_s"])
        ),
        _row("process start: spawn to ready (s)", _f(b["start"]["spawn_to_ready_s"], 2)),
        _row("ready to the first event consumed (s)", _f(b["start"]["ready_to_first_event_s"], 2)),
        _row(f"TOTAL: first event consumed to the {n}th SMS received (s)", _f(b["total_s"], 2)),
        _row(f"ready to the {n}th SMS (s)", _f(b["total_from_ready_s"], 2)),
        _row("deliveries/s (from the first event consumed)", _f(b["deliveries_per_s"])),
        _row(
            f"  consumer: events applied ({b['consumer']['total']}: TaskCreated + TaskOffered) /s",
            _f(b["consumer"]["events_per_s"]),
        ),
        _row("  all offers planned, after the first event consumed (s)", _f(b["all_planned_after_s"], 2)),
        _row("  first SMS after the first event consumed (s)", _f(b["first_sms_after_s"], 2)),
        _lat("per offer: first event consumed to its SMS", b["latency_from_release"]),
        _lat("per offer: ready to its SMS", b["latency_from_ready"]),
        _lat("per offer: TaskOffered occurred_at to its SMS (held back)", b["latency_from_offer_event"]),
        _lat("per offer: planned (delivery row) to its SMS", b["latency_planned_to_sms"]),
        _pauses(b["sms_pauses"]),
        *_cpu(b["cpu_while_delivering"]),
    ]


def report_held(h: dict | None) -> list[str]:
    if h is None:
        return []
    return [
        "",
        f"Burst, the senders alone: {h['offers']} offers planned while quiet hours held them, "
        f"due at {h['quiet_hours']['end']} local",
        _row("figure", "value", "p50 s", "p99 s"),
        "-" * 101,
        _row("consumer alone (nothing to send yet): events applied/s", _f(h["consumer_alone"]["events_per_s"])),
        _row(
            "deliveries held to the release / planned before it (s)",
            str(h["held_until_release"]),
            _f(h["planned_before_release_s"]),
        ),
        _row(f"TOTAL: release to the {h['offers']}th SMS received (s)", _f(h["total_s"], 2)),
        _row("deliveries/s", _f(h["deliveries_per_s"])),
        _row("  first SMS after the release (s)", _f(h["first_sms_after_s"], 2)),
        _lat("per offer: release to its SMS", h["latency_from_release"]),
        _pauses(h["sms_pauses"]),
        *_cpu(h["cpu_while_delivering"]),
    ]


def report_direct(res: dict) -> list[str]:
    d = res["direct"]
    lines = [
        "",
        f"Direct: the same {d['requests']} SMS requests, one httpx.AsyncClient, c={d['concurrency']}, own process",
        _row("figure", "value", "", ""),
        "-" * 101,
        _row("  untimed first run, opening the connections (s)", _f(d["warm_up"][0]["wall_s"], 3)),
        _row(
            f"TOTAL (s): median of {len(d['runs'])} runs after it; best", _f(d["total_s"], 3), _f(d["total_s_best"], 3)
        ),
        _row("requests/s; p50 ms", _f(d["requests_per_s"]), _f(d["latency_p50_ms"], 1)),
        *[
            _row(
                f"  the same client at c={r['concurrency']}: total (s); requests/s",
                _f(r["wall_s"], 3),
                _f(r["requests_per_s"]),
            )
            for r in d["other_concurrency"]
        ],
        _row(
            "RATIO end-to-end burst / direct (from first consumed; ready)",
            _f(res["ratio_burst_to_direct"]) + "x",
            _f(res["ratio_burst_from_ready_to_direct"]) + "x",
        ),
    ]
    if res["ratio_held_burst_to_direct"] is not None:
        lines.append(_row("RATIO senders-alone burst / direct", _f(res["ratio_held_burst_to_direct"]) + "x"))
    return lines


def report_live(lv: dict) -> list[str]:
    return [
        "",
        f"Live: {lv['tasks']} tasks at {lv['rate_asked_per_s']}/s with the service running",
        _row("figure", "value", "p50 s", "p99 s"),
        "-" * 101,
        _row("tasks/s achieved", _f(lv["create"]["tasks_per_s"])),
        _lat("TaskOffered occurred_at to the SMS at the receiver", lv["latency_from_offer_event"]),
        _lat("  occurred_at to planned (outbox, Kafka, consumer)", lv["latency_event_to_planned"]),
        _lat("  planned to the SMS (sender)", lv["latency_planned_to_sms"]),
    ]


def _sent(checks: dict) -> str:
    return (
        f"{checks['deliveries_by_status'].get('sent', 0)}/{checks['deliveries_planned']}; {checks['attempts_over_1']}"
    )


def report_checks(res: dict) -> list[str]:
    phases = [("burst", res["burst"]["checks"]), ("live", res["live"]["checks"])]
    if res["held_burst"]:
        phases.append(("held", res["held_burst"]["checks"]))
    cs = [c for _, c in phases]
    return [
        "",
        _row("checks", *[name for name, _ in phases]),
        "-" * 101,
        _row("SMS expected / arrived", *[f"{c['expected']}/{c['arrived']}" for c in cs]),
        _row("duplicates by OutId", *[str(c["duplicates"]) for c in cs]),
        _row(
            f"longest text (limit {SMS_MAX_CHARS}); texts shortened to fit",
            *[f"{c['longest_text_chars']}; {c['texts_shortened']}" for c in cs],
        ),
        _row("deliveries sent / planned; sent after a retry", *[_sent(c) for c in cs]),
    ]


def report(res: dict) -> str:
    a, m = res["args"], res["machine"]
    sms = res["rules"]["channels"]["sms"]
    lines = [
        "",
        f"notifications benchmark, {res['started_at']}: {m['cpus']} CPUs, Python {m['python']}, {m['postgres']}; "
        f"load average before the measurements {m['loadavg_before']}",
        f"sms channel: rate_per_s {sms['rate_per_s']}, concurrency {sms['concurrency']}; "
        f"{res['setup']['volunteers']} volunteers over {res['setup']['grids']} grids; "
        f"notifications DB pool {res['stack']['notifications_db_pool_max']}",
        "",
        *report_burst(res["burst"], a),
        *report_held(res["held_burst"]),
        *report_direct(res),
        *report_live(res["live"]),
        *report_checks(res),
        "",
        f"stack start {res['timings_s']['stack_up']} s; whole run {res['timings_s']['total']} s",
    ]
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--offers", type=int, default=1000, help="offers released at once (1000)")
    p.add_argument(
        "--concurrency", type=int, default=32, help="the SMS channel's concurrency, and the direct baseline's (32)"
    )
    p.add_argument("--sms-rate", type=float, default=2000, help="the SMS channel's rate_per_s (2000)")
    p.add_argument("--create-concurrency", type=int, default=16, help="clients creating the burst's tasks (16)")
    p.add_argument("--volunteers", type=int, default=200, help="volunteers registered, over all grids (200)")
    p.add_argument("--warmup", type=int, default=10, help="offers through the running service first (10)")
    p.add_argument("--live", type=int, default=200, help="tasks created with the service running (200)")
    p.add_argument("--live-rate", type=float, default=20, help="tasks per second in the live phase (20)")
    p.add_argument("--no-held", action="store_true", help="skip the burst of the senders alone (quiet hours)")
    p.add_argument("--baseline-runs", type=int, default=3, help="runs of the direct baseline; the median counts (3)")
    p.add_argument(
        "--baseline-scan",
        type=lambda s: [int(x) for x in s.split(",") if x],
        default=[1, 8],
        help="other concurrencies the direct baseline also tries once, for comparison (1,8)",
    )
    p.add_argument("--deliver-timeout", type=float, default=300, help="seconds to wait for a phase's SMS (300)")
    p.add_argument("--db-pool-max", type=int, default=None, help="NOTIFICATIONS_DB_POOL_MAX (the service's default)")
    p.add_argument("--seed", type=int, default=20261130, help="random seed of the volunteers and tasks")
    p.add_argument("--keep-stack", action="store_true", help="leave the stack running and print its directory")
    p.add_argument("--no-json", action="store_true", help="do not write bench/results/notifications-<time>.json")
    return p.parse_args(argv)


def start_receiver() -> Receiver:
    """The receiver of the tests, with two socket settings of this process changed (the file stays as it is):
    - a listen backlog of 128 instead of socketserver's 5: with 5, a client opening 32 connections at once has
      SYNs dropped and waits 1 s or more for the retransmission;
    - TCP_NODELAY on the accepted sockets: the handler writes the status and headers and then the body in two
      sends, and Nagle holds the second one until the sender's delayed ACK (about 40 ms a request).
    Either would measure the kernel rather than the senders. Connection errors are counted instead of printed."""
    ThreadingHTTPServer.request_queue_size = 128
    BaseHTTPRequestHandler.disable_nagle_algorithm = True
    receiver = Receiver().start()
    assert receiver.server is not None

    def handle_error(request: object, client_address: object) -> None:
        kind = sys.exc_info()[0]
        RECEIVER_ERRORS[kind.__name__ if kind is not None else "?"] += 1

    receiver.server.handle_error = handle_error  # type: ignore[method-assign]
    return receiver


def start_stack(st: Stack, run_env: dict[str, str]) -> tuple[int, float, float]:
    """Kafka, PostgreSQL, the areas and the four services, the notifications one pointed at the receiver."""
    os.environ.update(run_env)  # the services inherit this process's environment
    t0 = time.monotonic()
    st.up(services=False, demo=False, say=lambda m: say("  " + m))
    n = area_file.publish(st.bootstrap, area_file.DEFAULT_FILE)
    st.start_services(say=lambda m: say("  " + m))
    areas_s = max(wait_areas(st, svc, n) for svc in ("volunteers", "notifications"))
    return n, areas_s, round(time.monotonic() - t0, 1)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--direct-baseline"]:  # the baseline's own process (phase_direct)
        print(json.dumps(asyncio.run(_direct(json.loads(Path(argv[1]).read_text())))))
        return
    args = parse(argv)
    t_start = time.monotonic()
    started = datetime.now(UTC)
    rng = random.Random(args.seed)
    events, _ = area_file.load(area_file.DEFAULT_FILE)
    grids = [e.id for e in events if e.kind.value == "grid"]
    names = {e.id: e.name for e in events}
    expiry = float(load_dispatch(DISPATCH_FILE).offer_expiry_minutes)
    home = Path(tempfile.mkdtemp(prefix="gov-bench-"))
    rules = rules_file(home / "rules.yaml", args, expiry, None)
    receiver = start_receiver()
    env = {
        "NOTIFICATIONS_SMS_URL": receiver.url(SMS_PATH),
        "NOTIFICATIONS_SMS_KEY_ID": "bench-key",
        "NOTIFICATIONS_SMS_KEY_SECRET": "bench-secret-0123456789",
        "NOTIFICATIONS_SMS_TEMPLATE": "SMS_000001",
        "NOTIFICATIONS_RULES_FILE": str(home / "rules.yaml"),
        **({"NOTIFICATIONS_DB_POOL_MAX": str(args.db_pool_max)} if args.db_pool_max else {}),
    }
    st = Stack(home, root=ROOT, partitions=3, kafka_heap_mb=384)
    timings: dict[str, float] = {}
    try:
        say(f"starting a throwaway stack in {home}; SMS go to {receiver.url(SMS_PATH)}")
        n, areas_s, timings["stack_up"] = start_stack(st, env)
        say(
            f"stack up in {timings['stack_up']} s; {n} areas held by volunteers and notifications after {areas_s:.1f} s"
        )
        pg_version = asyncio.run(_pg_version(st.service_dsn("volunteers")))
        loadavg_before = [round(x, 2) for x in os.getloadavg()]
        token = mint(key=st.state["jwt_secret"], sub="bench", roles=["town_admin"], areas=["changping"])
        used = grids[: args.volunteers]
        run = Run(st, receiver, args, token, rng, used, names, datetime.now(LOCAL_TZ).date(), home, expiry)
        results = asyncio.run(measure(run))
        loadavg_after = [round(x, 2) for x in os.getloadavg()]
    finally:
        if args.keep_stack:
            say(f"stack left running in {home}: GOV_HOME={home} ./gov down (its SMS receiver ended with this run)")
        else:
            tear_down(st, home)
        receiver.stop()
    timings["total"] = round(time.monotonic() - t_start, 1)
    res = {
        **run_header("notifications", started, pg_version, loadavg_before, loadavg_after),
        "args": vars(args),
        "stack": {"kafka_partitions": 3, "notifications_db_pool_max": args.db_pool_max or 10},
        "rules": rules,
        "timings_s": timings,
        **results,
    }
    print(report(res))
    if not args.no_json:
        save_results(res, started)


if __name__ == "__main__":
    main()

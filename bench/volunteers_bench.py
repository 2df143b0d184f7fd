#!/usr/bin/env python3
"""Benchmark of volunteer dispatch on a throwaway local stack.

    ./gov bench volunteers [options]     or   .venv/bin/python bench/volunteers_bench.py [options]

One run, all figures measured against the same stack and the same generated population
(10,000 volunteers over the 120 grids, with their hours ledger, offer history, current
assignments and leave):

1. ranking, pure: dispatch.rank() of one task over all 10,000 volunteers (Candidate objects),
   for 200 different tasks, at town and at grid scope; the baseline is a plain
   sorted(candidates, key=id) of the same list;
2. ranking in the database: service.rank_candidates_sql() (the EXCLUDED and CANDIDATES queries,
   then rank: dispatch before the candidate index) for the same 200 tasks at town and at grid scope, and
   the CANDIDATES query alone; the run checks that the database ranking equals the pure ranking;
   and, task by task in the same loop, the candidate index (candidate_index.py, built in this process
   from the same database): what dispatch now does before its write (the EXCLUDED query, a refresh from
   the change log, the best `headcount` from the index), the index's ranking alone, and the index's
   full ranking compared with the SQL one; SQL / index as a ratio of p50 and p99;
3. dispatch throughput: 1,000 tasks created at once through POST /v1/tasks, N concurrent
   clients; each create dispatches (offers, widening if needed) in its own transaction:
   tasks/s, latency, how many tasks ended offered or unfilled, how many offers went out;
   the baseline is bare asyncpg inserts of the same task rows into a scratch table; then
   100 creates one after another (c=1), the service time of a create without queueing;
4. memory: every service's RSS (with children) sampled every 0.2 s from the bulk load to the end of the
   creates, peak and last; and the growth of this process's RSS when it built the index.

Prints a table and writes the figures as JSON to bench/results/volunteers-<UTC time>.json.
The stack lives in a temporary directory and is torn down at the end, also on errors.
See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from typing import Any

from common import ROOT, add_paths, run_header, save_results, tear_down  # noqa: E402

# The imports below come after add_paths, which puts the project's source trees on sys.path first (E402).
add_paths("volunteers")

import asyncpg  # noqa: E402
from common import (  # noqa: E402
    _f,
    _pg_version,
    _w,
    drive,
    http_client,
    outbox_backlog,
    pairs,
    pct,
    say,
    summary_ms,
    wait_areas,
)

from gov_contracts.vocabulary import LOCAL_TZ  # noqa: E402
from govctl import areas as area_file  # noqa: E402
from govctl import procs  # noqa: E402
from govctl.stack import Stack  # noqa: E402
from govkit import db  # noqa: E402
from govkit.auth import mint  # noqa: E402
from volunteers import queries, service  # noqa: E402
from volunteers.candidate_index import CandidateIndex  # noqa: E402
from volunteers.config import DEFAULT_FILE as DISPATCH_FILE  # noqa: E402
from volunteers.config import SKILLS, load_dispatch  # noqa: E402
from volunteers.context import fetch_one  # noqa: E402
from volunteers.domain import dispatch  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SCHEMA = "volunteers"
BASELINE_TABLE = "bench_baseline"
UTC = UTC


# -- statistics --------------------------------------------------------------------------------------------------


def spread(values: list[int]) -> dict[str, float]:
    return {"min": min(values), "p50": round(pct(values, 50), 1), "max": max(values)} if values else {}


# -- the population ----------------------------------------------------------------------------------------------

SURNAMES = "张王李赵刘陈杨黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰建国志红德福春梅海燕"
ROLE_WEIGHTS = {
    "volunteer": 40,
    "party_member": 25,
    "public_service_worker": 10,
    "sanitation_worker": 8,
    "civility_supervisor": 6,
    "mediator": 6,
    "grid_manager": 5,
}
SKILL_P = {
    "mediation": 0.08,
    "elderly_care": 0.30,
    "meal_delivery": 0.30,
    "first_aid": 0.15,
    "disinfection": 0.25,
    "temperature_check": 0.30,
    "publicity": 0.35,
    "legal_aid": 0.04,
    "cleanup": 0.35,
    "driving": 0.15,
}
ROLE_SKILLS = {  # roles make some skills likelier
    "mediator": {"mediation": 0.85, "legal_aid": 0.35},
    "grid_manager": {"mediation": 0.4, "publicity": 0.7, "temperature_check": 0.6},
    "sanitation_worker": {"cleanup": 0.9, "disinfection": 0.7},
    "public_service_worker": {"elderly_care": 0.7, "meal_delivery": 0.7, "first_aid": 0.35},
    "party_member": {"publicity": 0.55},
    "civility_supervisor": {"publicity": 0.6, "cleanup": 0.5},
}
# weekly availability patterns (China Standard Time): weight, name, windows (weekday, start, end)
AVAILABILITY = [
    (35, "weekdays 08:00-17:30", [(d, "08:00", "17:30") for d in range(5)]),
    (
        20,
        "weekday evenings + weekends",
        [(d, "18:00", "21:30") for d in range(5)] + [(d, "08:00", "20:00") for d in (5, 6)],
    ),
    (20, "every day 07:00-20:00", [(d, "07:00", "20:00") for d in range(7)]),
    (10, "weekends 08:00-18:00", [(d, "08:00", "18:00") for d in (5, 6)]),
    (10, "every morning 06:30-11:30", [(d, "06:30", "11:30") for d in range(7)]),
    (5, "one to three random windows", None),
]
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
    "meal_delivery": ["爱心食堂午餐送餐", "独居老人送餐"],
    "pairing_visit": ["结对帮扶走访", "留守老人上门探访"],
    "sanitation_cleanup": ["环境卫生清理", "河道垃圾清理"],
    "patrol": ["治安巡逻", "防汛巡查"],
    "epidemic_temperature_check": ["卡口体温检测"],
    "epidemic_publicity": ["防疫知识宣传", "入户宣传疫苗接种"],
    "epidemic_disinfection": ["公共场所消杀"],
    "dispute_mediation": ["邻里纠纷调解", "土地纠纷现场调解"],
    "cultural_activity": ["文化广场活动组织", "农家书屋志愿服务"],
}
SLOTS = {"meal_delivery": [("10:45", "12:00"), ("16:45", "18:00")], "patrol": [("19:00", "21:00"), ("09:00", "11:00")]}
DEFAULT_SLOTS = [
    ("09:00", "10:30"),
    ("10:00", "12:00"),
    ("14:00", "16:00"),
    ("15:00", "17:00"),
    ("19:00", "20:30"),
    ("08:00", "09:30"),
]
LONG_WINDOW = timedelta(hours=48)  # like a task made from a case: "within two days"
NIGHT_SLOT = ("01:00", "02:00")  # nobody is available: widens to the town and ends unfilled


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _local(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, dtime.fromisoformat(hhmm), LOCAL_TZ).astimezone(UTC)


@dataclasses.dataclass
class Population:
    now: datetime
    volunteers: list[tuple]  # rows for volunteers.volunteers (home_path and availability as text)
    candidates: list[dispatch.Candidate]
    tasks: list[tuple]  # past and current tasks (grid_path as text)
    offers: list[tuple]
    assignments: list[tuple]
    ledger: list[tuple]
    leave: list[tuple]
    distribution: dict


VOLUNTEER_COLUMNS = [
    "id",
    "external_id",
    "account_sub",
    "name",
    "phone",
    "roles",
    "party_branch",
    "home_grid",
    "home_path",
    "skills",
    "availability",
    "max_concurrent",
    "active",
    "created_at",
    "updated_at",
]
TASK_COLUMNS = [
    "id",
    "task_type",
    "title",
    "grid_id",
    "grid_path",
    "window_start",
    "window_end",
    "required_skills",
    "headcount",
    "urgent",
    "beneficiary_ref",
    "origin",
    "origin_ref",
    "case_id",
    "status",
    "scope_level",
    "created_at",
    "updated_at",
    "filled_at",
]
OFFER_COLUMNS = [
    "id",
    "task_id",
    "volunteer_id",
    "status",
    "rank",
    "offered_at",
    "expires_at",
    "responded_at",
    "reason",
]
ASSIGNMENT_COLUMNS = [
    "task_id",
    "volunteer_id",
    "status",
    "accepted_at",
    "checked_in_at",
    "checked_out_at",
    "hours",
    "points",
]
LEDGER_COLUMNS = ["volunteer_id", "task_id", "kind", "hours", "points", "actor", "reason", "at"]
LEAVE_COLUMNS = ["volunteer_id", "starts_at", "ends_at", "reason"]


def _random_windows(rng: random.Random) -> list[tuple[int, str, str]]:
    """One to three weekly windows of 2 to 5 hours, starting between 07:00 and 17:00."""
    windows = []
    for _ in range(rng.randint(1, 3)):
        start = rng.randint(7, 17)
        windows.append((rng.randint(0, 6), f"{start:02d}:00", f"{min(start + rng.randint(2, 5), 22):02d}:00"))
    return windows


def _roles_and_skills(rng: random.Random) -> tuple[list[str], list[str]]:
    """A weighted role, 30 % a second one, and the skills the roles make likely."""
    roles = [rng.choices(list(ROLE_WEIGHTS), list(ROLE_WEIGHTS.values()))[0]]
    if rng.random() < 0.3:
        extra = rng.choice(["party_member", "party_member", "volunteer", "civility_supervisor"])
        if extra not in roles:
            roles.append(extra)
    p = dict(SKILL_P)
    for r in roles:
        for s, q in ROLE_SKILLS.get(r, {}).items():
            p[s] = max(p[s], q)
    skills = [s for s in SKILLS if rng.random() < p[s]]
    return roles, skills


def _volunteers(rng: random.Random, grids: list[str], names: dict[str, str], n: int, now: datetime) -> list[dict]:
    """n volunteers over the grids (some grids have more than others), with roles, skills and availability."""
    grid_w = [rng.uniform(0.5, 1.5) for _ in grids]  # some grids have more volunteers than others
    pat_w = [w for w, _, _ in AVAILABILITY]
    vols: list[dict] = []
    for i in range(n):
        grid = rng.choices(grids, grid_w)[0]
        roles, skills = _roles_and_skills(rng)
        _, pattern, windows = rng.choices(AVAILABILITY, pat_w)[0]
        if windows is None:
            windows = _random_windows(rng)
        avail = [{"weekday": d, "start": s, "end": e} for d, s, e in windows]
        village = grid.split(".")[1]
        vols.append(
            dict(
                id=_uuid(rng),
                external_id=f"bench-{i:05d}",
                name=rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, rng.randint(1, 2))),
                phone="1" + rng.choice("35789") + "".join(rng.choices("0123456789", k=9)),
                roles=roles,
                party_branch=f"长坪镇{names.get('changping.' + village, village)}党支部"
                if "party_member" in roles
                else None,
                home_grid=grid,
                skills=skills,
                availability=avail,
                pattern=pattern,
                max_concurrent=rng.choices([1, 2, 3], [30, 55, 15])[0],
                active=rng.random() < 0.93,
                created_at=now - timedelta(days=rng.uniform(60, 900)),
            )
        )
    return vols


@dataclasses.dataclass
class History:
    """The rows the generated past and current tasks leave behind, and what they add up to per volunteer
    (keyed by the volunteer's index in the population)."""

    tasks: list[tuple] = dataclasses.field(default_factory=list)
    offers: list[tuple] = dataclasses.field(default_factory=list)
    assignments: list[tuple] = dataclasses.field(default_factory=list)
    ledger: list[tuple] = dataclasses.field(default_factory=list)
    leave: list[tuple] = dataclasses.field(default_factory=list)
    load: Counter[int] = dataclasses.field(default_factory=Counter)
    hours: defaultdict[int, Decimal] = dataclasses.field(default_factory=lambda: defaultdict(Decimal))
    made: Counter[int] = dataclasses.field(default_factory=Counter)
    accepted: Counter[int] = dataclasses.field(default_factory=Counter)
    on_leave: defaultdict[int, list[tuple[datetime, datetime]]] = dataclasses.field(
        default_factory=lambda: defaultdict(list)
    )


def _task_row(
    tid: uuid.UUID,
    ttype: str,
    title: str,
    grid: str,
    ws: datetime,
    we: datetime,
    skills: list[str],
    status: str,
    offered_at: datetime,
    ended_at: datetime,
    filled_at: datetime | None,
) -> tuple:
    """A row of volunteers.tasks (grid_path as text) for a task made by hand in the volunteer's grid."""
    return (
        tid,
        ttype,
        title,
        grid,
        grid,
        ws,
        we,
        skills,
        1,
        False,
        None,
        "manual",
        None,
        None,
        status,
        "grid",
        offered_at,
        ended_at,
        filled_at,
    )


def _past_offers(
    rng: random.Random, h: History, vols: list[dict], chosen: list[int], done: bool, task: tuple, cfg, now: datetime
) -> datetime:
    """The offers of a past task (tid, ttype, ws, offered_at) to the chosen volunteers in turn; the last one
    accepted and did it when the task was done (hours in the ledger). Returns when the last one answered."""
    tid, ttype, ws, offered_at = task
    responded = offered_at
    for k, vi in enumerate(chosen):
        last = k == len(chosen) - 1
        status = "accepted" if last and done else rng.choices(["declined", "expired"], [60, 40])[0]
        responded = offered_at + timedelta(minutes=rng.uniform(1, 15) + 15 * k)
        h.offers.append(
            (
                _uuid(rng),
                tid,
                vols[vi]["id"],
                status,
                k + 1,
                offered_at + timedelta(minutes=15 * k),
                offered_at + timedelta(minutes=15 * (k + 1)),
                responded,
                {"declined": "当天有事", "expired": "no answer in time"}.get(status),
            )
        )
        h.made[vi] += 1
        if status == "accepted":
            h.accepted[vi] += 1
            hrs = Decimal(str(round(rng.uniform(0.5, 4.0), 2)))
            pts = cfg.points_for(ttype, float(hrs))
            out = ws + timedelta(hours=float(hrs))
            h.assignments.append((tid, vols[vi]["id"], "completed", responded, ws, out, hrs, pts))
            h.ledger.append((vols[vi]["id"], tid, "task", hrs, pts, "bench", None, out))
            if out > now - timedelta(days=30):
                h.hours[vi] += hrs
    return responded


def _past_tasks(
    rng: random.Random,
    h: History,
    vols: list[dict],
    grids: list[str],
    names: dict[str, str],
    cfg,
    n: int,
    now: datetime,
) -> None:
    """Past tasks: 1 to 5 offers each to volunteers of the grid; most were accepted and done."""
    by_grid: dict[str, list[int]] = defaultdict(list)
    for i, v in enumerate(vols):
        if v["active"]:
            by_grid[v["home_grid"]].append(i)
    types_l, types_w = list(TASK_WEIGHTS), list(TASK_WEIGHTS.values())
    for _ in range(n):
        grid = rng.choice(grids)
        pool = by_grid.get(grid) or by_grid[rng.choice(list(by_grid))]
        ttype = rng.choices(types_l, types_w)[0]
        days_ago = rng.uniform(0.5, 50)
        if 28.5 < days_ago < 31.5:  # keep clear of the 30-day edge of hours_30d (the database's now is later)
            days_ago += 3.5
        ws = (now - timedelta(days=days_ago)).replace(second=0, microsecond=0)
        we = ws + timedelta(minutes=rng.choice([60, 90, 120, 180]))
        tid = _uuid(rng)
        offered_at = ws - timedelta(hours=rng.uniform(2, 30))
        chosen = rng.sample(pool, min(len(pool), rng.randint(1, 5)))
        done = rng.random() < 0.85
        responded = _past_offers(rng, h, vols, chosen, done, (tid, ttype, ws, offered_at), cfg, now)
        h.tasks.append(
            _task_row(
                tid,
                ttype,
                rng.choice(TITLES[ttype]) + f"（{names[grid]}）",
                grid,
                ws,
                we,
                cfg.default_skills[ttype],
                "completed" if done else "unfilled",
                offered_at,
                we if done else offered_at + timedelta(hours=1),
                responded if done else None,
            )
        )


def _current_tasks(
    rng: random.Random, h: History, vols: list[dict], names: dict[str, str], cfg, n: int, now: datetime
) -> None:
    """Current tasks: accepted and not yet done, so the volunteer carries load (assignments assigned)."""
    types_l, types_w = list(TASK_WEIGHTS), list(TASK_WEIGHTS.values())
    actives = [i for i, v in enumerate(vols) if v["active"]]
    for _ in range(n):
        vi = rng.choice(actives)
        grid = vols[vi]["home_grid"]
        ttype = rng.choices(types_l, types_w)[0]
        ws = (now + timedelta(days=rng.uniform(0.5, 6))).replace(second=0, microsecond=0)
        we = ws + timedelta(minutes=rng.choice([60, 90, 120]))
        tid = _uuid(rng)
        at = now - timedelta(hours=rng.uniform(1, 48))
        h.offers.append(
            (
                _uuid(rng),
                tid,
                vols[vi]["id"],
                "accepted",
                1,
                at,
                at + timedelta(minutes=15),
                at + timedelta(minutes=5),
                None,
            )
        )
        h.assignments.append((tid, vols[vi]["id"], "assigned", at + timedelta(minutes=5), None, None, None, None))
        title = rng.choice(TITLES[ttype]) + f"（{names[grid]}）"
        filled = at + timedelta(minutes=5)
        h.tasks.append(
            _task_row(tid, ttype, title, grid, ws, we, cfg.default_skills[ttype], "assigned", at, filled, filled)
        )
        h.made[vi] += 1
        h.accepted[vi] += 1
        h.load[vi] += 1


def _leave(rng: random.Random, h: History, vols: list[dict], share: float, now: datetime) -> None:
    """A few volunteers are away for some days of the coming week."""
    for vi in rng.sample(range(len(vols)), int(len(vols) * share)):
        a = (now + timedelta(days=rng.uniform(-1, 5))).replace(minute=0, second=0, microsecond=0)
        b = a + timedelta(days=rng.uniform(1, 4))
        h.leave.append((vols[vi]["id"], a, b, rng.choice(["病假", "外出务工", "探亲"])))
        h.on_leave[vi].append((a, b))


def _volunteer_row(v: dict) -> tuple:
    return (
        v["id"],
        v["external_id"],
        None,
        v["name"],
        v["phone"],
        v["roles"],
        v["party_branch"],
        v["home_grid"],
        v["home_grid"],
        v["skills"],
        json.dumps(v["availability"]),
        v["max_concurrent"],
        v["active"],
        v["created_at"],
        v["created_at"],
    )


def _candidate(i: int, v: dict, h: History) -> dispatch.Candidate:
    """What the CANDIDATES query will compute for volunteer i from the rows."""
    return dispatch.Candidate(
        id=str(v["id"]),
        roles=tuple(v["roles"]),
        home_grid=v["home_grid"],
        skills=frozenset(v["skills"]),
        availability=tuple(
            dispatch.Window(w["weekday"], dtime.fromisoformat(w["start"]), dtime.fromisoformat(w["end"]))
            for w in v["availability"]
        ),
        leave=tuple(h.on_leave.get(i, ())),
        max_concurrent=v["max_concurrent"],
        active=v["active"],
        load=h.load[i],
        hours_30d=float(h.hours[i]),
        offers_made=h.made[i],
        offers_accepted=h.accepted[i],
    )


def _distribution(vols: list[dict], h: History, args) -> dict:
    h30 = [float(h.hours[i]) for i in range(len(vols))]
    return {
        "volunteers": len(vols),
        "active": sum(v["active"] for v in vols),
        "grids": len({v["home_grid"] for v in vols}),
        "per_grid": spread(list(Counter(v["home_grid"] for v in vols).values())),
        "roles": dict(Counter(r for v in vols for r in v["roles"]).most_common()),
        "skills": dict(Counter(s for v in vols for s in v["skills"]).most_common()),
        "availability_patterns": dict(Counter(v["pattern"] for v in vols).most_common()),
        "with_hours_30d": sum(1 for x in h30 if x > 0),
        "hours_30d_max": round(max(h30), 2),
        "with_offer_history": sum(1 for i in range(len(vols)) if h.made[i]),
        "with_load": sum(1 for i in range(len(vols)) if h.load[i]),
        "at_max_load": sum(1 for i, v in enumerate(vols) if h.load[i] >= v["max_concurrent"]),
        "with_leave": len(h.on_leave),
        "past_tasks": args.history_tasks,
        "current_tasks": args.load_tasks,
        "offers": len(h.offers),
        "assignments": len(h.assignments),
        "ledger_rows": len(h.ledger),
    }


def generate(rng: random.Random, grids: list[str], names: dict[str, str], cfg, args, now: datetime) -> Population:
    """The volunteers, and the history that gives them hours, an accept rate and a current load.
    The Candidate objects carry exactly what the CANDIDATES query will compute from the rows."""
    vols = _volunteers(rng, grids, names, args.volunteers, now)
    h = History()
    _past_tasks(rng, h, vols, grids, names, cfg, args.history_tasks, now)
    _current_tasks(rng, h, vols, names, cfg, args.load_tasks, now)
    _leave(rng, h, vols, args.leave_share, now)
    rows = [_volunteer_row(v) for v in vols]
    candidates = [_candidate(i, v, h) for i, v in enumerate(vols)]
    dist = _distribution(vols, h, args)
    return Population(now, rows, candidates, h.tasks, h.offers, h.assignments, h.ledger, h.leave, dist)


def task_def(rng: random.Random, grids: list[str], names: dict[str, str], cfg, today: date) -> dict:
    """One new task: type, grid, a window within the coming week (mostly inside common availability),
    sometimes an extra skill, a long window, or a night slot nobody covers."""
    ttype = rng.choices(list(TASK_WEIGHTS), list(TASK_WEIGHTS.values()))[0]
    grid = rng.choice(grids)
    day = today + timedelta(days=rng.randint(1, 6))
    kind = rng.choices(["slot", "long", "night"], [87, 10, 3])[0]
    if kind == "slot":
        s, e = rng.choice(SLOTS.get(ttype, DEFAULT_SLOTS))
        ws, we = _local(day, s), _local(day, e)
    elif kind == "long":
        ws = _local(day, "09:00")
        we = ws + LONG_WINDOW
    else:
        ws, we = _local(day, NIGHT_SLOT[0]), _local(day, NIGHT_SLOT[1])
    skills = None  # the task type's default skills
    if rng.random() < 0.1:
        skills = sorted(set(cfg.default_skills[ttype]) | {rng.choice(["first_aid", "driving"])})
    return {
        "task_type": ttype,
        "title": rng.choice(TITLES[ttype]) + f"（{names[grid]}）",
        "grid_id": grid,
        "window_start": ws,
        "window_end": we,
        "required_skills": skills,
        "headcount": rng.choices([1, 2, 3], [80, 15, 5])[0],
        "urgent": rng.random() < 0.1,
        "kind": kind,
    }


def skills_of(t: dict, cfg) -> list[str]:
    return t["required_skills"] if t["required_skills"] is not None else list(cfg.default_skills[t["task_type"]])


def http_body(t: dict) -> dict:
    body = {k: t[k] for k in ("task_type", "title", "grid_id", "headcount", "urgent")}
    body.update(window_start=t["window_start"].isoformat(), window_end=t["window_end"].isoformat())
    if t["required_skills"] is not None:
        body["required_skills"] = t["required_skills"]
    return body


# -- load drivers ------------------------------------------------------------------------------------------------


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


def created_ids(ids: list[str | None]) -> list[str]:
    """The ids of a phase's creates once Failures.check has passed, so that every create returned one."""
    assert None not in ids, "every create returned an id"
    return [i for i in ids if i is not None]


# -- phases ------------------------------------------------------------------------------------------------------


def spec_of(t: dict, cfg, task_id: str, scope: str) -> dispatch.TaskSpec:
    return dispatch.TaskSpec(
        id=task_id,
        task_type=t["task_type"],
        grid_id=t["grid_id"],
        window_start=t["window_start"],
        window_end=t["window_end"],
        required_skills=frozenset(skills_of(t, cfg)),
        scope=scope,
    )


def phase_pure(pop: Population, defs: list[dict], cfg, args) -> tuple[dict, dict]:
    """dispatch.rank over all volunteers, per task and scope; the baseline sort of the same list in between."""
    cands = pop.candidates
    out: dict[str, Any] = {}
    ranked_ids: dict[tuple[str, int], list[str]] = {}
    sort_t: list[float] = []
    for i, t in enumerate(defs[:5]):  # warm-up
        dispatch.rank(cands, spec_of(t, cfg, f"warm-{i}", "town"))
        sorted(cands, key=lambda c: c.id)
    for scope in ("town", "grid"):
        rank_t: list[float] = []
        eligible: list[int] = []
        for i, t in enumerate(defs):
            spec = spec_of(t, cfg, f"pure-{i}", scope)
            t0 = time.perf_counter()
            ranked = dispatch.rank(cands, spec)
            t1 = time.perf_counter()
            sorted(cands, key=lambda c: c.id)
            t2 = time.perf_counter()
            rank_t.append(t1 - t0)
            sort_t.append(t2 - t1)
            eligible.append(len(ranked))
            ranked_ids[(scope, i)] = [c.id for c in ranked]
        out[scope] = {
            **summary_ms(rank_t),
            "eligible": spread(eligible),
            "tasks_with_nobody_eligible": sum(1 for e in eligible if e == 0),
        }
        say(
            f"pure rank, {scope} scope: p50 {out[scope]['p50_ms']} ms, p99 {out[scope]['p99_ms']} ms "
            f"(eligible p50 {out[scope]['eligible']['p50']})"
        )
    out["baseline_sort"] = summary_ms(sort_t, 3)
    for scope in ("town", "grid"):
        out[scope]["ratio_p50_to_sort"] = round(out[scope]["p50_ms"] / out["baseline_sort"]["p50_ms"], 1)
    say(f"baseline sorted(key=id): p50 {out['baseline_sort']['p50_ms']} ms, p99 {out['baseline_sort']['p99_ms']} ms")
    return out, ranked_ids


async def phase_load(pop: Population, dsn: str) -> dict:
    """COPY the population into volunteers.* (ltree and jsonb through text staging tables)."""
    con = await db.connect(dsn, SCHEMA)
    try:
        t0 = time.perf_counter()
        async with con.transaction():
            await con.execute("create temp table stage_v (like volunteers.volunteers) on commit drop")
            await con.execute(
                "alter table stage_v alter column home_path type text, alter column availability type text"
            )
            await con.copy_records_to_table("stage_v", records=pop.volunteers, columns=VOLUNTEER_COLUMNS)
            cols = ", ".join(VOLUNTEER_COLUMNS)
            sel = cols.replace("home_path", "home_path::ltree").replace("availability", "availability::jsonb")
            await con.execute(f"insert into volunteers.volunteers ({cols}) select {sel} from stage_v")
            await con.execute("create temp table stage_t (like volunteers.tasks) on commit drop")
            await con.execute("alter table stage_t alter column grid_path type text")
            await con.copy_records_to_table("stage_t", records=pop.tasks, columns=TASK_COLUMNS)
            cols = ", ".join(TASK_COLUMNS)
            await con.execute(
                f"insert into volunteers.tasks ({cols}) "
                f"select {cols.replace('grid_path', 'grid_path::ltree')} from stage_t"
            )
            await con.copy_records_to_table("offers", records=pop.offers, columns=OFFER_COLUMNS, schema_name=SCHEMA)
            await con.copy_records_to_table(
                "assignments", records=pop.assignments, columns=ASSIGNMENT_COLUMNS, schema_name=SCHEMA
            )
            await con.copy_records_to_table("ledger", records=pop.ledger, columns=LEDGER_COLUMNS, schema_name=SCHEMA)
            await con.copy_records_to_table(
                "volunteer_leave", records=pop.leave, columns=LEAVE_COLUMNS, schema_name=SCHEMA
            )
        load_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        for table in ("volunteers", "tasks", "offers", "assignments", "ledger", "volunteer_leave"):
            await con.execute(f"analyze {SCHEMA}.{table}")
        analyze_s = time.perf_counter() - t1
        counts = {
            t: await con.fetchval(f"select count(*) from {SCHEMA}.{t}")
            for t in ("volunteers", "tasks", "offers", "assignments", "ledger", "volunteer_leave")
        }
        mb = round(
            sum([await con.fetchval(f"select pg_total_relation_size('{SCHEMA}.{t}')") for t in counts]) / 2**20, 1
        )
    finally:
        await con.close()
    res = {"rows": counts, "copy_and_insert_s": round(load_s, 2), "analyze_s": round(analyze_s, 2), "tables_mb": mb}
    say(f"bulk load: {counts} in {load_s:.1f} s, ANALYZE {analyze_s:.1f} s, {mb} MB")
    return res


def _rss_self_mb() -> float:
    return procs.rss_mb(os.getpid()) or 0.0


async def build_index(dsn: str) -> tuple[CandidateIndex, dict]:
    """The candidate index of the service, built in this process from the loaded database."""
    index = CandidateIndex(lambda: db.connect(dsn, SCHEMA))
    rss0 = _rss_self_mb()
    t0 = time.perf_counter()
    await index.rebuild()
    build_s = time.perf_counter() - t0
    res = {"volunteers": len(index), "build_s": round(build_s, 2), "rss_growth_mb": round(_rss_self_mb() - rss0, 1)}
    say(f"index: {res['volunteers']} volunteers built in {build_s:.2f} s; this process grew {res['rss_growth_mb']} MB")
    return index, res


async def phase_db_rank(pop: Population, defs: list[dict], cfg, dsn: str, ranked_ids: dict, index) -> dict:
    """service.rank_candidates_sql for the same tasks (rows in volunteers.tasks), town then grid scope;
    the CANDIDATES query alone right after each call; the order must equal the pure ranking. In the same
    loop the candidate index: what dispatch does (EXCLUDED query, refresh, best `headcount`), the index
    alone, and its full ranking compared with the SQL one."""
    con = await db.connect(dsn, SCHEMA)
    out: dict[str, Any] = {}
    try:
        now = await con.fetchval(queries.DB_NOW)
        rows: list[asyncpg.Record] = []
        async with con.transaction():
            for i, t in enumerate(defs):
                rows.append(
                    await fetch_one(
                        con,
                        queries.INSERT_TASK,
                        uuid.uuid4(),
                        t["task_type"],
                        t["title"],
                        t["grid_id"],
                        t["window_start"],
                        t["window_end"],
                        skills_of(t, cfg),
                        t["headcount"],
                        t["urgent"],
                        None,
                        "manual",
                        f"bench-rank-{i}",
                        None,
                        now,
                    )
                )
        for r in rows[:5]:  # warm-up (statements get prepared)
            await service.rank_candidates_sql(con, {**dict(r), "scope_level": "town"}, now)
            await service.task_spec(con, {**dict(r), "scope_level": "town"})
        mismatches: list[dict] = []
        index_mismatches: list[dict] = []
        for scope in ("town", "grid"):
            rank_t, query_t, python_t, fetched, eligible = [], [], [], [], []
            ix_t, ix_alone_t, ix_full_t = [], [], []
            ix_parts: dict[str, list[float]] = {"excluded": [], "refresh": [], "rank": []}
            sql_ids_of: dict[int, list[str]] = {}
            for i, r in enumerate(rows):
                task = {**dict(r), "scope_level": scope}
                t0 = time.perf_counter()
                ranked = await service.rank_candidates_sql(con, task, now)
                t1 = time.perf_counter()
                # the two parts of the same work, timed apart: the query (with asyncpg decoding the rows) ...
                got = await con.fetch(
                    queries.CANDIDATES,
                    dispatch.scope_area(task["grid_id"], scope),
                    now,
                    task["window_start"],
                    task["window_end"],
                    list(task["required_skills"]),
                )
                t2 = time.perf_counter()
                # ... and the Python side: rows to Candidate objects, then rank
                spec = dispatch.TaskSpec(
                    id=str(task["id"]),
                    task_type=task["task_type"],
                    grid_id=task["grid_id"],
                    window_start=task["window_start"],
                    window_end=task["window_end"],
                    required_skills=frozenset(task["required_skills"]),
                    scope=scope,
                )
                dispatch.rank([service.candidate(x) for x in got], spec)
                t3 = time.perf_counter()
                rank_t.append(t1 - t0)
                query_t.append(t2 - t1)
                python_t.append(t3 - t2)
                fetched.append(len(got))
                eligible.append(len(ranked))
                ids = sql_ids_of[i] = [c.id for c in ranked]
                if ids != ranked_ids[(scope, i)]:
                    mismatches.append(
                        {
                            "scope": scope,
                            "task": i,
                            "db": ids[:5],
                            "pure": ranked_ids[(scope, i)][:5],
                            "db_n": len(ids),
                            "pure_n": len(ranked_ids[(scope, i)]),
                        }
                    )
            # the index, in a loop of its own after the SQL one (not between heavy queries), the same tasks: as
            # dispatch uses it (the task's offers so far, a refresh from the change log, the best `headcount`),
            # then rank alone, then every eligible candidate, compared with the SQL ranking
            for i, r in enumerate(rows):
                task = {**dict(r), "scope_level": scope}
                i0 = time.perf_counter()
                spec = await service.task_spec(con, task)
                ia = time.perf_counter()
                await index.fresh()
                ib = time.perf_counter()
                best = index.rank(spec, now, task["headcount"])
                i1 = time.perf_counter()
                index.rank(spec, now, task["headcount"])
                i2 = time.perf_counter()
                full = index.rank(spec, now)
                i3 = time.perf_counter()
                ix_t.append(i1 - i0)
                ix_parts["excluded"].append(ia - i0)
                ix_parts["refresh"].append(ib - ia)
                ix_parts["rank"].append(i1 - ib)
                ix_alone_t.append(i2 - i1)
                ix_full_t.append(i3 - i2)
                sql_ids = sql_ids_of[i]
                if (
                    best is None
                    or full is None
                    or [c.id for c in full] != sql_ids
                    or [c.id for c in best] != sql_ids[: task["headcount"]]
                ):
                    index_mismatches.append(
                        {"scope": scope, "task": i, "sql": sql_ids[:5], "index": [c.id for c in full or []][:5]}
                    )
            # tasks that require no skill (patrol, cultural activity) fetch every active volunteer in scope
            open_t = [x for x, r in zip(rank_t, rows, strict=True) if not r["required_skills"]]
            out[scope] = {
                **summary_ms(rank_t),
                "rows_fetched": spread(fetched),
                "eligible": spread(eligible),
                "no_skill_required": {
                    **summary_ms(open_t),
                    "rows_fetched": spread([n for n, r in zip(fetched, rows, strict=True) if not r["required_skills"]]),
                },
                "query_alone": summary_ms(query_t),
                "candidates_and_rank_alone": summary_ms(python_t),
                "index": summary_ms(ix_t, 3),
                "index_parts": {k: summary_ms(v, 3) for k, v in ix_parts.items()},
                "index_rank_alone": summary_ms(ix_alone_t, 3),
                "index_full_ranking": summary_ms(ix_full_t, 3),
            }
            v = out[scope]
            v["ratio_sql_to_index"] = {
                "p50": round(v["p50_ms"] / max(v["index"]["p50_ms"], 0.001), 1),
                "p99": round(v["p99_ms"] / max(v["index"]["p99_ms"], 0.001), 1),
            }
            say(
                f"index, {scope} scope: p50 {v['index']['p50_ms']} ms, p99 {v['index']['p99_ms']} ms (with the "
                f"EXCLUDED query and a refresh; parts p50/p99 ms: "
                f"{ {k: (x['p50_ms'], x['p99_ms']) for k, x in v['index_parts'].items()} }); rank alone p50 "
                f"{v['index_rank_alone']['p50_ms']} ms, p99 "
                f"{v['index_rank_alone']['p99_ms']} ms; SQL / index: p50 {v['ratio_sql_to_index']['p50']}x, "
                f"p99 {v['ratio_sql_to_index']['p99']}x"
            )
            say(
                f"db rank_candidates_sql, {scope} scope: p50 {out[scope]['p50_ms']} ms, p99 {out[scope]['p99_ms']} ms "
                f"({out[scope]['rows_fetched']['p50']} rows fetched p50); query alone p50 "
                f"{out[scope]['query_alone']['p50_ms']} ms, rows to Candidate + rank alone p50 "
                f"{out[scope]['candidates_and_rank_alone']['p50_ms']} ms"
            )
        out["equal_to_pure"] = {
            "compared": 2 * len(rows),
            "equal": 2 * len(rows) - len(mismatches),
            "mismatches": mismatches[:5],
        }
        out["index_equal_to_sql"] = {
            "compared": 2 * len(rows),
            "equal": 2 * len(rows) - len(index_mismatches),
            "mismatches": index_mismatches[:5],
        }
        if mismatches:
            say(f"WARNING: the database ranking differs from the pure ranking for {len(mismatches)} tasks")
        if index_mismatches:
            say(f"WARNING: the index ranking differs from the SQL ranking for {len(index_mismatches)} tasks")
        await con.execute("delete from tasks where origin = 'manual' and origin_ref like 'bench-rank-%'")
    finally:
        await con.close()
    return out


async def explain_candidates(defs: list[dict], cfg, dsn: str) -> dict[str, str]:
    """EXPLAIN ANALYZE of the CANDIDATES query of the first task, town and grid scope, custom and generic plan."""
    con = await db.connect(dsn, SCHEMA)
    plans = {}
    try:
        t = defs[0]
        await con.execute(f"prepare bench_candidates as {queries.CANDIDATES}")
        for scope in ("town", "grid"):
            skills = "{" + ",".join(skills_of(t, cfg)) + "}"
            lit = (
                f"'{dispatch.scope_area(t['grid_id'], scope)}', now(), '{t['window_start'].isoformat()}', "
                f"'{t['window_end'].isoformat()}', '{skills}'"
            )
            for mode in ("force_custom_plan", "force_generic_plan"):
                await con.execute(f"set plan_cache_mode = {mode}")
                rows = await con.fetch(f"explain (analyze, buffers, costs off) execute bench_candidates({lit})")
                plans[f"CANDIDATES, {scope} scope ({mode.split('_')[1]} plan)"] = "\n".join(r[0] for r in rows)
    finally:
        await con.close()
    return plans


async def phase_dispatch(st: Stack, warm: list[dict], defs: list[dict], args, token: str, dsn: str) -> dict:
    """POST /v1/tasks for all tasks at once with `concurrency` clients; then what became of them."""
    con = await db.connect(dsn, SCHEMA)
    ids: list[str | None] = [None] * len(defs)
    lat_of: list[float] = [0.0] * len(defs)
    try:
        async with http_client(st.url("volunteers"), token, args.concurrency) as client:
            fails = Failures()

            def poster(batch: list[dict], keep: bool):
                async def one(i: int) -> None:
                    t0 = time.perf_counter()
                    r = await client.post("/v1/tasks", json=http_body(batch[i]))
                    if r.status_code != 201:
                        fails.add(f"HTTP {r.status_code}", r.text)
                    elif keep:
                        ids[i] = r.json()["id"]
                        lat_of[i] = time.perf_counter() - t0

                return one

            say(f"dispatch: {len(warm)} warm-up creates")
            await drive(len(warm), min(args.concurrency, len(warm)), poster(warm, False))
            fails.check("warm-up", len(warm))
            deadline = time.monotonic() + args.drain_timeout
            while await outbox_backlog(con, "volunteers") and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            outbox_before = await con.fetchval("select coalesce(max(id), 0) from volunteers.outbox")
            say(f"dispatch: {len(defs)} tasks at once, concurrency {args.concurrency}")
            wall, lat = await drive(len(defs), args.concurrency, poster(defs, True))
            t_end = time.monotonic()
            fails.check("dispatch", len(defs))
        backlog_at_end = backlog = await outbox_backlog(con, "volunteers")
        while backlog and time.monotonic() - t_end < args.drain_timeout:
            await asyncio.sleep(0.02)
            backlog = await outbox_backlog(con, "volunteers")
        drain_s = time.monotonic() - t_end
        events = pairs(
            await con.fetch(
                "select event_type, count(*) from volunteers.outbox where id > $1 group by 1 order by 1", outbox_before
            )
        )
        published = await con.fetchval(
            "select count(*) from volunteers.outbox where id > $1 and published_at is not null", outbox_before
        )
        created = created_ids(ids)
        uids = [uuid.UUID(i) for i in created]
        by_status = pairs(
            await con.fetch(
                "select status, count(*) from tasks where id = any($1::uuid[]) group by 1 order by 2 desc", uids
            )
        )
        by_scope = pairs(
            await con.fetch(
                "select scope_level, count(*) from tasks where id = any($1::uuid[]) group by 1 order by 2 desc", uids
            )
        )
        offers = await fetch_one(
            con,
            "select count(*) as n, count(distinct volunteer_id) as volunteers, "
            "       count(*) filter (where status = 'pending') as pending from offers where task_id = any($1::uuid[])",
            uids,
        )
        per_volunteer = await con.fetchval(
            "select coalesce(max(n), 0) from (select count(*) n from offers where task_id = any($1::uuid[]) "
            "group by volunteer_id) x",
            uids,
        )
        headcount = await con.fetchval("select sum(headcount) from tasks where id = any($1::uuid[])", uids)
        short = await con.fetchval(
            "select count(*) from tasks t where id = any($1::uuid[]) and status = 'offered' and "
            "(select count(*) from offers o where o.task_id = t.id) < t.headcount",
            uids,
        )
        final = {
            str(r["id"]): (r["scope_level"], r["status"])
            for r in await con.fetch("select id, scope_level, status from tasks where id = any($1::uuid[])", uids)
        }
        by_reached: dict[str, list[float]] = defaultdict(list)
        for i, tid in enumerate(created):
            scope, status = final[tid]
            by_reached[f"{scope}, {status}" if scope == "town" else scope].append(lat_of[i])
        latency_by_scope = {
            k: summary_ms(by_reached[k])
            for k in ("grid", "village", "town, offered", "town, unfilled")
            if by_reached.get(k)
        }
        by_kind = {}
        for kind in ("slot", "long", "night"):
            kids = [u for u, t in zip(uids, defs, strict=True) if t["kind"] == kind]
            by_kind[kind] = {
                "tasks": len(kids),
                **pairs(
                    await con.fetch("select status, count(*) from tasks where id = any($1::uuid[]) group by 1", kids)
                ),
            }
    finally:
        await con.close()
    if backlog:
        raise SystemExit(
            f"bench: the volunteers outbox still holds {backlog} unpublished events "
            f"{args.drain_timeout:.0f}s after the last create; see {st.logs / 'volunteers.log'}"
        )
    res = {
        "tasks": len(defs),
        "concurrency": args.concurrency,
        "warmup": len(warm),
        "wall_s": round(wall, 3),
        "tasks_per_s": round(len(defs) / wall, 1),
        "latency": summary_ms(lat),
        "latency_by_scope_reached": latency_by_scope,
        "outcome": {
            "by_status": by_status,
            "by_scope": by_scope,
            "by_window_kind": by_kind,
            "offers": offers["n"],
            "offers_pending": offers["pending"],
            "volunteers_offered": offers["volunteers"],
            "most_offers_to_one_volunteer": per_volunteer,
            "headcount_asked": headcount,
            "offered_tasks_with_fewer_offers_than_headcount": short,
        },
        "outbox": {
            "events": events,
            "events_written": sum(events.values()),
            "events_published": published,
            "backlog_when_creates_finished": backlog_at_end,
            "drain_s_after_last_create": round(drain_s if backlog_at_end else 0.0, 3),
        },
    }
    say(
        f"dispatch: {res['tasks_per_s']} tasks/s, p50 {res['latency']['p50_ms']} ms, "
        f"p99 {res['latency']['p99_ms']} ms; {by_status}; {offers['n']} offers"
    )
    return res


async def phase_single(st: Stack, defs: list[dict], token: str, dsn: str) -> dict:
    """The same kind of tasks one after another (c=1): the service time of a create without queueing."""
    lat_of = [0.0] * len(defs)
    ids: list[str | None] = [None] * len(defs)
    fails = Failures()
    async with http_client(st.url("volunteers"), token, 1) as client:

        async def one(i: int) -> None:
            t0 = time.perf_counter()
            r = await client.post("/v1/tasks", json=http_body(defs[i]))
            if r.status_code != 201:
                fails.add(f"HTTP {r.status_code}", r.text)
            else:
                ids[i] = r.json()["id"]
                lat_of[i] = time.perf_counter() - t0

        wall, lat = await drive(len(defs), 1, one)
    fails.check("single creates", len(defs))
    created = created_ids(ids)
    con = await db.connect(dsn, SCHEMA)
    try:
        final = {
            str(r["id"]): r["scope_level"]
            for r in await con.fetch(
                "select id, scope_level from tasks where id = any($1::uuid[])", [uuid.UUID(i) for i in created]
            )
        }
    finally:
        await con.close()
    by: dict[str, list[float]] = defaultdict(list)
    for i, tid in enumerate(created):
        by[final[tid]].append(lat_of[i])
    res: dict[str, Any] = {
        "tasks": len(defs),
        "concurrency": 1,
        "tasks_per_s": round(len(defs) / wall, 1),
        **summary_ms(lat),
        "by_scope_reached": {k: summary_ms(by[k]) for k in ("grid", "village", "town") if by.get(k)},
    }
    say(
        f"single creates: {res['tasks_per_s']} tasks/s, p50 {res['p50_ms']} ms, p99 {res['p99_ms']} ms; by scope "
        f"{ {k: v['p50_ms'] for k, v in res['by_scope_reached'].items()} }"
    )
    return res


async def phase_baseline(defs: list[dict], warm: list[dict], cfg, args, dsn: str) -> dict:
    sql = queries.INSERT_TASK.replace("insert into tasks ", f"insert into {BASELINE_TABLE} ", 1)
    assert sql != queries.INSERT_TASK, "the service's INSERT statement changed shape"
    pool = await asyncpg.create_pool(
        dsn, min_size=args.concurrency, max_size=args.concurrency, server_settings={"search_path": f"{SCHEMA},public"}
    )
    try:
        async with pool.acquire() as con:
            await con.execute(f"drop table if exists {SCHEMA}.{BASELINE_TABLE}")
            await con.execute(f"create table {SCHEMA}.{BASELINE_TABLE} (like {SCHEMA}.tasks including defaults)")
            # only so that the statement's ON CONFLICT clause has its arbiter; origin_ref is null here, so
            # no row enters this partial index
            await con.execute(
                f"create unique index on {SCHEMA}.{BASELINE_TABLE} (origin, origin_ref) where origin_ref is not null"
            )
        now = datetime.now(UTC)

        def params(t: dict) -> tuple:
            return (
                uuid.uuid4(),
                t["task_type"],
                t["title"],
                t["grid_id"],
                t["window_start"],
                t["window_end"],
                skills_of(t, cfg),
                t["headcount"],
                t["urgent"],
                None,
                "manual",
                None,
                None,
                now,
            )

        def inserter(batch: list[tuple]):
            async def one(i: int) -> None:
                async with pool.acquire() as con:
                    await con.fetchrow(sql, *batch[i])  # autocommit: one row per transaction

            return one

        w = [params(t) for t in warm]
        rows = [params(t) for t in defs]
        await drive(len(w), args.concurrency, inserter(w))
        say(f"baseline: {len(rows)} bare inserts at concurrency {args.concurrency}")
        wall, lat = await drive(len(rows), args.concurrency, inserter(rows))
        async with pool.acquire() as con:
            stored = await con.fetchval(f"select count(*) from {SCHEMA}.{BASELINE_TABLE}")
            await con.execute(f"drop table {SCHEMA}.{BASELINE_TABLE}")
    finally:
        await pool.close()
    if stored != len(w) + len(rows):
        raise SystemExit(f"bench: baseline stored {stored} rows, expected {len(w) + len(rows)}")
    res = {
        "rows": len(rows),
        "concurrency": args.concurrency,
        "wall_s": round(wall, 3),
        "rows_per_s": round(len(rows) / wall, 1),
        "latency": summary_ms(lat),
    }
    say(f"baseline: {res['rows_per_s']} rows/s, p50 {res['latency']['p50_ms']} ms, p99 {res['latency']['p99_ms']} ms")
    return res


class RssSampler:
    """Every service's RSS (with its children), every 0.2 s on a thread: peak, last, and peak per phase."""

    def __init__(self, st: Stack, every: float = 0.2) -> None:
        self.st, self.every = st, every
        self.peak: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.by_phase: dict[str, dict[str, float]] = {}
        self._phase: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def mark(self, phase: str) -> None:
        """The peaks since the previous mark belong to `phase`."""
        self.by_phase[phase], self._phase = dict(self._phase), {}

    def _run(self) -> None:
        while not self._stop.is_set():
            for svc in ("cases", "volunteers", "reporting", "notifications", "livelihood"):
                try:
                    mb = procs.rss_mb(self.st.state["services"].get(svc, {}).get("pid"))
                except Exception:  # a process gone between the check and the read
                    mb = None
                if mb is not None:
                    mb = round(mb, 1)
                    self.last[svc] = mb
                    self.peak[svc] = max(self.peak.get(svc, 0.0), mb)
                    self._phase[svc] = max(self._phase.get(svc, 0.0), mb)
            self._stop.wait(self.every)


# -- the run -----------------------------------------------------------------------------------------------------


async def measure(
    st: Stack,
    args,
    pop: Population,
    rank_defs: list[dict],
    warm: list[dict],
    dispatch_defs: list[dict],
    single_defs: list[dict],
    cfg,
    pure: dict,
    ranked_ids: dict,
) -> dict:
    token = mint(key=st.state["jwt_secret"], sub="bench", roles=["town_admin"], areas=["changping"])
    dsn = st.service_dsn("volunteers")
    rss = RssSampler(st)
    rss.start()
    try:
        load = await phase_load(pop, dsn)
        index, index_build = await build_index(dsn)
        try:
            await asyncio.sleep(3)  # the service's own index takes the bulk load in from the change log meanwhile
            db_rank = await phase_db_rank(pop, rank_defs, cfg, dsn, ranked_ids, index)
        finally:
            await index.stop()
        extra = {}
        if args.explain:
            extra["candidates_plans"] = await explain_candidates(rank_defs, cfg, dsn)
        rss.mark("ranking")
        disp = await phase_dispatch(st, warm, dispatch_defs, args, token, dsn)
        rss.mark("dispatch")
        single = await phase_single(st, single_defs, token, dsn)
    finally:
        rss.stop()
    say(f"service RSS, peak MB: {rss.peak}")
    base = await phase_baseline(dispatch_defs, warm, cfg, args, dsn)
    for name, plan in extra.get("candidates_plans", {}).items():
        print(f"\n-- EXPLAIN ANALYZE: {name}\n{plan}")
    return {
        **extra,
        "ranking_pure": pure,
        "bulk_load": load,
        "ranking_db": db_rank,
        "index_build": index_build,
        "dispatch_http": disp,
        "rss_mb": {"peak": rss.peak, "last": rss.last, "peak_by_phase": rss.by_phase},
        "single_create": single,
        "baseline_insert": base,
        "ratio_dispatch_to_baseline": round(disp["tasks_per_s"] / base["rows_per_s"], 3),
        "ratio_p50_dispatch_to_baseline": round(disp["latency"]["p50_ms"] / base["latency"]["p50_ms"], 1),
    }


def _row(label: str, *cols: str) -> str:
    widths = (10, 10, 10, 14)
    return label + " " * max(1, 52 - _w(label)) + "".join(c.rjust(w) for c, w in zip(cols, widths, strict=False))


def report(res: dict) -> str:
    p, d, a = res["ranking_pure"], res["ranking_db"], res["args"]
    c, b, o = res["dispatch_http"], res["baseline_insert"], res["dispatch_http"]["outcome"]
    s1 = res["single_create"]
    pop, bulk = res["population"], res["bulk_load"]
    sort = p["baseline_sort"]
    lines = [
        "",
        f"volunteers benchmark, {res['started_at']}: {res['machine']['cpus']} CPUs, Python {res['machine']['python']}, "
        f"{res['machine']['postgres']}; load average before the measurements {res['machine']['loadavg_before']}",
        "",
        f"Ranking one task among {pop['volunteers']} volunteers ({pop['active']} active, {pop['grids']} grids), "
        f"{a['rank_tasks']} tasks",
        _row("figure", "p50 ms", "p99 ms", "", "eligible p50"),
        "-" * 96,
    ]
    for scope in ("town", "grid"):
        lines.append(
            _row(
                f"dispatch.rank (pure), {scope} scope",
                _f(p[scope]["p50_ms"], 2),
                _f(p[scope]["p99_ms"], 2),
                "",
                _f(p[scope]["eligible"]["p50"], 0),
            )
        )
    lines.append(_row("baseline sorted(candidates, key=id)", _f(sort["p50_ms"], 2), _f(sort["p99_ms"], 2), "", ""))
    lines.append(
        _row(
            "ratio rank / sort, p50: town; grid",
            _f(p["town"]["ratio_p50_to_sort"]) + "x",
            _f(p["grid"]["ratio_p50_to_sort"]) + "x",
            "",
            "",
        )
    )
    lines += ["", _row("in the database (rows fetched p50)", "p50 ms", "p99 ms", "", "eligible p50"), "-" * 96]
    for scope in ("town", "grid"):
        v = d[scope]
        lines.append(
            _row(
                f"service.ranked_candidates, {scope} [{v['rows_fetched']['p50']:.0f}]",
                _f(v["p50_ms"], 2),
                _f(v["p99_ms"], 2),
                "",
                _f(v["eligible"]["p50"], 0),
            )
        )
        ns = v["no_skill_required"]
        if ns["n"]:
            lines.append(
                _row(
                    f"  the {ns['n']} tasks needing no skill [{ns['rows_fetched']['p50']:.0f}]",
                    _f(ns["p50_ms"], 2),
                    _f(ns["p99_ms"], 2),
                    "",
                    "",
                )
            )
        lines.append(
            _row(
                f"  CANDIDATES query alone, {scope}",
                _f(v["query_alone"]["p50_ms"], 2),
                _f(v["query_alone"]["p99_ms"], 2),
                "",
                "",
            )
        )
        lines.append(
            _row(
                f"  rows to Candidate + rank alone, {scope}",
                _f(v["candidates_and_rank_alone"]["p50_ms"], 2),
                _f(v["candidates_and_rank_alone"]["p99_ms"], 2),
                "",
                "",
            )
        )
    eq = d["equal_to_pure"]
    lines.append(_row("database ranking equal to the pure ranking", f"{eq['equal']}/{eq['compared']}", "", "", ""))
    ib = res["index_build"]
    lines += [
        "",
        _row(
            f"candidate index ({ib['volunteers']} held, built in {ib['build_s']} s, +{ib['rss_growth_mb']} MB)",
            "p50 ms",
            "p99 ms",
            "SQL/index",
            "p50; p99",
        ),
        "-" * 96,
    ]
    for scope in ("town", "grid"):
        v = d[scope]
        lines += [
            _row(
                f"dispatch's ranking from the index, {scope}",
                _f(v["index"]["p50_ms"], 3),
                _f(v["index"]["p99_ms"], 3),
                "",
                f"{_f(v['ratio_sql_to_index']['p50'])}x; {_f(v['ratio_sql_to_index']['p99'])}x",
            ),
            _row(
                "  index.rank alone (best headcount)",
                _f(v["index_rank_alone"]["p50_ms"], 3),
                _f(v["index_rank_alone"]["p99_ms"], 3),
                "",
                "",
            ),
            _row(
                "  index.rank, every eligible candidate",
                _f(v["index_full_ranking"]["p50_ms"], 3),
                _f(v["index_full_ranking"]["p99_ms"], 3),
                "",
                "",
            ),
        ]
    ie = d["index_equal_to_sql"]
    lines.append(_row("index ranking equal to the SQL ranking", f"{ie['equal']}/{ie['compared']}", "", "", ""))
    st, sc = o["by_status"], o["by_scope"]
    lines += [
        "",
        f"Dispatch: {c['tasks']} tasks at once through POST /v1/tasks (create + offer in one transaction)",
        _row("figure", "rate /s", "p50 ms", "p99 ms"),
        "-" * 96,
        _row(
            f"POST /v1/tasks, c={c['concurrency']}, {c['tasks']} tasks",
            _f(c["tasks_per_s"]),
            _f(c["latency"]["p50_ms"]),
            _f(c["latency"]["p99_ms"]),
        ),
        _row(
            f"bare asyncpg INSERT, c={b['concurrency']}, {b['rows']} rows",
            _f(b["rows_per_s"]),
            _f(b["latency"]["p50_ms"]),
            _f(b["latency"]["p99_ms"]),
        ),
        _row(
            "ratio HTTP / baseline: rate; p50 latency",
            _f(res["ratio_dispatch_to_baseline"], 3),
            _f(res["ratio_p50_dispatch_to_baseline"]) + "x",
            "",
        ),
        _row("tasks offered / unfilled (of the burst)", str(st.get("offered", 0)), str(st.get("unfilled", 0)), ""),
        _row(
            "  scope reached: grid / village / town",
            str(sc.get("grid", 0)),
            str(sc.get("village", 0)),
            str(sc.get("town", 0)),
        ),
        *[
            _row(f"  latency, ended at {k} [{v['n']}]", "", _f(v["p50_ms"]), _f(v["p99_ms"]))
            for k, v in c["latency_by_scope_reached"].items()
        ],
        _row("offers created / headcount asked", str(o["offers"]), str(o["headcount_asked"]), ""),
        _row(
            "  offered tasks with fewer offers than headcount",
            str(o["offered_tasks_with_fewer_offers_than_headcount"]),
            "",
            "",
        ),
        _row(
            "  volunteers offered / most offers to one",
            str(o["volunteers_offered"]),
            str(o["most_offers_to_one_volunteer"]),
            "",
        ),
        _row(
            "outbox: events written / published",
            str(c["outbox"]["events_written"]),
            str(c["outbox"]["events_published"]),
            "",
        ),
        _row("outbox: drained after the last create (s)", _f(c["outbox"]["drain_s_after_last_create"], 2), "", ""),
        _row(
            f"POST /v1/tasks, c=1, {s1['tasks']} tasks (afterwards)",
            _f(s1["tasks_per_s"]),
            _f(s1["p50_ms"]),
            _f(s1["p99_ms"]),
        ),
        *[
            _row(f"  c=1, ended at {k} [{v['n']}]", "", _f(v["p50_ms"]), _f(v["p99_ms"]))
            for k, v in s1["by_scope_reached"].items()
        ],
        "",
        f"population: {pop['with_hours_30d']} with hours in the last 30 days, {pop['with_offer_history']} with offer "
        f"history, {pop['with_load']} with a current task ({pop['at_max_load']} at max load), {pop['with_leave']} "
        f"with leave",
        f"bulk load: {sum(bulk['rows'].values())} rows by COPY + insert-select in {bulk['copy_and_insert_s']} s, "
        f"ANALYZE {bulk['analyze_s']} s, {bulk['tables_mb']} MB",
        "service RSS MB, peak (ranking phase; dispatch phase; last): "
        + ", ".join(
            f"{k} {v} ({res['rss_mb']['peak_by_phase'].get('ranking', {}).get(k, '-')}; "
            f"{res['rss_mb']['peak_by_phase'].get('dispatch', {}).get(k, '-')}; {res['rss_mb']['last'].get(k, '-')})"
            for k, v in res["rss_mb"]["peak"].items()
        ),
        f"stack start {res['timings_s']['stack_up']} s; whole run {res['timings_s']['total']} s",
    ]
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--volunteers", type=int, default=10_000, help="volunteers in the population (10000)")
    p.add_argument("--rank-tasks", type=int, default=200, help="tasks ranked, pure and in the database (200)")
    p.add_argument("--tasks", type=int, default=1000, help="tasks created at once through HTTP (1000)")
    p.add_argument("--concurrency", type=int, default=16, help="concurrent clients for creates and the baseline (16)")
    p.add_argument("--warmup", type=int, default=20, help="untimed creates before the timed ones (20)")
    p.add_argument("--single-creates", type=int, default=100, help="creates one after another after the burst (100)")
    p.add_argument("--history-tasks", type=int, default=8000, help="past tasks with offers and hours (8000)")
    p.add_argument("--load-tasks", type=int, default=1500, help="current tasks assigned to a volunteer (1500)")
    p.add_argument("--leave-share", type=float, default=0.03, help="share of volunteers with leave this week (0.03)")
    p.add_argument("--drain-timeout", type=float, default=60, help="seconds to wait for the outbox to empty (60)")
    p.add_argument("--seed", type=int, default=20261129, help="random seed of the population and the tasks")
    p.add_argument("--explain", action="store_true", help="also print (and store) the plans of the CANDIDATES query")
    p.add_argument("--no-json", action="store_true", help="do not write bench/results/volunteers-<time>.json")
    args = p.parse_args(argv)

    t_start = time.monotonic()
    started = datetime.now(UTC)
    rng = random.Random(args.seed)
    cfg = load_dispatch(DISPATCH_FILE)
    events, _ = area_file.load(area_file.DEFAULT_FILE)
    grids = [e.id for e in events if e.kind.value == "grid"]
    names = {e.id: e.name for e in events}
    now = started.replace(microsecond=0)
    say(f"generating {args.volunteers} volunteers over {len(grids)} grids with their history")
    t0 = time.monotonic()
    pop = generate(rng, grids, names, cfg, args, now)
    today = now.astimezone(LOCAL_TZ).date()
    rank_defs = [task_def(rng, grids, names, cfg, today) for _ in range(args.rank_tasks)]
    warm = [task_def(rng, grids, names, cfg, today) for _ in range(args.warmup)]
    dispatch_defs = [task_def(rng, grids, names, cfg, today) for _ in range(args.tasks)]
    single_defs = [task_def(rng, grids, names, cfg, today) for _ in range(args.single_creates)]
    timings: dict[str, float] = {"generate": round(time.monotonic() - t0, 1)}

    home = Path(tempfile.mkdtemp(prefix="gov-bench-"))
    st = Stack(home, root=ROOT, partitions=3, kafka_heap_mb=384)
    try:
        say(f"starting a throwaway stack in {home}")
        t0 = time.monotonic()
        st.up(services=False, demo=False, say=lambda m: say("  " + m))
        n = area_file.publish(st.bootstrap, area_file.DEFAULT_FILE)
        st.start_services(say=lambda m: say("  " + m))
        areas_s = wait_areas(st, "volunteers", len(events))
        timings["stack_up"] = round(time.monotonic() - t0, 1)
        say(
            f"stack up in {timings['stack_up']} s; {n} areas published, held by the volunteers service "
            f"after {areas_s:.1f} s"
        )
        pg_version = asyncio.run(_pg_version(st.service_dsn("volunteers")))
        loadavg_before = [round(x, 2) for x in os.getloadavg()]
        say(f"pure ranking: {args.rank_tasks} tasks over {len(pop.candidates)} candidates, town and grid scope")
        pure, ranked_ids = phase_pure(pop, rank_defs, cfg, args)
        results = asyncio.run(
            measure(st, args, pop, rank_defs, warm, dispatch_defs, single_defs, cfg, pure, ranked_ids)
        )
        loadavg_after = [round(x, 2) for x in os.getloadavg()]
    finally:
        tear_down(st, home)
    timings["total"] = round(time.monotonic() - t_start, 1)
    kinds = Counter(t["kind"] for t in dispatch_defs)
    res = {
        **run_header("volunteers", started, pg_version, loadavg_before, loadavg_after),
        "args": vars(args),
        "stack": {"kafka_partitions": 3, "volunteers_db_pool_max": 10},
        "population": pop.distribution,
        "dispatch_tasks": {
            "task_types": dict(Counter(t["task_type"] for t in dispatch_defs).most_common()),
            "window_kinds": dict(kinds),
            "headcount": dict(Counter(t["headcount"] for t in dispatch_defs)),
            "extra_skill": sum(1 for t in dispatch_defs if t["required_skills"] is not None),
            "urgent": sum(1 for t in dispatch_defs if t["urgent"]),
        },
        "timings_s": timings,
        **results,
    }
    print(report(res))
    if not args.no_json:
        save_results(res, started)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Benchmark of the cases service on a throwaway local stack.

    ./gov bench cases [options]          or   .venv/bin/python bench/cases_bench.py [options]

One run, all figures measured against the same stack:

0. the statements one create sends to PostgreSQL (service.create_case in this
   process on a connection that logs them; BEGIN, COMMIT, the pool's reset included);
1. case creation through HTTP (POST /v1/cases, with its transaction, transition,
   reporter row and outbox event), at each of --concurrency (16 and 64 clients):
   creates/s and latency; then how long the outbox relay needs to publish the backlog;
2. right after each, a baseline: bare asyncpg inserts of the same case rows (one plain
   INSERT, one row per transaction) into a scratch table, same concurrency, and the ratio;
3. with the table bulk-loaded (COPY) to 100,000 cases over 120 grids, 14
   categories, every status and 90 days: latency of filtered GET /v1/cases and of
   a cursor walk, and of single creates at concurrency 1.

Prints a table and writes the figures as JSON to bench/results/cases-<UTC time>.json.
The stack lives in a temporary directory and is torn down at the end, also on errors.
See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import ROOT, add_paths, run_header, save_results, tear_down  # noqa: E402

# The imports below come after add_paths, which puts the project's source trees on sys.path first (E402).
add_paths("cases")

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from common import (  # noqa: E402
    _f,
    _pg_version,
    _w,
    drive,
    http_client,
    outbox_backlog,
    pairs,
    say,
    summary_ms,
    wait_areas,
)

from cases import queries  # noqa: E402
from cases.domain import policy as policy_mod  # noqa: E402
from cases.domain.lifecycle import unit_for  # noqa: E402
from cases.domain.model import Level  # noqa: E402
from govctl import areas as area_file  # noqa: E402
from govctl.stack import Stack  # noqa: E402
from govkit import pseudonym  # noqa: E402
from govkit.auth import mint  # noqa: E402

POLICY_FILE = ROOT / "services" / "cases" / "config" / "policy.yaml"
RESULTS = ROOT / "bench" / "results"
SCHEMA = "cases"
BASELINE_TABLE = "bench_baseline"
# only to compute pseudonymous references for rows that bypass the service (COPY, baseline)
BENCH_PSEUDONYM_KEY = "bench-only-pseudonym-key-0000000000000000"


# -- statistics --------------------------------------------------------------------------------------------------

# -- realistic case texts ----------------------------------------------------------------------------------------

SURNAMES = "张王李赵刘陈杨黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
GROUPS = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十"]
PLACES = [
    "后山",
    "村口",
    "河边",
    "老学校旁",
    "村委会对面",
    "集镇街道",
    "桥头",
    "水库下游",
    "茶园",
    "菜市场旁",
    "村小组晒场",
    "公路边",
    "卫生室门口",
    "文化广场",
]
WHEN = ["今天上午", "昨天晚上", "近一周来", "这几天", "本月以来", "今天凌晨", "前天下午", "连续几天"]
ASK = [
    "请求尽快处理。",
    "希望村里出面协调。",
    "请相关部门核查。",
    "请网格员上门了解情况。",
    "群众反映强烈，请尽快解决。",
    "请求镇里派人调处。",
    "担心事态扩大，请及时介入。",
]

# per category: (title template, description template, extra words); {v} village, {g} group, {a}/{b} persons,
# {p} place, {w} when, {x} a word of the category
TEXTS: dict[str, list[tuple[str, str, list[str]]]] = {
    "dispute.neighbor": [
        (
            "{v}{g}组{a}与邻居{b}因{x}发生纠纷",
            "{v}{g}组村民{a}反映，邻居{b}家{x}问题长期未解决，{w}双方发生争吵。",
            ["宅基地滴水", "排水沟堵塞", "院墙占道", "养狗扰民", "树木遮挡采光", "通行道路", "堆放杂物"],
        ),
        (
            "{a}反映邻居{x}影响生活",
            "{w}{a}多次反映邻居{b}{x}，双方互不相让，邻里关系紧张。",
            ["装修噪音", "鸡鸭散养", "倒污水", "乱搭乱建", "占用公共通道"],
        ),
    ],
    "dispute.family": [
        (
            "{a}家{x}纠纷",
            "{v}{g}组{a}反映家中{x}问题，{w}家庭成员争执不下，{b}情绪激动。",
            ["赡养老人", "分家析产", "婚姻感情", "子女抚养", "老人赡养费分摊"],
        ),
        (
            "{v}村民{a}夫妻因{x}发生矛盾",
            "{w}{a}与配偶因{x}多次争吵，娘家人{b}要求村里调解。",
            ["家庭开支", "外出务工", "彩礼返还", "照顾老人"],
        ),
    ],
    "dispute.land": [
        (
            "{v}{g}组与邻组山林边界纠纷",
            "{g}组村民反映邻组在争议山林内{x}，双方多次发生口角，{w}矛盾升级。",
            ["砍伐树木", "修建便道", "栽种茶苗", "放牧", "挖沟排水"],
        ),
        (
            "{a}与{b}承包地边界争议",
            "{a}与{b}承包地相邻，因{x}产生争议，{w}双方到地里对峙。",
            ["界桩移位", "田埂被挖", "确权面积不符", "流转合同到期"],
        ),
        (
            "{v}{p}山林权属纠纷",
            "{v}{p}一片山林权属不清，{a}与{b}各执一词，{w}因{x}起争执。",
            ["采伐指标", "林权证", "退耕还林补助", "山林承包"],
        ),
    ],
    "dispute.labor": [
        (
            "{v}{x}拖欠工人工资",
            "{a}等十余名工人反映{v}{x}{w}拖欠工资未发，多次讨要无果。",
            ["砂石厂", "香菇种植基地", "茶叶加工厂", "建筑工地", "木材加工厂", "养殖场"],
        ),
        (
            "{a}反映{x}劳资纠纷",
            "{a}在{x}务工期间受伤，{w}与老板{b}就工资和医疗费协商不成。",
            ["施工队", "农家乐", "运输车队", "采石场"],
        ),
    ],
    "dispute.demolition": [
        (
            "{v}{x}征地补偿争议",
            "{v}{g}组部分村民对{x}征地补偿标准有异议，{w}聚集到施工现场。",
            ["乡道拓宽", "河道治理", "移民安置点", "光伏项目", "高速连接线"],
        ),
        (
            "{a}反映房屋拆迁补偿不到位",
            "{a}家房屋因{x}被拆除，{w}补偿款仍未足额发放。",
            ["道路建设", "集镇改造", "水库扩容"],
        ),
    ],
    "petition": [
        (
            "{a}反映{x}问题多次信访",
            "{a}就{x}问题多次到镇里上访，{w}再次来访，诉求未得到满意答复。",
            ["低保评定", "宅基地审批", "医疗报销", "土地补偿", "林权确权", "养老保险"],
        ),
        (
            "{v}村民联名信访反映{x}",
            "{v}{g}组十余户村民联名反映{x}，要求公开相关情况。",
            ["村务公开", "集体资金使用", "扶贫项目", "修路集资"],
        ),
    ],
    "hazard.safety": [
        (
            "{v}{p}{x}存在安全隐患",
            "{w}发现{v}{p}{x}，存在安全隐患，过往群众较多。",
            ["危房墙体开裂", "护栏缺失", "电线老化裸露", "桥梁栏杆松动", "井盖缺失", "广告牌松动"],
        ),
        (
            "{v}{g}组{x}危险",
            "{a}反映{v}{g}组{x}，{w}已有村民险些受伤。",
            ["便桥垮塌", "路边深坑无警示", "废弃机井未封", "电杆倾斜"],
        ),
    ],
    "hazard.fire": [
        (
            "{v}{p}{x}存在消防隐患",
            "{w}巡查发现{v}{p}{x}，一旦起火后果严重。",
            ["堆放柴草", "消防通道被占用", "灭火器过期", "私拉电线充电", "烧荒"],
        ),
        (
            "{x}消防隐患需整改",
            "{v}{x}存在消防隐患，{a}反映{w}多次提醒未整改。",
            ["农家乐厨房", "小卖部仓库", "加油点", "木材加工厂"],
        ),
    ],
    "hazard.geologic": [
        (
            "{v}{g}组{p}{x}",
            "{w}{v}{g}组{p}{x}，附近有{b}等多户住房，存在滑坡塌方风险。",
            ["山体出现裂缝", "挡土墙开裂", "路基下沉", "坡面落石"],
        ),
        (
            "{v}{x}有地质灾害隐患",
            "连续降雨后{v}{x}，{a}担心夜间发生塌方，请求排查。",
            ["后山滑坡", "公路边坡塌方", "河岸垮塌", "房后崩塌"],
        ),
    ],
    "environment.sanitation": [
        (
            "{v}{p}{x}",
            "{w}{v}{p}{x}，气味难闻，影响周边群众生活。",
            ["垃圾堆积未清运", "污水直排", "畜禽粪污乱排", "垃圾桶破损", "死禽随意丢弃"],
        ),
        (
            "{a}反映{x}问题",
            "{a}反映{v}{g}组{x}，{w}一直无人处理。",
            ["河道漂浮垃圾", "旱厕溢满", "秸秆焚烧", "建筑垃圾乱倒"],
        ),
    ],
    "livelihood.request": [
        (
            "{v}{g}组{x}",
            "{a}反映{v}{g}组{x}，{w}给群众生产生活带来不便。",
            ["路灯损坏", "饮水管道破裂停水", "道路坑洼", "垃圾收集点不足", "网络信号差"],
        ),
        (
            "{a}咨询{x}",
            "{a}反映{x}问题，{w}多次询问未得到答复。",
            ["养老补贴未到账", "高龄津贴办理", "残疾人补贴", "危房改造补助", "医保缴费"],
        ),
    ],
    "public_order": [
        (
            "{v}{p}{x}",
            "{w}{v}{p}{x}，群众担心安全，请求加强巡逻。",
            ["有人聚众打架", "发现可疑人员", "有人聚众赌博", "摩托车夜间飙车", "发生盗窃"],
        ),
        ("{a}反映{x}", "{a}反映{w}{v}{x}，影响治安秩序。", ["醉酒滋事", "强行收取费用", "电信诈骗", "偷砍林木"]),
    ],
    "epidemic": [
        (
            "{v}{g}组{x}",
            "{w}{v}{g}组{x}，需要网格员上门排查登记。",
            ["有村民发热", "返乡人员未登记", "出现腹泻病例", "家禽异常死亡"],
        ),
        ("{v}{p}需{x}", "{v}{p}人员聚集较多，{a}建议{x}。", ["消毒", "张贴防疫宣传", "测量体温", "设置洗手点"]),
    ],
    "other": [
        (
            "{a}{x}",
            "{a}{x}，{w}来电咨询，请相关人员答复。",
            ["咨询户籍迁移", "建议增设公交站点", "反映手机信号差", "咨询农机补贴", "建议修建健身场地"],
        ),
        (
            "{v}群众建议{x}",
            "{v}{g}组群众建议{x}，{a}代为反映。",
            ["开通班车", "增设快递点", "修缮祠堂", "举办农民夜校"],
        ),
    ],
}
CATEGORY_WEIGHTS = {
    "dispute.neighbor": 14,
    "dispute.family": 8,
    "dispute.land": 10,
    "dispute.labor": 4,
    "dispute.demolition": 3,
    "petition": 4,
    "hazard.safety": 9,
    "hazard.fire": 5,
    "hazard.geologic": 3,
    "environment.sanitation": 14,
    "livelihood.request": 14,
    "public_order": 5,
    "epidemic": 3,
    "other": 4,
}
SEVERITIES = (["low", "medium", "high", "critical"], [25, 50, 20, 5])
STAFF_SOURCES = (["grid_patrol", "hotline", "visit"], [60, 30, 10])


class Texts:
    def __init__(self, rng: random.Random, grids: list[dict], village_names: dict[str, str], policy):
        self.rng, self.grids, self.village_names, self.policy = rng, grids, village_names, policy
        missing = set(policy.categories) - set(TEXTS)
        if missing:
            raise SystemExit(f"bench: no texts for categories {sorted(missing)}; add them to TEXTS")
        self.cats = list(policy.categories)
        self.cat_w = [CATEGORY_WEIGHTS.get(c, 3) for c in self.cats]

    def person(self) -> str:
        return self.rng.choice(SURNAMES) + self.rng.choice(["某", "某某", "师傅", "大爷", "阿姨"])

    def case(self, category: str | None = None, grid: dict | None = None) -> dict[str, Any]:
        r = self.rng
        cat = category or r.choices(self.cats, self.cat_w)[0]
        grid = grid or r.choice(self.grids)
        village = self.village_names[grid["parent_id"]]
        title_t, desc_t, words = r.choice(TEXTS[cat])
        a, b = self.person(), self.person()
        fill = dict(v=village, g=r.choice(GROUPS), a=a, b=b, p=r.choice(PLACES), w=r.choice(WHEN), x=r.choice(words))
        title = title_t.format(**fill)[:200]
        description = desc_t.format(**fill) + r.choice(ASK)
        sev = r.choices(*SEVERITIES)[0]
        kws = self.policy.get(cat).keywords
        body: dict[str, Any] = {
            "category": cat,
            "title": title,
            "description": description,
            "grid_id": grid["id"],
            "severity": sev,
            "source": r.choices(*STAFF_SOURCES)[0],
            "address": f"{village}{fill['g']}组{fill['p']}",
            # a point in the grid's shape (the service refuses one more than 30 m outside the grid named)
            **({"lat": grid["point"][1], "lon": grid["point"][0]} if grid.get("point") else {}),
            "reporter_name": a,
            "reporter_phone": "1" + r.choice("35789") + "".join(r.choices("0123456789", k=9)),
            "tags": r.sample(kws, k=min(len(kws), r.randint(0, 2))) if kws else [],
        }
        if cat.startswith("dispute."):
            body["parties"] = [{"name": a, "role": "当事人"}, {"name": b, "role": "对方当事人"}][: r.randint(1, 2)]
        return body


def _inside(geometry: Any) -> tuple[float, float] | None:
    """(lon, lat) of a point inside the area's shape, or None without one."""
    if geometry is None:
        return None
    from shapely.geometry import shape

    point = shape(geometry.model_dump()).representative_point()
    return round(point.x, 6), round(point.y, 6)


def refs_for(body: dict) -> tuple[str, str | None, list[str]]:
    """The pseudonymous references the service would store (reporter, address, parties)."""
    k = BENCH_PSEUDONYM_KEY
    reporter_ref = pseudonym.ref(k, "person", f"phone:{body['reporter_phone']}")
    address_ref = pseudonym.ref(k, "address", body["address"]) if body.get("address") else None
    party_refs = [
        pseudonym.ref(k, "person", f"{p.get('name', '')}|{p.get('phone', '')}") for p in body.get("parties", [])
    ]
    return reporter_ref, address_ref, party_refs


# -- CPU time -----------------------------------------------------------------------------------------------------

TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def _procs() -> list[tuple[int, int, str, float]]:
    """(pid, parent pid, command line, CPU seconds used) of every process this user may read."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        out.append((int(d.name), int(fields[1]), cmd, (int(fields[11]) + int(fields[12])) * TICK_S))
    return out


def cpu_seconds(service_pid: int) -> dict[str, dict[int, float]]:
    """CPU seconds used so far by each process of the cases service (and any child process) and by each
    PostgreSQL backend of the cases login role: the work a create costs, which other load on the machine
    hardly moves (cpu_used takes the difference of two samples)."""
    procs = _procs()
    service = {service_pid} | {pid for pid, ppid, _, _ in procs if ppid == service_pid}
    return {
        "cases_service": {pid: cpu for pid, _, _, cpu in procs if pid in service},
        "postgres_cases": {pid: cpu for pid, _, cmd, cpu in procs if cmd.startswith("postgres: cases ")},
    }


def cpu_used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    """CPU seconds between two samples of cpu_seconds, per group: what the processes alive at the second sample
    used since the first (or since they started); a backend that exited in between is left out."""
    return {k: sum(cpu - before[k].get(pid, 0.0) for pid, cpu in after[k].items()) for k in after}


# -- load drivers ------------------------------------------------------------------------------------------------


class Failures:
    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self.sample: dict[str, str] = {}

    def add(self, what: str, detail: str) -> None:
        self.counts[what] += 1
        self.sample.setdefault(what, detail[:300])

    def check(self, phase: str, total: int, allowed: float = 0.0) -> None:
        bad = sum(self.counts.values())
        if bad > allowed * total:
            raise SystemExit(
                f"bench: {phase}: {bad} of {total} requests failed: {dict(self.counts)}; e.g. {self.sample}"
            )


async def http_creates(
    client: httpx.AsyncClient, bodies: list[dict], concurrency: int, fails: Failures
) -> tuple[float, list[float]]:
    async def one(i: int) -> None:
        try:
            r = await client.post("/v1/cases", json=bodies[i])
        except httpx.TransportError as e:  # e.g. a kept-alive connection the loaded server closed as it was reused
            fails.add(f"transport {type(e).__name__}", str(e))
            return
        if r.status_code != 201:
            fails.add(f"HTTP {r.status_code}", r.text)

    return await drive(len(bodies), concurrency, one)


# -- phases ------------------------------------------------------------------------------------------------------


async def phase_create(
    st: Stack, args, concurrency: int, texts: Texts, token: str, dsn: str
) -> tuple[dict, list[dict]]:
    url = st.url("cases")
    warm = [texts.case() for _ in range(args.warmup)]
    bodies = [texts.case() for _ in range(args.creates)]
    con = await asyncpg.connect(dsn, server_settings={"search_path": "cases,public"})
    try:
        async with http_client(url, token, concurrency) as client:
            fails = Failures()
            say(f"HTTP create: {len(warm)} warm-up requests")
            await http_creates(client, warm, concurrency, fails)
            fails.check("warm-up", len(warm))
            deadline = time.monotonic() + args.drain_timeout
            while await outbox_backlog(con, "cases") and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            outbox_before = await con.fetchval("select count(*) from cases.outbox")
            say(f"HTTP create: {len(bodies)} creates at concurrency {concurrency}")
            peak = 0
            sampling = True

            async def sample_backlog() -> None:  # how far the relay falls behind during the run
                nonlocal peak
                while sampling:
                    peak = max(peak, await outbox_backlog(con, "cases"))
                    await asyncio.sleep(0.25)

            sampler = asyncio.create_task(sample_backlog())
            cpu_before = cpu_seconds(st.state["services"]["cases"]["pid"])
            wall, lat = await http_creates(client, bodies, concurrency, fails)
            t_end = time.monotonic()
            cpu_after = cpu_seconds(st.state["services"]["cases"]["pid"])
            sampling = False
            await sampler
            fails.check("HTTP create", len(bodies), allowed=0.005)
        backlog_at_end = await outbox_backlog(con, "cases")
        backlog = backlog_at_end
        while backlog and time.monotonic() - t_end < args.drain_timeout:
            await asyncio.sleep(0.02)
            backlog = await outbox_backlog(con, "cases")
        drain_s = time.monotonic() - t_end
        new_events = await con.fetchval("select count(*) from cases.outbox") - outbox_before
        published = await con.fetchval(
            "select count(*) from (select published_at from cases.outbox order by id desc limit $1) t "
            "where published_at is not null",
            new_events,
        )
    finally:
        await con.close()
    if backlog:
        raise SystemExit(
            f"bench: outbox still holds {backlog} unpublished events {args.drain_timeout:.0f}s "
            f"after the last create; see {st.logs / 'cases.log'}"
        )
    res: dict[str, Any] = {
        "creates": len(bodies),
        "concurrency": concurrency,
        "wall_s": round(wall, 3),
        "creates_per_s": round(len(bodies) / wall, 1),
        "latency": summary_ms(lat),
        "failed": dict(fails.counts),
        # CPU per create while the creates ran (the relay and consumers of the service included)
        "cpu_ms_per_create": {k: round(v * 1000 / len(bodies), 2) for k, v in cpu_used(cpu_before, cpu_after).items()},
        "outbox": {
            "events_written": new_events,
            "events_published": published,
            "backlog_when_creates_finished": backlog_at_end,
            "peak_backlog_sampled": peak,
            "drain_s_after_last_create": round(drain_s if backlog_at_end else 0.0, 3),
        },
    }
    say(
        f"HTTP create: {res['creates_per_s']}/s, p50 {res['latency']['p50_ms']} ms, p99 {res['latency']['p99_ms']} ms; "
        f"CPU ms per create: {res['cpu_ms_per_create']}; "
        f"outbox backlog {backlog_at_end} drained in {res['outbox']['drain_s_after_last_create']} s"
    )
    return res, warm + bodies


# the floor: the case row alone, as one plain INSERT with its values as parameters (the statement the service
# used for the case row before creates became one statement; kept here so the baseline does not move with it)
BARE_INSERT = f"""
insert into {BASELINE_TABLE} (id, number, category, title, description, grid_id, area_path, address, address_ref,
                   lat, lon, source, severity, status, level, reporter_ref, reporter_sub, party_refs, attachments,
                   tags, duplicate_candidates, accept_due, due_at, created_at, updated_at)
values ($1, $2, $3, $4, $5, $6::text, $6::text::ltree, $7, $8, $9, $10, $11, $12, 'reported', $13, $14, $15, $16,
        $17, $18, $19, $20, $20, $21, $21)
returning *
"""


def baseline_args(body: dict, number: str, now: datetime, policy) -> tuple:
    """The parameters of BARE_INSERT for this body: the case row the service stores for it."""
    accept, _ = policy.deadlines(body["category"], body["severity"])
    reporter_ref, address_ref, party_refs = refs_for(body)
    return (
        uuid.uuid4(),
        number,
        body["category"],
        body["title"],
        body["description"],
        body["grid_id"],
        body.get("address"),
        address_ref,
        body.get("lat"),
        body.get("lon"),
        body["source"],
        body["severity"],
        Level.grid.value,
        reporter_ref,
        None,
        party_refs,
        [],
        body.get("tags", []),
        [],
        now + accept,
        now,
    )


async def phase_baseline(args, concurrency: int, bodies: list[dict], policy, dsn: str) -> dict:
    sql = BARE_INSERT
    pool = await asyncpg.create_pool(
        dsn, min_size=concurrency, max_size=concurrency, server_settings={"search_path": "cases,public"}
    )
    try:
        async with pool.acquire() as con:
            await con.execute(f"drop table if exists {SCHEMA}.{BASELINE_TABLE}")
            await con.execute(f"create table {SCHEMA}.{BASELINE_TABLE} (like {SCHEMA}.cases including defaults)")
        now = datetime.now(UTC)
        warm = [baseline_args(b, f"BL-{now.year}-{i:06d}", now, policy) for i, b in enumerate(bodies[: args.warmup])]
        rows = [
            baseline_args(b, f"BL-{now.year}-{i + len(warm):06d}", now, policy)
            for i, b in enumerate(bodies[args.warmup : args.warmup + args.creates])
        ]

        def inserter(batch):
            async def one(i: int) -> None:
                async with pool.acquire() as con:
                    await con.fetchrow(sql, *batch[i])  # autocommit: one row per transaction, like the service

            return one

        await drive(len(warm), concurrency, inserter(warm))
        say(f"baseline: {len(rows)} bare inserts at concurrency {concurrency}")
        wall, lat = await drive(len(rows), concurrency, inserter(rows))
        async with pool.acquire() as con:
            stored = await con.fetchval(f"select count(*) from {SCHEMA}.{BASELINE_TABLE}")
            await con.execute(f"drop table {SCHEMA}.{BASELINE_TABLE}")
    finally:
        await pool.close()
    if stored != len(warm) + len(rows):
        raise SystemExit(f"bench: baseline stored {stored} rows, expected {len(warm) + len(rows)}")
    res: dict[str, Any] = {
        "rows": len(rows),
        "concurrency": concurrency,
        "wall_s": round(wall, 3),
        "rows_per_s": round(len(rows) / wall, 1),
        "latency": summary_ms(lat),
    }
    say(f"baseline: {res['rows_per_s']} rows/s, p50 {res['latency']['p50_ms']} ms, p99 {res['latency']['p99_ms']} ms")
    return res


# bulk rows: how likely each status is, by the age of the case
STATUS_BY_AGE: list[tuple[float, dict[str, float]]] = [
    (
        1,
        {
            "reported": 35,
            "accepted": 20,
            "dispatched": 12,
            "in_progress": 12,
            "resolved": 6,
            "verified": 2,
            "closed": 3,
            "rejected": 3,
            "withdrawn": 2,
            "merged": 3,
            "referred": 1,
            "reopened": 1,
        },
    ),
    (
        7,
        {
            "reported": 5,
            "accepted": 8,
            "dispatched": 8,
            "in_progress": 15,
            "resolved": 12,
            "verified": 8,
            "closed": 30,
            "rejected": 4,
            "withdrawn": 2,
            "merged": 4,
            "referred": 3,
            "reopened": 1,
        },
    ),
    (
        10**6,
        {
            "reported": 0.5,
            "accepted": 1,
            "dispatched": 1,
            "in_progress": 3,
            "resolved": 2,
            "verified": 3,
            "closed": 78,
            "rejected": 4,
            "withdrawn": 2,
            "merged": 4,
            "referred": 1,
            "reopened": 0.5,
        },
    ),
]
HANDLING = {"accepted", "dispatched", "in_progress", "reopened"}
RESOLUTIONS = [
    "经{u}调解，双方达成一致并签订协议",
    "已安排人员现场处置，隐患已消除",
    "已协调相关部门处理完毕，群众表示满意",
    "经核实情况属实，已督促整改到位",
    "已向当事人解释相关政策，诉求得到答复",
]
BULK_COLUMNS = [
    "id",
    "number",
    "category",
    "title",
    "description",
    "grid_id",
    "area_path",
    "address",
    "address_ref",
    "lat",
    "lon",
    "source",
    "severity",
    "status",
    "level",
    "assigned_unit",
    "assignee",
    "reporter_ref",
    "reporter_sub",
    "party_refs",
    "attachments",
    "tags",
    "report_count",
    "duplicate_candidates",
    "merged_into",
    "accept_due",
    "resolve_due",
    "due_at",
    "overdue",
    "escalations",
    "reopen_count",
    "resolved_by",
    "resolved_at",
    "resolution",
    "referral_court",
    "satisfaction",
    "satisfaction_note",
    "created_at",
    "updated_at",
    "closed_at",
]
CREATED_AT = BULK_COLUMNS.index("created_at")
SWEEP_MARGIN = timedelta(minutes=30)


def _bulk_status(r: random.Random, statuses: dict, age_d: float, cat: str, merge_target: uuid.UUID | None) -> str:
    """The status of a bulk case of age `age_d` days; a merge needs an earlier case of its grid and category."""
    names, weights = next(v for limit, v in statuses.items() if age_d < limit)
    status: str = r.choices(names, weights)[0]
    if status == "referred" and not cat.startswith("dispute."):
        status = "in_progress"
    if status == "merged" and merge_target is None:
        status = "closed"
    return status


def _handled_facts(
    r: random.Random,
    f: dict[str, Any],
    status: str,
    grid_id: str,
    level: str,
    accepted_at: datetime,
    resolve_due: datetime,
    resolved_at: datetime,
    now: datetime,
) -> None:
    """The facts of a case that was accepted and is being handled, referred, resolved, verified or closed."""
    f.update(resolve_due=resolve_due, updated_at=accepted_at)
    if status in HANDLING - {"accepted"} or status in ("resolved", "verified", "closed", "referred"):
        f.update(
            assigned_unit=unit_for(grid_id, Level(level)),
            assignee=f"staff-{grid_id.split('.')[-1]}-{r.randint(1, 3)}",
        )
    if status in HANDLING:
        f.update(due_at=resolve_due, updated_at=accepted_at + (resolved_at - accepted_at) / 2)
        if status == "reopened":
            f.update(reopen_count=1)
    elif status == "referred":
        f.update(referral_court="南漳县人民法院", updated_at=accepted_at + (resolved_at - accepted_at) / 3)
    else:  # resolved, verified, closed
        f.update(
            resolved_by=f["assignee"],
            resolved_at=resolved_at,
            updated_at=resolved_at,
            resolution=r.choice(RESOLUTIONS).format(u=f["assigned_unit"]),
        )
        if status in ("verified", "closed"):
            done = min(resolved_at + timedelta(hours=r.uniform(1, 72)), now - timedelta(minutes=1))
            f.update(updated_at=done)
            if status == "closed":
                f.update(closed_at=done)
                f["overdue"] = resolved_at > resolve_due  # late once, it stays marked
                if r.random() < 0.6:
                    f.update(satisfaction=r.choices([1, 2, 3, 4, 5], [2, 3, 10, 35, 50])[0])


def _bulk_facts(
    r: random.Random,
    status: str,
    grid_id: str,
    level: str,
    created: datetime,
    accept_t: timedelta,
    accepted_at: datetime,
    resolve_due: datetime,
    resolved_at: datetime,
    merge_target: uuid.UUID | None,
    now: datetime,
) -> dict[str, Any]:
    """The columns of a bulk case that depend on its status (before the deadline sweep's share)."""
    f: dict[str, Any] = dict(
        accept_due=created + accept_t,
        resolve_due=None,
        due_at=None,
        overdue=False,
        escalations=0,
        reopen_count=0,
        resolved_by=None,
        resolved_at=None,
        resolution=None,
        referral_court=None,
        satisfaction=None,
        satisfaction_note=None,
        closed_at=None,
        merged_into=None,
        assigned_unit=None,
        assignee=None,
        updated_at=created,
    )
    if status == "reported":
        f.update(due_at=created + accept_t)
    elif status in ("rejected", "withdrawn", "merged"):
        f.update(updated_at=accepted_at, closed_at=None)
        if status == "merged":
            f.update(merged_into=merge_target)
    else:
        _handled_facts(r, f, status, grid_id, level, accepted_at, resolve_due, resolved_at, now)
    return f


def _apply_sweep(r: random.Random, f: dict[str, Any], status: str, level: str, now: datetime) -> tuple[str, str]:
    """Keep an open case's deadline out of the run's sweep, or mark it as the sweep would have done if it
    has passed; returns the (status, level) afterwards."""
    if f["due_at"] is not None and now <= f["due_at"] < now + SWEEP_MARGIN:
        f["due_at"] += SWEEP_MARGIN  # would fall due during the run: keep it out of the sweep's way
        f["accept_due" if status == "reported" else "resolve_due"] = f["due_at"]
    elif f["due_at"] is not None and f["due_at"] < now:
        # past (or about to pass) its deadline: marked overdue and escalated, as the sweep does
        lv = Level(level)
        ups = r.choice([1, 1, 1, 2])
        for _ in range(ups):
            above = lv.up()
            if above is not None:
                lv = above
                f["escalations"] += 1
        level = lv.value
        f.update(
            overdue=True,
            assigned_unit=None,
            assignee=None,
            due_at=None if lv is Level.county else now + timedelta(hours=r.uniform(30, 24 * 7)),
        )
        if status != "reported":
            status = "accepted"
            f["resolve_due"] = f["due_at"]
        else:
            f["accept_due"] = f["due_at"]
        f["updated_at"] = now - timedelta(minutes=r.uniform(5, 600))
    return status, level


def bulk_rows(n: int, texts: Texts, policy, now: datetime, days: int) -> list[tuple]:
    """n realistic cases over `days` days, oldest first, numbers left blank. No open case has a
    deadline within SWEEP_MARGIN of `now`, so the service's deadline sweep leaves them alone during
    the run: those past their deadline are marked overdue and escalated, as the sweep would have done."""
    r = texts.rng
    rows: list[tuple] = []
    last_in: dict[tuple[str, str], uuid.UUID] = {}
    ages = sorted((r.random() * days for _ in range(n)), reverse=True)  # oldest first: numbers rise with time
    statuses = {limit: (list(w), list(w.values())) for limit, w in STATUS_BY_AGE}
    for age_d in ages:
        body = texts.case()
        cat, sev, grid_id = body["category"], body["severity"], body["grid_id"]
        pol = policy.get(cat)
        accept_t, resolve_t = policy.deadlines(cat, sev)
        created = now - timedelta(days=age_d, minutes=1)
        merge_target = last_in.get((grid_id, cat))
        status = _bulk_status(r, statuses, age_d, cat, merge_target)
        accepted_at = created + accept_t * r.uniform(0.05, 0.9)
        resolve_due = accepted_at + resolve_t
        resolved_at = min(accepted_at + resolve_t * r.uniform(0.1, 1.15), now - timedelta(minutes=2))
        resolved_at = max(resolved_at, accepted_at)
        level = Level.grid.value if status in ("reported", "rejected", "withdrawn") else pol.level.value
        f = _bulk_facts(
            r, status, grid_id, level, created, accept_t, accepted_at, resolve_due, resolved_at, merge_target, now
        )
        status, level = _apply_sweep(r, f, status, level, now)
        f["updated_at"] = max(f["updated_at"], created)
        reporter_ref, address_ref, party_refs = refs_for(body)
        cid = uuid.uuid4()
        last_in[(grid_id, cat)] = cid
        rows.append(
            (
                cid,
                "",
                cat,
                body["title"],
                body["description"],
                grid_id,
                grid_id,
                body.get("address"),
                address_ref,
                body.get("lat"),
                body.get("lon"),
                body["source"],
                sev,
                status,
                level,
                f["assigned_unit"],
                f["assignee"],
                reporter_ref,
                None,
                party_refs,
                [],
                body["tags"],
                1,
                [],
                f["merged_into"],
                f["accept_due"],
                f["resolve_due"],
                f["due_at"],
                f["overdue"],
                f["escalations"],
                f["reopen_count"],
                f["resolved_by"],
                f["resolved_at"],
                f["resolution"],
                f["referral_court"],
                f["satisfaction"],
                f["satisfaction_note"],
                created,
                f["updated_at"],
                f["closed_at"],
            )
        )
    return rows


async def phase_bulk(args, texts: Texts, policy, dsn: str) -> dict:
    con = await asyncpg.connect(dsn, server_settings={"search_path": "cases,public"})
    try:
        have = await con.fetchval("select count(*) from cases.cases")
        n = max(0, args.rows - have)
        now = await con.fetchval("select now()")
        prefix = "CP"
        say(f"bulk load: generating {n} cases over {args.days} days")
        t0 = time.perf_counter()
        # generated with blank numbers first: a number's year is the year of the row's created_at
        rows = bulk_rows(n, texts, policy, now, args.days)
        need = Counter(r[CREATED_AT].year for r in rows)
        # numbers per year from the service's own sequences (next_case_number), so later creates do not collide
        per_year = {
            year: [
                r[0]
                for r in await con.fetch("select next_case_number($1, $2) from generate_series(1, $3)", prefix, year, k)
            ]
            for year, k in sorted(need.items())
        }
        it = {y: iter(v) for y, v in per_year.items()}
        rows = [(r[0], next(it[r[CREATED_AT].year]), *r[2:]) for r in rows]
        gen_s = time.perf_counter() - t0
        say(f"bulk load: COPY {n} rows (generated in {gen_s:.1f} s)")
        t1 = time.perf_counter()
        async with con.transaction():
            await con.execute("create temp table bench_stage (like cases.cases including defaults) on commit drop")
            await con.execute("alter table bench_stage alter column area_path type text")
            await con.copy_records_to_table("bench_stage", records=rows, columns=BULK_COLUMNS)
            cols = ", ".join(BULK_COLUMNS)
            sel = cols.replace("area_path", "area_path::ltree")
            await con.execute(f"insert into cases.cases ({cols}) select {sel} from bench_stage")
        load_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        await con.execute("analyze cases.cases")
        analyze_s = time.perf_counter() - t2
        total = await con.fetchval("select count(*) from cases.cases")
        dist = {
            "grids": await con.fetchval("select count(distinct grid_id) from cases.cases"),
            "categories": await con.fetchval("select count(distinct category) from cases.cases"),
            "statuses": pairs(await con.fetch("select status, count(*) from cases.cases group by 1 order by 2 desc")),
            "overdue_open": await con.fetchval(
                "select count(*) from cases.cases where overdue and status not in "
                "('closed', 'rejected', 'withdrawn', 'merged')"
            ),
            "days_spanned": round(
                float(
                    await con.fetchval("select extract(epoch from max(created_at) - min(created_at)) from cases.cases")
                )
                / 86400,
                1,
            ),
            "table_mb": round(await con.fetchval("select pg_total_relation_size('cases.cases')") / 2**20, 1),
        }
    finally:
        await con.close()
    res = {
        "rows_loaded": n,
        "rows_total": total,
        "generate_s": round(gen_s, 2),
        "copy_and_insert_s": round(load_s, 2),
        "analyze_s": round(analyze_s, 2),
        "distribution": dist,
    }
    say(
        f"bulk load: {total} cases in the table ({dist['grids']} grids, {dist['categories']} categories, "
        f"{len(dist['statuses'])} statuses, {dist['days_spanned']} days, {dist['table_mb']} MB); "
        f"COPY + insert-select {load_s:.1f} s"
    )
    return res


LIST_FILTERS: list[tuple[str, dict[str, str | int]]] = [
    (
        "area+status+category",
        {"area": "changping.kongjiafan", "status": "accepted", "category": "dispute.land", "limit": 20},
    ),
    ("area+text q=山林", {"area": "changping.kongjiafan", "q": "山林", "limit": 20}),
    ("overdue=true", {"overdue": "true", "limit": 20}),
    ("no filter (newest)", {"limit": 20}),
]


async def phase_lists(st: Stack, args, token: str) -> dict:
    out: dict[str, Any] = {}
    async with http_client(st.url("cases"), token, args.list_concurrency) as client:
        for name, params in LIST_FILTERS:
            fails = Failures()
            counts: list[int] = []

            async def one(i: int, params=params, fails=fails, counts=counts) -> None:
                r = await client.get("/v1/cases", params=params)
                if r.status_code != 200:
                    fails.add(f"HTTP {r.status_code}", r.text)
                else:
                    counts.append(len(r.json()["items"]))

            await drive(min(20, args.list_requests), args.list_concurrency, one)  # warm-up
            counts.clear()
            wall, lat = await drive(args.list_requests, args.list_concurrency, one)
            fails.check(f"list {name}", args.list_requests)
            out[name] = {
                "query": params,
                **summary_ms(lat),
                "req_per_s": round(len(lat) / wall, 1),
                "items_per_page": max(counts) if counts else 0,
            }
            say(
                f"list {name}: p50 {out[name]['p50_ms']} ms, p99 {out[name]['p99_ms']} ms "
                f"({out[name]['items_per_page']} items/page)"
            )

        # cursor walk: `pages` pages of one village each; walks rotate over the villages
        villages = [
            "changping.kongjiafan",
            "changping.zhongguping",
            "changping.longtan",
            "changping.qinghe",
            "changping.shimen",
            "changping.changping_community",
        ]
        page_lat: list[float] = []
        walk_pages: list[int] = []
        fails = Failures()
        walks = max(1, args.list_requests // args.pages)

        async def walk(i: int) -> None:
            cursor = None
            pages = 0
            for _ in range(args.pages):
                params = {"area": villages[i % len(villages)], "limit": 20, **({"cursor": cursor} if cursor else {})}
                t = time.perf_counter()
                r = await client.get("/v1/cases", params=params)
                page_lat.append(time.perf_counter() - t)
                if r.status_code != 200:
                    fails.add(f"HTTP {r.status_code}", r.text)
                    break
                pages += 1
                cursor = r.json()["next_cursor"]
                if not cursor:
                    break
            walk_pages.append(pages)

        wall, walk_lat = await drive(walks, args.list_concurrency, walk)
        fails.check("cursor walk", walks)
        if min(walk_pages) < args.pages:
            raise SystemExit(f"bench: a cursor walk ended after {min(walk_pages)} pages, expected {args.pages}")
        key = f"cursor walk ({args.pages} pages, area)"
        out[key] = {
            "query": {"area": "<village>", "limit": 20, "cursor": "<next_cursor>"},
            "walks": walks,
            **summary_ms(page_lat),
            "walk": summary_ms(walk_lat),
            "req_per_s": round(len(page_lat) / wall, 1),
            "items_per_page": 20,
        }
        say(
            f"list {key}: per page p50 {out[key]['p50_ms']} ms, p99 {out[key]['p99_ms']} ms; "
            f"per walk p50 {out[key]['walk']['p50_ms']} ms"
        )
    return out


def list_sql(params: dict, scopes: list[str], sub: str = "bench-staff") -> tuple[str, list]:
    """The statement GET /v1/cases runs for these query parameters: the service's own builder."""
    case_filter = queries.CaseFilter(
        area=params.get("area"),
        statuses=[params["status"]] if "status" in params else (),
        categories=[params["category"]] if "category" in params else (),
        overdue=params["overdue"] == "true" if "overdue" in params else None,
        text=params.get("q"),
        limit=params.get("limit", 20),
    )
    return queries.list_cases_sql(case_filter, scopes=scopes, sub=sub)


def _literal(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return _literal("{" + ",".join('"' + str(x).replace('"', '\\"') + '"' for x in v) + "}")
    return "'" + str(v).replace("'", "''") + "'"


async def explain_lists(dsn: str) -> dict[str, str]:
    con = await asyncpg.connect(dsn, server_settings={"search_path": "cases,public"})
    plans = {}
    try:
        # the service's statements are prepared (asyncpg): after five runs PostgreSQL may switch to the
        # generic plan, which does not know the values; show both
        for i, (name, params) in enumerate(LIST_FILTERS):
            sql, qargs = list_sql(params, ["changping"])
            await con.execute(f"prepare bench_list_{i} as {sql}")
            literal = ", ".join(_literal(v) for v in qargs)
            for mode in ("force_custom_plan", "force_generic_plan"):
                await con.execute(f"set plan_cache_mode = {mode}")
                rows = await con.fetch(f"explain (analyze, buffers, costs off) execute bench_list_{i}({literal})")
                plans[f"{name} ({mode.split('_')[1]} plan)"] = "\n".join(r[0] for r in rows)
    finally:
        await con.close()
    return plans


async def phase_statements(args, texts: Texts, policy, dsn: str) -> dict:
    """What one create sends to PostgreSQL: service.create_case, as the HTTP route calls it, run in this process on
    a one-connection pool (govkit.db, as the service makes it) whose connection logs every statement, BEGIN,
    COMMIT and the pool's reset on release included. Without and with an Idempotency-Key (a first request)."""
    from cases import service
    from govkit import db
    from govkit.auth import Principal

    pool = await db.create_pool(dsn, SCHEMA, min_size=1, max_size=1)
    log: list[str] = []
    try:
        async with pool.acquire() as con:
            con.add_query_logger(lambda rec: log.append(" ".join(rec.query.split())))
        ctx = service.Context(pool=pool, policy=policy, pseudonym_key=BENCH_PSEUDONYM_KEY)
        who = Principal(sub="bench-statements", roles=["town_admin"], areas=["changping"])
        out: dict[str, Any] = {}
        for label, keyed in (("plain", False), ("idempotency_key", True)):
            for i in range(2 + args.statement_creates):  # the first two are not counted (type introspection)
                if i == 2:
                    log.clear()
                key = f"bench-{uuid.uuid4()}" if keyed else None
                body = texts.case()
                await service.create_case(
                    ctx, service.NewCase(**body), principal=who, reporter_sub=None, idempotency_key=key
                )
                if i == 2:
                    one = list(log)
            out[label] = {"per_create": round(len(log) / args.statement_creates, 2), "one_create": one}
    finally:
        await pool.close()
    say(
        f"statements per create: {out['plain']['per_create']} "
        f"({out['idempotency_key']['per_create']} with an Idempotency-Key)"
    )
    return out


async def phase_single_create(st: Stack, args, texts: Texts, token: str) -> dict:
    bodies = [texts.case() for _ in range(args.single_creates)]
    fails = Failures()
    async with http_client(st.url("cases"), token, 1) as client:
        await http_creates(client, [texts.case() for _ in range(10)], 1, fails)
        wall, lat = await http_creates(client, bodies, 1, fails)
    fails.check("single create", len(bodies) + 10)
    res = {"creates": len(bodies), "concurrency": 1, **summary_ms(lat), "creates_per_s": round(len(bodies) / wall, 1)}
    say(f"single create (bulk rows present): p50 {res['p50_ms']} ms, p99 {res['p99_ms']} ms")
    return res


# -- the run -----------------------------------------------------------------------------------------------------


async def measure(st: Stack, args, texts: Texts, policy) -> dict:
    token = mint(key=st.state["jwt_secret"], sub="bench", roles=["town_admin"], areas=["changping"])
    dsn = st.service_dsn("cases")
    statements = await phase_statements(args, texts, policy, dsn)
    creation = []
    for c in args.concurrency:
        create, bodies = await phase_create(st, args, c, texts, token, dsn)
        baseline = await phase_baseline(args, c, bodies, policy, dsn)
        creation.append(
            {
                "concurrency": c,
                "http_create": create,
                "baseline_insert": baseline,
                "ratio_http_to_baseline": round(create["creates_per_s"] / baseline["rows_per_s"], 3),
                "ratio_p50_http_to_baseline": round(create["latency"]["p50_ms"] / baseline["latency"]["p50_ms"], 1),
            }
        )
    bulk = await phase_bulk(args, texts, policy, dsn)
    lists = await phase_lists(st, args, token)
    single = await phase_single_create(st, args, texts, token)
    extra = {}
    if args.explain:
        extra["list_plans"] = await explain_lists(dsn)
        for name, plan in extra["list_plans"].items():
            print(f"\n-- EXPLAIN ANALYZE: {name}\n{plan}")
    return {
        **extra,
        "statements": statements,
        "creation": creation,
        "bulk_load": bulk,
        "list_latency": lists,
        "single_create_100k": single,
    }


def _row(label: str, *cols: str) -> str:
    widths = (12, 10, 10)
    return label + " " * max(1, 50 - _w(label)) + "".join(c.rjust(w) for c, w in zip(cols, widths, strict=False))


def report(res: dict) -> str:
    s, bulk, a = res["single_create_100k"], res["bulk_load"], res["args"]
    lines = [
        "",
        f"cases benchmark, {res['started_at']}: {res['machine']['cpus']} CPUs, Python {res['machine']['python']}, "
        f"{res['machine']['postgres']}; load average before the measurements {res['machine']['loadavg_before']}",
        "",
        "Creation (HTTP includes the transaction, transition, reporter row and outbox event)",
        _row("figure", "rate /s", "p50 ms", "p99 ms"),
        "-" * 82,
    ]
    for row in res["creation"]:
        c, b, o = row["http_create"], row["baseline_insert"], row["http_create"]["outbox"]
        lines += [
            _row(
                f"POST /v1/cases, c={c['concurrency']}, {c['creates']} creates",
                _f(c["creates_per_s"]),
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
                f"ratio HTTP / baseline at c={c['concurrency']}: rate; p50",
                _f(row["ratio_http_to_baseline"], 3),
                _f(row["ratio_p50_http_to_baseline"]) + "x",
                "",
            ),
            _row(
                "CPU ms per create: cases service; its PG backends",
                _f(c["cpu_ms_per_create"]["cases_service"], 2),
                _f(c["cpu_ms_per_create"]["postgres_cases"], 2),
                "",
            ),
            _row("outbox: events written / published", str(o["events_written"]), str(o["events_published"]), ""),
            _row("outbox: unpublished when the last create returned", str(o["backlog_when_creates_finished"]), "", ""),
            _row("outbox: largest backlog seen during the run", str(o["peak_backlog_sampled"]), "", ""),
            _row("outbox: drained after the last create (s)", _f(o["drain_s_after_last_create"], 2), "", ""),
            "",
        ]
    st = res["statements"]
    lines += [
        f"statements to PostgreSQL per create (BEGIN, COMMIT, pool reset included): {st['plain']['per_create']:g}; "
        f"{st['idempotency_key']['per_create']:g} with an Idempotency-Key",
        *(f"  {q[:110]}" for q in st["plain"]["one_create"]),
        "",
        f"With {bulk['rows_total']} cases in the table ({bulk['distribution']['grids']} grids, "
        f"{bulk['distribution']['categories']} categories, {len(bulk['distribution']['statuses'])} statuses, "
        f"{bulk['distribution']['days_spanned']} days); GET at c={a['list_concurrency']}, "
        f"{a['list_requests']} requests each",
        _row("GET /v1/cases filter [items on the page]", "req/s", "p50 ms", "p99 ms"),
        "-" * 82,
    ]
    for name, v in res["list_latency"].items():
        lines.append(_row(f"{name} [{v['items_per_page']}]", _f(v["req_per_s"]), _f(v["p50_ms"]), _f(v["p99_ms"])))
        if "walk" in v:
            lines.append(
                _row(
                    f"  the whole walk of {a['pages']} pages ({v['walks']} walks)",
                    "",
                    _f(v["walk"]["p50_ms"]),
                    _f(v["walk"]["p99_ms"]),
                )
            )
    lines += [
        _row(f"POST /v1/cases, c=1, {s['creates']} creates", _f(s["creates_per_s"]), _f(s["p50_ms"]), _f(s["p99_ms"])),
        "",
        f"bulk load: {bulk['rows_loaded']} rows by COPY + insert-select in {bulk['copy_and_insert_s']} s, "
        f"ANALYZE {bulk['analyze_s']} s, table with indexes {bulk['distribution']['table_mb']} MB",
        f"stack start {res['timings_s']['stack_up']} s; whole run {res['timings_s']['total']} s",
    ]
    return "\n".join(lines)


def _ints(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("at least one number, each 1 or more")
    return values


def main(argv=None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--creates", type=int, default=3000, help="HTTP creates in the sustained-rate test (default 3000)")
    p.add_argument(
        "--concurrency",
        type=_ints,
        default=[16, 64],
        help="comma-separated concurrent clients for creates and the baseline, one run each (16,64)",
    )
    p.add_argument("--statement-creates", type=int, default=20, help="in-process creates whose statements are counted")
    p.add_argument("--warmup", type=int, default=50, help="untimed creates before each create test (50)")
    p.add_argument("--rows", type=int, default=100_000, help="cases in the table for the list test (100000)")
    p.add_argument("--days", type=int, default=90, help="days of created_at the bulk rows span (90)")
    p.add_argument("--list-requests", type=int, default=200, help="requests per list filter (200)")
    p.add_argument("--list-concurrency", type=int, default=4, help="concurrent clients for the list test (4)")
    p.add_argument("--pages", type=int, default=5, help="pages per cursor walk (5)")
    p.add_argument("--single-creates", type=int, default=200, help="creates at concurrency 1 after the load (200)")
    p.add_argument("--drain-timeout", type=float, default=60, help="seconds to wait for the outbox to empty (60)")
    p.add_argument("--seed", type=int, default=20261129, help="random seed of the generated cases")
    p.add_argument("--explain", action="store_true", help="also print (and store) the query plans of the list filters")
    p.add_argument("--no-json", action="store_true", help="do not write bench/results/cases-<time>.json")
    args = p.parse_args(argv)

    t_start = time.monotonic()
    started = datetime.now(UTC)
    rng = random.Random(args.seed)
    policy = policy_mod.load(POLICY_FILE)
    events, _ = area_file.load(area_file.DEFAULT_FILE)
    grids = [
        {"id": e.id, "parent_id": e.parent_id, "point": _inside(e.geometry)} for e in events if e.kind.value == "grid"
    ]
    names = {e.id: e.name for e in events}
    texts = Texts(rng, grids, names, policy)

    home = Path(tempfile.mkdtemp(prefix="gov-bench-"))
    st = Stack(home, root=ROOT, partitions=3, kafka_heap_mb=384)
    timings: dict[str, float] = {}
    try:
        say(f"starting a throwaway stack in {home}")
        t0 = time.monotonic()
        st.up(services=False, demo=False, say=lambda m: say("  " + m))
        n = area_file.publish(st.bootstrap, area_file.DEFAULT_FILE)
        st.start_services(say=lambda m: say("  " + m))
        areas_s = wait_areas(st, "cases", len(events))
        timings["stack_up"] = round(time.monotonic() - t0, 1)
        say(
            f"stack up in {timings['stack_up']} s; {n} areas published, held by the cases service after {areas_s:.1f} s"
        )
        pg_version = asyncio.run(_pg_version(st.service_dsn("cases")))
        loadavg_before = [round(x, 2) for x in os.getloadavg()]
        results = asyncio.run(measure(st, args, texts, policy))
        loadavg_after = [round(x, 2) for x in os.getloadavg()]
    finally:
        tear_down(st, home)
    timings["total"] = round(time.monotonic() - t_start, 1)
    res = {
        **run_header("cases", started, pg_version, loadavg_before, loadavg_after),
        "args": vars(args),
        "stack": {"kafka_partitions": 3, "cases_db_pool_max": 10},
        "timings_s": timings,
        **results,
    }
    print(report(res))
    if not args.no_json:
        save_results(res, started)


if __name__ == "__main__":
    main()

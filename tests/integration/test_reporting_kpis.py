"""Every KPI on hand-made event sequences with known answers, through the real
projection handlers and the real database."""

import re
import uuid
from datetime import timedelta

import pytest

from gov_contracts import REGISTRY, CloudEvent
from gov_contracts.areas import AreaKind, AreaUpserted
from govkit import db
from govkit.areas import on_area_upserted
from reporting import kpis, projections, render, risk, weekly_csv
from reporting.config import DEFAULT_RISK

WEEK = kpis.Week(2026, 45)  # Monday 2026-11-02 .. Sunday 2026-11-08, China Standard Time
MON = kpis.at_midnight(WEEK.monday)
TREE = [
    ("testtown", "town", None),
    ("testtown.v1", "village", "testtown"),
    ("testtown.v1.g1", "grid", "testtown.v1"),
    ("testtown.v1.g2", "grid", "testtown.v1"),
    ("testtown.v2", "village", "testtown"),
    ("testtown.v2.g1", "grid", "testtown.v2"),
]


@pytest.fixture
async def rcon(stack):
    con = await db.connect(stack.service_dsn("reporting"), "reporting")
    for aid, kind, parent in TREE:
        e = AreaUpserted(id=aid, kind=AreaKind(kind), name=aid.split(".")[-1], parent_id=parent, tree_version="t")
        await on_area_upserted(con, e, CloudEvent(type="gov.area.upserted.v1", source="tests", subject=e.id))
    yield con
    # the services' e2e tests compare each copy of the tree with the area file
    await con.execute("delete from areas where id = 'testtown' or id like 'testtown.%'")
    await con.close()


class Case:
    """Builds the events of one case, as the cases service would publish them."""

    def __init__(self, con, grid, category, severity="medium", **extra):
        self.con, self.id, self.grid, self.category, self.severity = con, str(uuid.uuid4()), grid, category, severity
        self.extra, self.level, self.status = extra, "grid", "reported"
        self.due = None  # the resolve deadline every event carries, once given

    async def emit(self, kind, at, status=None, level=None, **fields):
        self.status = status or self.status
        self.level = level or self.level
        if "resolve_due" in fields:
            self.due = fields.pop("resolve_due")
        et = REGISTRY[f"gov.case.{kind}.v1"]
        base = dict(
            case_id=self.id,
            number=self.extra.get("number", "CP-T"),
            category=self.category,
            severity=self.severity,
            grid_id=self.grid,
            status=self.status,
            level=self.level,
            occurred_at=at,
            actor="t",
            resolve_due=self.due,
        )
        if kind == "reported":
            base.update(
                title=self.extra.get("title", "测试"),
                source="grid_patrol",
                reporter_ref=self.extra.get("reporter", "person_x"),
                address_ref=self.extra.get("address"),
                party_refs=self.extra.get("parties", []),
            )
        ev = et.model(**base, **fields)
        async with self.con.transaction():
            await projections.handlers()[et.name](self.con, ev, CloudEvent(type=et.name, source="cases"))
        return self

    async def life(self, at, *steps):
        for kind, hours, kw in steps:
            await self.emit(kind, at + timedelta(hours=hours), **kw)
        return self


def d(day, hour=9):
    return MON + timedelta(days=day, hours=hour)


async def closed_case(con, grid, cat, start, *, rework=False, escalate=False, on_time=True, rating=None, sev="medium"):
    c = Case(con, grid, cat, sev)
    steps: list[tuple[str, int, dict[str, object]]] = [("reported", 0, {}), ("accepted", 1, dict(status="accepted"))]
    if escalate:
        steps.append(("escalated", 2, dict(status="accepted", level="village", from_level="grid", automatic=False)))
    steps += [("resolved", 10, dict(status="resolved", resolution="ok"))]
    if rework:
        steps += [
            ("reopened", 12, dict(status="reopened", reopen_count=1)),
            ("resolved", 20, dict(status="resolved", resolution="ok")),
        ]
    steps += [
        ("verified", 21, dict(status="verified")),
        ("closed", 22, dict(status="closed", on_time=on_time, escalations=int(escalate), reopen_count=int(rework))),
    ]
    if rating:
        steps.append(("rated", 23, dict(status="closed", satisfaction=rating)))
    return await c.life(start, *steps)


async def test_every_kpi_of_a_hand_made_week(rcon):
    rule = risk.load(DEFAULT_RISK)
    # four weeks before: 2 new per week in g1, one of them still open at the week's start
    for w in range(1, 5):
        await Case(rcon, "testtown.v1.g1", "other").emit("reported", d(-7 * w))
    # the week itself
    await closed_case(rcon, "testtown.v1.g1", "dispute.neighbor", d(0), rating=4)  # grassroots, 10 h
    await closed_case(rcon, "testtown.v1.g2", "dispute.land", d(1), escalate=True, rating=2)  # village: grassroots
    town = Case(rcon, "testtown.v1.g1", "dispute.labor", "critical")
    await town.life(
        d(1),
        ("reported", 0, {}),
        ("accepted", 1, dict(status="accepted")),
        ("escalated", 2, dict(status="accepted", level="village", from_level="grid", automatic=True)),
        ("escalated", 3, dict(status="accepted", level="town", from_level="village", automatic=True)),
        ("overdue", 3, dict(status="accepted", level="town", deadline="accept", due_at=d(1, 11))),
        ("resolved", 30, dict(status="resolved", resolution="ok")),
        ("verified", 31, dict(status="verified")),
        ("closed", 32, dict(status="closed", on_time=False, escalations=2, reopen_count=0)),
    )  # not grassroots
    await closed_case(rcon, "testtown.v2.g1", "hazard.fire", d(2), rework=True)  # rework
    petition = Case(rcon, "testtown.v1.g1", "petition", "high", address="addr_1")
    await petition.life(
        d(3),
        ("reported", 0, {}),
        ("accepted", 1, dict(status="accepted")),
        ("overdue", 50, dict(status="accepted", deadline="resolve", due_at=d(5))),
    )  # open, overdue
    dispute = Case(rcon, "testtown.v1.g1", "dispute.family", "critical", address="addr_1", parties=["p1", "p2"])
    await dispute.life(d(4), ("reported", 0, {}), ("referred", 5, dict(status="referred", court="南漳县人民法院")))
    await Case(rcon, "testtown.v2.g1", "livelihood.request", "low").life(
        d(5), ("reported", 0, {}), ("rejected", 1, dict(status="rejected"))
    )
    # after the week: closes the petition; must not change the week's open_at_end
    await petition.emit("resolved", d(9), status="resolved", resolution="ok")
    await petition.emit("closed", d(9, 12), status="closed", on_time=False, escalations=0, reopen_count=0)

    r = await kpis.weekly(rcon, "testtown", WEEK, rule, {"dispute.land": "土地山林纠纷"})
    k = r["kpis"]
    assert (k["new"], k["accepted"], k["resolved"], k["closed"]) == (7, 5, 5, 4)
    assert (k["overdue"], k["escalated"], k["referred"], k["reopened"]) == (2, 3, 1, 1)
    # open at the start: the 4 earlier "other" cases; new 7; ended 5 (4 closed + 1 rejected) -> 6 open at the end
    assert k["open_at_end"] == 6
    assert k["closure_rate"] == round(4 / (4 + 7), 4)
    # these events carry no deadlines, so nothing is due (应结案数 0): the rate is None (its own test below)
    assert (k["due"], k["due_on_time"], k["on_time_rate"]) == (0, 0, None)
    assert k["rework_rate"] == 0.25
    assert k["grassroots_resolution_rate"] == round(2 / 3, 4)
    assert (k["satisfaction_mean"], k["satisfaction_count"]) == (3.0, 2)
    # hours from report to the (last) resolution of cases resolved in the week: 10, 10, 30 and 20 (reworked)
    assert (k["median_hours_to_resolve"], k["p90_hours_to_resolve"]) == (15.0, 27.0)
    cats = {c["category"]: c for c in r["by_category"]}
    assert cats["dispute.land"]["name"] == "土地山林纠纷" and cats["dispute.land"]["closed"] == 1
    assert cats["other"]["open_at_end"] == 4 and cats["petition"]["overdue"] == 1
    assert r["change"]["new"] == {"previous": 1, "delta": 6, "mean_4w": 1.0, "vs_mean_4w": 6.0}
    assert [t["new"] for t in r["trend"]] == [0, 0, 0, 1, 1, 1, 1, 7]

    grids = {g["id"]: g for g in r["grids"]}
    g1 = grids["testtown.v1.g1"]
    # open at the end in g1: petition high (6) + dispute.family critical (8) + 4 "other"; 1 overdue (3);
    # addr_1 twice in 30 days (2); new 4 vs 4-week mean 1.0 (+3) = 22 -> red
    assert (g1["score"], g1["risk"], g1["open_at_end"], g1["overdue_open"]) == (22, "red", 6, 1)
    assert any("信访1起" in x for x in g1["reasons"]) and any("上升明显" in x for x in g1["reasons"])
    assert grids["testtown.v2.g1"]["risk"] == "green" and grids["testtown.v2.g1"]["reasons"] == []
    assert r["risk_summary"] == {"green": 2, "yellow": 0, "orange": 0, "red": 1}
    assert r["hotspots"]["repeat_addresses"][0]["address_ref"] == "addr_1"
    assert r["hotspots"]["grids"][0]["id"] == "testtown.v1.g1"

    # a village is a subset; an empty week has counts of 0 and rates of None
    v2 = await kpis.weekly(rcon, "testtown.v2", WEEK, rule, {})
    assert (v2["kpis"]["new"], v2["kpis"]["closed"], v2["kpis"]["rework_rate"]) == (2, 1, 1.0)
    empty = await kpis.weekly(rcon, "testtown.v2", WEEK.shift(-10), rule, {})
    assert empty["kpis"]["new"] == 0 and empty["kpis"]["closure_rate"] is None
    assert empty["kpis"]["on_time_rate"] is None and empty["kpis"]["satisfaction_mean"] is None
    with pytest.raises(kpis.UnknownArea):
        await kpis.weekly(rcon, "nowhere", WEEK, rule, {})


async def test_on_time_rate_divides_by_the_cases_due_in_the_week(rcon):
    """按期办结率 = closed on time ÷ 应结案数 (cases whose resolve deadline is in the week), on a hand-made sequence."""
    rule = risk.load(DEFAULT_RISK)
    week = WEEK.shift(4)  # 2026-W49, apart from the other tests' weeks

    def at(day, hour=9):
        return kpis.at_midnight(week.monday) + timedelta(days=day, hours=hour)

    due = at(3)  # Thursday 09:00
    accepted = ("accepted", 1, dict(status="accepted", resolve_due=due))

    def closing(on_time, resolved_hours):
        return [
            ("resolved", resolved_hours, dict(status="resolved", resolution="ok")),
            ("verified", resolved_hours + 1, dict(status="verified")),
            ("closed", resolved_hours + 2, dict(status="closed", on_time=on_time, escalations=0, reopen_count=0)),
        ]

    def overdue(hours):
        return ("overdue", hours, dict(status="accepted", deadline="resolve", due_at=due))

    g1, g2 = "testtown.v1.g1", "testtown.v1.g2"
    # two closed before the deadline: due and on time
    for grid in (g1, g2):
        await Case(rcon, grid, "dispute.neighbor").life(at(0), ("reported", 0, {}), accepted, *closing(True, 20))
    # resolved and closed after it: due, not on time
    await Case(rcon, g1, "dispute.neighbor").life(
        at(0), ("reported", 0, {}), accepted, overdue(72), *closing(False, 80)
    )
    # still open past it: due, not on time
    await Case(rcon, g2, "dispute.neighbor").life(at(0), ("reported", 0, {}), accepted, overdue(72))
    # rejected (never accepted, so no deadline) and merged after acceptance (its deadline was in the week): not due
    await Case(rcon, g1, "other").life(at(0), ("reported", 0, {}), ("rejected", 1, dict(status="rejected")))
    await Case(rcon, g1, "other").life(
        at(0),
        ("reported", 0, {}),
        accepted,
        ("merged", 5, dict(status="merged", into_case_id=str(uuid.uuid4()), into_number="CP-M")),
    )
    # escalated before the deadline: the village's fresh deadline is next Tuesday, so it is due next week, where it
    # is closed on time
    await Case(rcon, g2, "dispute.land").life(
        at(0),
        ("reported", 0, {}),
        accepted,
        (
            "escalated",
            5,
            dict(status="accepted", level="village", from_level="grid", automatic=False, resolve_due=at(8)),
        ),
        *closing(True, 150),
    )

    k = (await kpis.weekly(rcon, "testtown", week, rule, {}))["kpis"]
    assert (k["due"], k["due_on_time"], k["on_time_rate"]) == (4, 2, 0.5)
    village = (await kpis.weekly(rcon, "testtown.v1", week, rule, {}))["kpis"]
    assert (village["due"], village["due_on_time"], village["on_time_rate"]) == (4, 2, 0.5)
    grid = (await kpis.weekly(rcon, g2, week, rule, {}))["kpis"]
    assert (grid["due"], grid["due_on_time"], grid["on_time_rate"]) == (2, 1, 0.5)
    nxt = (await kpis.weekly(rcon, "testtown", week.shift(1), rule, {}))["kpis"]
    assert (nxt["due"], nxt["due_on_time"], nxt["on_time_rate"]) == (1, 1, 1.0)
    none_due = (await kpis.weekly(rcon, "testtown.v2", week, rule, {}))["kpis"]
    assert (none_due["due"], none_due["on_time_rate"]) == (0, None)
    # the HTML shows the rate with its denominator and numerator beside it
    page = render.weekly_html(await kpis.weekly(rcon, "testtown", week, rule, {}))
    assert "按期办结率（应结案数口径）" in page and 'data-kpi="on_time_rate" data-value="0.5">50.0%' in page
    assert 'data-kpi="due">4<' in page and 'data-kpi="due_on_time">2<' in page


def square(west, south, side=0.01):
    ring = [(west, south), (west + side, south), (west + side, south + side), (west, south + side), (west, south)]
    return {"type": "Polygon", "coordinates": [ring]}


# a town of its own, so that no other test's cases are open in it; its grids have shapes (the map)
OPS_TREE = [
    ("optown", "town", None, None),
    ("optown.v1", "village", "optown", None),
    ("optown.v1.g1", "grid", "optown.v1", square(111.30, 31.70)),
    ("optown.v1.g2", "grid", "optown.v1", square(111.31, 31.70)),
    ("optown.v2", "village", "optown", None),
    ("optown.v2.g1", "grid", "optown.v2", square(111.30, 31.71)),
]


@pytest.fixture
async def optown(rcon):
    for aid, kind, parent, shape in OPS_TREE:
        e = AreaUpserted(
            id=aid, kind=AreaKind(kind), name=aid.split(".")[-1], parent_id=parent, tree_version="t", geometry=shape
        )
        await on_area_upserted(rcon, e, CloudEvent(type="gov.area.upserted.v1", source="tests", subject=e.id))
    yield rcon
    await rcon.execute("delete from areas where id = 'optown' or id like 'optown.%'")


async def test_case_operations_kpis_on_a_hand_made_sequence(optown, monkeypatch):
    """延期率, 退单率, 督办 and 挂起 counts, and the cases at risk, on extensions approved and refused, returns and a
    re-dispatch, supervision (twice in a week: counted once), suspensions with and without a resume."""
    rcon = optown
    rule = risk.load(DEFAULT_RISK)
    week = WEEK.shift(6)  # 2026-W51, apart from the other tests' weeks
    nxt = week.shift(1)

    def at(day, hour=9):
        return kpis.at_midnight(week.monday) + timedelta(days=day, hours=hour)

    g1, g2, v2g1 = "optown.v1.g1", "optown.v1.g2", "optown.v2.g1"

    def accepted(due):
        return ("accepted", 1, dict(status="accepted", resolve_due=due))

    def dispatched(hours, unit=g1):
        return ("dispatched", hours, dict(status="dispatched", unit_level="grid", unit_id=unit))

    # A: extension approved (deadline Wednesday -> Friday), closed on time: due this week, on time, extended
    await Case(rcon, g1, "dispute.neighbor", number="CP-A").life(
        at(0),
        ("reported", 0, {}),
        accepted(at(2)),
        dispatched(2),
        ("extension_requested", 24, dict(status="dispatched", requested_due=at(4), extensions=0)),
        (
            "extension_decided",
            26,
            dict(
                status="dispatched",
                approved=True,
                requested_due=at(4),
                previous_due=at(2),
                extensions=1,
                resolve_due=at(4),
            ),
        ),
        ("resolved", 72, dict(status="resolved", resolution="ok")),
        ("verified", 73, dict(status="verified")),
        ("closed", 74, dict(status="closed", on_time=True, escalations=0, reopen_count=0)),
    )
    # B: extension refused, still open: due, not on time, not extended
    await Case(rcon, g1, "other", number="CP-B").life(
        at(0),
        ("reported", 0, {}),
        accepted(at(3)),
        ("extension_requested", 24, dict(status="accepted", requested_due=at(6), extensions=0)),
        (
            "extension_decided",
            30,
            dict(status="accepted", approved=False, requested_due=at(6), previous_due=at(3), extensions=0),
        ),
    )
    # C (high): dispatched, returned (退单), dispatched again, supervised twice this week and once next week
    c = Case(rcon, g2, "dispute.land", "high", number="CP-C")
    await c.life(
        at(0),
        ("reported", 0, {}),
        accepted(at(2)),
        dispatched(2, g2),
        ("returned", 20, dict(status="accepted", unit_id=g2, returns=1)),
        dispatched(22, "optown.v1"),
        ("supervised", 30, dict(status="dispatched", supervising_level="town", supervise_due=at(5))),
        ("supervised", 60, dict(status="dispatched", supervising_level="town")),
    )
    await c.emit("supervised", at(8), supervising_level="county")
    # D: went overdue (acceptance), then suspended until next week, when its deadline moves there
    await Case(rcon, v2g1, "petition", number="CP-D").life(
        at(0),
        ("reported", 0, {}),
        ("overdue", 30, dict(status="reported", deadline="accept", due_at=at(1))),
        accepted(at(5)),
        dispatched(32, v2g1),
        ("suspension_requested", 40, dict(status="dispatched")),
        ("suspension_decided", 42, dict(status="suspended", approved=True)),
        (
            "resumed",
            24 * 8,
            dict(status="dispatched", suspended_at=at(1, 11), suspended_seconds=3600, resolve_due=at(10)),
        ),
    )
    # E (low): went overdue, suspended and still is: never counted overdue while suspended; due in two weeks
    await Case(rcon, g2, "other", "low", number="CP-E").life(
        at(0),
        ("reported", 0, {}),
        accepted(at(16)),
        ("overdue", 40, dict(status="accepted", deadline="resolve", due_at=at(1))),
        ("suspension_decided", 50, dict(status="suspended", approved=True)),
    )
    # F: dispatched and returned, not dispatched again
    await Case(rcon, g1, "other", number="CP-F").life(
        at(0), ("reported", 0, {}), dispatched(1), ("returned", 5, dict(status="accepted", unit_id=g1, returns=1))
    )
    # G: supervised, then withdrawn this week; H (critical): overdue and open
    await Case(rcon, v2g1, "other", number="CP-G").life(
        at(1),
        ("reported", 0, {}),
        ("supervised", 2, dict(supervising_level="village")),
        ("withdrawn", 5, dict(status="withdrawn")),
    )
    await Case(rcon, g1, "hazard.fire", "critical", number="CP-H").life(
        at(2), ("reported", 0, {}), ("overdue", 30, dict(deadline="accept", due_at=at(3)))
    )

    r = await kpis.weekly(rcon, "optown", week, rule, {"dispute.land": "土地山林纠纷"})
    k = r["kpis"]
    assert (k["due"], k["due_on_time"], k["extended"]) == (3, 1, 1)  # A, B, C due; A on time and extended
    assert (k["on_time_rate"], k["extension_rate"]) == (0.3333, 0.3333)
    assert (k["dispatched"], k["returned"], k["return_rate"]) == (5, 2, 0.4)  # A, C twice, D, F; C and F returned
    assert (k["supervised"], k["supervised_open_at_end"]) == (2, 1)  # C (once) and G; C open at the end
    assert k["suspended_at_end"] == 2  # D (resumed since) and E
    later = (await kpis.weekly(rcon, "optown", nxt, rule, {}))["kpis"]
    assert (later["supervised"], later["supervised_open_at_end"], later["suspended_at_end"]) == (1, 1, 1)
    assert (later["due"], later["extended"], later["dispatched"], later["return_rate"]) == (1, 0, 0, None)  # D
    v2 = (await kpis.weekly(rcon, "optown.v2", week, rule, {}))["kpis"]
    assert (v2["dispatched"], v2["returned"], v2["return_rate"], v2["extension_rate"]) == (1, 0, 0.0, None)
    assert (v2["supervised"], v2["supervised_open_at_end"], v2["suspended_at_end"]) == (1, 0, 1)
    assert (await kpis.weekly(rcon, g2, week, rule, {}))["kpis"]["suspended_at_end"] == 1  # E

    # E, suspended, adds nothing for its missed deadline to its grid's risk
    grids = {g["id"]: g for g in r["grids"]}
    assert (grids[g1]["overdue_open"], grids[g2]["overdue_open"], grids[v2g1]["overdue_open"]) == (1, 0, 1)  # H, D
    # the cases at risk: overdue first (the critical H before D), then supervised; B, E not at risk, A, G ended
    at_risk = r["at_risk"]
    assert at_risk["total"] == 3
    assert [(x["number"], x["why"]) for x in at_risk["cases"]] == [
        ("CP-H", ["overdue", "severe"]),
        ("CP-D", ["overdue"]),
        ("CP-C", ["supervised", "severe"]),
    ]
    assert at_risk["cases"][2] == {
        "number": "CP-C",
        "category": "dispute.land",
        "category_name": "土地山林纠纷",
        "grid_id": g2,
        "grid_name": "g2",
        "level": "grid",
        "status": "dispatched",
        "severity": "high",
        "why": ["supervised", "severe"],
    }
    monkeypatch.setattr(kpis, "AT_RISK_LISTED", 2)
    short = await kpis.weekly(rcon, "optown", week, rule, {})
    assert short["at_risk"]["total"] == 3 and len(short["at_risk"]["cases"]) == 2

    page = render.weekly_html(short)
    assert 'data-kpi="extension_rate" data-value="0.3333">33.3%' in page
    assert 'data-kpi="return_rate" data-value="0.4">40.0%' in page
    assert 'data-kpi="returned">2<' in page and 'data-kpi="dispatched">5<' in page
    assert 'data-kpi="supervised_open_at_end">1<' in page and 'data-kpi="suspended_at_end">2<' in page
    assert '<tr data-case="CP-H" data-why="overdue severe">' in page and "逾期、重大" in page
    assert 'data-more="1">另有 1 件未列出' in page
    # the map: one path per grid, filled with its risk level's pattern (colour and hatch)
    paths = re.findall(r'<path d="[^"]*" fill="url\(#risk-(\w+)\)"[^>]*data-grid="([^"]+)" data-risk="(\w+)"', page)
    assert sorted((grid, fill) for fill, grid, level in paths if fill == level) == sorted(
        (g["id"], g["risk"]) for g in short["grids"]
    )
    assert '<li data-grid="optown.v1.g1">1&nbsp;g1' in page
    csv_rows = weekly_csv.weekly_csv(short, "en")
    assert "optown,2026-W51,kpi,return_rate,,0.4" in csv_rows


async def test_livelihood_priorities_rank_by_households_villages_recurrence(rcon):
    for grid, reporter, title in [
        ("testtown.v1.g1", "h1", "村口路灯不亮"),
        ("testtown.v1.g2", "h2", "路灯坏了"),
        ("testtown.v2.g1", "h3", "组里路灯不亮"),
        ("testtown.v2.g1", "h3", "饮水管道破损"),
    ]:
        await Case(rcon, grid, "livelihood.request", title=title, reporter=reporter).emit("reported", d(15))
    later = WEEK.shift(2)  # a week of its own, apart from the other test's cases
    rows = await kpis.livelihood(rcon, "testtown", later.monday, later.end, {"路灯": ["路灯"], "饮水": ["饮水"]}, d(20))
    assert [t["theme"] for t in rows] == ["路灯", "饮水"]
    top = rows[0]
    assert (top["cases"], top["households"], top["villages"], top["open"]) == (3, 3, 2, 3)
    assert top["rank"] == 1 and top["score"] > rows[1]["score"]


async def test_weekly_reports_are_published_once_across_replicas(stack, rcon):
    import asyncio

    from govkit.settings import load as load_settings
    from reporting import publisher
    from reporting.config import configure

    pool = await db.create_pool(stack.service_dsn("reporting"), "reporting", max_size=6)
    try:
        cfg = configure(
            load_settings(
                "reporting",
                {"REPORTING_DATABASE_URL": stack.service_dsn("reporting"), "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap},
            ),
            {},
        )
        week = WEEK.shift(-20)
        counts = await asyncio.gather(*(publisher.publish_week(pool, cfg, week) for _ in range(3)))
        units = await rcon.fetchval("select count(*) from areas where kind in ('town', 'village', 'community')")
        assert sum(counts) == units
        assert await publisher.publish_week(pool, cfg, week) == 0
        rows = await rcon.fetch(
            "select key from outbox where event_type = 'gov.report.weekly_published.v1' "
            "and convert_from(payload, 'UTF8')::jsonb->>'week' = $1",
            str(week),
        )
        assert len(rows) == units and len({r["key"] for r in rows}) == units
    finally:
        await pool.close()


async def test_an_event_with_a_malformed_case_id_is_poison_not_a_crash(rcon):
    from govkit.consumer import PoisonEvent

    c = Case(rcon, "testtown.v1.g1", "other")
    c.id = "not-a-uuid"
    with pytest.raises(PoisonEvent) as e:
        await c.emit("reported", d(1))
    assert e.value.reason == "schema_violation" and "not a UUID" in str(e.value)

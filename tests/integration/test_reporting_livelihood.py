"""Livelihood projects (民生实事) and livelihood demand in reporting, on the real broker and database.

Two proposals' events (and two more for the year boundary) go through Kafka to the service's consumer (its
group, handlers and inbox), some of them out of order; then: the projection rows, the weekly report's 民生实事
section at three week ends, the annual report (use case and HTTP: JSON, CSV with BOM and Chinese headers,
HTML), a rebuild that arrives at the same rows, and the livelihood-demand events published once per (village,
week) with their themes and trends, by the job across replicas and by the operator's endpoint.
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from gov_contracts import CloudEvent
from gov_contracts.areas import AreaKind, AreaUpserted
from gov_contracts.vocabulary import LOCAL_TZ
from govkit import db
from govkit.areas import on_area_upserted
from govkit.auth import mint
from govkit.consumer import EventConsumer
from govkit.kafka import Producer
from govkit.settings import load as load_settings
from reporting import kpis, projections, projects, publisher, risk
from reporting.config import DEFAULT_RISK, configure
from reporting.rebuild import CONSUMER, TOPICS, rebuild

from .kafka_helpers import running
from .service_process import reporting_service
from .test_reporting_rebuild import History, caught_up, publish

ROOT = Path(__file__).resolve().parents[2]
TOWN = "lvtown"
W45 = kpis.Week(2026, 45)  # Monday 2026-11-02 .. Sunday 2026-11-08, China Standard Time
LIVELIHOOD_TABLES = ("r_livelihood_projects", "r_livelihood_steps", "r_livelihood_milestones", "r_livelihood_meetings")


def at(day: str, hour: int = 9, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=LOCAL_TZ)


def tree(town: str) -> list[tuple[str, str, str | None]]:
    return [
        (town, "town", None),
        (f"{town}.v1", "village", town),
        (f"{town}.v1.g1", "grid", f"{town}.v1"),
        (f"{town}.v1.g2", "grid", f"{town}.v1"),
        (f"{town}.v2", "community", town),
        (f"{town}.v2.g1", "grid", f"{town}.v2"),
    ]


# --- the scenario: events as the livelihood and cases services publish them -------------------------------------


@dataclass
class Proposal:
    h: History
    village: str
    category: str
    budget: str
    grids: list[str]
    flow: str = "three_step"
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    number: str = field(default_factory=lambda: f"MS-T-{uuid.uuid4().hex[:6]}")
    queued: list[tuple[str, dict]] = field(default_factory=list)

    def event(self, kind: str, stage: str, when: datetime, *, budget: str | None = None, **fields) -> Proposal:
        """Queue one event; `send` publishes the queue in the order given."""
        self.budget = budget or self.budget
        facts = dict(
            proposal_id=self.id,
            number=self.number,
            village_id=self.village,
            grid_ids=self.grids,
            category=self.category,
            flow=self.flow,
            stage=stage,
            budget_yuan=self.budget,
            occurred_at=when,
            actor="tests",
        )
        self.queued.append((f"gov.livelihood.{kind}.v1", {**facts, **fields}))
        return self

    def send(self, order: list[int] | None = None) -> None:
        for i in order if order is not None else range(len(self.queued)):
            name, fields = self.queued[i]
            self.h.event(name, self.id, **fields)
        self.queued = []


@dataclass
class Scenario:
    town: str
    p1: Proposal
    p2: Proposal
    p3: Proposal
    p4: Proposal
    meeting_id: str
    requests: dict[str, list[str]]  # theme -> case ids of the first village, oldest first


def request_case(h: History, grid: str, title: str, when: datetime, category: str = "livelihood.request") -> str:
    case_id = str(uuid.uuid4())
    h.event(
        "gov.case.reported.v2",
        case_id,
        case_id=case_id,
        number="CP-LV",
        category=category,
        severity="low",
        grid_id=grid,
        status="reported",
        level="grid",
        occurred_at=when,
        actor="tests",
        title=title,
        source="resident_report",
        reporter_ref=f"person_{uuid.uuid4().hex[:6]}",
    )
    return case_id


def build(h: History, town: str) -> Scenario:
    v1, v2 = f"{town}.v1", f"{town}.v2"
    # P1: adopted in W45, budget raised, in implementation, milestones and spending; its events arrive shuffled
    p1 = Proposal(h, v1, "water", "1250000.00", [f"{v1}.g1", f"{v1}.g2"])
    meeting_id = f"mt-{uuid.uuid4().hex[:8]}"
    p1.event(
        "proposal_submitted",
        "proposed",
        at("2026-10-12"),
        title="组组通饮水工程",
        funding_source="财政衔接资金",
        households=120,
        people=410,
        case_ids=["c-1", "c-2"],
    )  # 0
    p1.event("proposal_reviewed", "approved", at("2026-10-19"), outcome="approved")  # 1
    p1.event(
        "proposal_decided",
        "decided",
        at("2026-11-03", 20),
        meeting_id=meeting_id,
        meeting_kind="representatives_meeting",
        adopted=True,
        present=30,
        eligible=40,
        votes_for=25,
        votes_against=3,
        abstentions=2,
    )  # 2
    p1.event(
        "notice_published",
        "in_notice",
        at("2026-11-04"),
        notice_id="n1",
        notice_kind="decision",
        starts_on=date(2026, 11, 4),
        ends_on=date(2026, 11, 11),
    )  # 3
    p1.event(
        "budget_changed",
        "in_notice",
        at("2026-11-05"),
        budget="1300000.50",
        previous_budget_yuan="1250000.00",
        decision="村民代表会议决定追加",
    )  # 4
    p1.event("implementation_started", "implementing", at("2026-11-06"))  # 5
    p1.event(
        "milestone_recorded",
        "implementing",
        at("2026-11-06", 10),
        milestone_id=f"{p1.id}-m1",
        title="管网铺设",
        due_on=date(2026, 11, 7),
    )  # 6: overdue at W45's end
    p1.event(
        "milestone_recorded",
        "implementing",
        at("2026-11-06", 10),
        milestone_id=f"{p1.id}-m2",
        title="水池浇筑",
        due_on=date(2026, 11, 20),
    )  # 7
    p1.event(
        "milestone_recorded",
        "implementing",
        at("2026-11-06", 11),
        milestone_id=f"{p1.id}-m3",
        title="选址",
        due_on=date(2026, 11, 5),
    )  # 8: recorded not done ...
    p1.event(
        "milestone_recorded",
        "implementing",
        at("2026-11-06", 12),
        milestone_id=f"{p1.id}-m3",
        title="选址",
        due_on=date(2026, 11, 5),
        done_on=date(2026, 11, 5),
    )  # 9: ... then done
    p1.event(
        "spending_recorded",
        "implementing",
        at("2026-11-07"),
        spending_id="s1",
        amount_yuan="300000.05",
        spent_total_yuan="300000.05",
    )  # 10
    p1.event(
        "spending_recorded",
        "implementing",
        at("2026-11-10"),
        spending_id="s2",
        amount_yuan="100000",
        spent_total_yuan="400000.05",
    )  # 11: after W45
    # late arrivals: the review after the decision, the start before the notice and the budget change, the "done"
    # milestone before its first record, the second spending before the first
    p1.send([0, 2, 1, 5, 3, 4, 6, 7, 9, 8, 11, 10])
    h.event(
        "gov.livelihood.meeting_noticed.v1",
        meeting_id,
        meeting_id=meeting_id,
        village_id=v1,
        kind="representatives_meeting",
        starts_at=at("2026-11-03", 19),
        place="村委会议室",
        proposal_ids=[p1.id],
        invitee_subs=["rep-1", "rep-2"],
        occurred_at=at("2026-10-27"),
        actor="tests",
    )
    # P2: four_two flow in the community, not adopted in W45
    p2 = Proposal(h, v2, "road", "80000", [f"{v2}.g1"], flow="four_two")
    p2.event(
        "proposal_submitted",
        "proposed",
        at("2026-10-20"),
        title="通组道路硬化",
        funding_source="一事一议",
        households=30,
        people=90,
    )
    p2.event("proposal_stepped", "discussed", at("2026-10-21"), action="discuss")
    p2.event("proposal_stepped", "reviewed", at("2026-10-22"), action="party_review")
    p2.event(
        "proposal_decided",
        "not_adopted",
        at("2026-11-04", 20),
        meeting_id="mt-x",
        meeting_kind="villagers_meeting",
        adopted=False,
        present=200,
        eligible=350,
        votes_for=80,
        votes_against=110,
        abstentions=10,
    )
    p2.send()
    # the year's boundary in China Standard Time: 23:30 on 31 December is the old year, 00:30 on 1 January the new
    p3 = Proposal(h, v1, "streetlight", "20000", [f"{v1}.g2"])
    p3.event(
        "proposal_submitted",
        "proposed",
        at("2025-12-31", 23, 30),
        title="路灯",
        funding_source="村集体",
        households=40,
        people=150,
    )
    p3.send()
    p4 = Proposal(h, v1, "elderly", "45000.00", [])
    p4.event(
        "proposal_submitted",
        "proposed",
        at("2026-01-01", 0, 30),
        title="老年活动中心",
        funding_source="村集体",
        households=15,
        people=50,
    )
    p4.send()

    # livelihood requests for the demand of W45: weeks W34..W45, the later half from W40 (2026-09-28)
    g1, g2 = f"{v1}.g1", f"{v1}.g2"
    requests: dict[str, list[str]] = {"路灯": [], "饮水": []}
    request_case(h, g1, "路灯不亮", at("2026-08-16"))  # the day before the window
    requests["路灯"].append(request_case(h, g1, "村口路灯不亮", at("2026-08-25")))
    for day, grid in (("2026-10-06", g1), ("2026-10-13", g2), ("2026-10-27", g2), ("2026-11-08", g1)):
        requests["路灯"].append(request_case(h, grid, "路灯坏了", at(day, 20)))
    for day in ("2026-09-01", "2026-09-02", "2026-09-03"):
        requests["饮水"].append(request_case(h, g1, "饮水管道破损", at(day)))
    request_case(h, g1, "路灯", at("2026-11-09", 0, 5))  # after the window
    request_case(h, g1, "路灯杆倾斜有隐患", at("2026-10-10"), category="hazard.safety")  # not a livelihood request
    request_case(h, f"{v2}.g1", "道路坑洼", at("2026-11-02"))
    return Scenario(town, p1, p2, p3, p4, meeting_id, requests)


async def put_areas(stack, town: str, present: bool) -> None:
    """The town's areas in reporting's copy of the tree; taken away again with the events the tests' reporting
    processes left in the outbox for it (those processes have no broker, and no other test may read them on
    gov.reports.v1 later: the weekly report's e2e test counts last week's reports there)."""
    con = await db.connect(stack.service_dsn("reporting"), "reporting")
    try:
        if present:
            for aid, kind, parent in tree(town):
                e = AreaUpserted(
                    id=aid, kind=AreaKind(kind), name=f"{aid.split('.')[-1]}村", parent_id=parent, tree_version="t"
                )
                await on_area_upserted(con, e, CloudEvent(type="gov.area.upserted.v1", source="tests", subject=e.id))
        else:  # the services' e2e tests compare each copy of the tree with the area file
            await con.execute("delete from areas where id = $1 or id like $1 || '.%'", town)
            await con.execute(
                "delete from outbox where published_at is null and (key = $1 or key like $1 || '.%')", town
            )
    finally:
        await con.close()


async def apply_through_kafka(stack, h: History) -> None:
    """Publish the history and let the service's consumer (its group, handlers and inbox) apply it."""
    pool = await db.create_pool(stack.service_dsn("reporting"), "reporting", max_size=3)
    producer = Producer(stack.bootstrap, "test-reporting-livelihood")
    consumer = EventConsumer(
        service="reporting",
        group_id=CONSUMER,
        topics=list(TOPICS),
        pool=pool,
        producer=producer,
        handlers=projections.handlers(),
        max_attempts=2,
    )
    try:
        async with running(stack.bootstrap, consumer):
            await publish(stack.bootstrap, h)
            await caught_up(stack.bootstrap)
    finally:
        await producer.stop()
        await pool.close()


@contextmanager
def scenario_in(stack, town: str) -> Iterator[Scenario]:
    asyncio.run(put_areas(stack, town, True))
    try:
        h = History()
        s = build(h, town)
        asyncio.run(apply_through_kafka(stack, h))
        yield s
    finally:
        asyncio.run(put_areas(stack, town, False))


@pytest.fixture(scope="module")
def scenario(stack):
    with scenario_in(stack, TOWN) as s:
        yield s


@pytest.fixture
async def rcon(stack):
    con = await db.connect(stack.service_dsn("reporting"), "reporting")
    yield con
    await con.close()


def reporting_config(stack):
    settings = load_settings(
        "reporting",
        {"REPORTING_DATABASE_URL": stack.service_dsn("reporting"), "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap},
    )
    return configure(settings, {})


# --- the reporting service as a process -------------------------------------------------------------------------


def client(stack, url: str, roles: list[str], areas: list[str], sub: str = "analyst-lv") -> httpx.Client:
    token = mint(key=stack.state["jwt_secret"], sub=sub, roles=roles, areas=areas)
    return httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=20)


# --- the tests --------------------------------------------------------------------------------------------------


async def test_the_projection_keeps_each_proposal_as_it_is_whatever_the_order(scenario, rcon):
    s = scenario
    p1 = await rcon.fetchrow("select * from r_livelihood_projects where proposal_id = $1", uuid.UUID(s.p1.id))
    assert (p1["village_id"], p1["category"], p1["flow"]) == (f"{TOWN}.v1", "water", "three_step")
    # the review came after the decision and the notice after the start: the latest stage stands
    assert (p1["stage"], p1["budget_yuan"], p1["spent_yuan"]) == (
        "implementing",
        Decimal("1300000.50"),
        Decimal("400000.05"),
    )
    assert (p1["adopted"], p1["decided_at"], p1["meeting_kind"]) == (
        True,
        at("2026-11-03", 20),
        "representatives_meeting",
    )
    assert p1["implementation_started_at"] == at("2026-11-06") and p1["accepted_at"] is None
    assert (p1["title"], p1["households"], p1["people"], p1["evidence_cases"]) == ("组组通饮水工程", 120, 410, 2)
    assert (p1["submitted_at"], p1["first_at"], p1["facts_at"]) == (
        at("2026-10-12"),
        at("2026-10-12"),
        at("2026-11-10"),
    )
    assert (
        await rcon.fetchval("select count(*) from r_livelihood_steps where proposal_id = $1", uuid.UUID(s.p1.id)) == 12
    )
    milestones = {
        r["milestone_id"].rsplit("-", 1)[1]: (r["due_on"], r["done_on"], r["recorded_at"])
        for r in await rcon.fetch("select * from r_livelihood_milestones where proposal_id = $1", uuid.UUID(s.p1.id))
    }
    assert milestones == {
        "m1": (date(2026, 11, 7), None, at("2026-11-06", 10)),
        "m2": (date(2026, 11, 20), None, at("2026-11-06", 10)),
        "m3": (date(2026, 11, 5), date(2026, 11, 5), at("2026-11-06", 11)),  # the later record won, first seen kept
    }
    p2 = await rcon.fetchrow("select * from r_livelihood_projects where proposal_id = $1", uuid.UUID(s.p2.id))
    assert (p2["stage"], p2["adopted"], p2["flow"], p2["budget_yuan"]) == (
        "not_adopted",
        False,
        "four_two",
        Decimal(80000),
    )
    meeting = await rcon.fetchrow("select * from r_livelihood_meetings where meeting_id = $1", s.meeting_id)
    assert (meeting["kind"], meeting["starts_at"], meeting["proposal_ids"]) == (
        "representatives_meeting",
        at("2026-11-03", 19),
        [s.p1.id],
    )


async def test_the_weekly_section_at_three_week_ends(scenario, rcon):
    rule = risk.load(DEFAULT_RISK)
    town = (await kpis.weekly(rcon, TOWN, W45, rule, {}))["livelihood_projects"]
    assert town == {
        "year": 2026,
        "proposals": 4,  # P3 of last year is still open, so in this year's pipeline
        "by_stage": [
            {"stage": "proposed", "name": "提议", "proposals": 2},
            {"stage": "not_adopted", "name": "未通过", "proposals": 1},
            {"stage": "implementing", "name": "实施中", "proposals": 1},
        ],
        "decided": {"adopted": 1, "not_adopted": 1},
        "implementing": 1,
        "meetings": 1,
        "overdue_milestones": 1,
        "overdue": [
            {
                "proposal_id": scenario.p1.id,
                "number": scenario.p1.number,
                "title": "组组通饮水工程",
                "milestone_id": f"{scenario.p1.id}-m1",
                "milestone": "管网铺设",
                "due_on": "2026-11-07",
            }
        ],
        "budget_adopted_yuan": "1300000.50",
        "spent_yuan": "300000.05",  # the second spending came after the week
    }
    # the week before: nothing decided, P1 approved, P2 reviewed, no money
    before = (await kpis.weekly(rcon, TOWN, W45.shift(-1), rule, {}))["livelihood_projects"]
    assert [(x["stage"], x["proposals"]) for x in before["by_stage"]] == [
        ("proposed", 2),
        ("approved", 1),
        ("reviewed", 1),
    ]
    assert (before["decided"], before["implementing"], before["meetings"], before["overdue_milestones"]) == (
        {"adopted": 0, "not_adopted": 0},
        0,
        0,
        0,
    )
    assert (before["budget_adopted_yuan"], before["spent_yuan"]) == ("0.00", "0.00")
    after = (await kpis.weekly(rcon, TOWN, W45.shift(1), rule, {}))["livelihood_projects"]
    assert (after["spent_yuan"], after["decided"], after["overdue_milestones"]) == (
        "400000.05",
        {"adopted": 0, "not_adopted": 0},
        1,
    )
    # a village sees its own; a grid the proposals naming it
    community = (await kpis.weekly(rcon, f"{TOWN}.v2", W45, rule, {}))["livelihood_projects"]
    assert (community["proposals"], community["decided"], community["meetings"]) == (
        1,
        {"adopted": 0, "not_adopted": 1},
        0,
    )
    assert community["budget_adopted_yuan"] == "0.00"
    grid = (await kpis.weekly(rcon, f"{TOWN}.v1.g1", W45, rule, {}))["livelihood_projects"]
    assert (grid["proposals"], grid["implementing"], grid["meetings"], grid["budget_adopted_yuan"]) == (
        1,
        1,
        1,
        "1300000.50",
    )


async def test_the_annual_report_lists_the_years_proposals_by_local_submission_date(scenario, rcon):
    r = await projects.annual(rcon, TOWN, 2026)
    assert [p["proposal_id"] for p in r["projects"]] == [scenario.p4.id, scenario.p1.id, scenario.p2.id]
    p1 = r["projects"][1]
    assert (p1["category_name"], p1["stage_name"], p1["budget_yuan"], p1["spent_yuan"]) == (
        "饮水",
        "实施中",
        "1300000.50",
        "400000.05",
    )
    assert (p1["submitted_on"], p1["decided_on"], p1["adopted"], p1["accepted_on"]) == (
        "2026-10-12",
        "2026-11-03",
        True,
        None,
    )
    assert (p1["households"], p1["people"], p1["village"]) == (120, 410, "v1村")
    assert r["projects"][0]["submitted_on"] == "2026-01-01" and r["projects"][0]["budget_yuan"] == "45000.00"
    assert r["totals"] == {
        "proposals": 3,
        "adopted": 1,
        "not_adopted": 1,
        "accepted": 0,
        "budget_yuan": "1425000.50",
        "budget_adopted_yuan": "1300000.50",
        "spent_yuan": "400000.05",
        "households": 165,
        "people": 550,
    }
    last_year = await projects.annual(rcon, f"{TOWN}.v1", 2025)
    assert [p["proposal_id"] for p in last_year["projects"]] == [scenario.p3.id]
    assert last_year["projects"][0]["submitted_on"] == "2025-12-31"
    assert (await projects.annual(rcon, f"{TOWN}.v2", 2025))["totals"]["budget_yuan"] == "0.00"
    with pytest.raises(kpis.UnknownArea):
        await projects.annual(rcon, f"{TOWN}.nowhere", 2026)


def test_the_reports_over_http(stack, scenario):
    with reporting_service(stack) as url:
        analyst = client(stack, url, ["analyst"], [TOWN])
        path, params = "/v1/reports/livelihood-projects/annual", {"area": TOWN, "year": "2026"}
        data = analyst.get(path, params=params)
        assert data.status_code == 200, data.text
        r = data.json()
        assert r["totals"]["budget_adopted_yuan"] == "1300000.50" and len(r["projects"]) == 3

        got = analyst.get(path, params={**params, "format": "csv"})
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
        assert got.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs
        assert f'filename="livelihood-projects-{TOWN}-2026.csv"' in got.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(got.content.decode("utf-8-sig"))))
        assert list(rows[0])[:7] == ["编号", "项目名称", "村(社区)", "类别", "阶段", "预算(元)", "已支出(元)"]
        assert [row["类别"] for row in rows[:3]] == ["养老", "饮水", "道路"]
        assert rows[1]["预算(元)"] == "1300000.50" and rows[1]["表决结果"] == "通过" and rows[2]["表决结果"] == "未通过"
        assert rows[3]["编号"] == "合计" and rows[3]["预算(元)"] == "1425000.50" and rows[3]["受益户数"] == "165"

        page = analyst.get(path, params={**params, "format": "html"})
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "lvtown村2026年民生实事项目年度报告" in page.text
        assert 'data-kpi="budget_adopted_yuan" data-value="1300000.50">1,300,000.50<' in page.text
        assert f'data-proposal="{scenario.p1.id}" data-stage="implementing"' in page.text

        weekly = analyst.get("/v1/reports/weekly", params={"area": TOWN, "week": str(W45)}).json()
        assert weekly["livelihood_projects"]["budget_adopted_yuan"] == "1300000.50"
        weekly_page = analyst.get("/v1/reports/weekly.html", params={"area": TOWN, "week": str(W45)}).text
        assert 'data-kpi="lp_budget_adopted" data-value="1300000.50">1,300,000.50<' in weekly_page
        assert 'data-kpi="lp_overdue_milestones">1<' in weekly_page
        weekly_csv = analyst.get("/v1/reports/weekly.csv", params={"area": TOWN, "week": str(W45), "lang": "en"}).text
        assert f"{TOWN},{W45},livelihood_projects,spent_yuan,,300000.05" in weekly_csv

        # the scope and role rules of every report; 404 for an unknown area, 422 for a bad year or format
        other = client(stack, url, ["village_admin"], [f"{TOWN}.v2"], sub="va-lv")
        assert other.get(path, params={"area": f"{TOWN}.v2", "year": 2026}).json()["totals"]["proposals"] == 1
        assert other.get(path, params={"area": f"{TOWN}.v1", "year": 2026}).status_code == 403
        assert client(stack, url, ["volunteer"], [TOWN]).get(path, params=params).status_code == 403
        assert analyst.get(path, params={"area": f"{TOWN}.nowhere"}).status_code == 404
        assert analyst.get(path, params={"area": TOWN, "year": 1800}).status_code == 422
        assert analyst.get(path, params={**params, "format": "xml"}).status_code == 422
        assert analyst.get(path, params={"area": TOWN}).json()["year"] == datetime.now(LOCAL_TZ).year


async def demand_rows(con, week: str, town: str) -> list:
    return await con.fetch(
        "select key, headers, convert_from(payload, 'UTF8')::jsonb as event from outbox "
        "where event_type = 'gov.report.livelihood_demand.v1' and convert_from(payload, 'UTF8')::jsonb->>'week' = $1 "
        "and (key = $2 or key like $2 || '.%') order by key",
        week,
        town,
    )


async def test_the_demand_is_published_once_per_village_and_week_across_replicas(stack, scenario, rcon):
    pool = await db.create_pool(stack.service_dsn("reporting"), "reporting", max_size=6)
    try:
        cfg = reporting_config(stack)
        runs = await asyncio.gather(*(publisher.publish_demand(pool, cfg, W45, [TOWN]) for _ in range(3)))
        assert sorted(v for run in runs for v in run.published) == [f"{TOWN}.v1", f"{TOWN}.v2"]
        assert sorted(v for run in runs for v in run.already) == sorted([f"{TOWN}.v1", f"{TOWN}.v2"] * 2)
        again = await publisher.publish_demand(pool, cfg, W45, [TOWN])
        assert again.published == [] and again.already == [f"{TOWN}.v1", f"{TOWN}.v2"]
    finally:
        await pool.close()

    rows = await demand_rows(rcon, str(W45), TOWN)
    assert [r["key"] for r in rows] == [f"{TOWN}.v1", f"{TOWN}.v2"]
    events = {r["key"]: r["event"] for r in rows}
    v1 = events[f"{TOWN}.v1"]
    assert (v1["village_id"], v1["week"], v1["weeks"]) == (f"{TOWN}.v1", "2026-W45", 12)
    themes = {t["theme"]: t for t in v1["themes"]}
    assert [t["theme"] for t in v1["themes"]] == ["路灯", "饮水"]
    # 路灯: 1 in the earlier six weeks, 4 in the later six, in 2 grids; 饮水: 3 early, none late
    assert (themes["路灯"]["cases"], themes["路灯"]["grids"], themes["路灯"]["trend"]) == (5, 2, "rising")
    assert themes["路灯"]["case_ids"] == scenario.requests["路灯"][::-1]  # newest first
    assert (themes["饮水"]["cases"], themes["饮水"]["grids"], themes["饮水"]["trend"]) == (3, 1, "falling")
    v2 = events[f"{TOWN}.v2"]
    assert [(t["theme"], t["cases"], t["trend"]) for t in v2["themes"]] == [("道路", 1, "flat")]
    # the event id is the (village, week)'s own: a copy would be a duplicate to every subscriber
    headers = {r["key"]: dict(r["headers"]) for r in rows}
    assert headers[f"{TOWN}.v1"]["ce_id"] == publisher.demand_event_id(f"{TOWN}.v1", W45)
    assert headers[f"{TOWN}.v1"]["ce_subject"] == f"{TOWN}.v1"


def test_the_operator_publishes_the_demand_now_once(stack, scenario):
    week = str(W45.shift(-1))
    with reporting_service(stack) as url:
        path = "/v1/reports/livelihood-demand/publish"
        assert (
            client(stack, url, ["village_admin"], [TOWN], sub="va").post(path, params={"week": week}).status_code == 403
        )
        town_admin = client(stack, url, ["town_admin"], [TOWN], sub="ta-lv")
        first = town_admin.post(path, params={"week": week})
        assert first.status_code == 200, first.text
        assert first.json() == {"week": week, "weeks": 12, "published": [f"{TOWN}.v1", f"{TOWN}.v2"], "already": []}
        second = town_admin.post(path, params={"week": week}).json()
        assert second["published"] == [] and second["already"] == [f"{TOWN}.v1", f"{TOWN}.v2"]
        # a village's own analyst publishes only inside the scope
        only_v2 = client(stack, url, ["analyst"], [f"{TOWN}.v2"]).post(path, params={"week": str(W45.shift(-2))})
        assert only_v2.json()["published"] == [f"{TOWN}.v2"]
        future = kpis.Week.of(datetime.now(LOCAL_TZ).date()).shift(1)
        assert town_admin.post(path, params={"week": str(future)}).status_code == 422
        assert town_admin.post(path, params={"week": "2026-W60"}).status_code == 422

    async def check():
        con = await db.connect(stack.service_dsn("reporting"), "reporting")
        try:
            rows = await demand_rows(con, week, TOWN)
            assert [r["key"] for r in rows] == [f"{TOWN}.v1", f"{TOWN}.v2"]
            themes = [(t["theme"], t["cases"], t["trend"]) for t in rows[0]["event"]["themes"]]
            # the window W33..W44 has the request of 16 August but not that of 8 November: 2 early, 3 late -> flat
            assert themes == [("路灯", 5, "flat"), ("饮水", 3, "falling")]
        finally:
            await con.close()

    asyncio.run(check())


async def snapshot(con, town: str) -> dict:
    """The livelihood projection rows of the town's proposals and meetings, as text."""
    ids = [
        r[0]
        for r in await con.fetch("select proposal_id from r_livelihood_projects where village_id like $1", f"{town}.%")
    ]
    out = {}
    for table in LIVELIHOOD_TABLES[:3]:
        rows = await con.fetch(f"select t::text from {table} t where proposal_id = any($1) order by 1", ids)
        out[table] = [r[0] for r in rows]
    rows = await con.fetch(
        "select t::text from r_livelihood_meetings t where village_id like $1 order by 1", f"{town}.%"
    )
    out["r_livelihood_meetings"] = [r[0] for r in rows]
    return out


async def test_a_rebuild_arrives_at_the_same_rows(stack, scenario, rcon):
    before = await snapshot(rcon, TOWN)
    assert len(before["r_livelihood_steps"]) == 12 + 4 + 1 + 1 and len(before["r_livelihood_meetings"]) == 1
    result = await rebuild(stack.service_dsn("reporting"), stack.bootstrap, progress=None)
    assert result["applied"] > 0
    assert await snapshot(rcon, TOWN) == before
    rule = risk.load(DEFAULT_RISK)
    assert (await kpis.weekly(rcon, TOWN, W45, rule, {}))["livelihood_projects"]["spent_yuan"] == "300000.05"

"""The rules of livelihood demand and livelihood projects (民生实事) in reporting, pure: the trend, the demand
themes, the pipeline at a week's end, the annual totals, exact amounts, and their CSV and HTML."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from gov_contracts import REGISTRY, topics
from gov_contracts.vocabulary import LOCAL_TZ
from reporting import app, projections, rebuild, render
from reporting.domain import livelihood as lv


@pytest.mark.parametrize(
    "earlier,later,expected",
    [
        (0, 0, "flat"),
        (0, 1, "flat"),  # more than 1.2 times, but only one more
        (0, 2, "rising"),
        (5, 6, "flat"),  # 6 is not more than 5 × 1.2
        (5, 7, "rising"),
        (10, 12, "flat"),  # 12 = 10 × 1.2 exactly: not more
        (10, 13, "rising"),
        (1, 0, "flat"),
        (2, 0, "falling"),
        (6, 5, "flat"),
        (7, 5, "falling"),
        (12, 10, "flat"),
        (13, 10, "falling"),
        (100, 100, "flat"),
    ],
)
def test_trend_needs_both_a_fifth_more_and_two_more(earlier, later, expected):
    assert lv.trend(earlier, later) == expected


def test_trend_is_symmetric():
    for earlier in range(30):
        for later in range(30):
            flipped = {"rising": "falling", "falling": "rising", "flat": "flat"}[lv.trend(earlier, later)]
            assert lv.trend(later, earlier) == flipped


WINDOW = datetime(2026, 9, 7, tzinfo=LOCAL_TZ)  # Monday of the first of 12 weeks
LATER = WINDOW + timedelta(weeks=6)
KEYWORDS = {"路灯": ["路灯"], "饮水": ["饮水"], "道路": ["道路"]}


def request(n: int, title: str, grid: str, at: datetime, tags: tuple[str, ...] = ()) -> lv.Request:
    return lv.Request(case_id=f"c{n:03d}", title=title, tags=tags, grid_id=grid, reported_at=at)


def test_demand_themes_count_requests_grids_trend_and_newest_ids():
    rs = [
        # 路灯: 1 early, 4 later in 3 grids -> rising
        request(1, "村口路灯不亮", "v.g1", WINDOW + timedelta(days=1)),
        *(request(10 + i, "路灯坏了", f"v.g{1 + i % 3}", LATER + timedelta(days=i)) for i in range(4)),
        # 饮水: 4 early, 1 later -> falling
        *(request(20 + i, "饮水管道破损", "v.g2", WINDOW + timedelta(days=i)) for i in range(4)),
        request(30, "饮水浑浊", "v.g2", LATER),
        # 道路 by a tag; an untagged, unmatched title is 其他
        request(40, "坑洼", "v.g3", LATER, tags=("道路",)),
        request(41, "广场舞噪音", "v.g3", WINDOW),
    ]
    themes = {t.theme: t for t in lv.demand_themes(rs, KEYWORDS, LATER)}
    assert [t.theme for t in lv.demand_themes(rs, KEYWORDS, LATER)] == ["路灯", "饮水", "其他", "道路"]
    light = themes["路灯"]
    assert (light.cases, light.grids, light.trend) == (5, 3, "rising")
    assert light.case_ids == ["c013", "c012", "c011", "c010", "c001"]  # newest first
    assert (themes["饮水"].cases, themes["饮水"].grids, themes["饮水"].trend) == (5, 1, "falling")
    assert (themes["道路"].cases, themes["道路"].trend) == (1, "flat")
    assert themes["其他"].case_ids == ["c041"]
    assert lv.demand_themes([], KEYWORDS, LATER) == []


def test_demand_lists_at_most_fifty_case_ids():
    rs = [request(i, "路灯", "v.g1", WINDOW + timedelta(hours=i)) for i in range(80)]
    (t,) = lv.demand_themes(rs, KEYWORDS, LATER)
    assert t.cases == 80 and len(t.case_ids) == 50 and t.case_ids[0] == "c079" and t.case_ids[-1] == "c030"


# -- the pipeline at a week's end ---------------------------------------------------------------------------------

START = datetime(2026, 11, 2, tzinfo=LOCAL_TZ)  # 2026-W45
END = START + timedelta(days=7)
YEAR = datetime(2026, 1, 1, tzinfo=LOCAL_TZ)


def proposal(pid: str, stage: str, since: datetime, budget: str = "0", spent: str = "0", **kw) -> lv.ProposalAtEnd:
    facts: dict = dict(adopted=None, decided_at=None, implementation_started_at=None, accepted_at=None)
    facts.update(kw)
    return lv.ProposalAtEnd(
        proposal_id=pid,
        stage=stage,
        stage_since=since,
        budget_yuan=Decimal(budget),
        spent_yuan=Decimal(spent),
        **facts,
    )


def milestone(mid: str, pid: str, due: date, done: date | None = None, recorded: datetime = START) -> lv.Milestone:
    return lv.Milestone(milestone_id=mid, proposal_id=pid, title=mid, due_on=due, done_on=done, recorded_at=recorded)


def test_pipeline_counts_stages_decisions_implementation_overdue_and_money():
    day = timedelta(days=1)
    ps = [
        proposal("a", "proposed", START + day),
        # adopted this week, in implementation since; budget and spent exact
        proposal(
            "b",
            "implementing",
            START + 3 * day,
            budget="1250000.10",
            spent="300000.05",
            adopted=True,
            decided_at=START + day,
            implementation_started_at=START + 3 * day,
        ),
        proposal("c", "not_adopted", START + 2 * day, budget="80000", adopted=False, decided_at=START + 2 * day),
        # adopted last year and still being built: in the pipeline, counted in the budget, not decided this week
        proposal(
            "d",
            "implementing",
            datetime(2025, 12, 1, tzinfo=LOCAL_TZ),
            budget="500000.00",
            spent="499999.99",
            adopted=True,
            decided_at=datetime(2025, 10, 1, tzinfo=LOCAL_TZ),
            implementation_started_at=datetime(2025, 11, 1, tzinfo=LOCAL_TZ),
        ),
        # finished last year: not in this year's pipeline
        proposal("e", "results_public", datetime(2025, 12, 20, tzinfo=LOCAL_TZ), budget="9", adopted=True),
        # finished this year: in it; accepted before the end, so no longer in implementation
        proposal(
            "f",
            "results_public",
            datetime(2026, 6, 1, tzinfo=LOCAL_TZ),
            budget="100.005",
            spent="100.005",
            adopted=True,
            decided_at=datetime(2026, 3, 1, tzinfo=LOCAL_TZ),
            implementation_started_at=datetime(2026, 4, 1, tzinfo=LOCAL_TZ),
            accepted_at=datetime(2026, 5, 1, tzinfo=LOCAL_TZ),
        ),
        # decided after the week: undecided at its end
        proposal("g", "approved", START, budget="7", adopted=True, decided_at=END + day),
    ]
    ms = [
        milestone("m1", "b", date(2026, 11, 8)),  # due on the week's Sunday, not done: overdue
        milestone("m2", "b", date(2026, 11, 9)),  # due after the week
        milestone("m3", "b", date(2026, 11, 4), done=date(2026, 11, 5)),  # done
        milestone("m4", "b", date(2026, 11, 4), done=date(2026, 11, 9)),  # done only after the week: overdue
        milestone("m5", "e", date(2025, 12, 1)),  # of a proposal not in the pipeline
        milestone("m6", "b", date(2026, 11, 1), recorded=END),  # recorded after the week
    ]
    p = lv.pipeline(ps, ms, start=START, end=END, end_day=END.date(), year_start=YEAR)
    assert p.proposals == 6 and "e" not in p.included
    assert p.by_stage == {"proposed": 1, "approved": 1, "not_adopted": 1, "implementing": 2, "results_public": 1}
    assert list(p.by_stage) == ["proposed", "approved", "not_adopted", "implementing", "results_public"]
    assert (p.adopted_in_week, p.not_adopted_in_week, p.implementing) == (1, 1, 2)
    assert [m.milestone_id for m in p.overdue_milestones] == ["m4", "m1"]
    assert p.budget_adopted_yuan == Decimal("1750100.105")  # b + d + f; g was not decided by the end
    assert p.spent_yuan == Decimal("800100.045")


def test_an_empty_pipeline():
    p = lv.pipeline([], [], start=START, end=END, end_day=END.date(), year_start=YEAR)
    assert (p.proposals, p.by_stage, p.implementing, p.overdue_milestones) == (0, {}, 0, [])
    assert lv.yuan(p.budget_adopted_yuan) == "0.00" and lv.yuan(p.spent_yuan) == "0.00"


def test_annual_totals():
    def project(adopted, budget, spent, households, people, accepted=False):
        return lv.AnnualProject(
            stage="x",
            adopted=adopted,
            budget_yuan=Decimal(budget),
            spent_yuan=Decimal(spent),
            households=households,
            people=people,
            accepted=accepted,
        )

    t = lv.annual_totals(
        [
            project(True, "1250000.00", "1000.50", 120, 410, accepted=True),
            project(False, "30000", "0", 10, 35),
            project(None, "0.01", "0", None, None),
        ]
    )
    assert (t.proposals, t.adopted, t.not_adopted, t.accepted, t.households, t.people) == (3, 1, 1, 1, 130, 445)
    assert (t.budget_yuan, t.budget_adopted_yuan, t.spent_yuan) == (
        Decimal("1280000.01"),
        Decimal("1250000.00"),
        Decimal("1000.50"),
    )


@pytest.mark.parametrize(
    "amount,plain,grouped",
    [
        ("1250000", "1250000.00", "1,250,000.00"),
        ("1250000.5", "1250000.50", "1,250,000.50"),
        ("0", "0.00", "0.00"),
        ("999.999", "999.999", "999.999"),  # more places than fen stay exact
        ("-1234.5", "-1234.50", "-1,234.50"),
        ("1E+30", "1000000000000000000000000000000.00", "1,000,000,000,000,000,000,000,000,000,000.00"),
    ],
)
def test_amounts_are_exact(amount, plain, grouped):
    assert lv.yuan(Decimal(amount)) == plain and lv.yuan_grouped(Decimal(amount)) == grouped


def test_sums_of_amounts_never_round():
    big = Decimal("123456789012345678901234567890.01")
    assert lv.exact_sum([big, Decimal("0.01")]) == Decimal("123456789012345678901234567890.02")


def test_labels():
    assert [lv.category_label(c) for c in ("water", "road", "streetlight", "culture_square")] == [
        "饮水",
        "道路",
        "路灯",
        "文化广场",
    ]
    assert [lv.category_label(c) for c in ("environment", "elderly", "other", "bridge")] == [
        "环境整治",
        "养老",
        "其他",
        "bridge",
    ]
    assert lv.stage_label("implementing") == "实施中" and lv.stage_label("custom") == "custom"


def test_every_livelihood_event_is_consumed_projected_and_rebuilt():
    expected = {name for name, et in REGISTRY.items() if et.topic == topics.LIVELIHOOD}
    assert len(expected) == 14 and expected <= set(projections.handlers())
    for table in ("r_livelihood_projects", "r_livelihood_steps", "r_livelihood_milestones", "r_livelihood_meetings"):
        assert table in projections.PROJECTION_TABLES  # rebuilt with the others
    assert topics.LIVELIHOOD in app.SPEC.topics and topics.LIVELIHOOD in rebuild.TOPICS


# -- rendering ----------------------------------------------------------------------------------------------------


def annual(projects: list[dict]) -> dict:
    return {
        "area": {"id": "t.v1", "name": "<孔家畈村>", "kind": "village"},
        "year": 2026,
        "from": "2026-01-01",
        "to": "2026-12-31",
        "projects": projects,
        "totals": {
            "proposals": len(projects),
            "adopted": 1,
            "not_adopted": 0,
            "accepted": 0,
            "budget_yuan": "1250000.00",
            "budget_adopted_yuan": "1250000.00",
            "spent_yuan": "1000.50",
            "households": 120,
            "people": 410,
        },
    }


PROJECT = {
    "proposal_id": "p1",
    "number": "MS-2026-0001",
    "title": '组组通饮水工程, "二期"',
    "village_id": "t.v1",
    "village": "孔家畈村",
    "category": "water",
    "category_name": "饮水",
    "stage": "implementing",
    "stage_name": "实施中",
    "budget_yuan": "1250000.00",
    "spent_yuan": "1000.50",
    "submitted_on": "2026-03-02",
    "adopted": True,
    "decided_on": "2026-03-20",
    "implementation_started_on": "2026-04-01",
    "accepted_on": None,
    "results_published_on": None,
    "households": 120,
    "people": 410,
    "evidence_cases": 3,
}


def test_annual_csv_opens_in_excel():
    text = render.annual_projects_csv(annual([PROJECT]))
    assert text.startswith("\ufeff编号,项目名称,村(社区),类别,阶段,预算(元),已支出(元),")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert len(rows) == 3 and rows[1][1] == '组组通饮水工程, "二期"'
    row = dict(zip(rows[0], rows[1], strict=True))
    assert (row["类别"], row["阶段"], row["预算(元)"], row["表决结果"], row["验收日期"]) == (
        "饮水",
        "实施中",
        "1250000.00",
        "通过",
        "",
    )
    total = dict(zip(rows[0], rows[2], strict=True))
    assert total["编号"] == "合计" and total["预算(元)"] == "1250000.00" and total["受益人数"] == "410"
    assert "\r\n" in text  # Excel's line ends


def test_annual_html_escapes_and_groups_thousands():
    page = render.annual_projects_html(annual([{**PROJECT, "title": "<script>alert(1)</script>"}]))
    assert "<script>alert" not in page and "&lt;script&gt;" in page and "&lt;孔家畈村&gt;" in page
    assert 'data-kpi="budget_adopted_yuan" data-value="1250000.00">1,250,000.00<' in page
    assert "http://" not in page and "https://" not in page and "<link" not in page  # no external resources
    assert "size:A4" in page
    empty = render.annual_projects_html(annual([]))
    assert "本年度暂无民生实事项目" in empty


def test_weekly_html_and_csv_carry_the_projects_section():
    section = {
        "year": 2026,
        "proposals": 2,
        "by_stage": [{"stage": "implementing", "name": "实施中", "proposals": 2}],
        "decided": {"adopted": 1, "not_adopted": 0},
        "implementing": 2,
        "meetings": 1,
        "overdue_milestones": 1,
        "overdue": [
            {
                "proposal_id": "p1",
                "number": "MS-1",
                "title": "<b>",
                "milestone_id": "m1",
                "milestone": "管网铺设",
                "due_on": "2026-11-08",
            }
        ],
        "budget_adopted_yuan": "1250000.00",
        "spent_yuan": "300000.05",
    }
    page = render._projects_section(section)
    assert 'data-kpi="lp_budget_adopted" data-value="1250000.00">1,250,000.00<' in page
    assert 'data-kpi="lp_spent" data-value="300000.05">300,000.05<' in page
    assert 'data-kpi="lp_overdue_milestones">1<' in page and "&lt;b&gt;" in page
    assert render._projects_section(None) == ""

"""The weekly HTML laid out for print (reporting.render.weekly_html), pure: A4 print rules, green grids counted and
not listed, the grids of yellow and above listed with their reasons and their number on the map, the cases at risk
named, and the map's index by village for a town. tests/e2e/test_weekly_report.py prints the town's report in
Chromium and counts the pages."""

from __future__ import annotations

import re

from reporting import render

COUNTS = ("new", "accepted", "resolved", "closed", "open_at_end", "overdue", "escalated", "referred", "reopened")
RATES = ("closure_rate", "on_time_rate", "rework_rate", "grassroots_resolution_rate", "extension_rate", "return_rate")


def square(west: float, south: float, side: float = 0.01) -> dict:
    ring = [[west, south], [west + side, south], [west + side, south + side], [west, south + side], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def town(risks: dict[int, str], villages: int = 12, per_village: int = 10) -> dict:
    """A town of villages × grids with shapes; `risks` sets the level of some grids by their position."""
    grids = []
    for v in range(villages):
        for g in range(per_village):
            i = v * per_village + g
            risk = risks.get(i, "green")
            grids.append(
                {
                    "id": f"t.v{v:02d}.g{g:02d}",
                    "name": f"第{v}村第{g}网格",
                    "village_id": f"t.v{v:02d}",
                    "risk": risk,
                    "score": {"green": 0, "yellow": 6, "orange": 12, "red": 20}[risk],
                    "reasons": [] if risk == "green" else [f"未办结纠纷{i}起，+6"],
                    "new": 1,
                    "mean_4w": 0.0,
                    "open_at_end": 1,
                    "overdue_open": 0,
                    "geometry": square(111.0 + g * 0.01, 31.0 + v * 0.01),
                }
            )
    summary = {level: sum(1 for g in grids if g["risk"] == level) for level in ("green", "yellow", "orange", "red")}
    return {
        "area": {"id": "t", "name": "测试镇", "kind": "town"},
        "week": "2026-W48",
        "from": "2026-11-23",
        "to": "2026-11-29",
        "kpis": {
            **dict.fromkeys(COUNTS, 0),
            **dict.fromkeys(RATES, None),
            "due": 0,
            "due_on_time": 0,
            "satisfaction_mean": None,
            "satisfaction_count": 0,
            "median_hours_to_resolve": None,
            "p90_hours_to_resolve": None,
        },
        "change": {k: {"previous": 0, "delta": 0, "mean_4w": 0, "vs_mean_4w": None} for k in COUNTS},
        "by_category": [
            {"category": "dispute.land", "name": "土地山林纠纷", **dict.fromkeys(COUNTS, 0), "new": 2},
            {"category": "hazard.fire", "name": "消防隐患", **dict.fromkeys(COUNTS, 0)},
        ],
        "trend": [{"week": "2026-W48", "new": 0, "closed": 0}],
        "risk_summary": summary,
        "grids": grids,
        "village_shapes": [{"id": f"t.v{v:02d}", "name": f"第{v}村", "geometry": None} for v in range(villages)],
        "at_risk": {
            "total": 3,
            "cases": [
                {
                    "number": "CP-2026-000008",
                    "category_name": "地质灾害隐患",
                    "grid_name": "第0村第1网格",
                    "level": "town",
                    "status": "in_progress",
                    "severity": "critical",
                    "why": ["overdue", "severe"],
                }
            ],
        },
        "hotspots": {"grids": [], "categories": [], "repeat_addresses": [], "repeat_parties": []},
        "volunteers": {
            "tasks_created": 0,
            "tasks_filled": 0,
            "tasks_unfilled": 0,
            "median_minutes_to_fill": None,
            "hours_total": 0,
            "hours_by_role": {"party_member": 2.5},
            "party_member_hours": 0,
        },
    }


def test_the_page_is_laid_out_for_a4_print():
    page = render.weekly_html(town({}))
    assert re.search(r"@page\{size:A4;margin:[^}]+\}", page)
    assert "@media print" in page and "break-inside:avoid" in page and "page-break-after:avoid" in page
    assert "max-height:90mm" in page  # the map keeps to part of a page
    assert "http://" not in page and "https://" not in page and "<link" not in page  # no external resources


def test_green_grids_are_counted_not_listed_and_yellow_and_above_are_listed_with_reasons_and_map_numbers():
    r = town({5: "yellow", 17: "red", 42: "orange"})
    page = render.weekly_html(r)
    table = re.search(r'<table id="grid-heat">.*?</table>', page, re.S)
    assert table is not None
    listed = re.findall(r'<tr data-grid="([^"]+)" data-risk="(\w+)"><td>(\d+)</td>', table[0])
    # most severe first; each with its number on the map (the grids are numbered in the report's order)
    assert listed == [("t.v01.g07", "red", "18"), ("t.v04.g02", "orange", "43"), ("t.v00.g05", "yellow", "6")]
    assert "未办结纠纷17起，+6" in table[0] and 'data-risk="green"' not in table[0]
    assert '<span data-green="117">117</span> 个' in page and "黄色及以上 3 个" in page
    # every grid is still on the map
    assert len(re.findall(r'<path d="M[^"]+" fill="url\(#risk-', page)) == 120


def test_a_quiet_week_lists_no_grid_and_says_so():
    page = render.weekly_html(town({}))
    assert 'id="grid-heat"' not in page and "无黄色及以上网格" in page and 'data-green="120"' in page


def test_the_cases_at_risk_are_named_by_number_with_why():
    page = render.weekly_html(town({}))
    assert '<tr data-case="CP-2026-000008" data-why="overdue severe">' in page and "逾期、重大" in page
    assert 'data-kpi="at_risk">3<' in page and 'data-more="2"' in page


def test_a_towns_map_index_gives_each_villages_numbers_and_a_villages_names_each_grid():
    page = render.weekly_html(town({}))
    index = re.findall(r'<li data-village="([^"]+)">([^<]+)</li>', page)
    assert index[0] == ("t.v00", "第0村 1–10") and index[-1] == ("t.v11", "第11村 111–120") and len(index) == 12
    small = render.weekly_html(town({2: "yellow"}, villages=1, per_village=7))
    assert '<li data-grid="t.v00.g02">3&nbsp;第0村第2网格（黄）</li>' in small and "data-village=" not in small


def test_quiet_categories_are_counted_and_figures_keep_their_data_attributes():
    page = render.weekly_html(town({}))
    assert '<tr data-category="dispute.land">' in page and 'data-category="hazard.fire"' not in page.split("</svg>")[-1]
    assert "其余 1 类本周无案件" in page
    for key in ("new", "closed", "open_at_end", "closure_rate", "on_time_rate", "due", "due_on_time"):
        assert f'data-kpi="{key}"' in page, key
    assert '<td data-role="party_member">2.5</td>' in page


def test_a_bad_week_prints_the_worst_rows_of_each_list_and_counts_the_rest():
    r = town({i: ("red" if i % 3 == 0 else "yellow") for i in range(0, 120, 2)})  # 60 grids yellow and above
    case = r["at_risk"]["cases"][0]
    r["at_risk"] = {
        "total": 45,
        "cases": [{**case, "number": f"CP-2026-{n:06d}"} for n in range(30)],  # the JSON's first 30
    }
    page = render.weekly_html(r)
    table = re.search(r'<table id="grid-heat">.*?</table>', page, re.S)
    assert table is not None
    listed = re.findall(r'<tr data-grid="[^"]+" data-risk="(\w+)">', table[0])
    assert len(listed) == render.PRINTED_ROWS and set(listed) == {"red"}  # the worst first
    assert f"黄色及以上 60 个，下表列出分值最高的 {render.PRINTED_ROWS} 个" in page
    shown = re.findall(r'<tr data-case="(CP-[^"]+)"', page)
    assert shown == [f"CP-2026-{n:06d}" for n in range(render.PRINTED_ROWS)]
    assert f'data-more="{45 - render.PRINTED_ROWS}"' in page and 'data-kpi="at_risk">45<' in page

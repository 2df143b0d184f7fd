"""A town's weekly report prints on two A4 pages however bad its week: a made-up worst week (60 grids of yellow and
above, 45 cases at risk, every category busy, the livelihood section) rendered by reporting.render and printed by
headless Chromium."""

from __future__ import annotations

from reporting import render
from tests.browser import Chromium, keep
from tests.e2e.test_weekly_report import count_pages
from tests.unit.test_reporting_print_layout import COUNTS, town

CATEGORIES = [
    ("dispute.neighbor", "邻里纠纷"),
    ("dispute.family", "婚姻家庭纠纷"),
    ("dispute.land", "土地山林纠纷"),
    ("dispute.labor", "劳资纠纷"),
    ("petition", "信访事项"),
    ("hazard.fire", "消防隐患"),
    ("hazard.geological", "地质灾害隐患"),
    ("hazard.traffic", "交通安全隐患"),
    ("environment.sanitation", "环境卫生"),
    ("public_order", "治安问题"),
    ("epidemic", "疫情防控"),
    ("livelihood", "民生诉求"),
    ("health", "健康服务"),
    ("other", "其他"),
]


def worst_week() -> dict:
    r = town({i: ("red" if i % 3 == 0 else "orange" if i % 3 == 1 else "yellow") for i in range(0, 120, 2)})
    case = r["at_risk"]["cases"][0]
    r["at_risk"] = {"total": 45, "cases": [{**case, "number": f"CP-2026-{n:06d}"} for n in range(30)]}
    r["by_category"] = [
        {"category": code, "name": name, **{k: (i % 5) + 1 for k in COUNTS}}
        for i, (code, name) in enumerate(CATEGORIES)
    ]
    r["hotspots"] = {
        "grids": [{"name": f"第{i}村第1网格", "new": 9 - i} for i in range(5)],
        "categories": [{"name": name, "new": 8 - i} for i, (_, name) in enumerate(CATEGORIES[:5])],
        "repeat_addresses": [
            {"address_ref": f"address_{i:08x}", "grid_name": f"第{i}村第2网格", "cases": 3} for i in range(5)
        ],
        "repeat_parties": [{"party_ref": f"person_{i:08x}", "cases": 2} for i in range(5)],
    }
    return r


def test_the_worst_week_of_a_town_prints_on_two_a4_pages(tmp_path):
    page = render.weekly_html(worst_week())
    assert page.count("<tr data-grid=") == render.PRINTED_ROWS and page.count("<tr data-case=") == render.PRINTED_ROWS
    assert 'id="categories-2"' in page  # 14 categories: two tables side by side
    html_file = tmp_path / "worst.html"
    html_file.write_text(page, encoding="utf-8")
    browser = Chromium(tmp_path / "profile")
    pdf = browser.pdf(html_file.as_uri(), tmp_path / "worst.pdf")
    assert pdf.startswith(b"%PDF") and count_pages(pdf) <= 2, count_pages(pdf)
    keep(browser.screenshot(html_file.as_uri(), tmp_path / "worst.png", "--window-size=800,2400"), "worst-week.png")

"""Livelihood projects (民生实事) in headless Chromium: after proposal events on gov.livelihood.v1 went through the
reporting service's consumer, the annual report and the weekly report's 民生实事 section, as HTML from the
service's API, render with their figures (tests/e2e/test_weekly_report.py does the same for the rest of the
weekly report)."""

from __future__ import annotations

import re

from tests.browser import Chromium, keep
from tests.integration.test_reporting_livelihood import W45, client, reporting_service, scenario_in

TOWN = "lvhtml"


def test_the_annual_and_weekly_project_reports_render_in_chromium(stack, tmp_path):
    with scenario_in(stack, TOWN) as s, reporting_service(stack) as url:
        analyst = client(stack, url, ["analyst"], [TOWN])
        annual = {"area": TOWN, "year": "2026", "format": "html"}
        pages = {
            "annual": analyst.get("/v1/reports/livelihood-projects/annual", params=annual).text,
            "weekly": analyst.get("/v1/reports/weekly.html", params={"area": TOWN, "week": str(W45)}).text,
        }

    for name, page in pages.items():
        html_file = tmp_path / f"{name}.html"
        html_file.write_text(page, encoding="utf-8")
        browser = Chromium(tmp_path / f"profile-{name}")
        dom = browser.dom(html_file.as_uri())
        size = "--window-size=1200,1400" if name == "annual" else "--window-size=1200,2400"
        shot = browser.screenshot(html_file.as_uri(), tmp_path / f"{name}.png", size)
        assert shot.exists() and shot.stat().st_size > 20_000, name  # a blank page is a few kB
        keep(shot, f"livelihood-projects-{name}.png")
        if name == "annual":
            assert "lvhtml村2026年民生实事项目年度报告" in dom
            assert re.search(r'data-kpi="budget_adopted_yuan" data-value="1300000.50">\s*1,300,000.50<', dom)
            assert 'data-kpi="spent_yuan" data-value="400000.05">400,000.05<' in dom
            assert 'data-kpi="proposals">3<' in dom and 'data-kpi="households">165<' in dom
            assert dom.count("data-proposal=") == 3 and f'data-proposal="{s.p1.id}"' in dom
            assert "饮水" in dom and "实施中" in dom and "未通过" in dom
        else:
            assert "六、民生实事" in dom
            assert re.search(r'data-kpi="lp_budget_adopted" data-value="1300000.50">\s*1,300,000.50<', dom)
            assert 'data-kpi="lp_spent" data-value="300000.05">300,000.05<' in dom
            assert 'data-kpi="lp_adopted">1<' in dom and 'data-kpi="lp_overdue_milestones">1<' in dom
            assert "管网铺设" in dom

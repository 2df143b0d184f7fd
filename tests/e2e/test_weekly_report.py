"""A week of the Changping demo scenario driven through the cases service, then
the weekly report of the village: JSON with known figures, HTML and CSV that
agree with it to the digit, a rebuild that arrives at the same numbers, the
weekly publish job, and the HTML rendered by headless Chromium."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import subprocess
import sys
from datetime import datetime
from urllib.parse import urlsplit

import httpx
import pytest

from gov_contracts import topics as T
from gov_contracts.vocabulary import LOCAL_TZ
from govctl import areas as area_file
from govkit.auth import mint
from reporting import kpis
from tests.browser import Chromium, keep
from tests.integration.conftest import read_topic

from .test_services_and_areas import wait_for

VILLAGE = "changping.qinglong"
G = [f"{VILLAGE}.g0{i}" for i in (1, 2, 3)]


@pytest.fixture(scope="module")
def live(stack):
    saved = os.environ.get("REPORTING_PUBLISH_INTERVAL_S")
    os.environ["REPORTING_PUBLISH_INTERVAL_S"] = "1"  # the areas arrive after start-up: check again soon
    stack.stop_services()
    stack.start_services(say=lambda *_: None)
    area_file.publish(stack.bootstrap, area_file.DEFAULT_FILE)
    for svc in ("cases", "reporting"):
        stack.wait_areas(svc, 137, timeout=240)  # behind the backlog the modules before left
    yield stack
    stack.stop_services()
    os.environ.pop("REPORTING_PUBLISH_INTERVAL_S") if saved is None else os.environ.__setitem__(
        "REPORTING_PUBLISH_INTERVAL_S", saved
    )


def client(stack, svc, sub, roles, areas=("changping",)):
    token = mint(key=stack.state["jwt_secret"], sub=sub, roles=roles, areas=list(areas))
    return httpx.Client(base_url=stack.url(svc), headers={"authorization": f"Bearer {token}"}, timeout=20)


def drive_week(stack):
    gm = client(stack, "cases", "gm-ql", ["grid_manager"], [VILLAGE])
    va, va2 = client(stack, "cases", "va-ql", ["village_admin"]), client(stack, "cases", "va-ql2", ["village_admin"])
    ta = client(stack, "cases", "ta-ql", ["town_admin"])

    def new(grid, cat, sev, title):
        r = gm.post(
            "/v1/cases",
            json={
                "category": cat,
                "severity": sev,
                "title": title,
                "description": title + "，请处理",
                "grid_id": grid,
                "address": f"青龙村{grid[-1]}组",
            },
        )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def do(c, cid, action, **body):
        r = c.post(f"/v1/cases/{cid}/{action}", json=body or None)
        assert r.status_code == 200, (action, r.text)

    def close_loop(cid, level, unit, resolver=None, verifier=None):
        resolver = resolver or (gm if level == "grid" else va)
        do(resolver, cid, "dispatch", unit_level=level, unit_id=unit)
        do(resolver, cid, "start")
        do(resolver, cid, "resolve", resolution="已化解")
        do(verifier or va2, cid, "verify")
        do(verifier or va2, cid, "close")

    a = new(G[0], "dispute.neighbor", "medium", "邻里通道纠纷")
    do(gm, a, "accept")
    close_loop(a, "grid", G[0], verifier=va)
    gm.post(f"/v1/cases/{a}/satisfaction", json={"score": 4}).raise_for_status()
    b = new(G[1], "dispute.land", "high", "山林边界纠纷")
    do(gm, b, "escalate", reason="需村里协调")
    do(va, b, "accept")
    close_loop(b, "village", VILLAGE)
    gm.post(f"/v1/cases/{b}/satisfaction", json={"score": 2}).raise_for_status()
    c = new(G[0], "dispute.labor", "critical", "工地拖欠工资")
    do(ta, c, "accept")
    do(ta, c, "dispatch", unit_level="town", unit_id="changping")
    d = new(G[2], "petition", "medium", "低保评定信访")
    e = new(G[1], "livelihood.request", "low", "路灯不亮")
    do(va, e, "reject", reason="已纳入年度民生实事统一安排")
    f = new(G[1], "hazard.fire", "high", "柴草堆放消防隐患")
    do(va, f, "accept")
    do(va, f, "dispatch", unit_level="village", unit_id=VILLAGE)
    do(va, f, "start")
    do(va, f, "resolve", resolution="已清理")
    do(va2, f, "reopen", reason="现场仍有堆放")
    do(va, f, "start")
    do(va, f, "resolve", resolution="已全部清理")
    do(va2, f, "verify")
    do(va2, f, "close")
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "f": f}


def test_a_week_of_cases_makes_the_weekly_report(live, tmp_path):
    stack = live
    ids = drive_week(stack)
    week = str(kpis.Week.of(datetime.now(LOCAL_TZ).date()))
    analyst = client(stack, "reporting", "analyst-1", ["analyst"])
    params = {"area": VILLAGE, "week": week}

    def settled():
        r = analyst.get("/v1/reports/weekly", params=params).json()
        # the three dispatched disputes' mediation tasks arrive from the volunteers service a little later
        done = r["kpis"]["closed"] == 3 and r["kpis"]["new"] == 6 and r["volunteers"]["tasks_created"] == 3
        return r if done else None

    r = wait_for(settled, timeout=60)
    k = r["kpis"]
    assert (k["new"], k["accepted"], k["closed"], k["open_at_end"]) == (6, 4, 3, 2)
    assert (k["escalated"], k["reopened"], k["resolved"]) == (1, 1, 4)
    assert (k["closure_rate"], k["rework_rate"]) == (0.5, 0.3333)
    # 按期办结率 over the cases due this week (应结案数): which they are depends on the day the test runs, so the
    # expected figures come from the deadlines the cases service gave; every case closed here was closed on time
    cases_api = client(stack, "cases", "va-ql", ["village_admin"])
    due = on_time = 0
    for cid in ids.values():
        case = cases_api.get(f"/v1/cases/{cid}").json()
        if case["resolve_due"] is None or case["status"] in ("rejected", "withdrawn", "merged"):
            continue
        if kpis.Week.of(datetime.fromisoformat(case["resolve_due"]).astimezone(LOCAL_TZ).date()) == kpis.Week.parse(
            week
        ):
            due += 1
            on_time += case["status"] == "closed"
    assert (k["due"], k["due_on_time"]) == (due, on_time)
    assert k["on_time_rate"] == (round(on_time / due, 4) if due else None)
    assert k["grassroots_resolution_rate"] == 1.0 and k["satisfaction_mean"] == 3.0
    grids = {g["id"]: g for g in r["grids"]}
    assert grids[G[0]]["risk"] == "orange" and "特别重大1起" in grids[G[0]]["reasons"][0]
    assert grids[G[2]]["risk"] == "green" and grids[G[2]]["score"] == 3
    assert r["volunteers"]["tasks_created"] == 3  # mediation for the neighbour, land and labour disputes

    # HTML and JSON agree to the digit
    page = analyst.get("/v1/reports/weekly.html", params=params).text
    for key, value in k.items():
        m = re.search(rf'data-kpi="{key}"(?: data-value="([^"]*)")?>([^<]*)<', page)
        if m is None:
            continue
        shown = m.group(1) if m.group(1) is not None else m.group(2)
        assert shown == ("—" if value is None else f"{value:g}" if isinstance(value, float) else str(value)), key
    for key in (
        "new",
        "closed",
        "open_at_end",
        "closure_rate",
        "on_time_rate",
        "due",
        "rework_rate",
        "satisfaction_mean",
    ):
        assert f'data-kpi="{key}"' in page
    assert "按期办结率（应结案数口径）" in page and "应结案数" in page
    assert f'data-grid="{G[0]}" data-risk="orange"' in page and 'id="trend-chart"' in page
    # the cases at risk: the critical labour dispute, open and severe, by its number (no names, no addresses)
    labour = cases_api.get(f"/v1/cases/{ids['c']}").json()["number"]
    assert r["at_risk"]["total"] == 1 and [(x["number"], x["why"]) for x in r["at_risk"]["cases"]] == [
        (labour, ["severe"])
    ]
    assert f'<tr data-case="{labour}" data-why="severe">' in page and "重点关注案件" in page
    # the CSV too: in codes with lang=en; for Excel by default (BOM, Chinese headers and words)
    rows = list(
        csv.DictReader(io.StringIO(analyst.get("/v1/reports/weekly.csv", params={**params, "lang": "en"}).text))
    )
    excel = analyst.get("/v1/reports/weekly.csv", params=params)
    assert excel.content.startswith("\ufeff周次,区域,部分,指标,类别或网格,风险等级,数值\r\n".encode())
    zh = list(csv.DictReader(io.StringIO(excel.content.decode("utf-8-sig"))))
    assert len(zh) == len(rows) and {"总体指标", "分类别", "网格风险"} <= {row["部分"] for row in zh}
    as_zh = {row["指标"]: row["数值"] for row in zh if row["部分"] == "总体指标"}
    assert as_zh["新增"] == "6" and as_zh["结案率"] == "50%" and as_zh["矛盾纠纷基层化解率"] == "100%"
    assert "filename*=UTF-8''" in excel.headers["content-disposition"]
    as_csv = {row["key"]: row["value"] for row in rows if row["section"] == "kpi"}
    assert as_csv["new"] == "6" and as_csv["closure_rate"] == "0.5" and as_csv["grassroots_resolution_rate"] == "1"
    assert analyst.get("/v1/reports/weekly", params={"area": "changping.kongjiafan", "week": week}).status_code == 200
    outsider = client(stack, "reporting", "gm-x", ["grid_manager"], ["changping.kongjiafan.g01"])
    assert outsider.get("/v1/reports/weekly", params=params).status_code == 403
    assert analyst.get("/v1/reports/weekly", params={"area": VILLAGE, "week": "2026-W99"}).status_code == 422

    # rebuild from the topics arrives at the same numbers
    town_before = analyst.get("/v1/reports/weekly", params={"area": "changping", "week": week}).json()
    out = subprocess.run(
        [sys.executable, "-m", "govctl", "reporting", "rebuild"],
        capture_output=True,
        text=True,
        env={**os.environ, "GOV_HOME": str(stack.home)},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "rebuild [" in out.stderr and "rebuilt reporting projections" in out.stdout
    assert analyst.get("/v1/reports/weekly", params=params).json() == r
    assert analyst.get("/v1/reports/weekly", params={"area": "changping", "week": week}).json() == town_before

    # the weekly job published last week's report once per village/community and for the town
    last = str(kpis.Week.parse(week).shift(-1))
    recs = asyncio.run(read_topic(stack.bootstrap, T.REPORTS, expect=100, timeout=8))
    of_week = [x for x in recs if json.loads(x.value)["week"] == last]
    published = [
        json.loads(x.value) for x in of_week if dict(x.headers)["ce_type"] == b"gov.report.weekly_published.v1"
    ]
    areas = sorted(p["area_id"] for p in published)
    assert len(areas) == 17 and len(set(areas)) == 17 and "changping" in areas
    # and the livelihood demand of every village/community, once
    demand = [json.loads(x.value) for x in of_week if dict(x.headers)["ce_type"] == b"gov.report.livelihood_demand.v1"]
    assert sorted(d["village_id"] for d in demand) == [a for a in areas if a != "changping"]

    # headless Chromium renders the page with its charts and the grid map: one path per grid of the village (from
    # the demo shapes of the area file), filled with its risk level's pattern
    html_file = tmp_path / "weekly.html"
    html_file.write_text(page, encoding="utf-8")
    browser = Chromium(tmp_path / "profile")
    dom = browser.dom(html_file.as_uri())
    assert 'id="trend-chart"' in dom and "<polyline" in dom and 'id="category-chart"' in dom
    svg = re.search(r'<svg id="grid-map".*?</svg>', dom, re.S)
    assert svg is not None, "no grid map"
    paths = re.findall(r'<path d="M[^"]+" fill="url\(#risk-(\w+)\)"[^>]*data-grid="([^"]+)" data-risk="(\w+)"', svg[0])
    assert sorted((grid, fill) for fill, grid, _ in paths) == sorted((g["id"], g["risk"]) for g in r["grids"])
    drawn = re.sub(r"<defs>.*?</defs>", "", svg[0], flags=re.S)  # the patterns' hatches are paths too
    assert len(paths) == drawn.count("<path ") == len(r["grids"]) == 7  # 青龙村's grids, each drawn once
    assert f'data-grid="{G[0]}" data-risk="orange"' in svg[0] and "橙色 1" in svg[0]  # the legend counts it
    shot = browser.screenshot(html_file.as_uri(), tmp_path / "weekly.png", "--window-size=1000,2600")
    assert shot.exists() and shot.stat().st_size > 20_000
    keep(shot, "weekly-report.png")


def count_pages(pdf: bytes) -> int:
    """Pages of a PDF Chromium printed: its page objects (/Type /Page, not /Pages)."""
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))


def test_report_readers_share_link_event_and_two_a4_pages(live, tmp_path):
    """What a town leader hits first: a link that opens the report with no token (from the API and in the
    weekly_published event), and the town's report printed on two A4 pages."""
    stack = live
    week = str(kpis.Week.of(datetime.now(LOCAL_TZ).date()))
    analyst = client(stack, "reporting", "analyst-1", ["analyst"])
    r = analyst.get("/v1/reports/weekly/share", params={"area": VILLAGE, "week": week})
    assert r.status_code == 200, r.text
    link = r.json()["url"]
    assert link.startswith(f"{stack.url('reporting')}/v1/public/shared/reports/weekly/{VILLAGE}/{week}.html?exp=")
    page = httpx.get(link, timeout=20)  # no Authorization header
    assert page.status_code == 200 and f'data-area="{VILLAGE}" data-week="{week}"' in page.text
    assert 'data-grid="changping.qinglong.g01" data-risk="orange"' in page.text  # the report, with its figures
    other_week = link.replace(f"/{week}.html", f"/{kpis.Week.parse(week).shift(-1)}.html")
    refused = httpx.get(other_week, timeout=20)
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/problem+json")
    assert httpx.get(link.replace(f"/{VILLAGE}/", "/changping/"), timeout=20).status_code == 403
    assert httpx.get(link.replace(".html?", ".csv?"), timeout=20).status_code == 403

    # the weekly job's event for the town carries a link to its report (last week's) that opens it
    last = str(kpis.Week.parse(week).shift(-1))

    def town_event():
        recs = asyncio.run(read_topic(stack.bootstrap, T.REPORTS, expect=100, timeout=5))
        for x in recs:
            event = json.loads(x.value)
            published = dict(x.headers)["ce_type"] == b"gov.report.weekly_published.v1"
            if published and (event["area_id"], event["week"]) == ("changping", last):
                return event
        return None

    event = wait_for(town_event, timeout=60)
    assert event["share_url"] and event["share_expires_at"] > event["published_at"]
    shared = urlsplit(event["share_url"])
    assert shared.path == f"/v1/public/shared/reports/weekly/changping/{last}.html"
    # opened at the service that runs now (a replica that published it may have had another port)
    town_page = httpx.get(f"{stack.url('reporting')}{shared.path}?{shared.query}", timeout=20)
    assert town_page.status_code == 200 and f'data-area="changping" data-week="{last}"' in town_page.text

    # this week's town report (the demo's tree: 120 grids with shapes, the cases of the week) prints on two A4
    # pages: green grids counted, not listed; the yellow and above listed; the map sized to fit
    town = analyst.get("/v1/reports/weekly.html", params={"area": "changping", "week": week}).text
    report = analyst.get("/v1/reports/weekly", params={"area": "changping", "week": week}).json()
    assert len(report["grids"]) == 120 and report["risk_summary"]["green"] < 120
    listed = re.findall(r'<tr data-grid="([^"]+)" data-risk="(\w+)">', town)
    assert sorted(listed) == sorted((g["id"], g["risk"]) for g in report["grids"] if g["risk"] != "green")
    assert f'data-green="{report["risk_summary"]["green"]}"' in town
    html_file = tmp_path / "town.html"
    html_file.write_text(town, encoding="utf-8")
    browser = Chromium(tmp_path / "profile")
    pdf = browser.pdf(html_file.as_uri(), tmp_path / "town.pdf")
    assert pdf.startswith(b"%PDF") and 1 <= count_pages(pdf) <= 2, count_pages(pdf)
    shot = browser.screenshot(html_file.as_uri(), tmp_path / "town.png", "--window-size=800,2200")
    assert shot.exists() and shot.stat().st_size > 20_000
    keep(shot, "weekly-report-town.png")

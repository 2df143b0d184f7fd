"""民生实事 through the services: the 孔家畈村 drinking-water main (饮水主管道) from the cases behind it to the
results made public, and the refusals on the way.

evidence from cases → a representative proposes → the branch approves → a 村民代表会议 of 30 members with 21
present (quorate) votes 15 for → adopted → 公示 7 days (the service's clock moved by a file) with one objection
answered → milestones → 验收 → results public; and: 19 of 30 present → no decision; two clerks' entries that
differ → refused; an unanswered objection → implementation cannot start; spending above the budget → refused.
"""

from __future__ import annotations

import asyncio
import os
import re
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from gov_contracts import topics
from gov_contracts.vocabulary import LOCAL_TZ
from govctl import areas as area_file
from govkit.auth import mint
from tests.browser import Chromium, keep
from tests.integration.conftest import read_topic

from .test_services_and_areas import wait_caught_up, wait_for

VILLAGE = "changping.kongjiafan"
GRID = "changping.kongjiafan.g06"
DAY = 86400


@pytest.fixture(scope="module")
def live(stack, tmp_path_factory):
    clock = tmp_path_factory.mktemp("livelihood") / "clock"
    clock.write_text("0")
    saved = os.environ.get("LIVELIHOOD_CLOCK_FILE")
    os.environ["LIVELIHOOD_CLOCK_FILE"] = str(clock)
    try:
        stack.stop_services()
        stack.start_services(say=lambda *_: None)
        area_file.publish(stack.bootstrap, area_file.DEFAULT_FILE)
        for svc in ("cases", "livelihood"):
            stack.wait_areas(svc, 137, timeout=240)
        wait_caught_up(stack)
        yield stack, clock
    finally:
        stack.stop_services()
        os.environ.pop("LIVELIHOOD_CLOCK_FILE", None) if saved is None else os.environ.__setitem__(
            "LIVELIHOOD_CLOCK_FILE", saved
        )


def client(stack, svc, sub, roles, areas=(VILLAGE,)):
    token = mint(key=stack.state["jwt_secret"], sub=sub, roles=list(roles), areas=list(areas))
    return httpx.Client(base_url=stack.url(svc), headers={"authorization": f"Bearer {token}"}, timeout=20)


def iso_week(day) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def print_on_a4(page: str, where: Path) -> None:
    """Headless Chromium prints the notice to PDF: one A4 page (595 × 842 pt); its screenshot is not blank and
    its DOM has the notice's title."""
    where.mkdir()
    html_file = where / "notice.html"
    html_file.write_text(page, encoding="utf-8")
    browser = Chromium(where / "profile")
    data = browser.pdf(html_file.as_uri(), where / "notice.pdf")
    assert len(re.findall(rb"/Type\s*/Page[^s]", data)) == 1, "more than one page"
    box = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)", data)
    assert box and abs(float(box.group(1)) - 595) < 2 and abs(float(box.group(2)) - 842) < 2
    shot = browser.screenshot(html_file.as_uri(), where / "notice.png", "--window-size=794,1123")
    assert shot.exists() and shot.stat().st_size > 20_000
    dom = browser.dom(html_file.as_uri())
    assert "民生实事" in dom and "公示期" in dom
    keep(shot, f"livelihood-{where.name}-notice.png")


def advance(clock, days: float) -> None:
    clock.write_text(str(float(clock.read_text() or 0) + days * DAY))


def test_drinking_water_main_from_evidence_to_results(live, tmp_path):
    stack, clock = live
    town = client(stack, "livelihood", "ta-lv", ["town_admin"], ["changping"])
    today = datetime.now(LOCAL_TZ).date()
    r = town.post(
        "/v1/representatives",
        json={
            "village_id": VILLAGE,
            "sub": "rep-kjf-1",
            "name": "孔德明",
            "phone": "13900007777",
            "term_start": str(today - timedelta(days=400)),
            "term_end": str(today + timedelta(days=800)),
        },
    )
    assert r.status_code == 201 and r.json()["name"] is None  # personal data not echoed without the permission

    # the cases behind it: villagers' requests about drinking water
    gm = client(stack, "cases", "gm-kjf6", ["grid_manager"], [GRID])
    case_ids = []
    for title in ("六组自来水压力不足", "饮水管道老化漏水", "夏季停水频繁"):
        c = gm.post(
            "/v1/cases",
            json={
                "category": "livelihood.request",
                "title": title,
                "description": "饮水问题",
                "grid_id": GRID,
                "tags": ["饮水"],
            },
        )
        assert c.status_code == 201, c.text
        case_ids.append(c.json()["id"])

    # the reporting service's demand analysis of the village, once it has projected the cases, is the evidence
    analyst = client(stack, "reporting", "an-lv", ["analyst", "town_admin"], ["changping"])

    def water_requests():
        themes = analyst.get("/v1/reports/livelihood", params={"area": VILLAGE}).json()["themes"]
        return any(t["theme"] == "饮水" and t["cases"] >= 3 for t in themes)

    wait_for(water_requests, timeout=60)
    published = analyst.post("/v1/reports/livelihood-demand/publish", params={"week": iso_week(today)})
    assert published.status_code == 200 and VILLAGE in published.json()["published"] + published.json()["already"]

    rep = client(stack, "livelihood", "rep-kjf-1", ["representative"])
    proposal = {
        "title": "孔家畈村饮水主管道改造",
        "description": "更换六组至八组主管道2.3公里，新增加压泵站一座",
        "village_id": VILLAGE,
        "grid_ids": [GRID],
        "category": "water",
        "budget_yuan": "1250000.00",
        "funding_source": "一事一议财政奖补+村集体",
        "households": 312,
        "people": 1046,
        "case_ids": case_ids,
    }

    def submitted():
        r = rep.post("/v1/proposals", json=proposal)
        return r if r.status_code == 201 else None  # until the livelihood service has the cases

    p = wait_for(submitted, timeout=60).json()
    assert p["stage"] == "proposed" and p["evidence"]["linked_cases"] == 3 and p["budget_yuan"] == "1250000.00"
    pid = p["id"]

    def evidence():
        e = rep.get(f"/v1/proposals/{pid}").json()["evidence"]
        return e if e["requests"] >= 3 else None

    proof = wait_for(evidence, timeout=60)  # the demand event reached the livelihood service
    assert proof["summary"].startswith(f"{proof['total']} 件相关诉求，") and "近 12 周" in proof["summary"]
    outsider = client(stack, "livelihood", "rep-other", ["representative"])
    assert outsider.post("/v1/proposals", json=proposal).status_code == 403  # not in the register

    branch = client(stack, "livelihood", "pb-kjf", ["party_branch"])
    assert rep.post(f"/v1/proposals/{pid}/actions/approve").status_code == 403
    r = branch.post(f"/v1/proposals/{pid}/actions/approve", json={"reason": "符合群众需求"})
    assert r.status_code == 200 and r.json()["stage"] == "approved"

    admin = client(stack, "livelihood", "va-kjf", ["village_admin"])
    sits = datetime.now(LOCAL_TZ) + timedelta(days=1)
    early = admin.post(
        "/v1/meetings",
        json={
            "village_id": VILLAGE,
            "kind": "representatives_meeting",
            "starts_at": sits.isoformat(),
            "place": "孔家畈村村委会议室",
            "proposal_ids": [pid],
        },
    )
    assert early.status_code == 422 and "5 days" in early.json()["detail"]
    m = admin.post(
        "/v1/meetings",
        json={
            "village_id": VILLAGE,
            "kind": "representatives_meeting",
            "starts_at": (sits + timedelta(days=5)).isoformat(),
            "place": "孔家畈村村委会议室",
            "proposal_ids": [pid],
        },
    )
    assert m.status_code == 201, m.text
    meeting = m.json()
    assert meeting["invitee_subs"] == ["rep-kjf-1"]
    # the notice went over the bus: the notifications service tells the representative
    inbox = client(stack, "notifications", "rep-kjf-1", ["representative"])

    def told():
        items = inbox.get("/v1/me/notifications").json()["items"]
        return [i for i in items if i["kind"] == "meeting_notice"]

    (note,) = wait_for(told, timeout=60)
    assert "村民代表会议" in note["text"] and "孔家畈村村委会议室" in note["text"]
    advance(clock, 7)

    clerk_a = client(stack, "livelihood", "clerk-a", ["clerk"])
    clerk_b = client(stack, "livelihood", "clerk-b", ["clerk"])
    tally = {"proposal_id": pid, "present": 21, "eligible": 30, "votes_for": 15, "votes_against": 4, "abstentions": 2}
    first = clerk_a.post(f"/v1/meetings/{meeting['id']}/tallies", json=tally).json()
    assert first["outcome"] == "waiting_for_second_entry"
    wrong = clerk_b.post(f"/v1/meetings/{meeting['id']}/tallies", json={**tally, "votes_for": 16, "votes_against": 3})
    assert wrong.status_code == 409 and "votes_for" in wrong.json()["detail"]
    assert branch.get(f"/v1/proposals/{pid}").json()["stage"] == "approved"  # nothing decided on a mismatch
    decided = clerk_b.post(f"/v1/meetings/{meeting['id']}/tallies", json=tally).json()
    assert decided["outcome"] == "adopted" and decided["stage"] == "decided"

    r = admin.post(f"/v1/proposals/{pid}/actions/publish_notice")
    assert r.status_code == 200 and r.json()["stage"] == "in_notice"
    notice = r.json()["notices"][0]
    html = httpx.get(stack.url("livelihood") + f"/v1/public/notices/{notice['id']}.html")
    assert html.status_code == 200 and "孔家畈村民生实事决议公示" in html.text and "¥1,250,000.00" in html.text
    assert "应到30人，实到21人；赞成15票" in html.text
    objection = httpx.post(
        stack.url("livelihood") + f"/v1/public/notices/{notice['id']}/objections",
        json={"text": "泵站选址离住户太近，建议调整"},
    )
    assert objection.status_code == 201

    assert admin.post(f"/v1/proposals/{pid}/actions/start").status_code == 409  # the 7 days are not over
    advance(clock, 8)
    blocked = admin.post(f"/v1/proposals/{pid}/actions/start")
    assert blocked.status_code == 409 and "objection" in blocked.json()["detail"]
    r = admin.post(
        f"/v1/proposals/{pid}/objections/{objection.json()['id']}/answer",
        json={"answer": "泵站已移至村东空地，距最近住户80米"},
    )
    assert r.status_code == 200
    r = admin.post(f"/v1/proposals/{pid}/actions/start")
    assert r.status_code == 200 and r.json()["stage"] == "implementing"

    ms = admin.post(
        f"/v1/proposals/{pid}/milestones", json={"title": "主管道铺设", "due_on": str(today + timedelta(days=60))}
    )
    assert ms.status_code == 201
    over = admin.post(
        f"/v1/proposals/{pid}/spending", json={"amount_yuan": "1250000.01", "note": "一次付清", "spent_on": str(today)}
    )
    assert over.status_code == 409 and "budget" in over.json()["detail"]
    spent = admin.post(
        f"/v1/proposals/{pid}/spending",
        json={"amount_yuan": "1180000.00", "note": "管材及施工", "spent_on": str(today)},
    )
    assert spent.status_code == 201 and spent.json()["spent_total_yuan"] == "1180000.00"
    supervisors = client(stack, "livelihood", "sc-kjf", ["supervisory_committee"])
    assert supervisors.post(f"/v1/proposals/{pid}/actions/accept").status_code == 409  # a milestone is open
    admin.post(
        f"/v1/proposals/{pid}/milestones/{ms.json()['id']}/done",
        json={"done_on": str(today + timedelta(days=15)), "photo_urls": ["https://img.example.cn/pipe.jpg"]},
    )
    assert supervisors.post(f"/v1/proposals/{pid}/actions/accept").json()["stage"] == "accepted"
    done = admin.post(f"/v1/proposals/{pid}/actions/publish_results").json()
    assert done["stage"] == "results_public" and done["allowed_actions"] == []
    results = [n for n in done["notices"] if n["kind"] == "results"][0]
    page = httpx.get(stack.url("livelihood") + f"/v1/public/notices/{results['id']}.html").text
    assert "实施结果公示" in page and "¥1,180,000.00" in page and "主管道铺设" in page
    # both notices print on one A4 page for the village board
    for name, text in (("decision", html.text), ("results", page)):
        print_on_a4(text, tmp_path / name)
    # the events of its steps are on gov.livelihood.v1, without the representative's name and phone or the objection
    records = asyncio.run(read_topic(stack.bootstrap, topics.LIVELIHOOD, expect=10_000, timeout=6))  # all there is
    mine = [r for r in records if r.key == pid.encode()]
    types = [dict(r.headers)["ce_type"].decode().split(".")[2] for r in mine]
    assert types[:4] == ["proposal_submitted", "proposal_reviewed", "proposal_decided", "notice_published"]
    assert types[-1] == "results_published" and "objection_lodged" in types and "budget_changed" not in types
    blob = b"".join(r.value for r in records)
    for secret in ("孔德明", "13900007777", "泵站选址离住户太近"):
        assert secret.encode() not in blob

    # the reporting service counts it: the weekly assessment's 民生实事 pipeline and the annual report
    def reported():
        r = analyst.get("/v1/reports/livelihood-projects/annual", params={"area": VILLAGE, "year": today.year})
        items = [i for i in r.json()["projects"] if i["number"] == done["number"]] if r.status_code == 200 else []
        return items[0] if items and items[0]["stage"] == "results_public" else None

    annual = wait_for(reported, timeout=60)
    assert (annual["budget_yuan"], annual["spent_yuan"], annual["category_name"]) == (
        "1250000.00",
        "1180000.00",
        "饮水",
    )
    csv = analyst.get(
        "/v1/reports/livelihood-projects/annual", params={"area": VILLAGE, "year": today.year, "format": "csv"}
    )
    assert csv.content.startswith(b"\xef\xbb\xbf") and "孔家畈村饮水主管道改造" in csv.content.decode("utf-8-sig")
    weekly = analyst.get("/v1/reports/weekly", params={"area": VILLAGE, "week": iso_week(today)}).json()[
        "livelihood_projects"
    ]
    assert weekly["proposals"] >= 1 and sum(s["proposals"] for s in weekly["by_stage"]) == weekly["proposals"]
    steps = [t["action"] for t in done["timeline"]]
    assert steps == [
        "submit",
        "approve",
        "decide",
        "publish_notice",
        "answer_objection",
        "start",
        "accept",
        "publish_results",
    ]


def test_an_inquorate_meeting_decides_nothing(live):
    stack, clock = live
    branch = client(stack, "livelihood", "pb-kjf", ["party_branch"])
    p = branch.post(
        "/v1/proposals",
        json={
            "title": "孔家畈村文化广场路灯",
            "description": "广场新增太阳能路灯12盏",
            "village_id": VILLAGE,
            "category": "streetlight",
            "budget_yuan": "36000.00",
            "funding_source": "村集体",
            "households": 80,
            "people": 260,
            "flow": "four_two",
        },
    )
    assert p.status_code == 201, p.text
    pid = p.json()["id"]
    assert p.json()["flow_label"] == "四议两公开" and p.json()["allowed_actions"] == ["discuss", "withdraw"]
    admin = client(stack, "livelihood", "va-kjf", ["village_admin"])
    assert admin.post(f"/v1/proposals/{pid}/actions/discuss").json()["stage"] == "discussed"
    illegal = admin.post(f"/v1/proposals/{pid}/actions/start")
    assert illegal.status_code == 409 and illegal.json()["allowed_actions"] == ["party_review", "withdraw"]
    assert branch.post(f"/v1/proposals/{pid}/actions/party_review").json()["stage"] == "reviewed"
    sits = datetime.now(LOCAL_TZ) + timedelta(days=float(clock.read_text()) / DAY + 6)
    meeting = admin.post(
        "/v1/meetings",
        json={
            "village_id": VILLAGE,
            "kind": "representatives_meeting",
            "starts_at": sits.isoformat(),
            "place": "村委会",
            "proposal_ids": [pid],
        },
    )
    assert meeting.status_code == 201, meeting.text
    advance(clock, 7)
    tally = {"proposal_id": pid, "present": 19, "eligible": 30, "votes_for": 19, "votes_against": 0, "abstentions": 0}
    for sub in ("clerk-a", "clerk-b"):
        out = (
            client(stack, "livelihood", sub, ["clerk"])
            .post(f"/v1/meetings/{meeting.json()['id']}/tallies", json=tally)
            .json()
        )
    assert out["outcome"] == "inquorate" and "法定人数" in out["why"]
    after = branch.get(f"/v1/proposals/{pid}").json()
    assert after["stage"] == "reviewed" and "decide" not in [t["action"] for t in after["timeline"]]

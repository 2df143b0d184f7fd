"""What report readers hit first, through the reporting service's HTTP API (a process of its own against the
session's PostgreSQL, no broker): the share link of a weekly report opens that one report's HTML without a bearer
token and nothing else (another area, week or format, a tampered or cut link: 403; an expired one: 410; each a
problem+json), the link is given to whoever may read the report, and the weekly job's event carries one; the CSV
is for Excel by default (BOM, Chinese headers, a Chinese file name) and in codes with lang=en."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
import pytest

from gov_contracts import CloudEvent
from gov_contracts.areas import AreaKind, AreaUpserted
from gov_contracts.vocabulary import LOCAL_TZ
from govkit import db
from govkit.areas import on_area_upserted
from govkit.auth import mint
from govkit.settings import DEV_PSEUDONYM_KEY
from reporting import kpis, publisher, share

from .service_process import reporting_service

ROOT = Path(__file__).resolve().parents[2]
TOWN = "sharetown"
VILLAGE = f"{TOWN}.v1"
TREE = [(TOWN, "town", None), (VILLAGE, "village", TOWN), (f"{VILLAGE}.g1", "grid", VILLAGE)]
WEEK = "2026-W45"
PROBLEM = "application/problem+json"


async def put_areas(stack, present: bool) -> None:
    """The test town in reporting's copy of the tree; taken away again with what the test's process left behind
    (its outbox rows have no broker to go to, and the services' e2e tests compare the tree with the area file)."""
    con = await db.connect(stack.service_dsn("reporting"), "reporting")
    try:
        if present:
            for aid, kind, parent in TREE:
                e = AreaUpserted(
                    id=aid, kind=AreaKind(kind), name=f"{aid.split('.')[-1]}镇", parent_id=parent, tree_version="t"
                )
                await on_area_upserted(con, e, CloudEvent(type="gov.area.upserted.v1", source="tests", subject=e.id))
        else:
            await con.execute("delete from areas where id = $1 or id like $1 || '.%'", TOWN)
            await con.execute(
                "delete from outbox where published_at is null and (key = $1 or key like $1 || '.%')", TOWN
            )
    finally:
        await con.close()


@pytest.fixture(scope="module")
def service(stack) -> Iterator[str]:
    asyncio.run(put_areas(stack, True))
    try:
        with reporting_service(stack, log_name="reporting-share") as url:
            yield url
    finally:
        asyncio.run(put_areas(stack, False))


def client(stack, url: str, roles: list[str], areas: list[str]) -> httpx.Client:
    token = mint(key=stack.state["jwt_secret"], sub="reader-1", roles=roles, areas=areas)
    return httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=20)


def the_key() -> bytes:
    """The key the stack's reporting processes sign with: derived from the pseudonym key (none set: the dev one)."""
    return share.derive_key(
        os.environ.get("REPORTING_SHARE_KEY") or os.environ.get("PSEUDONYM_KEY") or DEV_PSEUDONYM_KEY
    )


def refused(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith(PROBLEM) and r.json()["status"] == status


def test_a_share_link_opens_its_one_report_without_a_token_and_nothing_else(stack, service):
    analyst = client(stack, service, ["analyst"], [TOWN])
    before = datetime.now(UTC)
    r = analyst.get("/v1/reports/weekly/share", params={"area": VILLAGE, "week": WEEK})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["area"], body["week"]) == (VILLAGE, WEEK)
    expires = datetime.fromisoformat(body["expires_at"])
    assert before + timedelta(days=14) - timedelta(seconds=2) <= expires <= datetime.now(UTC) + timedelta(days=14)
    link = body["url"]
    assert link.startswith(
        f"{service}/v1/public/shared/reports/weekly/{VILLAGE}/{WEEK}.html?exp="
    )  # REPORTING_PUBLIC_URL

    page = httpx.get(link, timeout=20)  # no Authorization header
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f'data-area="{VILLAGE}" data-week="{WEEK}"' in page.text and "周矛盾纠纷和社会风险研判报告" in page.text
    assert page.headers["cache-control"] == "private, no-store" and page.headers["referrer-policy"] == "no-referrer"

    u = urlsplit(link)
    query = u.query
    exp = dict(p.split("=", 1) for p in query.split("&"))["exp"]
    for other in (
        f"/v1/public/shared/reports/weekly/{VILLAGE}/2026-W44.html?{query}",  # another week
        f"/v1/public/shared/reports/weekly/{TOWN}/{WEEK}.html?{query}",  # another area, even the town above
        f"/v1/public/shared/reports/weekly/{VILLAGE}.g1/{WEEK}.html?{query}",
        f"/v1/public/shared/reports/weekly/{VILLAGE}/{WEEK}.csv?{query}",  # another format
        f"/v1/public/shared/reports/weekly/{VILLAGE}/{WEEK}.json?{query}",
        f"{u.path}?exp={int(exp) + 86400}&sig={query.split('sig=')[1]}",  # a later expiry
        f"{u.path}?{query[:-1]}{'A' if query[-1] != 'A' else 'B'}",  # a changed signature
        f"{u.path}?exp={exp}",  # cut
        u.path,
    ):
        refused(httpx.get(service + other, timeout=20), 403)
    # the link is no token for anything else
    for path in ("/v1/reports/weekly", "/v1/reports/weekly.html", "/v1/reports/weekly.csv"):
        refused(httpx.get(f"{service}{path}?area={VILLAGE}&week={WEEK}&{query}", timeout=20), 401)

    # a genuine link past its expiry is gone
    past = int(time.time()) - 60
    sig = share.mac(the_key(), VILLAGE, WEEK, "html", past)
    gone = httpx.get(f"{service}{share.path(VILLAGE, WEEK)}?exp={past}&sig={sig}", timeout=20)
    refused(gone, 410)
    assert "expired" in gone.json()["detail"] and gone.json()["expired_at"]


def test_the_link_is_given_to_whoever_may_read_the_report(stack, service):
    params = {"area": VILLAGE, "week": WEEK}
    refused(httpx.get(f"{service}/v1/reports/weekly/share", params=params, timeout=20), 401)
    outsider = client(stack, service, ["grid_manager"], [f"{VILLAGE}.g1"])  # a grid does not read its village
    refused(outsider.get("/v1/reports/weekly/share", params=params), 403)
    resident = client(stack, service, ["resident"], [TOWN])
    refused(resident.get("/v1/reports/weekly/share", params=params), 403)
    town_admin = client(stack, service, ["town_admin"], [TOWN])
    refused(town_admin.get("/v1/reports/weekly/share", params={"area": f"{TOWN}.nowhere", "week": WEEK}), 404)
    refused(town_admin.get("/v1/reports/weekly/share", params={"area": VILLAGE, "week": "2026-W99"}), 422)
    assert town_admin.get("/v1/reports/weekly/share", params=params).status_code == 200
    # without a week: last week's report, like the report itself
    last = str(kpis.Week.of(datetime.now(LOCAL_TZ).date() - timedelta(days=7)))
    assert town_admin.get("/v1/reports/weekly/share", params={"area": VILLAGE}).json()["week"] == last


async def test_the_weekly_published_event_carries_a_link_that_opens_its_report(stack, service):
    """The process's weekly job published last week's reports at its start; with no broker they wait in the
    outbox, where the test reads them."""
    con = await db.connect(stack.service_dsn("reporting"), "reporting")
    try:
        for _ in range(100):
            rows = await con.fetch(
                "select key, payload from outbox where event_type = 'gov.report.weekly_published.v1' "
                "and key = any($1::text[])",
                [TOWN, VILLAGE],
            )
            if len(rows) == 2:
                break
            await asyncio.sleep(0.2)
    finally:
        await con.close()
    events = {row["key"]: json.loads(row["payload"]) for row in rows}
    assert set(events) == {TOWN, VILLAGE}
    town = events[TOWN]
    published = datetime.fromisoformat(town["published_at"])
    assert town["week"] == str(publisher.due_week(published, 6))  # last week
    assert datetime.fromisoformat(town["share_expires_at"]) - published == pytest.approx(
        timedelta(days=14), abs=timedelta(seconds=1)
    )
    assert town["share_url"].startswith(f"{service}/v1/public/shared/reports/weekly/{TOWN}/{town['week']}.html?exp=")
    page = httpx.get(town["share_url"], timeout=20)
    assert page.status_code == 200 and f'data-area="{TOWN}" data-week="{town["week"]}"' in page.text
    assert events[VILLAGE]["share_url"] != town["share_url"]


def test_the_csv_is_for_excel_by_default_and_in_codes_with_lang_en(stack, service):
    analyst = client(stack, service, ["analyst"], [TOWN])
    r = analyst.get("/v1/reports/weekly.csv", params={"area": TOWN, "week": WEEK})
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.content.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads the file as UTF-8
    text = r.content.decode("utf-8")
    assert text.startswith("\ufeff周次,区域,部分,指标,类别或网格,风险等级,数值\r\n")
    assert f"{WEEK},sharetown镇,总体指标,新增,,,0\r\n" in text and "结案率" in text and "kpi," not in text
    assert ",网格风险,风险分值,g1镇,绿,0\r\n" in text
    disposition = r.headers["content-disposition"]
    assert disposition.startswith(f"attachment; filename=\"weekly-{TOWN}-{WEEK}.csv\"; filename*=UTF-8''")
    assert unquote(disposition.split("UTF-8''")[1]) == f"sharetown镇{WEEK}周研判.csv"

    en = analyst.get("/v1/reports/weekly.csv", params={"area": TOWN, "week": WEEK, "lang": "en"})
    assert en.status_code == 200 and en.text.startswith("area_id,week,section,key,category,value\r\n")
    assert f"{TOWN},{WEEK},kpi,new,,0" in en.text and not en.content.startswith(b"\xef\xbb\xbf")
    assert en.text.count("\r\n") == text.count("\r\n")  # the same figures
    refused(analyst.get("/v1/reports/weekly.csv", params={"area": TOWN, "week": WEEK, "lang": "fr"}), 422)

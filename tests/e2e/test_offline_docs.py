"""The API pages open without internet: /docs and /redoc (Swagger UI 5 and ReDoc from packaged assets) and
/asyncapi (the events, rendered on the server) in headless Chromium whose every request off this machine fails."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.browser import Chromium, keep

from .test_services_and_areas import wait_caught_up

# everything not on loopback goes to a proxy that is not there: a CDN asset cannot load
OFFLINE = ("--proxy-server=http://127.0.0.1:9", "--virtual-time-budget=15000")


@pytest.fixture(scope="module")
def services(stack):
    stack.stop_services()
    stack.start_services(say=lambda *_: None)
    wait_caught_up(stack)
    yield stack
    stack.stop_services()


@pytest.mark.parametrize(
    "service,path,operation", [("cases", "/v1/cases", "createCase"), ("reporting", "/v1/reports", "")]
)
def test_swagger_ui_renders_offline_from_packaged_assets(services, tmp_path, service, path, operation):
    base = services.url(service)
    page = httpx.get(base + "/docs", timeout=10)
    assert page.status_code == 200
    sources = re.findall(r"""(?:src|href)=["']([^"']+)""", page.text)
    assert sources and all(s.startswith("/docs/assets/") for s in sources), sources
    for asset in sources:
        assert httpx.get(base + asset, timeout=10).status_code == 200
    assert httpx.get(base + "/docs/assets/core.py", timeout=10).status_code == 404  # only the pages' assets

    browser = Chromium(tmp_path / "profile", *OFFLINE)
    dom = browser.dom(base + "/docs")
    assert 'class="swagger-ui"' in dom and "information-container" in dom, dom[:500]
    assert path in dom
    if operation:
        assert operation in dom or "上报事件" in dom
    shot = browser.screenshot(base + "/docs", tmp_path / f"{service}-docs.png", "--window-size=1280,1600")
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    keep(shot, f"{service}-docs-offline.png")

    redoc = httpx.get(base + "/redoc", timeout=10).text
    assert "fonts.googleapis" not in redoc and "/docs/assets/redoc.standalone.js" in redoc
    rendered = browser.dom(base + "/redoc")
    assert "api-content" in rendered and path in rendered


def test_the_events_page_lists_what_the_service_publishes_and_applies(services, tmp_path):
    base = services.url("cases")
    page = httpx.get(base + "/asyncapi", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<script" not in page.text and "http://" not in page.text.replace("http://www.w3.org", "")
    published = re.findall(r"<section class='event' id='([^']+)'", page.text)
    assert "gov.case.reported.v2" in published and "gov.case.supervised.v1" in published
    assert "gov.task.assigned.v1" in published  # applied: task progress on the case timeline
    assert "external_id" in page.text and "supervise_due" in page.text
    browser = Chromium(tmp_path / "profile", *OFFLINE)
    dom = browser.dom(base + "/asyncapi")
    assert "本服务发布 Published" in dom and "gov.case.callback_recorded.v1" in dom
    keep(browser.screenshot(base + "/asyncapi", tmp_path / "asyncapi.png", "--window-size=1280,1600"), "asyncapi.png")

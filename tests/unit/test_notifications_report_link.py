"""The leaders' weekly-report message links the signed share link the event carries, which opens without a token."""

from datetime import UTC, datetime
from types import SimpleNamespace

from gov_contracts import reports
from notifications.handlers import report_link


def published(**kw) -> reports.WeeklyReportPublished:
    return reports.WeeklyReportPublished(
        area_id="changping",
        area_kind="town",
        week="2026-W49",
        new=5,
        closed=4,
        open_at_end=3,
        overdue=1,
        closure_rate=0.5,
        on_time_rate=1.0,
        grids_by_risk={},
        red_grids=[],
        published_at=datetime(2026, 12, 7, 1, tzinfo=UTC),
        **kw,
    )


def ctx(report_url: str) -> SimpleNamespace:
    return SimpleNamespace(config=SimpleNamespace(report_url=report_url))


def test_the_share_link_of_the_event_comes_first():
    link = "https://gov.example/v1/public/shared/reports/weekly/changping/2026-W49.html?exp=1&sig=abc"
    event = published(share_url=link, share_expires_at=datetime(2026, 12, 21, tzinfo=UTC))
    assert report_link(ctx("https://reports.example"), event) == link  # type: ignore[arg-type]


def test_an_event_from_before_share_links_gets_the_report_address():
    assert report_link(ctx("https://reports.example/"), published()) == (  # type: ignore[arg-type]
        "https://reports.example/v1/reports/weekly.html?area=changping&week=2026-W49"
    )
    assert report_link(ctx(""), published()) == ""  # type: ignore[arg-type]

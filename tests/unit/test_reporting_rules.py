from datetime import UTC, date, datetime

import pytest

from gov_contracts import REGISTRY, topics
from govkit.settings import ConfigError
from reporting import kpis, projections, publisher, render, risk
from reporting.config import DEFAULT_RISK

RULE = risk.load(DEFAULT_RISK)


@pytest.mark.parametrize(
    "facts,expected_score,level",
    [
        (risk.GridFacts(), 0, "green"),
        (risk.GridFacts(open_disputes={"medium": 1}, open_petitions={"low": 1}), 4, "yellow"),
        (risk.GridFacts(open_disputes={"critical": 1}), 8, "orange"),
        (risk.GridFacts(open_disputes={"high": 2}, overdue_open=1, repeat_reports=1, repeat_addresses=1), 15, "red"),
        (risk.GridFacts(new=3, mean_4w=2.0), 3, "green"),  # 3 >= 1.5 * 2.0: trend points
        (risk.GridFacts(new=3, mean_4w=2.1), 0, "green"),  # 3 < 3.15: no trend points
        (risk.GridFacts(new=2, mean_4w=0.0), 0, "green"),  # below min_new
    ],
)
def test_risk_score_and_level(facts, expected_score, level):
    s, lv, reasons = risk.score(RULE, facts)
    assert (s, lv) == (expected_score, level)
    assert len(reasons) == sum(
        1
        for x in (
            facts.open_disputes,
            facts.open_petitions,
            facts.overdue_open,
            facts.repeat_reports,
            facts.repeat_addresses,
        )
        if x
    ) + (1 if facts.new >= 3 and facts.new >= 1.5 * facts.mean_4w else 0)


def test_reasons_say_why_in_chinese():
    _, _, reasons = risk.score(RULE, risk.GridFacts(open_disputes={"critical": 1, "low": 2}))
    assert reasons == ["未办结矛盾纠纷3起（一般2起、特别重大1起），+10"]


@pytest.mark.parametrize(
    "body,error",
    [
        ("open_dispute: {low: 1}", "open_dispute"),
        ("levels: {yellow: 9, orange: 8, red: 15}", "levels"),
    ],
)
def test_a_bad_risk_file_names_the_field(tmp_path, body, error):
    text = DEFAULT_RISK.read_text(encoding="utf-8")
    key = body.split(":")[0]
    lines = [line for line in text.splitlines() if not line.startswith(key + ":")] + [body]
    f = tmp_path / "risk.yaml"
    f.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        risk.load(f)
    assert error in str(e.value) and str(e.value).startswith("config error: REPORTING_RISK_FILE")


def test_iso_weeks():
    w = kpis.Week.parse("2026-W01")
    assert w.monday == date(2025, 12, 29) and str(w.shift(-1)) == "2025-W52"
    assert str(kpis.Week.of(date(2026, 11, 29))) == "2026-W48"
    with pytest.raises(ValueError):
        kpis.Week.parse("2026-W54")


def test_ratio_edge_cases():
    assert kpis.ratio(1, 3) == 0.3333 and kpis.ratio(0, 0) is None and kpis.ratio(0, 5) == 0.0


def test_publishing_waits_for_monday_morning():
    # Monday 2026-11-30 05:00 China time: last complete week is still W47's predecessor rule -> W47
    early = datetime(2026, 11, 29, 21, 0, tzinfo=UTC)  # Mon 05:00 +08:00
    late = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)  # Mon 07:00 +08:00
    assert str(publisher.due_week(early, 6)) == "2026-W47"
    assert str(publisher.due_week(late, 6)) == "2026-W48"


def test_theme_of_uses_keywords_then_tags():
    kw = {"路灯": ["路灯"], "饮水": ["饮水"]}
    assert kpis.theme_of("村口路灯不亮", [], kw) == "路灯"
    assert kpis.theme_of("道路坑洼", ["道路"], kw) == "道路"
    assert kpis.theme_of("其他事情", [], kw) == "其他"


def test_html_escapes_text_from_events():
    r = {
        "area": {"id": "x", "name": "<script>", "kind": "town"},
        "week": "2026-W48",
        "from": "a",
        "to": "b",
        "kpis": {
            **{
                k: 0
                for k in (
                    "new",
                    "accepted",
                    "resolved",
                    "closed",
                    "open_at_end",
                    "overdue",
                    "escalated",
                    "referred",
                    "reopened",
                    "satisfaction_count",
                )
            },
            **{
                k: None
                for k in (
                    "closure_rate",
                    "on_time_rate",
                    "rework_rate",
                    "grassroots_resolution_rate",
                    "satisfaction_mean",
                    "median_hours_to_resolve",
                    "p90_hours_to_resolve",
                )
            },
        },
        "change": {
            k: {"previous": 0, "delta": 0, "mean_4w": 0, "vs_mean_4w": None}
            for k in ("new", "accepted", "resolved", "closed", "overdue", "escalated", "referred", "reopened")
        },
        "by_category": [],
        "trend": [{"week": "2026-W48", "new": 0, "closed": 0}],
        "risk_summary": {"green": 0, "yellow": 0, "orange": 0, "red": 0},
        "grids": [],
        "hotspots": {"grids": [], "categories": [], "repeat_addresses": [], "repeat_parties": []},
        "volunteers": {
            "tasks_created": 0,
            "tasks_filled": 0,
            "tasks_unfilled": 0,
            "median_minutes_to_fill": None,
            "hours_total": 0,
            "hours_by_role": {},
            "party_member_hours": 0,
        },
    }
    page = render.weekly_html(r)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert 'data-kpi="closure_rate" data-value="—">—<' in page


def test_every_case_task_and_livelihood_event_and_each_volunteer_fact_has_a_projection_handler():
    """A new event type on these topics needs a handler said out loud (keyed by class, not by topic)."""
    expected = {name for name, et in REGISTRY.items() if et.topic in (topics.CASES, topics.TASKS, topics.LIVELIHOOD)}
    expected |= {
        "gov.volunteer.registered.v1",
        "gov.volunteer.registered.v2",
        "gov.volunteer.updated.v1",
        "gov.volunteer.hours_corrected.v1",
    }
    assert set(projections.handlers()) == expected

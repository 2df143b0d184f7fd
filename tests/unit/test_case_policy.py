from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cases.config import configure
from cases.domain.policy import PolicyError, Span, load
from govkit.settings import ConfigError
from govkit.settings import load as load_settings

POLICY = Path(__file__).resolve().parents[2] / "services" / "cases" / "config" / "policy.yaml"


def test_domain_defaults_and_critical_halves():
    p = load(POLICY)
    assert p.get("dispute.land").level.value == "village"
    assert p.deadlines("dispute.land", "medium")[1] == timedelta(days=7)
    assert p.deadlines("dispute.land", "critical")[1] == timedelta(days=3, hours=12)
    assert p.deadlines("hazard.geologic", "critical")[1] == timedelta(hours=6)
    assert p.spans("petition", "low") == (Span(workdays=15), Span(workdays=60))
    assert p.spans("livelihood.request", "medium") == (Span(hours=24), Span(workdays=5))
    assert p.get("dispute.neighbor").field_work == "dispute_mediation"
    assert p.get("environment.sanitation").field_work == "sanitation_cleanup"
    assert p.get("petition").field_work is None
    assert p.by_service_code("103") == "dispute.land"


def test_by_severity_overrides(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(
        "categories:\n  other: {name: 其他, level: grid, accept_hours: 24, resolve_hours: 120, "
        "service_code: '9', by_severity: {critical: {accept_hours: 1, resolve_hours: 4}}}\n"
    )
    assert load(f).deadlines("other", "critical") == (timedelta(hours=1), timedelta(hours=4))


def test_critical_halves_hours_not_working_days():
    p = load(POLICY)
    assert p.spans("petition", "critical") == (Span(workdays=15), Span(workdays=60))
    assert p.spans("livelihood.request", "critical") == (Span(hours=12), Span(workdays=5))


def test_due_counts_working_days_across_national_day():
    p = load(POLICY)
    # Wednesday 30 September 2026, 10:00 in Changping; 1-7 October are holidays, Saturday 10 October is worked
    start = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)
    accept, resolve = p.due("livelihood.request", "medium", start)
    assert accept == start + timedelta(hours=24)
    # 8, 9, 10 (调休 Saturday), 12, 13 October
    assert resolve == datetime(2026, 10, 13, 2, 0, tzinfo=UTC)


def test_by_severity_may_give_working_days(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(
        "categories:\n  other: {name: 其他, level: grid, accept_hours: 24, resolve_hours: 120, service_code: '9', "
        "by_severity: {low: {accept_workdays: 3, resolve_workdays: 10}}}\n"
    )
    assert load(f).spans("other", "low") == (Span(workdays=3), Span(workdays=10))


def test_open311_says_working_days():
    from cases.api.open311.views import service

    p = load(POLICY)
    text = service(p, "petition", p.get("petition"))["description"]
    assert "受理时限 15 个工作日" in text and "办结时限 60 个工作日" in text


@pytest.mark.parametrize(
    "entry,expected",
    [
        ("{name: x, level: hamlet, accept_hours: 1, resolve_hours: 1, service_code: '1'}", "categories.bad: level"),
        (
            "{name: x, level: grid, accept_hours: -1, resolve_hours: 1, service_code: '1'}",
            "categories.bad: accept_hours",
        ),
        (
            "{name: x, level: grid, accept_hours: 1, resolve_hours: 1, service_code: '1', field_work: juggling}",
            "categories.bad: field_work: unknown task type",
        ),
        ("{name: x, level: grid, accept_hours: 1, resolve_hours: 1}", "categories.bad: service_code"),
        (
            "{name: x, level: grid, accept_hours: 1, resolve_hours: 1, service_code: '1', colour: red}",
            "categories.bad: colour",
        ),
        (
            "{name: x, level: grid, accept_hours: 1, resolve_hours: 1, service_code: '1', "
            "by_severity: {huge: {accept_hours: 1, resolve_hours: 1}}}",
            "categories.bad: by_severity: unknown severity",
        ),
        (
            "{name: x, level: grid, accept_hours: 1, accept_workdays: 2, resolve_hours: 1, service_code: '1'}",
            "categories.bad: accept_hours / accept_workdays: give exactly one of them (both given)",
        ),
        (
            "{name: x, level: grid, accept_hours: 1, service_code: '1'}",
            "categories.bad: resolve_hours / resolve_workdays: give exactly one of them (neither given)",
        ),
        (
            "{name: x, level: grid, accept_hours: 1, resolve_workdays: 2.5, service_code: '1'}",
            "categories.bad: resolve_workdays",
        ),
        (
            "{name: x, level: grid, accept_workdays: 0, resolve_hours: 1, service_code: '1'}",
            "categories.bad: accept_workdays",
        ),
        (
            "{name: x, level: grid, accept_hours: 1, resolve_hours: 1, service_code: '1', "
            "by_severity: {critical: {accept_hours: 1, resolve_hours: 1, resolve_workdays: 1}}}",
            "categories.bad: by_severity.critical: resolve_hours / resolve_workdays: give exactly one",
        ),
    ],
)
def test_a_bad_policy_names_the_entry_and_field(tmp_path, entry, expected):
    f = tmp_path / "p.yaml"
    f.write_text(f"categories:\n  bad: {entry}\n")
    with pytest.raises(PolicyError) as e:
        load(f)
    assert expected in str(e.value) and "\n" not in str(e.value)


def test_a_bad_policy_stops_the_service_with_one_line(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("categories:\n  bad: {name: x, level: hamlet, accept_hours: 1, resolve_hours: 1, service_code: '1'}\n")
    s = load_settings(
        "cases", {"CASES_DATABASE_URL": "postgresql://c:p@h:5432/gov", "KAFKA_BOOTSTRAP_SERVERS": "h:9092"}
    )
    with pytest.raises(ConfigError) as e:
        configure(s, {"CASES_POLICY_FILE": str(f)})
    assert str(e.value).startswith("config error: CASES_POLICY_FILE: policy") and "categories.bad: level" in str(
        e.value
    )

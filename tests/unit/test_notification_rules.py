"""The notifications service's rules without a database: quiet hours, who gets what on which channel, the
triggers made from facts, the Chinese wording and its 70-character SMS fit, the CSV imports."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from gov_contracts import cases, reports
from gov_contracts.errors import InvalidInput
from gov_contracts.vocabulary import LOCAL_TZ
from notifications import imports
from notifications.domain import triggers
from notifications.domain.kinds import Kind
from notifications.domain.messages import SMS_MAX, fit_sms, render
from notifications.domain.quiet import QuietHours, release_at
from notifications.domain.routing import Recipient, StaffAt, channels_for, holding_area, plan

NIGHT = QuietHours(time(22, 0), time(7, 0))
GRID = "changping.kongjiafan.g03"
LABELS = triggers.Labels(
    place=lambda a: {"changping": "长坪镇"}.get(a, "孔家畈村第3网格"), category=lambda c: "地质灾害隐患"
)
DEFAULTS = {k: ["in_app", "sms"] for k in Kind}


def local(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=LOCAL_TZ)


@pytest.mark.parametrize(
    ("at", "urgent", "expected"),
    [
        (local(2026, 12, 1, 23, 0), False, local(2026, 12, 2, 7, 0)),  # held until the morning
        (local(2026, 12, 2, 3, 0), False, local(2026, 12, 2, 7, 0)),  # after midnight: the same morning
        (local(2026, 12, 2, 3, 0), True, local(2026, 12, 2, 3, 0)),  # urgent: at once, day or night
        (local(2026, 12, 2, 7, 0), False, local(2026, 12, 2, 7, 0)),  # the end is not quiet any more
        (local(2026, 12, 2, 21, 59), False, local(2026, 12, 2, 21, 59)),
        (local(2026, 12, 2, 22, 0), False, local(2026, 12, 3, 7, 0)),
    ],
)
def test_quiet_hours_hold_non_urgent_messages_until_they_end(at, urgent, expected):
    assert release_at(at.astimezone(UTC), NIGHT, urgent) == expected


def test_quiet_hours_within_one_day_and_none():
    lunch = QuietHours(time(12, 0), time(14, 0))
    assert release_at(local(2026, 12, 2, 13, 0), lunch, False) == local(2026, 12, 2, 14, 0)
    assert release_at(local(2026, 12, 2, 15, 0), lunch, False) == local(2026, 12, 2, 15, 0)
    assert release_at(local(2026, 12, 2, 23, 0), None, False) == local(2026, 12, 2, 23, 0)
    with pytest.raises(ValueError):
        QuietHours(time(7, 0), time(7, 0))


def staff(sub: str, available=("in_app", "sms", "email"), prefs=None, quiet=None) -> Recipient:
    return Recipient(f"staff:{sub}", "staff", frozenset(available), quiet=quiet, preferences=prefs or {})


def test_channels_follow_preferences_limited_to_what_reaches_the_person():
    assert channels_for(Kind.deadline_near, False, staff("a"), DEFAULTS) == ["in_app", "sms"]
    only_mail = staff("b", prefs={"deadline_near": ("email",)})
    assert channels_for(Kind.deadline_near, False, only_mail, DEFAULTS) == ["email"]
    no_phone = staff("c", available=("in_app",))
    assert channels_for(Kind.deadline_near, False, no_phone, DEFAULTS) == ["in_app"]
    # a person who turned a kind off gets nothing, unless it is urgent: then at least the inbox
    silent = staff("d", prefs={"case_critical": ()})
    assert channels_for(Kind.case_critical, False, silent, DEFAULTS) == []
    assert channels_for(Kind.case_critical, True, silent, DEFAULTS) == ["in_app"]
    robot = Recipient("robot:3", "robot", frozenset({"wecom"}))
    assert channels_for(Kind.weekly_report, False, robot, DEFAULTS) == ["wecom"]


def test_plan_is_one_delivery_per_recipient_and_channel_and_holds_by_each_persons_quiet_hours():
    now = local(2026, 12, 1, 23, 0).astimezone(UTC)
    early_bird = staff("early", quiet=QuietHours(time(21, 0), time(6, 0)))
    out = plan(
        Kind.deadline_near,
        False,
        now,
        [staff("a"), staff("a"), early_bird, staff("resolver")],
        DEFAULTS,
        NIGHT,
        exclude=["resolver"],
    )
    assert [(p.recipient, p.channel) for p in out] == [
        ("staff:a", "in_app"),
        ("staff:a", "sms"),
        ("staff:early", "in_app"),
        ("staff:early", "sms"),
    ]
    assert {p.recipient: p.due_at for p in out} == {
        "staff:a": local(2026, 12, 2, 7, 0),
        "staff:early": local(2026, 12, 2, 6, 0),
    }
    assert all(p.held for p in out)
    urgent = plan(Kind.case_critical, True, now, [staff("a")], DEFAULTS, NIGHT)
    assert all(p.due_at == now and not p.held for p in urgent)


def case_event(cls, **extra):
    base = dict(
        case_id="7d3f1d5e-4d1b-4a53-9a0a-3f0e0e2c1a11",
        number="CP-2026-000123",
        category="dispute.land",
        severity="medium",
        grid_id=GRID,
        status="reported",
        level="grid",
        occurred_at=datetime(2026, 12, 1, 19, tzinfo=UTC),
        actor="gm-1",
    )
    return cls(**{**base, **extra})


def test_a_reported_case_wakes_the_town_on_duty_staff_only_when_critical_or_of_a_listed_category():
    critical = {"hazard.geologic", "epidemic", "hazard.fire"}
    extra = dict(title="t", source="grid_patrol", reporter_ref="r")
    plain = case_event(cases.CaseReportedV2, **extra)
    assert triggers.case_reported("e1", plain, LABELS, critical) is None
    by_severity = triggers.case_reported(
        "e2", case_event(cases.CaseReportedV2, severity="critical", **extra), LABELS, critical
    )
    by_category = triggers.case_reported(
        "e3", case_event(cases.CaseReportedV2, category="epidemic", **extra), LABELS, critical
    )
    for t in (by_severity, by_category):
        assert t is not None and t.kind is Kind.case_critical and t.urgent
        assert t.audience.on_duty_area == "changping" and t.audience.robots_area == "changping"


def test_escalation_dispatch_and_verification_go_to_the_right_people():
    up = triggers.case_escalated(
        "e", case_event(cases.CaseEscalated, level="village", from_level="grid", automatic=True), LABELS
    )
    assert up.audience.staff == (StaffAt("changping.kongjiafan", ("village_admin",)),)
    assert "超时自动上报" in render(up.kind, up.facts, "in_app").text
    named = triggers.case_dispatched(
        "e", case_event(cases.CaseDispatched, unit_level="grid", unit_id=GRID, assignee="gm-7"), LABELS
    )
    assert named.audience.subs == ("gm-7",)
    dept = triggers.case_dispatched(
        "e", case_event(cases.CaseDispatched, unit_level="town", unit_id="dept.justice"), LABELS
    )
    assert dept.audience.unit == "dept.justice"
    done = triggers.case_resolved(
        "e", case_event(cases.CaseResolved, level="village", resolution="ok", actor="va-1"), LABELS
    )
    assert done.kind is Kind.awaiting_verification and done.audience.exclude == ("va-1",)
    assert holding_area(GRID, "county") == "changping"


def test_weekly_report_goes_to_the_leaders_of_its_area_with_the_link():
    event = reports.WeeklyReportPublished(
        area_id="changping",
        area_kind="town",
        week="2026-W48",
        new=12,
        closed=9,
        open_at_end=5,
        overdue=1,
        closure_rate=0.6,
        on_time_rate=0.9,
        grids_by_risk={"red": 2},
        red_grids=["a", "b"],
        published_at=datetime(2026, 11, 30, tzinfo=UTC),
    )
    t = triggers.weekly_report("e", event, LABELS, "http://r/v1/reports/weekly.html?area=changping&week=2026-W48")
    assert t.audience.staff == (StaffAt("changping", ("leader",)),)
    text = render(t.kind, t.facts, "email", t.facts["link"]).text
    assert "新增12件" in text and "红色网格2个" in text and text.endswith("week=2026-W48")


def test_offer_reminder_only_when_the_offer_outlives_twice_the_lead():
    t0 = datetime(2026, 12, 1, 8, tzinfo=UTC)
    lead = timedelta(minutes=5)
    assert triggers.offer_reminder_at(t0, t0 + timedelta(minutes=15), lead) == t0 + timedelta(minutes=10)
    assert triggers.offer_reminder_at(t0, t0 + timedelta(minutes=5), lead) is None


LINK = "http://127.0.0.1:51407/a/" + "A" * 24  # 49 characters, as on a local stack


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_fits_one_sms_with_its_link(kind):
    facts = {
        "task": "消毒消杀",
        "place": "孔家畈村第13网格",
        "window": "12-01 08:00-12:00",
        "bring": "消毒液、喷壶、手套",
        "expires": "08:15",
        "number": "CP-2026-000123",
        "category": "婚姻家庭纠纷",
        "severity": "特别重大",
        "level": "村(社区)",
        "from_level": "网格",
        "why": "超时自动上报",
        "deadline": "办结",
        "due": "12-02 18:00",
        "week": "2026-W48",
        "meeting": "村民代表会议",
        "place_name": "长坪社区",
        "starts": "12-08 14:30",
        "venue": "孔家畈村村委会议室",
        "items": "3",
        "new": "123",
        "closed": "99",
        "overdue": "7",
        "red": "3",
        "days": "12",
    }
    text = render(kind, facts, "sms", LINK).text
    assert len(text) <= SMS_MAX and text.endswith(LINK)
    assert render(kind, facts, "in_app").text  # every kind has its wording for the other channels too


def test_sms_fit_keeps_the_link_whole_and_marks_the_cut():
    text = fit_sms("很" * 100, LINK)
    assert len(text) == SMS_MAX and text.endswith(" " + LINK) and "…" in text
    assert fit_sms("短信", None) == "短信"
    with pytest.raises(ValueError):
        fit_sms("x", "http://" + "x" * 70)


def test_offer_wording_puts_the_expiry_first():
    t = render(
        Kind.offer,
        {
            "task": "助老送餐",
            "place": "孔家畈村第3网格",
            "window": "12-01 11:00-12:00",
            "bring": "保温餐盒",
            "expires": "11:15",
        },
        "in_app",
        LINK,
    )
    assert t.text.startswith("助老送餐任务邀请，请于11:15前答复") and "请带保温餐盒" in t.text and LINK in t.text
    short = "https://cp.gov.cn/a/" + "A" * 24  # a town's short public URL: the place fits
    sms = render(Kind.offer, {"task": "助老送餐", "place": "孔家畈村第3网格", "expires": "11:15"}, "sms", short).text
    assert sms == f"助老送餐邀请，11:15前答复：孔家畈村第3网格 {short}"


def test_staff_csv_in_gbk_with_chinese_headers():
    data = "账号,姓名,角色,区域,手机,邮箱\nta-1,张伟,镇干部,changping,13800001111,zw@example.cn\n".encode("gbk")
    (entry,) = imports.staff(data)
    assert (entry.sub, entry.name, entry.role, entry.phone) == ("ta-1", "张伟", "town_admin", "13800001111")


def test_csv_errors_name_the_line_and_field():
    bad = "sub,name,role,area_id,phone\nta-1,张伟,town_admin,changping,12345\n".encode()
    with pytest.raises(InvalidInput) as e:
        imports.staff(bad)
    assert e.value.field == "file.line[2].phone"
    with pytest.raises(InvalidInput) as e:
        imports.roster(b"day,area_id\n2026-12-01,changping\n")
    assert e.value.field == "file.sub"
    days = imports.roster("日期,区域,账号\n2026/12/01,changping,a\n2026-12-01,changping,b\n".encode("utf-8-sig"))
    assert [(d.isoformat(), a, s) for d, a, s in days] == [("2026-12-01", "changping", ["a", "b"])]


def test_a_wrong_rules_file_stops_the_service_with_one_line_naming_the_key(tmp_path):
    from govkit.settings import ConfigError
    from notifications.config import DEFAULT_FILE, load_rules

    good = DEFAULT_FILE.read_text(encoding="utf-8")
    bad = tmp_path / "rules.yaml"
    bad.write_text(good.replace("weekly_report: [in_app, email]", "weekly_report: [in_app, fax]"), encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_rules(bad)
    line = str(e.value)
    assert "\n" not in line and line.startswith("config error: NOTIFICATIONS_RULES_FILE")
    assert "defaults.weekly_report" in line and "'fax'" in line
    bad.write_text(good.replace("  dingtalk:", "  telegram:"), encoding="utf-8")
    with pytest.raises(ConfigError, match="channels: give exactly"):
        load_rules(bad)
    assert load_rules(DEFAULT_FILE).offer_reminder_minutes == 5

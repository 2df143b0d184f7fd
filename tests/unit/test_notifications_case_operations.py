"""Who hears of the case operations of issue 14 and what they read, without a database: 督办 to the handling unit,
延期/缓办 requests to the level above and the decisions back to the handling unit, 退单 to the dispatching level."""

from __future__ import annotations

from datetime import datetime

import pytest

from gov_contracts import cases
from gov_contracts.vocabulary import LOCAL_TZ
from govkit.settings import ConfigError
from notifications import config
from notifications.config import Rules
from notifications.domain import operations, triggers
from notifications.domain.kinds import LATER_KIND_DEFAULTS, Kind
from notifications.domain.messages import SMS_MAX, render
from notifications.domain.operations import HandlingUnit
from notifications.domain.routing import LEVEL_ROLES, Audience, StaffAt, approving_level, holding_area, unit_audience

GRID = "changping.kongjiafan.g03"
VILLAGE = "changping.kongjiafan"
LABELS = triggers.Labels(
    place=lambda a: {"changping": "长坪镇", VILLAGE: "孔家畈村"}.get(a, "孔家畈村第3网格"),
    category=lambda c: {"dispute.land": "土地纠纷"}.get(c, c),
)
LINK = "http://127.0.0.1:51407/a/" + "A" * 24


def local(d: int, h: int, m: int = 0) -> datetime:
    return datetime(2026, 12, d, h, m, tzinfo=LOCAL_TZ)


def case_event(cls, **extra):
    base = dict(
        case_id="6b1f6a52-5b6e-4c1e-9c39-0f3f3c1a2b7d",
        number="CP-2026-000123",
        category="dispute.land",
        severity="medium",
        grid_id=GRID,
        status="dispatched",
        level="village",
        occurred_at=local(1, 10),
        actor="va-kjf",
        resolve_due=local(5, 18),
    )
    return cls(**{**base, **extra})


def text(trigger: triggers.Trigger, channel: str = "in_app") -> str:
    return render(trigger.kind, trigger.facts, channel).text


# -- 督办 ---------------------------------------------------------------------------------------------------------


def supervised(**extra):
    base = dict(
        supervising_level="town", reason="群众反映强烈，请加快调处", supervise_due=local(3, 17), assigned_unit=VILLAGE
    )
    return case_event(cases.CaseSupervised, **{**base, **extra})


def test_supervision_goes_to_the_unit_the_case_is_dispatched_to():
    t = operations.case_supervised("e1", supervised(), LABELS, HandlingUnit())
    assert t.kind is Kind.case_supervised and not t.urgent
    assert t.audience == Audience(staff=(StaffAt(VILLAGE, ("village_admin",)),))
    body = text(t)
    assert body.startswith("CP-2026-000123（土地纠纷，孔家畈村第3网格）列为镇督办事项")
    assert "群众反映强烈，请加快调处" in body and "请于12-03 17:00前报告办理情况" in body
    assert t.facts["supervisor"] == "镇" and t.case_id == supervised().case_id


def test_supervision_of_a_case_with_a_department_or_a_named_assignee():
    dept = operations.case_supervised("e2", supervised(assigned_unit="dept.justice"), LABELS, HandlingUnit())
    assert dept.audience == Audience(unit="dept.justice")
    # the copy knows whom that unit's case went to: they are told too, with the unit's staff
    copy = HandlingUnit(GRID, "grid", "gm-kjf3")
    named = operations.case_supervised("e3", supervised(assigned_unit=GRID), LABELS, copy)
    assert named.audience == Audience(staff=(StaffAt(GRID, ("grid_manager",)),), subs=("gm-kjf3",))
    # a copy about another unit (stale) adds nobody
    other = operations.case_supervised("e4", supervised(), LABELS, copy)
    assert other.audience.subs == ()


def test_supervision_of_a_case_not_dispatched_goes_to_the_level_holding_it():
    event = supervised(assigned_unit=None, status="accepted", level="grid", supervising_level="county")
    t = operations.case_supervised("e5", event, LABELS, HandlingUnit())
    assert t.audience == Audience(staff=(StaffAt(GRID, ("grid_manager",)),))
    assert "列为县督办事项" in text(t)


def test_supervision_is_urgent_only_for_a_critical_case_and_says_so_without_a_date():
    t = operations.case_supervised("e6", supervised(severity="critical", supervise_due=None), LABELS, HandlingUnit())
    assert t.urgent and text(t).endswith("请尽快报告办理情况")


# -- 延期 / 缓办 -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "approver", "area", "roles"),
    [
        ("grid", "village", VILLAGE, ("village_admin",)),
        ("village", "town", "changping", ("town_admin",)),
        ("town", "county", "changping", ("county_admin",)),
        ("county", "county", "changping", ("county_admin",)),  # the county decides its own
    ],
)
def test_a_request_goes_to_the_level_above_in_the_case_area(level, approver, area, roles):
    assert approving_level(level) == approver
    event = case_event(
        cases.CaseExtensionRequested, level=level, requested_due=local(9, 18), extensions=0, reason="等待鉴定结果"
    )
    t = operations.approval_requested("r1", event, LABELS)
    assert t.kind is Kind.approval_requested
    assert t.audience == Audience(staff=(StaffAt(area, roles),), exclude=("va-kjf",))


@pytest.mark.parametrize(
    ("rule", "level", "approver"),
    [
        ("town", "grid", "town"),  # a fixed level decides the cases below it
        ("town", "village", "town"),
        ("town", "town", "county"),  # a case at or above it goes to the level above
        ("county", "county", "county"),
        ("village", "village", "town"),
    ],
)
def test_the_approving_level_follows_the_cases_policy_rule(rule, level, approver):
    assert approving_level(level, rule) == approver
    event = case_event(cases.CaseSuspensionRequested, level=level)
    t = operations.approval_requested("r5", event, LABELS, {"extension": "level_above", "suspension": rule})
    assert t.audience.staff == (StaffAt(holding_area(GRID, approver), LEVEL_ROLES[approver]),)


def test_the_approver_rules_are_read_from_the_cases_policy_file(tmp_path):
    assert config._approvers(config.DEFAULT_POLICY) == {"extension": "level_above", "suspension": "level_above"}
    policy = tmp_path / "policy.yaml"
    policy.write_text("operations: {suspension_approver: town}\ncategories: {}\n", encoding="utf-8")
    assert config._approvers(policy) == {"extension": "level_above", "suspension": "town"}
    policy.write_text("categories: {}\n", encoding="utf-8")
    assert config._approvers(policy) == {"extension": "level_above", "suspension": "level_above"}
    policy.write_text("operations: {extension_approver: mayor}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="operations.extension_approver: 'mayor'"):
        config._approvers(policy)


def test_extension_and_suspension_requests_say_what_is_asked_and_why():
    ext = case_event(cases.CaseExtensionRequested, requested_due=local(9, 18), extensions=1, reason="等待鉴定结果")
    body = text(operations.approval_requested("r2", ext, LABELS))
    assert "村(社区)申请延期至12-09 18:00" in body and "现办结时限12-05 18:00" in body
    assert "理由：等待鉴定结果" in body and body.endswith("请审批")
    susp = case_event(cases.CaseSuspensionRequested, until=local(20, 9), reason="等待法院开庭")
    t = operations.approval_requested("r3", susp, LABELS)
    assert render(t.kind, t.facts, "in_app").title == "缓办申请待审批：CP-2026-000123"
    assert "申请缓办至12-20 09:00" in text(t) and "等待法院开庭" in text(t)
    open_ended = operations.approval_requested("r4", case_event(cases.CaseSuspensionRequested), LABELS)
    assert "申请缓办（现办结时限" in text(open_ended)


def test_a_decision_goes_to_the_holding_level_and_the_unit_and_assignee_the_copy_knows():
    event = case_event(
        cases.CaseExtensionDecided,
        approved=True,
        requested_due=local(9, 18),
        previous_due=local(5, 18),
        extensions=1,
        resolve_due=local(9, 18),
    )
    bare = operations.approval_decided("d1", event, LABELS, HandlingUnit())
    assert bare.audience == Audience(staff=(StaffAt(VILLAGE, ("village_admin",)),))
    to_dept = operations.approval_decided("d2", event, LABELS, HandlingUnit("dept.justice", "town", "sf-li"))
    assert to_dept.audience == Audience(
        staff=(StaffAt(VILLAGE, ("village_admin",)),), unit="dept.justice", subs=("sf-li",)
    )
    to_grid = operations.approval_decided("d3", event, LABELS, HandlingUnit(GRID, "grid", None))
    assert to_grid.audience.staff == (StaffAt(VILLAGE, ("village_admin",)), StaffAt(GRID, ("grid_manager",)))
    assert "延期申请已批准，办结时限延至12-09 18:00" in text(bare)


def test_refusals_and_suspensions_say_what_now_holds():
    refused = case_event(
        cases.CaseExtensionDecided,
        approved=False,
        requested_due=local(9, 18),
        previous_due=local(5, 18),
        extensions=0,
        reason="证据已齐",
    )
    t = operations.approval_decided("d4", refused, LABELS, HandlingUnit())
    assert render(t.kind, t.facts, "in_app").title == "延期申请未获批准：CP-2026-000123"
    assert "延期申请未获批准（证据已齐），请于12-05 18:00前办结" in text(t)
    approved = case_event(cases.CaseSuspensionDecided, approved=True, until=local(20, 9), status="suspended")
    assert "缓办申请已批准，暂停计时至12-20 09:00" in text(
        operations.approval_decided("d5", approved, LABELS, HandlingUnit())
    )
    no_susp = case_event(cases.CaseSuspensionDecided, approved=False)
    assert "缓办申请未获批准，请于12-05 18:00前办结" in text(
        operations.approval_decided("d6", no_susp, LABELS, HandlingUnit())
    )


# -- 退单 ---------------------------------------------------------------------------------------------------------


def test_a_returned_case_goes_to_the_dispatching_level_with_the_reason_and_count():
    event = case_event(
        cases.CaseReturned, status="accepted", level="town", unit_id="dept.justice", returns=2, reason="不属本单位职责"
    )
    t = operations.case_returned("x1", event, LABELS)
    assert t.kind is Kind.case_returned and not t.urgent
    assert t.audience == Audience(staff=(StaffAt("changping", ("town_admin",)),), exclude=("va-kjf",))
    assert "已被dept.justice退回（第2次退单），理由：不属本单位职责，请重新派遣" in text(t)
    by_village = case_event(cases.CaseReturned, status="accepted", level="town", unit_id=VILLAGE, returns=1)
    assert "已被孔家畈村退回（第1次退单）" in text(operations.case_returned("x2", by_village, LABELS))


# -- addressing and wording shared with dispatch --------------------------------------------------------------------


def test_unit_audience_is_the_dispatch_addressing():
    assert unit_audience("dept.justice") == Audience(unit="dept.justice")
    assert unit_audience(VILLAGE) == Audience(staff=(StaffAt(VILLAGE, ("village_admin",)),))
    assert unit_audience("changping", "county") == Audience(staff=(StaffAt("changping", ("county_admin",)),))
    dispatched = case_event(cases.CaseDispatched, unit_level="grid", unit_id=GRID)
    assert triggers.case_dispatched("p", dispatched, LABELS).audience == unit_audience(GRID, "grid")


OPERATION_TRIGGERS = [
    operations.case_supervised("s", supervised(reason="请" * 60), LABELS, HandlingUnit()),
    operations.approval_requested(
        "a",
        case_event(cases.CaseExtensionRequested, requested_due=local(9, 18), extensions=0, reason="理" * 60),
        LABELS,
    ),
    operations.approval_decided(
        "b",
        case_event(
            cases.CaseExtensionDecided, approved=True, requested_due=local(9, 18), previous_due=None, extensions=1
        ),
        LABELS,
        HandlingUnit(),
    ),
    operations.case_returned("c", case_event(cases.CaseReturned, unit_id=GRID, returns=3, reason="原" * 60), LABELS),
]


SMS_START = {
    Kind.case_supervised: "CP-2026-000123镇督办，请于12-03 17:00前报告：请请",
    Kind.approval_requested: "CP-2026-000123申请延期至12-09 18:00，请审批：理理",
    Kind.approval_decided: "CP-2026-000123延期申请已批准，办结时限延至12-05 18:00",
    Kind.case_returned: "CP-2026-000123被孔家畈村第3网格退单，请重新派遣：原原",
}


@pytest.mark.parametrize("trigger", OPERATION_TRIGGERS, ids=lambda t: t.kind.value)
def test_every_operation_fits_one_sms_with_the_number_and_date_first(trigger):
    sms = render(trigger.kind, trigger.facts, "sms", LINK).text
    assert len(sms) <= SMS_MAX and sms.endswith(LINK) and sms.startswith("CP-2026-000123")
    alone = render(trigger.kind, trigger.facts, "sms").text  # without a link the date and the start of the note fit
    assert len(alone) <= SMS_MAX and alone.startswith(SMS_START[trigger.kind])


def test_a_rules_file_written_before_these_kinds_gets_their_default_channels():
    rules: dict[str, object] = {
        "quiet_hours": None,
        "critical_categories": [],
        "offer_reminder_minutes": 5,
        "deadline_lead_minutes": {"accept": 30, "resolve": 240},
        "defaults": {k.value: ["in_app"] for k in Kind if k not in LATER_KIND_DEFAULTS},
        "channels": {
            c: {"rate_per_s": 1, "concurrency": 1, "max_attempts": 1, "backoff_s": 1}
            for c in ("in_app", "sms", "email", "wecom", "dingtalk")
        },
    }
    parsed = Rules.model_validate(rules)
    assert parsed.defaults[Kind.case_supervised] == ["in_app", "sms"]
    assert parsed.defaults[Kind.deadline_near] == ["in_app"]

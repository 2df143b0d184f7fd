"""Masked phones, the redaction of public text, and what each category's visibility lets the
public Open311 reads show."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cases.api.open311.views import public_request
from cases.domain.policy import PolicyError, Visibility, load
from cases.domain.redaction import ID_MARK, PHONE_MARK, redact
from govkit.pseudonym import mask_phone

POLICY = Path(__file__).resolve().parents[2] / "services" / "cases" / "config" / "policy.yaml"


@pytest.mark.parametrize(
    "phone,masked",
    [
        ("13812341234", "138****1234"),
        ("138 1234-1234", "138****1234"),
        ("7654321", "****321"),  # was "7654321": the whole number
        ("87654321", "****4321"),
        ("0710-5551234", "071****1234"),
        ("12345", "****5"),
        ("1234", "****"),
        ("", None),
        (None, None),
        ("--", None),
    ],
)
def test_mask_phone(phone, masked):
    assert mask_phone(phone) == masked


@pytest.mark.parametrize("length", range(1, 21))
def test_a_masked_phone_hides_at_least_four_digits_and_shows_at_most_the_last_four(length):
    digits = "".join(str((i * 7 + 3) % 10) for i in range(length))
    masked = mask_phone(digits)
    assert masked is not None
    assert len(masked) == length and masked.count("*") >= min(4, length)
    head = 3 if masked[:3].isdigit() else 0
    tail = len(masked) - len(masked.rstrip("0123456789"))
    assert tail <= 4 and (head == 0 or length >= 11)
    assert masked[:head] == digits[:head] and masked[length - tail :] == digits[length - tail :]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("联系电话13812341234，请尽快处理", f"联系电话{PHONE_MARK}，请尽快处理"),
        ("电话 138 1234 1234 或 +86 139-1234-5678", f"电话 {PHONE_MARK} 或 {PHONE_MARK}"),
        ("手机１３８１２３４１２３４", f"手机{PHONE_MARK}"),  # full-width digits
        (
            "座机0710-5551234，村委(0710)5559876，北京010-12345678",
            f"座机{PHONE_MARK}，村委{PHONE_MARK}，北京{PHONE_MARK}",
        ),
        ("身份证号420624199001011234，老证420624900101123", f"身份证号{ID_MARK}，老证{ID_MARK}"),
        ("身份证42062419900101123X。", f"身份证{ID_MARK}。"),
        ("身份证 420624 19900101 123x", f"身份证 {ID_MARK}"),
        # not phone or ID numbers: amounts, dates, case numbers, a 7-digit number without area code
        ("拖欠工资38000元，2026-11-29起，编号CP-2026-000123，门牌5551234", None),
        ("卡号6222021234567890123456", None),  # a longer run of digits
    ],
)
def test_redaction_of_phone_and_id_numbers(text, expected):
    assert redact(text) == (text if expected is None else expected)


def test_the_shipped_policy_shows_sensitive_categories_status_only():
    p = load(POLICY)
    assert sorted(p.with_visibility(Visibility.status_only)) == [
        "dispute.family",
        "dispute.neighbor",
        "epidemic",
        "petition",
    ]
    assert p.with_visibility(Visibility.hidden) == []
    assert p.get("dispute.land").visibility is Visibility.public


def test_visibility_is_validated_and_defaults_to_status_only(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(
        "categories:\n  other: {name: 其他, level: grid, accept_hours: 1, resolve_hours: 1, service_code: '9'}\n"
        "  x: {name: x, level: grid, accept_hours: 1, resolve_hours: 1, service_code: '8', visibility: hidden}\n"
    )
    p = load(f)
    assert p.get("other").visibility is Visibility.status_only and p.get("x").visibility is Visibility.hidden
    f.write_text(
        "categories:\n  bad: {name: x, level: grid, accept_hours: 1, resolve_hours: 1, service_code: '1', "
        "visibility: everyone}\n"
    )
    with pytest.raises(PolicyError, match="categories.bad: visibility"):
        load(f)


def row(category: str, **kw) -> dict:
    at = datetime(2026, 11, 29, 1, 30, tzinfo=UTC)
    base = {
        "number": "CP-2026-000001",
        "category": category,
        "severity": "medium",
        "status": "accepted",
        "level": "grid",
        "created_at": at,
        "updated_at": at,
        "resolve_due": at,
        "description": "王某发热三天，电话13812341234，身份证420624199001011234",
        "address": "三组12号，电话0710-5551234",
        "lat": 31.7,
        "lon": 111.8,
        "attachments": ["https://files.example/photo.jpg"],
    }
    return {**base, **kw}


def test_status_only_shows_number_category_status_and_dates_and_nothing_said_or_where():
    policy = load(POLICY)
    for category in ("petition", "dispute.family", "dispute.neighbor", "epidemic"):
        got = public_request(row(category), policy)
        assert got["service_request_id"] == "CP-2026-000001" and got["status"] == "open"
        assert got["service_code"] == policy.get(category).service_code and got["requested_datetime"]
        for field in ("description", "address", "lat", "long", "media_url"):
            assert got[field] is None, (category, field)


def test_public_shows_the_case_with_phones_and_ids_redacted():
    got = public_request(row("hazard.safety"), load(POLICY))
    assert got["description"] == f"王某发热三天，电话{PHONE_MARK}，身份证{ID_MARK}"
    assert got["address"] == f"三组12号，电话{PHONE_MARK}"
    assert (got["lat"], got["long"], got["media_url"]) == (31.7, 111.8, "https://files.example/photo.jpg")


def test_a_category_gone_from_the_policy_shows_its_status_only():
    got = public_request(row("retired.category"), load(POLICY))
    assert got["description"] is None and got["status"] == "open"

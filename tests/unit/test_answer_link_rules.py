"""Answer links, pure: the token's format and MAC (bound to one offer, its volunteer and expiry), what a link
still allows, the page's words and times, and the contact lookup's edge model."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from volunteers.api import answer_html
from volunteers.api.schemas import ContactLookup
from volunteers.config import TASK_TYPES
from volunteers.domain import answer_links as link_rules

KEY = link_rules.link_key("k" * 40)
OFFER, VOLUNTEER = uuid.uuid4(), uuid.uuid4()
EXPIRES = datetime(2026, 12, 1, 3, 15, 0, 123456, tzinfo=UTC)


def a_token() -> str:
    return link_rules.token(KEY, link_rules.new_link_id(), OFFER, VOLUNTEER, EXPIRES)


def test_a_token_is_24_url_safe_characters_of_id_and_mac():
    tokens = {a_token() for _ in range(200)}
    assert len(tokens) == 200
    for t in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{24}", t)
        parsed = link_rules.parse(t)
        assert parsed.link_id + parsed.mac == t and len(parsed.link_id) == 12
        link_rules.check_mac(KEY, parsed, OFFER, VOLUNTEER, EXPIRES)  # no exception


def test_the_mac_binds_the_offer_the_volunteer_the_expiry_and_the_key():
    t = link_rules.parse(a_token())
    for offer, volunteer, expires, key in [
        (uuid.uuid4(), VOLUNTEER, EXPIRES, KEY),
        (OFFER, uuid.uuid4(), EXPIRES, KEY),
        (OFFER, VOLUNTEER, EXPIRES + timedelta(microseconds=1), KEY),
        (OFFER, VOLUNTEER, EXPIRES, link_rules.link_key("other-key-" * 4)),
    ]:
        with pytest.raises(link_rules.AnswerLinkInvalid):
            link_rules.check_mac(key, t, offer, volunteer, expires)
    # the same instant in another time zone is the same expiry
    link_rules.check_mac(KEY, t, OFFER, VOLUNTEER, EXPIRES.astimezone(answer_html.LOCAL_TZ))


def test_one_character_changed_anywhere_is_refused():
    t = a_token()
    for i in range(len(t)):
        forged = t[:i] + ("A" if t[i] != "A" else "B") + t[i + 1 :]
        with pytest.raises(link_rules.AnswerLinkInvalid):
            parsed = link_rules.parse(forged)
            if parsed.link_id != t[:12]:  # another id finds no row: the use case refuses it as unknown
                raise link_rules.AnswerLinkInvalid("unknown id")
            link_rules.check_mac(KEY, parsed, OFFER, VOLUNTEER, EXPIRES)


@pytest.mark.parametrize("raw", ["", "short", "x" * 23, "x" * 25, "a" * 23 + "=", "a" * 23 + "/", "é" * 24])
def test_anything_but_24_url_safe_characters_is_not_a_token(raw):
    with pytest.raises(link_rules.AnswerLinkInvalid):
        link_rules.parse(raw)


def test_the_key_is_derived_from_the_pseudonym_key():
    assert link_rules.link_key("k" * 40) == KEY and len(KEY) == 32
    assert ("k" * 40).encode() != KEY


NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "used_at,status,expires_at,expected",
    [
        (None, "pending", NOW + timedelta(minutes=1), "open"),
        (None, "pending", NOW, "expired"),  # at the instant of expiry it is over
        (None, "pending", NOW - timedelta(seconds=1), "expired"),
        (None, "accepted", NOW + timedelta(minutes=1), "expired"),  # answered through the API
        (None, "withdrawn", NOW + timedelta(minutes=1), "expired"),  # the task was cancelled or filled
        (None, "expired", NOW + timedelta(minutes=1), "expired"),
        (NOW, "accepted", NOW + timedelta(minutes=1), "used"),
        (NOW, "declined", NOW - timedelta(minutes=1), "used"),  # used says so even once expired
    ],
)
def test_what_a_link_still_allows(used_at, status, expires_at, expected):
    assert link_rules.state(used_at=used_at, offer_status=status, expires_at=expires_at, now=NOW) == expected
    if expected == "open":
        link_rules.check_open(expected, status)
    else:
        refusal = link_rules.AnswerLinkUsed if expected == "used" else link_rules.AnswerLinkExpired
        with pytest.raises(refusal):
            link_rules.check_open(expected, status)


def test_every_task_type_has_a_chinese_name():
    assert set(answer_html.TASK_TYPE_LABEL) == set(TASK_TYPES)


def test_times_are_china_standard_time():
    start = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 11:00 in Xiangyang, a Tuesday
    assert answer_html.time_window(start, start + timedelta(hours=1)) == "12月1日（周二）11:00–12:00"
    assert answer_html.time_window(start, start + timedelta(days=2)) == "12月1日（周二）11:00–12月3日（周四）11:00"


def test_the_page_escapes_what_it_shows():
    link = {
        "title": "<script>alert(1)</script>",
        "task_type": "patrol",
        "grid_id": "changping.kongjiafan.g03",
        "grid_name": "孔家畈村第3网格",
        "window_start": NOW,
        "window_end": NOW + timedelta(hours=1),
        "urgent": True,
        "offer_expires_at": NOW + timedelta(minutes=15),
        "link_expires_at": NOW + timedelta(minutes=15),
    }
    page = answer_html.offer_page(link)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "紧急" in page and "巡逻巡查" in page and "孔家畈村第3网格" in page and "11:15" in page
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in page
    assert not re.search(r"(src|href)=|@import|url\(", page)  # nothing loaded from anywhere


def test_a_contact_item_names_exactly_one_of_task_and_pairing():
    ref = "volunteer_0123456789abcdef0123"
    ok = ContactLookup.model_validate({"items": [{"volunteer_ref": ref, "task_id": str(OFFER), "pairing_id": None}]})
    assert ok.items[0].task_id == OFFER
    for item in ({"volunteer_ref": ref}, {"volunteer_ref": ref, "task_id": str(OFFER), "pairing_id": str(OFFER)}):
        with pytest.raises(ValidationError) as e:
            ContactLookup.model_validate({"items": [item]})
        (err,) = e.value.errors()
        assert err["loc"] == ("items", 0, "pairing_id") and err["msg"] == "give exactly one of task_id and pairing_id"
    with pytest.raises(ValidationError):
        ContactLookup.model_validate({"items": []})
    with pytest.raises(ValidationError):
        ContactLookup.model_validate({"items": [{"volunteer_ref": ref, "task_id": str(OFFER)}] * 201})

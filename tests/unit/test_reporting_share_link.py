"""Share links of the weekly report (reporting.share), pure: a link opens exactly the report it was signed for, in
HTML, until it expires; anything tampered, cut or moved is refused; and the service's settings that make them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from gov_contracts.errors import Forbidden
from govkit.settings import DEV_PSEUDONYM_KEY, ConfigError
from govkit.settings import load as load_settings
from reporting import share
from reporting.config import configure

KEY = share.derive_key("k" * 32)
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
BASE = "https://report.changping.example/"


def parts(url: str) -> tuple[str, str, str, str, str]:
    """(area, week, format, exp, sig) of a link, as the route reads them."""
    u = urlsplit(url)
    *_, area, name = u.path.split("/")
    week, fmt = name.rsplit(".", 1)
    q = parse_qs(u.query)
    return area, week, fmt, q["exp"][0], q["sig"][0]


def test_a_link_names_one_report_and_expires_after_the_configured_days():
    link = share.link(KEY, BASE, "changping.kongjiafan", "2026-W48", NOW, 14)
    assert link.url.startswith("https://report.changping.example/v1/public/shared/reports/weekly/changping.kongjiafan/")
    assert "/2026-W48.html?exp=" in link.url and "&sig=" in link.url
    assert link.expires_at == NOW + timedelta(days=14)
    area, week, fmt, exp, sig = parts(link.url)
    assert (area, week, fmt, int(exp)) == ("changping.kongjiafan", "2026-W48", "html", int(link.expires_at.timestamp()))
    assert len(sig) == 22
    share.check(KEY, area, week, fmt, exp, sig, NOW)  # opens
    share.check(KEY, area, week, fmt, exp, sig, link.expires_at - timedelta(seconds=1))  # up to its last second


@pytest.mark.parametrize(
    "change",
    [
        {"area": "changping"},  # another area, even the town above it
        {"area": "changping.kongjiafan.g01"},
        {"week": "2026-W47"},  # another week
        {"fmt": "csv"},  # another format
        {"fmt": "json"},
        {"exp": "+1"},  # a later expiry
        {"sig": "x"},
        {"sig": ""},
        {"sig": None},
        {"exp": None},
        {"exp": "１２３"},  # digits that are not ASCII
        {"exp": "9" * 13},
    ],
)
def test_anything_else_than_the_signed_report_is_refused_with_403(change):
    link = share.link(KEY, BASE, "changping.kongjiafan", "2026-W48", NOW, 14)
    area, week, fmt, exp, sig = parts(link.url)
    args = {"area": area, "week": week, "fmt": fmt, "exp": exp, "sig": sig}
    if change.get("exp") == "+1":
        change = {"exp": str(int(exp) + 1)}
    args.update(change)
    with pytest.raises(share.ShareLinkInvalid) as refused:
        share.check(KEY, args["area"], args["week"], args["fmt"], args["exp"], args["sig"], NOW)
    assert isinstance(refused.value, Forbidden) and refused.value.detail  # 403 at the HTTP edge


def test_a_tampered_signature_is_refused_whichever_character_changed():
    link = share.link(KEY, BASE, "changping", "2026-W48", NOW, 14)
    area, week, fmt, exp, sig = parts(link.url)
    for i in range(len(sig)):
        bad = sig[:i] + ("A" if sig[i] != "A" else "B") + sig[i + 1 :]
        with pytest.raises(share.ShareLinkInvalid):
            share.check(KEY, area, week, fmt, exp, bad, NOW)


def test_another_key_does_not_open_it():
    link = share.link(KEY, BASE, "changping", "2026-W48", NOW, 14)
    with pytest.raises(share.ShareLinkInvalid):
        share.check(share.derive_key("z" * 32), *parts(link.url), NOW)


def test_an_expired_link_is_gone_with_410_not_invalid():
    link = share.link(KEY, BASE, "changping", "2026-W48", NOW, 14)
    with pytest.raises(share.ShareLinkExpired) as gone:
        share.check(KEY, *parts(link.url), link.expires_at)
    assert gone.value.expired_at == link.expires_at.isoformat() and "expired" in gone.value.detail
    # an expired link that was also tampered with says invalid: the signature is checked first
    area, week, fmt, exp, sig = parts(link.url)
    with pytest.raises(share.ShareLinkInvalid):
        share.check(KEY, area, "2026-W49", fmt, exp, sig, link.expires_at + timedelta(days=1))


def settings(**env: str):
    return load_settings(
        "reporting", {"REPORTING_DATABASE_URL": "postgresql://x/y", "KAFKA_BOOTSTRAP_SERVERS": "h:1", **env}
    )


def test_the_key_is_derived_from_the_pseudonym_key_unless_set_and_the_public_url_defaults_to_the_service():
    cfg = configure(settings(REPORTING_HTTP_PORT="8123"), {})
    assert cfg.link_key == share.derive_key(DEV_PSEUDONYM_KEY) and cfg.link_key != DEV_PSEUDONYM_KEY.encode()
    assert cfg.public_url == "http://127.0.0.1:8123" and cfg.share_ttl_days == 14
    own = configure(settings(), {"REPORTING_SHARE_KEY": "s" * 40, "REPORTING_PUBLIC_URL": BASE})
    assert own.link_key == share.derive_key("s" * 40) and own.public_url == BASE.rstrip("/")
    assert "s" * 40 not in repr(own)
    assert configure(settings(), {"REPORTING_SHARE_TTL_DAYS": "1.5"}).share_ttl_days == 1.5


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"REPORTING_SHARE_KEY": "short"}, "REPORTING_SHARE_KEY"),
        ({"REPORTING_SHARE_TTL_DAYS": "0"}, "REPORTING_SHARE_TTL_DAYS"),
        ({"REPORTING_SHARE_TTL_DAYS": "400"}, "REPORTING_SHARE_TTL_DAYS"),
    ],
)
def test_a_bad_share_setting_is_one_line_naming_it(env, variable):
    with pytest.raises(ConfigError) as e:
        configure(settings(), env)
    assert str(e.value).startswith(f"config error: {variable}: ") and "\n" not in str(e.value)

"""Share links of the weekly report, pure: a URL that opens ONE report's HTML without a bearer token, until it
expires. No I/O.

`/v1/public/shared/reports/weekly/{area}/{week}.html?exp=<unix seconds>&sig=<mac>`: the MAC is the first 16 bytes of
HMAC-SHA256 over `weekly|{area}|{week}|{format}|{exp}`, base64url without padding (22 characters), so the link
cannot be moved to another area, week or format, nor outlive its expiry. Nothing is stored: the key alone checks
a link, and changing the key (REPORTING_SHARE_KEY, or PSEUDONYM_KEY it is derived from) revokes every link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

from gov_contracts.errors import Forbidden

PREFIX = "/v1/public/shared/reports/weekly"
FORMAT = "html"  # the only format a link opens
MAC_BYTES = 16
_EXP = re.compile(r"[0-9]{1,12}")


class ShareLinkInvalid(Forbidden):
    """Not a link this service signed for this report: tampered, cut, or moved to another report (403, titled
    as every refusal so that govkit.messages has its Chinese)."""


class ShareLinkExpired(Exception):
    """A genuine link past its expiry: 410 at the HTTP edge (no domain refusal maps to it)."""

    title = "Share link expired"

    def __init__(self, detail: str, expired_at: str):
        super().__init__(detail)
        self.detail, self.expired_at = detail, expired_at


def derive_key(secret: str) -> bytes:
    """The MAC key: derived, so the secret itself (the share key, or the pseudonym key) never signs anything else."""
    return hmac.new(secret.encode(), b"weekly-report-share-link", hashlib.sha256).digest()


def mac(key: bytes, area: str, week: str, fmt: str, exp: int) -> str:
    signed = f"weekly|{area}|{week}|{fmt}|{exp}".encode()
    digest = hmac.new(key, signed, hashlib.sha256).digest()[:MAC_BYTES]
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def path(area: str, week: str, fmt: str = FORMAT) -> str:
    return f"{PREFIX}/{quote(area, safe='')}/{quote(week, safe='')}.{fmt}"


@dataclass(frozen=True)
class ShareLink:
    url: str
    expires_at: datetime


def link(key: bytes, base_url: str, area: str, week: str, now: datetime, ttl_days: float) -> ShareLink:
    """The link to the HTML of `area`'s report of `week`, valid for `ttl_days` from `now` (to the second)."""
    exp = int((now + timedelta(days=ttl_days)).timestamp())
    query = urlencode({"exp": exp, "sig": mac(key, area, week, FORMAT, exp)})
    return ShareLink(f"{base_url.rstrip('/')}{path(area, week)}?{query}", datetime.fromtimestamp(exp, UTC))


def check(key: bytes, area: str, week: str, fmt: str, exp: str | None, sig: str | None, now: datetime) -> None:
    """Raises ShareLinkInvalid unless `sig` is this service's MAC of exactly this area, week, format and expiry
    (compared in constant time), then ShareLinkExpired if the expiry has passed. Only the HTML opens."""
    if not exp or not sig or not _EXP.fullmatch(exp):
        raise ShareLinkInvalid("not a share link: exp and sig are required")
    expected = mac(key, area, week, fmt, int(exp))
    if not hmac.compare_digest(expected.encode(), sig.encode("utf-8", "replace")) or fmt != FORMAT:
        raise ShareLinkInvalid("the link does not open this report")
    if int(exp) <= now.timestamp():
        expired = datetime.fromtimestamp(int(exp), UTC).isoformat()
        raise ShareLinkExpired(f"the link expired at {expired}; ask for a new one", expired)

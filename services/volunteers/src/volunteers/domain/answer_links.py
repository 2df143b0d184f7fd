"""Answer links, pure: the signed single-use token a volunteer answers an offer with from an SMS, and what a
link still allows. No I/O: volunteers.answer_links loads and saves the links.

A token is 24 URL-safe characters: the link id (9 random bytes, base64url, 12 characters) and a MAC (the first
9 bytes of HMAC-SHA256 over `id|offer_id|volunteer_id|expires_at`, base64url, 12 characters). The MAC binds the
link to one offer, its volunteer and its expiry, so a token cannot be moved to another offer or outlive it; the
id alone finds the row. The key is derived from the service's pseudonym key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from gov_contracts.errors import IllegalAction, NotFound

ID_BYTES = MAC_BYTES = 9  # 12 base64url characters each, no padding
ID_CHARS = 12
TOKEN_CHARS = 24
_TOKEN = re.compile(r"[A-Za-z0-9_-]{24}")
ANSWERS = ("accept", "decline")

LinkState = Literal["open", "used", "expired"]


class AnswerLinkInvalid(NotFound):
    """An unknown link id or a MAC that does not match: the page says 链接无效 (404)."""

    title = "Invalid answer link"


class AnswerLinkUsed(IllegalAction):
    """The link answered its offer already: 此链接已使用 (410)."""

    title = "Answer link used"


class AnswerLinkExpired(IllegalAction):
    """The offer expired or is no longer pending (taken, withdrawn, answered otherwise): 邀请已过期或已失效 (410)."""

    title = "Offer expired or closed"


def link_key(pseudonym_key: str) -> bytes:
    """The MAC key: derived, so the pseudonym key itself never signs anything else."""
    return hmac.new(pseudonym_key.encode(), b"answer-link", hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii")


def new_link_id() -> str:
    return _b64(secrets.token_bytes(ID_BYTES))


def mac(key: bytes, link_id: str, offer_id: object, volunteer_id: object, expires_at: datetime) -> str:
    signed = f"{link_id}|{offer_id}|{volunteer_id}|{expires_at.astimezone(UTC).isoformat()}"
    return _b64(hmac.new(key, signed.encode(), hashlib.sha256).digest()[:MAC_BYTES])


def token(key: bytes, link_id: str, offer_id: object, volunteer_id: object, expires_at: datetime) -> str:
    return link_id + mac(key, link_id, offer_id, volunteer_id, expires_at)


@dataclass(frozen=True)
class ParsedToken:
    link_id: str
    mac: str


def parse(raw: str) -> ParsedToken:
    """The token's parts; AnswerLinkInvalid when it is not 24 URL-safe characters."""
    if not _TOKEN.fullmatch(raw):
        raise AnswerLinkInvalid("not an answer link")
    return ParsedToken(raw[:ID_CHARS], raw[ID_CHARS:])


def check_mac(key: bytes, parsed: ParsedToken, offer_id: object, volunteer_id: object, expires_at: datetime) -> None:
    """AnswerLinkInvalid unless the token's MAC is the link's (compared in constant time)."""
    expected = mac(key, parsed.link_id, offer_id, volunteer_id, expires_at)
    if not hmac.compare_digest(expected.encode(), parsed.mac.encode()):
        raise AnswerLinkInvalid("not an answer link")


def state(*, used_at: datetime | None, offer_status: str, expires_at: datetime, now: datetime) -> LinkState:
    """`expires_at`: the earlier of the link's and the offer's. A used link says so even after its offer moved on."""
    if used_at is not None:
        return "used"
    if offer_status != "pending" or expires_at <= now:
        return "expired"
    return "open"


def check_open(link_state: LinkState, offer_status: str) -> None:
    """Raises AnswerLinkUsed or AnswerLinkExpired unless the link may still answer its offer."""
    if link_state == "used":
        raise AnswerLinkUsed("the link has been used", status=offer_status, allowed=[])
    if link_state == "expired":
        raise AnswerLinkExpired(f"the offer is {offer_status} or expired", status=offer_status, allowed=[])

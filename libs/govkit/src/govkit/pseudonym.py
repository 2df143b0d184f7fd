"""Pseudonymous references and masking for personal data that must not leave
the owning service (PIPL): events carry these, never names or phones."""

import hashlib
import hmac
import re


def ref(key: str, kind: str, value: str) -> str:
    """Stable per key: the same person gets the same reference in every event."""
    norm = re.sub(r"\s+", "", value).lower()
    digest = hmac.new(key.encode(), f"{kind}:{norm}".encode(), hashlib.sha256).hexdigest()
    return f"{kind}_{digest[:20]}"


def mask_phone(phone: str | None) -> str | None:
    """138****1234: at least 4 digits hidden, at most the last 4 shown, and the first 3 (the mobile
    network's prefix) only when 4 stay hidden besides; a 7-digit number keeps its last 3 (****321)."""
    digits = re.sub(r"\D", "", phone or "")
    if not digits:
        return None
    tail = max(0, min(4, len(digits) - 4))
    head = 3 if len(digits) - tail - 3 >= 4 else 0
    return digits[:head] + "*" * (len(digits) - head - tail) + digits[len(digits) - tail :]

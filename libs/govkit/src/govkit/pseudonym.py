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
    if not phone:
        return None
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"

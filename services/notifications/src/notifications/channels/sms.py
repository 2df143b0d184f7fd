"""SMS through a gateway shaped like the Chinese cloud SMS APIs: a signed JSON POST naming a template."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from notifications.channels.base import Address, Message, PermanentFailure, TransientFailure
from notifications.channels.settings import SmsSettings
from notifications.channels.webhooks import http_failure, json_object, post_once

SMS_MAX_CHARS = 70  # one SMS segment of Chinese text (UCS-2); longer ones are split and billed per segment


def is_transient_code(code: str) -> bool:
    return code in ("isv.BUSINESS_LIMIT_CONTROL", "Throttling") or code.startswith("Throttling.")


def sms_signature(secret: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    """base64(HMAC-SHA256(secret, "POST\\n<path>\\n<timestamp>\\n<nonce>\\n<hex sha256 of the body>"))."""
    string_to_sign = "\n".join(["POST", path, timestamp, nonce, hashlib.sha256(body).hexdigest()])
    return base64.b64encode(hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).digest()).decode()


def sms_body(settings: SmsSettings, message: Message, phone: str) -> bytes:
    payload = {
        "PhoneNumbers": phone,
        "SignName": settings.sign_name,
        "TemplateCode": settings.template_code,
        "TemplateParam": json.dumps({"text": message.text, **message.sms_params}, ensure_ascii=False),
        "OutId": message.delivery_id,
    }
    return json.dumps(payload, ensure_ascii=False).encode()


class SmsGateway:
    name = "sms"

    def __init__(self, client: httpx.AsyncClient, settings: SmsSettings):
        self.client = client
        self.settings = settings
        self.path = urlsplit(settings.url).path or "/"

    def signed_headers(self, body: bytes) -> dict[str, str]:
        timestamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        nonce = uuid.uuid4().hex
        return {
            "X-Sms-Key-Id": self.settings.access_key_id,
            "X-Sms-Timestamp": timestamp,
            "X-Sms-Nonce": nonce,
            "X-Sms-Signature": sms_signature(self.settings.access_key_secret, self.path, timestamp, nonce, body),
        }

    async def send(self, message: Message, address: Address) -> str | None:
        if len(message.text) > SMS_MAX_CHARS:
            raise PermanentFailure(f"sms: text of {len(message.text)} characters, at most {SMS_MAX_CHARS}")
        body = sms_body(self.settings, message, address.target)
        response = await post_once(
            self.client, self.name, self.settings.url, body, self.signed_headers(body), self.settings.timeout_s
        )
        failure = http_failure(self.name, response)
        if isinstance(failure, TransientFailure):
            raise failure
        data = json_object(response) or {}
        code = str(data.get("Code", ""))[:64]
        if failure is None and code == "OK":
            return str(data.get("BizId", "")) or None
        if is_transient_code(code):  # some gateways answer throttling with a 4xx and the code in the body
            raise TransientFailure(f"sms: {code}")
        if code:
            raise PermanentFailure(f"sms: {code} (HTTP {response.status_code})")
        raise failure or PermanentFailure(f"sms: no Code in the answer (HTTP {response.status_code})")

    async def close(self) -> None:
        """The HTTP client is shared and closed by its owner."""

"""The one small interface every channel implements.

A channel sends one rendered message to one address and says how it went: it returns (optionally the provider's
message id), or raises TransientFailure (worth retrying later: timeouts, 5xx, 429, the provider's "too fast") or
PermanentFailure (never worth retrying: a refused signature, an unknown number, a 4xx). Retries, backoff and rate
limits are the sender's (sender.py), per channel, so one failing channel never holds up another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Message:
    delivery_id: str  # unique per (event, recipient, channel): the idempotency key given to providers that take one
    kind: str  # offer, offer_reminder, case_critical, ... (domain/kinds.py)
    title: str  # short Chinese title: e-mail subject, markdown heading
    text: str  # plain Chinese text; for SMS at most 70 characters, link included
    markdown: str | None = None  # for the robots' markdown messages; text is used when None
    link: str | None = None
    sms_params: dict[str, str] = field(default_factory=dict)  # template parameters for the SMS gateway
    urgent: bool = False


@dataclass(frozen=True)
class Address:
    channel: str  # wecom, dingtalk, sms, email, log
    target: str  # webhook URL, phone number or e-mail address
    secret: str | None = None  # DingTalk robot signing secret
    display: str = ""  # masked form for logs and the delivery log: 138****1234, z***@example.cn, robot #3


class DeliveryFailure(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason[:500]


class TransientFailure(DeliveryFailure):
    """Worth another attempt after a backoff."""


class PermanentFailure(DeliveryFailure):
    """Will fail the same way every time: logged as failed at once."""


class Channel(Protocol):
    name: str

    async def send(self, message: Message, address: Address) -> str | None: ...

    async def close(self) -> None: ...

"""The development channel: every message becomes one line of the service log."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from notifications.channels.base import Address, Message

logger = logging.getLogger("notifications.channels.log")


def masked(target: str) -> str:
    """A phone number, e-mail address or webhook URL as it may appear in a log."""
    if "://" in target:
        return urlsplit(target).hostname or "?"
    if "@" in target:
        local, _, domain = target.rpartition("@")
        return f"{local[:1]}***@{domain}"
    digits = target.removeprefix("+86")
    if len(digits) >= 7:
        return f"{digits[:3]}****{digits[-4:]}"
    return "***"


class LogChannel:
    name = "log"

    async def send(self, message: Message, address: Address) -> str | None:
        line = f"{message.title}: {message.text}"
        if message.link and message.link not in message.text:
            line += f" {message.link}"
        logger.info("通知 [%s→%s] %s", address.channel, address.display or masked(address.target), line)
        return None

    async def close(self) -> None:
        """Nothing to close."""

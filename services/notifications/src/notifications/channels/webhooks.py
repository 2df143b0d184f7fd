"""Group robots: WeCom (企业微信) and DingTalk (钉钉) webhooks.

A robot has no idempotency key: a request that timed out may still have been posted, so a retry after a
TransientFailure can show the message twice in the group.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from typing import Any
from urllib.parse import quote_plus, urlsplit

import httpx

from notifications.channels.base import Address, DeliveryFailure, Message, PermanentFailure, TransientFailure

# WeCom: https://developer.work.weixin.qq.com/document/path/91770 ; -1 is the global "system busy, retry later"
WECOM_TRANSIENT = frozenset({-1, 45009})
# DingTalk: 130101 send too fast, 660026 flow control; -1 system busy
DINGTALK_TRANSIENT = frozenset({-1, 130101, 660026})


def host_of(url: str) -> str:
    """The only part of a webhook URL that may be logged: the path and query carry the robot's key."""
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def plain_text(message: Message) -> str:
    content = f"{message.title}\n{message.text}"
    if message.link and message.link not in message.text:
        content += f"\n{message.link}"
    return content


async def post_once(
    client: httpx.AsyncClient, channel: str, url: str, body: bytes, headers: dict[str, str], timeout_s: float
) -> httpx.Response:
    """One POST; what went wrong on the way (not what the server answered) as a DeliveryFailure."""
    where = host_of(url)
    try:
        return await client.post(
            url, content=body, headers={"Content-Type": "application/json; charset=utf-8", **headers}, timeout=timeout_s
        )
    except httpx.TimeoutException as exc:
        raise TransientFailure(f"{channel}: timeout ({type(exc).__name__}) at {where}") from exc
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise PermanentFailure(f"{channel}: not a usable URL (host {where})") from exc
    except httpx.RequestError as exc:
        raise TransientFailure(f"{channel}: connection failed ({type(exc).__name__}) to {where}") from exc


def http_failure(channel: str, response: httpx.Response) -> DeliveryFailure | None:
    """429 and 5xx are worth another attempt, any other status but 2xx is not (redirects are not followed)."""
    status = response.status_code
    if status == 429 or status >= 500:
        return TransientFailure(f"{channel}: HTTP {status} from {response.url.host}")
    if status >= 300:
        return PermanentFailure(f"{channel}: HTTP {status} from {response.url.host}")
    return None


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def robot_answer(channel: str, response: httpx.Response, transient: frozenset[int]) -> None:
    failure = http_failure(channel, response)
    if failure is not None:
        raise failure
    data = json_object(response)
    if data is None:
        # a 2xx that is not the robot's JSON: the URL leads somewhere else, and will again
        raise PermanentFailure(f"{channel}: not a JSON object in the answer of {response.url.host}")
    errcode = data.get("errcode")
    if errcode == 0:
        return
    reason = f"{channel}: errcode {errcode} {short_errmsg(data.get('errmsg', ''))}".rstrip()
    if errcode in transient:
        raise TransientFailure(reason)
    raise PermanentFailure(reason)


def short_errmsg(errmsg: object) -> str:
    """The provider's message without its hints, request ids, caller IP and documentation links."""
    return re.split(r",|;|\s+(?:hint|more)\b", str(errmsg), maxsplit=1)[0].strip()[:80]


def wecom_body(message: Message) -> dict[str, Any]:
    if message.markdown is not None:
        return {"msgtype": "markdown", "markdown": {"content": message.markdown}}
    return {"msgtype": "text", "text": {"content": plain_text(message)}}


def dingtalk_body(message: Message) -> dict[str, Any]:
    if message.markdown is not None:
        return {"msgtype": "markdown", "markdown": {"title": message.title, "text": message.markdown}}
    return {"msgtype": "text", "text": {"content": plain_text(message)}}


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """base64(HMAC-SHA256(secret, "<timestamp>\\n<secret>")), before URL encoding."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def dingtalk_signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}timestamp={timestamp_ms}&sign={quote_plus(dingtalk_sign(secret, timestamp_ms))}"


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()


class WeComRobot:
    name = "wecom"

    def __init__(self, client: httpx.AsyncClient, *, timeout_s: float = 5.0):
        self.client = client
        self.timeout_s = timeout_s

    async def send(self, message: Message, address: Address) -> str | None:
        response = await post_once(
            self.client, self.name, address.target, encode(wecom_body(message)), {}, self.timeout_s
        )
        robot_answer(self.name, response, WECOM_TRANSIENT)
        return None

    async def close(self) -> None:
        """The HTTP client is the caller's."""


class DingTalkRobot:
    name = "dingtalk"

    def __init__(self, client: httpx.AsyncClient, *, timeout_s: float = 5.0):
        self.client = client
        self.timeout_s = timeout_s

    async def send(self, message: Message, address: Address) -> str | None:
        url = address.target
        if address.secret:
            url = dingtalk_signed_url(url, address.secret, int(time.time() * 1000))
        response = await post_once(self.client, self.name, url, encode(dingtalk_body(message)), {}, self.timeout_s)
        robot_answer(self.name, response, DINGTALK_TRANSIENT)
        return None

    async def close(self) -> None:
        """The HTTP client is the caller's."""

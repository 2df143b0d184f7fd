"""The notification channels against real servers on loopback: an HTTP receiver standing in for the robots and
the SMS gateway, and an aiosmtpd SMTP server. No Kafka, no Postgres: these tests do not use the `stack` fixture."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import json
import logging
import re
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from notifications.channels.base import Address, DeliveryFailure, Message, PermanentFailure, TransientFailure
from notifications.channels.email import SmtpMail
from notifications.channels.log import LogChannel
from notifications.channels.settings import SmsSettings, SmtpSettings
from notifications.channels.sms import SmsGateway, sms_signature
from notifications.channels.webhooks import DingTalkRobot, WeComRobot

PHONE = "13812341234"
MAILBOX = "zhang.wei@example.cn"
ACCESS_KEY_ID = "LTAI5tExampleKeyId"
ACCESS_KEY_SECRET = "sms-access-key-secret-0123456789"
ROBOT_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
DING_TOKEN = "dingtoken0123456789abcdef"
DING_SECRET = "SECb7a3e6d9f0c14e2a8d5b6c7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a"
SECRETS = (PHONE, MAILBOX, ACCESS_KEY_ID, ACCESS_KEY_SECRET, ROBOT_KEY, DING_TOKEN, DING_SECRET, "/cgi-bin", "/robot")

OFFER = Message(
    delivery_id="dlv-7f3a",
    kind="offer",
    title="新任务：孔家畈村助餐送餐",
    text="明天 11:00 为孔家畈村三组的两位老人送餐，请确认",
    link="https://gov.example.cn/tasks/42",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_clean(failure: DeliveryFailure) -> None:
    """A reason goes to logs and the delivery log: no phone number, address, key, token or webhook path."""
    for secret in SECRETS:
        assert secret not in failure.reason, failure.reason


@dataclass
class Recorded:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    body: bytes = b'{"errcode":0,"errmsg":"ok"}'
    delay_s: float = 0.0


@dataclass
class Receiver:
    """An HTTP server recording every POST and answering from a queue (200 errcode 0 when it is empty)."""

    requests: list[Recorded] = field(default_factory=list)
    answers: deque[Answer] = field(default_factory=deque)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, body: Any = None, status: int = 200, delay_s: float = 0.0) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body if body is not None else {}).encode()
        self.answers.append(Answer(status, raw, delay_s))


def handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            parts = urlsplit(self.path)
            receiver.requests.append(Recorded(parts.path, parse_qs(parts.query), dict(self.headers.items()), body))
            answer = receiver.answers.popleft() if receiver.answers else Answer()
            time.sleep(answer.delay_s)
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
            except OSError:  # the client gave up waiting
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture(scope="module")
def http_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(receiver))
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def receiver(http_receiver: Receiver) -> Receiver:
    http_receiver.requests.clear()
    http_receiver.answers.clear()
    return http_receiver


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as shared:  # no proxy from the environment between us and loopback
        yield shared


# --- WeCom ---------------------------------------------------------------------------------------------------


def wecom_address(receiver: Receiver) -> Address:
    return Address("wecom", receiver.url(f"/cgi-bin/webhook/send?key={ROBOT_KEY}"), display="robot #1")


async def test_wecom_text_message(receiver: Receiver, client: httpx.AsyncClient):
    assert await WeComRobot(client).send(OFFER, wecom_address(receiver)) is None
    [request] = receiver.requests
    assert request.path == "/cgi-bin/webhook/send" and request.query == {"key": [ROBOT_KEY]}
    assert request.headers["Content-Type"].startswith("application/json")
    content = f"{OFFER.title}\n{OFFER.text}\n{OFFER.link}"
    assert request.json() == {"msgtype": "text", "text": {"content": content}}


async def test_wecom_markdown_message(receiver: Receiver, client: httpx.AsyncClient):
    message = Message(
        "dlv-1", "case_critical", "紧急案件", "纯文本", markdown='## 紧急案件\n> <font color="warning">地灾</font>'
    )
    await WeComRobot(client).send(message, wecom_address(receiver))
    assert receiver.requests[0].json() == {"msgtype": "markdown", "markdown": {"content": message.markdown}}


@pytest.mark.parametrize(
    "errcode,errmsg,failure",
    [
        (45009, "api freq out of limit, hint: [1764000000_1]", TransientFailure),
        (
            93000,
            "invalid webhook url, hint: [1764000000_2], from ip: 10.0.0.1, more info at https://x",
            PermanentFailure,
        ),
    ],
)
async def test_wecom_errcodes(receiver: Receiver, client: httpx.AsyncClient, errcode, errmsg, failure):
    receiver.answer({"errcode": errcode, "errmsg": errmsg})
    with pytest.raises(DeliveryFailure) as caught:
        await WeComRobot(client).send(OFFER, wecom_address(receiver))
    assert type(caught.value) is failure
    assert str(errcode) in caught.value.reason and "hint" not in caught.value.reason
    assert_clean(caught.value)


async def test_wecom_answer_that_is_not_json_is_permanent(receiver: Receiver, client: httpx.AsyncClient):
    receiver.answer(b"<html>login</html>")
    with pytest.raises(PermanentFailure) as caught:
        await WeComRobot(client).send(OFFER, wecom_address(receiver))
    assert "127.0.0.1" in caught.value.reason
    assert_clean(caught.value)


# --- DingTalk ------------------------------------------------------------------------------------------------


async def test_dingtalk_signed_request_verifies_at_the_receiver(receiver: Receiver, client: httpx.AsyncClient):
    address = Address("dingtalk", receiver.url(f"/robot/send?access_token={DING_TOKEN}"), secret=DING_SECRET)
    message = Message("dlv-2", "escalation", "案件升级", "纯文本", markdown="#### 案件升级\n孔家畈村土地纠纷升级到村")
    before_ms = int(time.time() * 1000)
    assert await DingTalkRobot(client).send(message, address) is None
    [request] = receiver.requests
    assert request.path == "/robot/send" and request.query["access_token"] == [DING_TOKEN]
    [timestamp], [sign] = request.query["timestamp"], request.query["sign"]
    assert before_ms <= int(timestamp) <= int(time.time() * 1000)
    expected = hmac.new(DING_SECRET.encode(), f"{timestamp}\n{DING_SECRET}".encode(), hashlib.sha256).digest()
    assert sign == base64.b64encode(expected).decode()
    assert request.json() == {"msgtype": "markdown", "markdown": {"title": "案件升级", "text": message.markdown}}


async def test_dingtalk_without_secret_is_not_signed(receiver: Receiver, client: httpx.AsyncClient):
    await DingTalkRobot(client).send(OFFER, Address("dingtalk", receiver.url(f"/robot/send?access_token={DING_TOKEN}")))
    [request] = receiver.requests
    assert request.query == {"access_token": [DING_TOKEN]}
    assert request.json() == {"msgtype": "text", "text": {"content": f"{OFFER.title}\n{OFFER.text}\n{OFFER.link}"}}


@pytest.mark.parametrize(
    "errcode,errmsg,failure",
    [
        (310000, "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]", PermanentFailure),
        (130101, "send too fast, exceed 20 times per minute", TransientFailure),
        (660026, "flow control", TransientFailure),
        (300001, "token is not exist", PermanentFailure),
    ],
)
async def test_dingtalk_errcodes(receiver: Receiver, client: httpx.AsyncClient, errcode, errmsg, failure):
    receiver.answer({"errcode": errcode, "errmsg": errmsg})
    address = Address("dingtalk", receiver.url(f"/robot/send?access_token={DING_TOKEN}"), secret=DING_SECRET)
    with pytest.raises(DeliveryFailure) as caught:
        await DingTalkRobot(client).send(OFFER, address)
    assert type(caught.value) is failure and str(errcode) in caught.value.reason
    assert_clean(caught.value)


# --- SMS -----------------------------------------------------------------------------------------------------


def sms_settings(url: str, timeout_s: float = 5) -> SmsSettings:
    return SmsSettings(
        url=url,
        access_key_id=ACCESS_KEY_ID,
        access_key_secret=ACCESS_KEY_SECRET,
        sign_name="长坪镇",
        template_code="SMS_4711",
        timeout_s=timeout_s,
    )


SMS_ADDRESS = Address("sms", PHONE, display="138****1234")
SMS = Message("dlv-3", "offer", "新任务", "孔家畈村助餐送餐，请回复确认", sms_params={"village": "孔家畈村"})


async def test_sms_request_is_signed_and_returns_the_biz_id(receiver: Receiver, client: httpx.AsyncClient):
    receiver.answer({"Code": "OK", "Message": "OK", "BizId": "900619746936498440^0", "RequestId": "F655A8D5"})
    assert await SmsGateway(client, sms_settings(receiver.url("/v1/sms/send"))).send(SMS, SMS_ADDRESS) == (
        "900619746936498440^0"
    )
    [request] = receiver.requests
    assert request.path == "/v1/sms/send"
    assert request.json() == {
        "PhoneNumbers": PHONE,
        "SignName": "长坪镇",
        "TemplateCode": "SMS_4711",
        "TemplateParam": json.dumps({"text": SMS.text, "village": "孔家畈村"}, ensure_ascii=False),
        "OutId": "dlv-3",
    }
    headers = request.headers
    assert headers["X-Sms-Key-Id"] == ACCESS_KEY_ID
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", headers["X-Sms-Timestamp"])
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Sms-Nonce"])
    expected = sms_signature(
        ACCESS_KEY_SECRET, request.path, headers["X-Sms-Timestamp"], headers["X-Sms-Nonce"], request.body
    )
    assert headers["X-Sms-Signature"] == expected
    assert ACCESS_KEY_SECRET not in json.dumps(headers)


async def test_sms_nonce_is_new_for_every_request(receiver: Receiver, client: httpx.AsyncClient):
    gateway = SmsGateway(client, sms_settings(receiver.url("/v1/sms/send")))
    for _ in range(2):
        receiver.answer({"Code": "OK", "BizId": "1"})
        await gateway.send(SMS, SMS_ADDRESS)
    assert len({request.headers["X-Sms-Nonce"] for request in receiver.requests}) == 2


@pytest.mark.parametrize(
    "status,body,failure",
    [
        (200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": f"触发小时级流控Permits:5 {PHONE}"}, TransientFailure),
        (200, {"Code": "Throttling", "Message": "Request was denied due to request throttling."}, TransientFailure),
        (400, {"Code": "Throttling.User", "Message": "Request was denied due to user flow control."}, TransientFailure),
        (200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": f"非法手机号 {PHONE}"}, PermanentFailure),
        (200, {"Code": "isv.SMS_SIGNATURE_ILLEGAL", "Message": "签名不合法"}, PermanentFailure),
        (500, b"Internal Server Error", TransientFailure),
        (503, {"Code": "ServiceUnavailable"}, TransientFailure),
        (429, b"", TransientFailure),
        (400, b"Bad Request", PermanentFailure),
        (403, {"Code": "SignatureDoesNotMatch", "Message": f"key {ACCESS_KEY_ID}"}, PermanentFailure),
    ],
)
async def test_sms_outcomes(receiver: Receiver, client: httpx.AsyncClient, status, body, failure):
    receiver.answer(body, status=status)
    with pytest.raises(DeliveryFailure) as caught:
        await SmsGateway(client, sms_settings(receiver.url("/v1/sms/send"))).send(SMS, SMS_ADDRESS)
    assert type(caught.value) is failure
    assert_clean(caught.value)


async def test_sms_gateway_down_is_transient(client: httpx.AsyncClient):
    with pytest.raises(TransientFailure) as caught:
        await SmsGateway(client, sms_settings(f"http://127.0.0.1:{free_port()}/v1/sms/send")).send(SMS, SMS_ADDRESS)
    assert "ConnectError" in caught.value.reason
    assert_clean(caught.value)


async def test_sms_gateway_too_slow_is_transient(receiver: Receiver, client: httpx.AsyncClient):
    receiver.answer({"Code": "OK", "BizId": "late"}, delay_s=1.0)
    gateway = SmsGateway(client, sms_settings(receiver.url("/v1/sms/send"), timeout_s=0.2))
    with pytest.raises(TransientFailure, match="timeout"):
        await gateway.send(SMS, SMS_ADDRESS)


async def test_sms_longer_than_70_characters_is_refused_before_sending(receiver: Receiver, client: httpx.AsyncClient):
    gateway = SmsGateway(client, sms_settings(receiver.url("/v1/sms/send")))
    with pytest.raises(PermanentFailure, match="71 characters") as caught:
        await gateway.send(Message("dlv-4", "offer", "新任务", "长" * 71), SMS_ADDRESS)
    assert receiver.requests == []
    assert_clean(caught.value)
    receiver.answer({"Code": "OK", "BizId": "70"})
    assert await gateway.send(Message("dlv-5", "offer", "新任务", "长" * 70), SMS_ADDRESS) == "70"


# --- e-mail --------------------------------------------------------------------------------------------------


class Mailbox:
    """Accepts everything except nobody@ (550) and busy@ (450); one login: notify / right-password."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 <nobody@example.cn>: Recipient address rejected: User unknown"
        if address.startswith("busy@"):
            return "450 4.2.1 <busy@example.cn>: Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"notify", b"right")
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[tuple[Controller, Mailbox]]:
    mailbox = Mailbox()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=free_port(),
        server_hostname="mail.test",
        authenticator=authenticate,
        auth_require_tls=False,  # loopback only
    )
    controller.start()
    yield controller, mailbox
    controller.stop()


@pytest.fixture
def mailbox(smtp_server: tuple[Controller, Mailbox]) -> Mailbox:
    smtp_server[1].envelopes.clear()
    return smtp_server[1]


def smtp_settings(port: int, **extra: Any) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, sender="noreply@changping.gov.cn", timeout_s=3, **extra)


async def test_email_arrives_with_the_chinese_subject_and_message_id(
    smtp_server: tuple[Controller, Mailbox], mailbox: Mailbox
):
    mail = SmtpMail(smtp_settings(smtp_server[0].port))
    assert await mail.send(OFFER, Address("email", MAILBOX)) == "<dlv-7f3a@notifications.changping>"
    [envelope] = mailbox.envelopes
    assert envelope.mail_from == "noreply@changping.gov.cn" and envelope.rcpt_tos == [MAILBOX]
    assert isinstance(envelope.content, bytes)
    received = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert received["Subject"] == "新任务：孔家畈村助餐送餐"
    assert received["Message-ID"] == "<dlv-7f3a@notifications.changping>"
    assert received["From"] == "noreply@changping.gov.cn" and received["To"] == MAILBOX
    body = received.get_body(("plain",))
    assert body is not None and body.get_content().replace("\r\n", "\n") == f"{OFFER.text}\n\n{OFFER.link}\n"


async def test_email_with_login(smtp_server: tuple[Controller, Mailbox], mailbox: Mailbox):
    mail = SmtpMail(smtp_settings(smtp_server[0].port, username="notify", password="right"))
    await mail.send(OFFER, Address("email", MAILBOX))
    assert len(mailbox.envelopes) == 1
    wrong = SmtpMail(smtp_settings(smtp_server[0].port, username="notify", password="wrong"))
    with pytest.raises(PermanentFailure, match="login refused"):
        await wrong.send(OFFER, Address("email", MAILBOX))


@pytest.mark.parametrize(
    "recipient,failure,code",
    [("nobody@example.cn", PermanentFailure, "550"), ("busy@example.cn", TransientFailure, "450")],
)
async def test_email_refused_recipient(smtp_server: tuple[Controller, Mailbox], mailbox, recipient, failure, code):
    with pytest.raises(DeliveryFailure) as caught:
        await SmtpMail(smtp_settings(smtp_server[0].port)).send(OFFER, Address("email", recipient))
    assert type(caught.value) is failure and code in caught.value.reason
    assert recipient not in caught.value.reason and "@" not in caught.value.reason
    assert mailbox.envelopes == []


async def test_email_server_down_is_transient():
    with pytest.raises(TransientFailure) as caught:
        await SmtpMail(smtp_settings(free_port())).send(OFFER, Address("email", MAILBOX))
    assert_clean(caught.value)


# --- log -----------------------------------------------------------------------------------------------------


async def test_log_channel_writes_one_line(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.INFO, logger="notifications.channels.log"):
        assert await LogChannel().send(SMS, Address("sms", PHONE)) is None
        await LogChannel().send(OFFER, Address("email", MAILBOX, display="z***@example.cn"))
    first, second = (record.getMessage() for record in caplog.records)
    assert first == f"通知 [sms→138****1234] 新任务: {SMS.text}"
    assert second == f"通知 [email→z***@example.cn] {OFFER.title}: {OFFER.text} {OFFER.link}"
    assert PHONE not in first and MAILBOX not in second

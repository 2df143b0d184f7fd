"""The channels' signatures and bodies, checked against values computed here from the providers' documentation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import ValidationError

from notifications.channels.base import Message
from notifications.channels.email import email_message
from notifications.channels.log import masked
from notifications.channels.settings import SmsSettings, SmtpSettings
from notifications.channels.sms import sms_body, sms_signature
from notifications.channels.webhooks import dingtalk_body, dingtalk_sign, dingtalk_signed_url, short_errmsg, wecom_body

SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
TEXT = Message(
    delivery_id="d-1", kind="offer", title="新任务", text="孔家畈村 助餐送餐，请在今天确认", link="https://x.cn/t/1"
)
MARKDOWN = Message(delivery_id="d-2", kind="offer", title="新任务", text="纯文本", markdown="### 新任务\n> 孔家畈村")


def test_dingtalk_sign_is_base64_hmac_sha256_of_timestamp_newline_secret():
    timestamp = 1_764_000_000_123
    expected = hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(), hashlib.sha256).digest()
    assert dingtalk_sign(SECRET, timestamp) == base64.b64encode(expected).decode()


def test_dingtalk_signed_url_appends_timestamp_and_url_encoded_sign():
    timestamp = 1_764_000_000_123
    # a secret whose signature contains '+' or '/', which must arrive percent-encoded
    secret = next(s for s in (f"SEC{n}" for n in range(1000)) if set(dingtalk_sign(s, timestamp)) & {"+", "/"})
    url = dingtalk_signed_url("https://oapi.dingtalk.com/robot/send?access_token=abc", secret, timestamp)
    assert url.startswith(f"https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp={timestamp}&sign=")
    raw_sign = url.rpartition("&sign=")[2]
    assert "+" not in raw_sign and "/" not in raw_sign and "=" not in raw_sign
    query = parse_qs(urlsplit(url).query)
    assert query["sign"] == [dingtalk_sign(secret, timestamp)] and query["access_token"] == ["abc"]


def test_sms_signature_over_method_path_timestamp_nonce_and_body_hash():
    body = '{"PhoneNumbers":"13800001234","TemplateParam":"{\\"text\\": \\"你好\\"}"}'.encode()
    timestamp, nonce = "2026-11-27T08:00:00Z", "0f" * 16
    string_to_sign = f"POST\n/v1/sms/send\n{timestamp}\n{nonce}\n{hashlib.sha256(body).hexdigest()}"
    expected = base64.b64encode(hmac.new(b"key-secret", string_to_sign.encode(), hashlib.sha256).digest()).decode()
    assert sms_signature("key-secret", "/v1/sms/send", timestamp, nonce, body) == expected
    assert sms_signature("key-secret", "/v1/sms/send", timestamp, nonce, body + b" ") != expected


def test_robot_text_bodies_carry_title_text_and_link_once():
    content = f"新任务\n{TEXT.text}\nhttps://x.cn/t/1"
    assert wecom_body(TEXT) == {"msgtype": "text", "text": {"content": content}}
    assert dingtalk_body(TEXT) == {"msgtype": "text", "text": {"content": content}}
    inline = Message(delivery_id="d", kind="k", title="标题", text="详情 https://x.cn/t/1", link="https://x.cn/t/1")
    assert wecom_body(inline)["text"]["content"] == "标题\n详情 https://x.cn/t/1"


def test_robot_markdown_bodies():
    assert wecom_body(MARKDOWN) == {"msgtype": "markdown", "markdown": {"content": "### 新任务\n> 孔家畈村"}}
    assert dingtalk_body(MARKDOWN) == {
        "msgtype": "markdown",
        "markdown": {"title": "新任务", "text": "### 新任务\n> 孔家畈村"},
    }


def test_sms_body_fields():
    settings = SmsSettings(
        url="https://sms.example.cn/v1/send",
        access_key_id="AK1",
        access_key_secret="s3cret",
        sign_name="长坪镇",
        template_code="SMS_001",
    )
    message = Message(delivery_id="d-9", kind="offer", title="t", text="请确认任务", sms_params={"code": "42"})
    payload = json.loads(sms_body(settings, message, "13800001234"))
    assert payload == {
        "PhoneNumbers": "13800001234",
        "SignName": "长坪镇",
        "TemplateCode": "SMS_001",
        "TemplateParam": '{"text": "请确认任务", "code": "42"}',
        "OutId": "d-9",
    }


def test_email_message_headers_and_body():
    mail = email_message(TEXT, "noreply@changping.gov.cn", "zhang@example.cn")
    assert mail["Subject"] == "新任务" and mail["Message-ID"] == "<d-1@notifications.changping>"
    assert mail.get_content() == f"{TEXT.text}\n\nhttps://x.cn/t/1\n"
    assert "=?utf-8?" in mail.as_string()  # the Chinese subject travels as an RFC 2047 encoded word


def test_errmsg_is_cut_before_hints_and_links():
    errmsg = "invalid webhook url, hint: [1764000000_1], from ip: 1.2.3.4, more info at https://open.work.weixin.qq.com"
    assert short_errmsg(errmsg) == "invalid webhook url"
    assert short_errmsg("sign not match, more: [https://ding-doc.dingtalk.com]") == "sign not match"


def test_masked_targets():
    assert masked("13812341234") == "138****1234"
    assert masked("+8613812341234") == "138****1234"
    assert masked("zhang@example.cn") == "z***@example.cn"
    assert masked("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k") == "qyapi.weixin.qq.com"


@pytest.mark.parametrize(
    "settings",
    [
        {"url": "ftp://sms.example.cn/send"},
        {"url": "sms.example.cn/send"},
        {"access_key_secret": ""},
        {"timeout_s": 0},
        {"region": "cn-hangzhou"},
    ],
)
def test_sms_settings_refuse(settings):
    good = {"url": "https://sms.example.cn/send", "access_key_id": "AK", "access_key_secret": "s"}
    with pytest.raises(ValidationError):
        SmsSettings(**{**good, "sign_name": "长坪镇", "template_code": "T1", **settings})


@pytest.mark.parametrize(
    "settings",
    [{"port": 0}, {"port": 65536}, {"sender": "noreply"}, {"sender": "a b@x.cn"}, {"ssl": True, "starttls": True}],
)
def test_smtp_settings_refuse(settings):
    with pytest.raises(ValidationError):
        SmtpSettings(**{"host": "smtp.example.cn", "port": 465, "sender": "noreply@changping.gov.cn", **settings})


def test_secrets_stay_out_of_the_settings_repr():
    sms = SmsSettings(
        url="https://sms.example.cn/send",
        access_key_id="AK",
        access_key_secret="topsecret",
        sign_name="s",
        template_code="t",
    )
    smtp = SmtpSettings(host="h", port=587, username="u", password="topsecret", sender="a@b.cn", starttls=True)
    assert "topsecret" not in repr(sms) and "topsecret" not in repr(smtp)

"""The notifications service as a process among the others, through Kafka, with a local HTTP receiver standing
in for the SMS gateway and the group robots:

- a task offered → an SMS with a link → the volunteer follows it and accepts → TaskAssigned on the bus → the
  case's timeline shows it;
- a critical case → the town's on-duty staff and its robot at once, despite the person's quiet hours; a
  non-urgent message to the same person is held until their quiet hours end;
- the same event delivered twice → no second message;
- one robot failing → the other robot and the inbox are served; the failing one is retried, then logged failed.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from datetime import datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from gov_contracts import topics
from gov_contracts.vocabulary import LOCAL_TZ
from govctl import areas as area_file
from govkit import db
from govkit.auth import mint
from tests.notification_receiver import LINK, Receiver

from .test_services_and_areas import wait_caught_up, wait_for

OFFER_GRID = "changping.qinghe.g05"
CRITICAL_GRID = "changping.shimen.g02"
VILLAGE = "changping.longtan"
VILLAGE_GRID = "changping.longtan.g04"
ALL_WEEK = [{"weekday": d, "start": "00:00", "end": "23:59"} for d in range(7)]
RULES = """
quiet_hours: null
critical_categories: [hazard.geologic, epidemic, hazard.fire]
offer_reminder_minutes: 5
deadline_lead_minutes: {accept: 30, resolve: 240}
defaults:
  offer: [sms, in_app]
  offer_reminder: [sms, in_app]
  pairing_overdue: [sms, in_app]
  task_unfilled: [in_app]
  case_critical: [sms, in_app]
  deadline_near: [in_app]
  case_escalated: [in_app]
  case_assigned: [in_app, sms]
  awaiting_verification: [in_app]
  weekly_report: [in_app]
  meeting_notice: [in_app]
channels:
  in_app:   {rate_per_s: 500, concurrency: 16, max_attempts: 5, backoff_s: 1}
  sms:      {rate_per_s: 100, concurrency: 16, max_attempts: 5, backoff_s: 1}
  email:    {rate_per_s: 10, concurrency: 4, max_attempts: 5, backoff_s: 1}
  wecom:    {rate_per_s: 50, concurrency: 4, max_attempts: 3, backoff_s: 0.2}
  dingtalk: {rate_per_s: 50, concurrency: 4, max_attempts: 3, backoff_s: 0.2}
"""
ENV = (
    "NOTIFICATIONS_SMS_URL",
    "NOTIFICATIONS_SMS_KEY_ID",
    "NOTIFICATIONS_SMS_KEY_SECRET",
    "NOTIFICATIONS_SMS_TEMPLATE",
    "NOTIFICATIONS_RULES_FILE",
    "NOTIFICATIONS_TIMER_INTERVAL_S",
)


@pytest.fixture(scope="module")
def live(stack, tmp_path_factory):
    receiver = Receiver().start()
    rules = tmp_path_factory.mktemp("notifications") / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(
        NOTIFICATIONS_SMS_URL=receiver.url("/sms"),
        NOTIFICATIONS_SMS_KEY_ID="test-key",
        NOTIFICATIONS_SMS_KEY_SECRET="test-secret-0123456789",
        NOTIFICATIONS_SMS_TEMPLATE="SMS_000001",
        NOTIFICATIONS_RULES_FILE=str(rules),
        NOTIFICATIONS_TIMER_INTERVAL_S="1",
    )
    try:
        stack.stop_services()
        stack.start_services(say=lambda *_: None)
        area_file.publish(stack.bootstrap, area_file.DEFAULT_FILE)
        for svc in ("cases", "volunteers", "notifications"):
            stack.wait_areas(svc, 137, timeout=240)
        # the tests before leave thousands of events behind: the consumers work through them first
        wait_caught_up(stack)
        yield stack, receiver
    finally:  # also when the start failed: the next module must not inherit these services and settings
        stack.stop_services()
        receiver.stop()
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def client(stack, svc, sub, roles, areas, **kw):
    token = mint(key=stack.state["jwt_secret"], sub=sub, roles=roles, areas=areas)
    return httpx.Client(base_url=stack.url(svc), headers={"authorization": f"Bearer {token}"}, timeout=10, **kw)


def town_admin(stack, svc="notifications"):
    return client(stack, svc, "ta-notify", ["town_admin"], ["changping"])


def test_offer_by_sms_answered_from_the_link_shows_on_the_case(live):
    stack, receiver = live
    phone = "13900005555"
    admin = town_admin(stack, "volunteers")
    r = admin.post(
        "/v1/volunteers",
        json={
            "name": "清河调解员",
            "phone": phone,
            "roles": ["mediator"],
            "home_grid": OFFER_GRID,
            "skills": ["mediation"],
            "availability": ALL_WEEK,
            "account_sub": "vol-qinghe-5",
        },
    )
    assert r.status_code == 201, r.text
    cases = client(stack, "cases", "gm-qh5", ["grid_manager"], [OFFER_GRID])
    case = cases.post(
        "/v1/cases",
        json={
            "category": "dispute.neighbor",
            "title": "清河村五组院墙纠纷",
            "description": "两户因院墙高度争执",
            "grid_id": OFFER_GRID,
        },
    ).json()
    cases.post(f"/v1/cases/{case['id']}/accept").raise_for_status()
    cases.post(
        f"/v1/cases/{case['id']}/dispatch", json={"unit_level": "grid", "unit_id": OFFER_GRID}
    ).raise_for_status()

    # the offer reaches the volunteer's phone through the SMS gateway, in one SMS, with the link
    (sms,) = wait_for(lambda: receiver.sms_to(phone), timeout=30)
    text = sms.text
    assert len(text) <= 70 and "纠纷调解邀请" in text and "前答复" in text
    assert sms.body["SignName"] and sms.body["TemplateCode"] == "SMS_000001" and sms.headers["X-Sms-Signature"]
    found = LINK.search(text)
    assert found, text
    link = found.group(0)

    page = httpx.get(link, timeout=10)
    assert page.status_code == 200 and "接受" in page.text and "婉拒" in page.text
    done = httpx.post(link, data={"answer": "accept"}, timeout=10)
    assert done.status_code == 200 and "已接受" in done.text
    again = httpx.post(link, data={"answer": "accept"}, timeout=10)
    assert again.status_code == 410 and "此链接已使用" in again.text

    # TaskAssigned went over the bus: the case's timeline in the cases service shows it
    def assigned():
        timeline = cases.get(f"/v1/cases/{case['id']}/timeline").json()
        return [e for e in timeline if e["kind"] == "task" and e["what"].split(".")[2] == "assigned"]

    assert wait_for(assigned, timeout=30)
    # the volunteer's in-app inbox has the offer too; the delivery log shows both, the link masked
    volunteer = client(stack, "notifications", "vol-qinghe-5", ["volunteer"], [])

    def offer_in_inbox():
        inbox = volunteer.get("/v1/me/notifications").json()
        return inbox["unread"] >= 1 and any(i["kind"] == "offer" for i in inbox["items"])

    assert wait_for(offer_in_inbox, timeout=30)
    log = town_admin(stack).get("/v1/notifications", params={"kind": "offer"}).json()["items"]
    mine = [d for d in log if d["address"] == "139****5555"]
    assert mine and mine[0]["status"] == "sent"
    assert all(phone not in str(d) for d in log)


def setup_duty(stack, receiver, sub, phone, quiet):
    admin = town_admin(stack)
    r = admin.post(
        "/v1/staff", json={"sub": sub, "name": "值班员", "role": "town_admin", "area_id": "changping", "phone": phone}
    )
    assert r.status_code in (200, 201), r.text
    today = datetime.now(LOCAL_TZ).date()
    assert admin.put("/v1/roster", json=[{"day": today.isoformat(), "area_id": "changping", "subs": [sub]}]).is_success
    me = client(stack, "notifications", sub, ["town_admin"], ["changping"])
    assert me.put("/v1/me/preferences", json={"quiet_hours": quiet}).is_success
    return me


def test_critical_case_wakes_the_on_duty_staff_despite_quiet_hours_and_holds_the_rest(live):
    stack, receiver = live
    now = datetime.now(LOCAL_TZ)
    # this person's quiet hours are now, whatever the time the test runs at
    quiet = {"start": (now - timedelta(hours=1)).strftime("%H:%M"), "end": (now + timedelta(hours=2)).strftime("%H:%M")}
    phone = "13700007777"
    me = setup_duty(stack, receiver, "duty-night", phone, quiet)
    town = town_admin(stack)
    robot = town.post(
        "/v1/robots",
        json={"kind": "wecom", "area_id": "changping", "label": "长坪镇应急群", "url": receiver.url("/wecom/town")},
    )
    assert robot.status_code == 201 and "url" not in robot.json()

    cases = client(stack, "cases", "gm-sm2", ["grid_manager"], [CRITICAL_GRID])
    case = cases.post(
        "/v1/cases",
        json={
            "category": "hazard.geologic",
            "title": "石门村二组山体裂缝",
            "description": "后山出现裂缝，有滑坡危险",
            "grid_id": CRITICAL_GRID,
        },
    ).json()
    (sms,) = wait_for(lambda: receiver.sms_to(phone), timeout=30)
    assert case["number"] in sms.text and "地质灾害隐患" in sms.text and len(sms.text) <= 70
    (group,) = wait_for(lambda: receiver.at("/wecom/town"), timeout=30)
    assert group.body["msgtype"] == "markdown" and case["number"] in group.text
    assert wait_for(lambda: me.get("/v1/me/notifications").json()["unread"] >= 1)

    # a non-urgent message to the same person (a case dispatched to them) waits for the end of their quiet hours
    town_cases = client(stack, "cases", "ta-1", ["town_admin"], ["changping"])
    other = town_cases.post(
        "/v1/cases",
        json={"category": "other", "title": "镇区路灯不亮", "description": "路灯坏了", "grid_id": CRITICAL_GRID},
    ).json()
    town_cases.post(f"/v1/cases/{other['id']}/accept").raise_for_status()
    town_cases.post(
        f"/v1/cases/{other['id']}/dispatch",
        json={"unit_level": "grid", "unit_id": CRITICAL_GRID, "assignee": "duty-night"},
    ).raise_for_status()

    def held():
        items = town.get("/v1/notifications", params={"case_id": other["id"]}).json()["items"]
        return items if len(items) == 2 else None

    items = wait_for(held, timeout=30)
    assert {d["channel"] for d in items} == {"in_app", "sms"}
    assert all(d["status"] == "queued" and d["held"] for d in items)
    end = datetime.fromisoformat(items[0]["due_at"]).astimezone(LOCAL_TZ)
    assert end.strftime("%H:%M") == quiet["end"] and end > now
    assert len(receiver.sms_to(phone)) == 1  # nothing more went out


def test_the_same_event_delivered_twice_makes_no_second_message(live):
    stack, receiver = live
    phone = "13600006666"
    setup_duty(stack, receiver, "duty-twice", phone, None)
    cases = client(stack, "cases", "gm-sm3", ["grid_manager"], ["changping.shimen.g03"])
    case = cases.post(
        "/v1/cases",
        json={
            "category": "epidemic",
            "title": "石门村三组发热病例",
            "description": "聚集性发热",
            "grid_id": "changping.shimen.g03",
        },
    ).json()
    wait_for(lambda: receiver.sms_to(phone), timeout=30)

    async def redeliver() -> None:
        consumer = AIOKafkaConsumer(
            topics.CASES,
            bootstrap_servers=stack.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        await consumer.start()
        try:
            found = None
            while found is None:
                batch = await consumer.getmany(timeout_ms=2000)
                if not batch:
                    break
                for records in batch.values():
                    for rec in records:
                        if rec.key == case["id"].encode() and b"reported" in dict(rec.headers)["ce_type"]:
                            found = rec
            assert found is not None
        finally:
            await consumer.stop()
        producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topics.CASES, found.value, key=found.key, headers=list(found.headers))
        finally:
            await producer.stop()

    asyncio.run(redeliver())
    town = town_admin(stack)
    marker = cases.post(
        "/v1/cases",
        json={
            "category": "hazard.fire",
            "title": "石门村三组消防通道堵塞",
            "description": "柴草堆放",
            "grid_id": "changping.shimen.g03",
        },
    ).json()
    # the later case's message arriving shows the consumer is past the redelivered copy
    wait_for(lambda: [s for s in receiver.sms_to(phone) if marker["number"] in s.text], timeout=30)
    assert len([s for s in receiver.sms_to(phone) if case["number"] in s.text]) == 1
    log = town.get("/v1/notifications", params={"case_id": case["id"]}).json()["items"]
    assert len([d for d in log if d["recipient"] == "staff:duty-twice" and d["channel"] == "sms"]) == 1


def test_a_failing_robot_is_retried_then_logged_while_the_others_are_served(live):
    stack, receiver = live
    receiver.failing["/wecom/longtan"] = 500
    town = town_admin(stack)
    for kind, path in (("wecom", "/wecom/longtan"), ("dingtalk", "/ding/longtan")):
        r = town.post(
            "/v1/robots",
            json={
                "kind": kind,
                "area_id": VILLAGE,
                "label": f"龙潭村{kind}",
                "url": receiver.url(path),
                "secret": "SECtest" if kind == "dingtalk" else None,
            },
        )
        assert r.status_code == 201, r.text
    assert town.post(
        "/v1/staff", json={"sub": "va-longtan", "name": "龙潭村干部", "role": "village_admin", "area_id": VILLAGE}
    ).is_success
    cases = client(stack, "cases", "gm-lt4", ["grid_manager"], [VILLAGE_GRID])
    case = cases.post(
        "/v1/cases",
        json={
            "category": "dispute.neighbor",
            "title": "龙潭村四组宅基地纠纷",
            "description": "调解未果",
            "grid_id": VILLAGE_GRID,
        },
    ).json()
    cases.post(f"/v1/cases/{case['id']}/accept").raise_for_status()
    cases.post(f"/v1/cases/{case['id']}/escalate", json={"reason": "网格调解未果，需村委会协调"}).raise_for_status()

    (ding,) = wait_for(lambda: receiver.at("/ding/longtan"), timeout=30)
    assert case["number"] in ding.text and ding.query["sign"] and ding.query["timestamp"]

    def settled():
        items = town.get("/v1/notifications", params={"case_id": case["id"]}).json()["items"]
        wecom = [d for d in items if d["channel"] == "wecom"]
        return items if wecom and wecom[0]["status"] == "failed" else None

    items = wait_for(settled, timeout=60)
    by_channel = {d["channel"]: d for d in items}
    assert by_channel["dingtalk"]["status"] == "sent" and by_channel["in_app"]["status"] == "sent"
    failed = by_channel["wecom"]
    assert failed["attempts"] == 3 and "500" in failed["last_error"]
    assert [a["outcome"] for a in failed["attempts_log"]] == ["retry", "retry", "failed"]
    assert len(receiver.at("/wecom/longtan")) == 3
    inbox = client(stack, "notifications", "va-longtan", ["village_admin"], [VILLAGE]).get("/v1/me/notifications")
    texts = [i["text"] or "" for i in inbox.json()["items"]]
    assert any(case["number"] in t and "已由网格上报至村(社区)" in t for t in texts), texts


def test_nothing_personal_leaves_on_a_topic(live):
    """The service publishes no events: its outbox stays empty whatever it sent (phones, e-mail addresses and
    robot URLs stay in its schema; volunteers' contacts are never stored here at all)."""
    stack, _ = live

    async def outbox_and_phones() -> tuple[int, int]:
        con = await db.connect(stack.service_dsn("notifications"), "notifications")
        try:
            return await con.fetchval("select count(*) from outbox"), await con.fetchval(
                "select count(*) from deliveries where address ~ '^1[0-9]{10}$'"
            )
        finally:
            await con.close()

    outbox, clear_phones = asyncio.run(outbox_and_phones())
    assert outbox == 0 and clear_phones == 0


def test_the_inbox_stream_pushes_a_new_notification(live):
    stack, receiver = live
    setup_duty(stack, receiver, "duty-stream", "13500004444", None)
    me = client(stack, "notifications", "duty-stream", ["town_admin"], ["changping"])
    cases = client(stack, "cases", "gm-sm4", ["grid_manager"], ["changping.shimen.g04"])
    with me.stream("GET", "/v1/me/notifications/stream", timeout=30) as stream:
        assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
        case = cases.post(
            "/v1/cases",
            json={
                "category": "hazard.fire",
                "title": "石门村四组液化气泄漏",
                "description": "气味明显",
                "grid_id": "changping.shimen.g04",
            },
        ).json()
        lines = []
        for line in stream.iter_lines():
            lines.append(line)
            if line.startswith("data:") and case["number"] in line:
                break
    event = json.loads(lines[-1].removeprefix("data:"))
    assert lines[-2] == "event: notification" and lines[-3] == f"id: {event['id']}"
    assert event["kind"] == "case_critical" and event["urgent"] and event["case_id"] == case["id"]
    # resuming after that event (Last-Event-ID) does not send it again; marking it read moves the unread count
    assert me.post(f"/v1/me/notifications/{event['id']}/read").json()["status"] == "read"
    assert me.post(f"/v1/me/notifications/{uuid.uuid4()}/read").status_code == 404

"""examples/hotline_connector against the session stack's Kafka and a local HTTP receiver standing in for
the 12345 hotline: a ticket's status changes arrive in order, labelled and signed, each with its event id;
a case that did not come as a ticket is never reported; a 500 is retried with the same status; and nothing
is committed while the hotline is out of reach."""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import os
import random
import socket
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from gov_contracts import CloudEvent, cases, event_type_for, topics

from .conftest import end_offsets
from .kafka_helpers import committed_offset, publish_raw

ROOT = Path(__file__).resolve().parents[2]
CONNECTOR = ROOT / "examples" / "hotline_connector" / "hotline_connector.py"
SECRET = "hotline-test-secret"
GRID = "changping.kongjiafan.g03"
WHEN = datetime(2020, 3, 2, 8, 30, tzinfo=UTC)  # long ago: no weekly figure of the other tests is touched


@dataclass
class Hotline:
    """The hotline's status endpoint: records each POST; answers 500 to the next `fail_next` ones."""

    fail_next: int = 0
    received: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)  # headers, body, answer
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/ticket/status"

    def start(self) -> Hotline:
        hotline = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with hotline.lock:
                    status = 500 if hotline.fail_next > 0 else 200
                    hotline.fail_next -= status == 500
                    hotline.received.append(({k.lower(): v for k, v in self.headers.items()}, body, status))
                answer = b'{"code": 0}' if status == 200 else b'{"code": 1, "msg": "busy"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def accepted(self) -> list[tuple[dict[str, str], dict[str, Any]]]:
        with self.lock:
            return [(h, json.loads(b)) for h, b, status in self.received if status == 200]


@pytest.fixture
def hotline():
    h = Hotline().start()
    yield h
    h.stop()


@dataclass
class Case:
    """One case's events, its facts moving along as they are produced."""

    number: str
    case_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    at: datetime = WHEN
    sent: list[tuple[str, Any]] = field(default_factory=list)  # (event id, record metadata)

    def facts(self, status: str, level: str = "grid", **extra: Any) -> dict[str, Any]:
        self.at += timedelta(minutes=7)
        return dict(
            case_id=self.case_id,
            number=self.number,
            category="environment.sanitation",
            severity="medium",
            grid_id=GRID,
            status=status,
            level=level,
            occurred_at=self.at,
            actor="system",
            **extra,
        )

    def reported(self, external_id: str | None = None) -> cases.CaseReportedV2:
        ticket: dict[str, Any] = {"external_source": "12345", "external_id": external_id} if external_id else {}
        return cases.CaseReportedV2(
            **self.facts("reported"), title="村口垃圾堆积", source="hotline", reporter_ref="r-1", **ticket
        )

    def dispatched(self) -> cases.CaseDispatched:
        return cases.CaseDispatched(**self.facts("dispatched"), unit_level="grid", unit_id=GRID)


async def publish(bootstrap: str, case: Case, event: cases.CaseFacts) -> str:
    envelope = CloudEvent(type=event_type_for(type(event)).name, source="tests", subject=case.case_id)
    meta = await publish_raw(
        bootstrap, topics.CASES, event.model_dump_json().encode(), key=case.case_id.encode(), headers=envelope.headers()
    )
    case.sent.append((envelope.id, meta))
    return envelope.id


async def start_group_at_end(bootstrap: str, group: str) -> None:
    """The connector's group starts where the topic ends now (not at the events of other tests)."""
    ends = await end_offsets(bootstrap, topics.CASES)
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await c.start()
    try:
        c.assign(list(ends))
        await c.commit(dict(ends))
    finally:
        await c.stop()


def connector(bootstrap: str, group: str, db: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # it finds gov_contracts itself
    env.update(HOTLINE_STATUS_URL=url, HOTLINE_SECRET=SECRET, HOTLINE_RETRY_INITIAL_S="0.2", HOTLINE_TIMEOUT_S="5")
    return subprocess.run(
        [sys.executable, str(CONNECTOR), "--bootstrap", bootstrap, "--group", group, "--db", str(db), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=ROOT,
    )


def number() -> str:
    return f"CP-2020-{random.randrange(100000, 999999):06d}"


async def test_a_tickets_status_changes_reach_the_hotline_in_order_signed_and_no_other_case(stack, hotline, tmp_path):
    bootstrap, group = stack.bootstrap, f"hotline-test-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(bootstrap, group)
    ticket, other = Case(number()), Case(number())

    await publish(bootstrap, ticket, ticket.reported("GD-2026-0001"))
    await publish(bootstrap, other, other.reported())  # not a ticket: never reported
    expected = [await publish(bootstrap, ticket, cases.CaseAccepted(**ticket.facts("accepted")))]
    await publish(bootstrap, other, cases.CaseAccepted(**other.facts("accepted")))
    expected.append(await publish(bootstrap, ticket, ticket.dispatched()))
    # no status change for the hotline: supervision leaves the case dispatched
    await publish(
        bootstrap,
        ticket,
        cases.CaseSupervised(**ticket.facts("dispatched", reason="尽快处理"), supervising_level="town"),
    )
    await publish(bootstrap, other, other.dispatched())
    returned = cases.CaseReturned(**ticket.facts("accepted", reason="不属于本网格"), unit_id=GRID, returns=1)
    expected.append(await publish(bootstrap, ticket, returned))
    expected.append(await publish(bootstrap, ticket, ticket.dispatched()))
    resolved = cases.CaseResolved(**ticket.facts("resolved"), resolution="垃圾已清运")
    expected.append(await publish(bootstrap, ticket, resolved))
    await publish(bootstrap, other, cases.CaseResolved(**other.facts("resolved"), resolution="已清理"))
    callback = cases.CaseCallbackRecorded(
        **ticket.facts("resolved"), result="satisfied", external_source="12345", external_id="GD-2026-0001"
    )
    expected.append(await publish(bootstrap, ticket, callback))
    total = len(ticket.sent) + len(other.sent)

    r = connector(
        bootstrap, group, tmp_path / "tickets.sqlite3", hotline.url, "--max-messages", str(total), "--timeout", "90"
    )
    assert r.returncode == 0, r.stderr
    assert f"{total} record(s) handled" in r.stderr

    got = hotline.accepted()
    assert [(d["status"], d["status_label"]) for _, d in got] == [
        ("accepted", "已受理"),
        ("dispatched", "已派发"),
        ("returned", "已退单"),
        ("dispatched", "已派发"),
        ("resolved", "已办结"),
        ("callback", "已回访"),
    ], r.stderr
    assert {d["ticket_id"] for _, d in got} == {"GD-2026-0001"}
    assert {d["source"] for _, d in got} == {"12345"}
    assert {d["case_number"] for _, d in got} == {ticket.number}  # nothing of the other case
    assert [h["x-event-id"] for h, _ in got] == expected
    assert got[2][1]["reason"] == "不属于本网格" and got[4][1]["reason"] == "垃圾已清运"
    assert got[5][1]["reason"] == "满意"
    assert datetime.fromisoformat(got[0][1]["occurred_at"]) == WHEN + timedelta(minutes=14)
    assert got[0][1]["occurred_at"].endswith("+08:00")
    with hotline.lock:
        for headers, body, _ in hotline.received:
            expected_signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(headers["x-hotline-signature"], expected_signature)
            assert headers["content-type"].startswith("application/json")

    # committed after posting: every record's offset, and a second run posts nothing again
    for _, meta in ticket.sent + other.sent:
        committed = await committed_offset(bootstrap, group, topics.CASES, meta.partition)
        assert committed is not None and committed >= meta.offset + 1, (meta, committed)
    again = connector(bootstrap, group, tmp_path / "tickets.sqlite3", hotline.url, "--timeout", "6")
    assert again.returncode == 0, again.stderr
    assert len(hotline.accepted()) == 6


async def test_a_500_is_retried_with_the_same_status_and_event_id(stack, hotline, tmp_path):
    bootstrap, group = stack.bootstrap, f"hotline-test-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(bootstrap, group)
    ticket = Case(number())
    await publish(bootstrap, ticket, ticket.reported("GD-2026-0002"))
    accepted = await publish(bootstrap, ticket, cases.CaseAccepted(**ticket.facts("accepted")))
    dispatched = await publish(bootstrap, ticket, ticket.dispatched())
    hotline.fail_next = 1

    r = connector(bootstrap, group, tmp_path / "tickets.sqlite3", hotline.url, "--max-messages", "3", "--timeout", "90")
    assert r.returncode == 0, r.stderr
    with hotline.lock:
        calls = [(h["x-event-id"], json.loads(body)["status"], status) for h, body, status in hotline.received]
        bodies = [body for _, body, _ in hotline.received]
    assert calls == [(accepted, "accepted", 500), (accepted, "accepted", 200), (dispatched, "dispatched", 200)]
    assert bodies[0] == bodies[1]  # the same document again, for the receiver to deduplicate on X-Event-Id
    assert "HTTP 500" in r.stderr


async def test_nothing_is_committed_while_the_hotline_is_unreachable(stack, hotline, tmp_path):
    bootstrap, group = stack.bootstrap, f"hotline-test-{uuid.uuid4().hex[:8]}"
    await start_group_at_end(bootstrap, group)
    ticket = Case(number())
    await publish(bootstrap, ticket, ticket.reported("GD-2026-0003"))
    accepted = await publish(bootstrap, ticket, cases.CaseAccepted(**ticket.facts("accepted")))
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/status"
    db = tmp_path / "tickets.sqlite3"

    down = connector(bootstrap, group, db, closed, "--timeout", "8")
    assert down.returncode == 0, down.stderr
    assert "retry in" in down.stderr
    _, meta = ticket.sent[1]
    committed = await committed_offset(bootstrap, group, topics.CASES, meta.partition)
    assert committed is not None and committed <= meta.offset  # the status did not go out: not committed

    up = connector(bootstrap, group, db, hotline.url, "--max-messages", "1", "--timeout", "60")
    assert up.returncode == 0, up.stderr
    assert [(h["x-event-id"], d["status"]) for h, d in hotline.accepted()] == [(accepted, "accepted")]


def load_connector() -> ModuleType:
    sys.path.insert(0, str(CONNECTOR.parent))
    try:
        return importlib.import_module("hotline_connector")
    finally:
        sys.path.remove(str(CONNECTOR.parent))


def test_the_status_of_each_kind_of_event():
    """The decisions, without a broker: what a ticket's events tell the hotline."""
    hc = load_connector()
    case = Case("CP-2026-000123")
    ticket = hc.Ticket(case.case_id, "12345", "GD-1", "dispatched")
    assert hc.hotline_status(cases.CaseStarted(**case.facts("in_progress")), ticket) == "in_progress"
    assert hc.hotline_status(cases.CaseStarted(**case.facts("dispatched")), ticket) is None
    decided: dict[str, Any] = {"requested_due": WHEN, "previous_due": WHEN, "extensions": 1}
    approved = cases.CaseExtensionDecided(**case.facts("dispatched"), approved=True, **decided)
    refused = cases.CaseExtensionDecided(**case.facts("dispatched"), approved=False, **decided)
    assert hc.hotline_status(approved, ticket) == "extended" and hc.STATUS_LABEL["extended"] == "已延期"
    assert hc.hotline_status(refused, ticket) is None
    suspended = cases.CaseSuspensionDecided(**case.facts("suspended"), approved=True)
    assert hc.hotline_status(suspended, ticket) == "suspended" and hc.STATUS_LABEL["suspended"] == "挂起"
    document = hc.status_document(approved, ticket, "extended")
    assert set(document) == {"ticket_id", "source", "status", "status_label", "case_number", "occurred_at", "reason"}
    assert hc.signature("k", b"{}") == "sha256=" + hmac.new(b"k", b"{}", hashlib.sha256).hexdigest()

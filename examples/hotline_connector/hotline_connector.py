"""An example connector that reports the progress of 12345 hotline tickets (工单) back to the hotline.

It subscribes to gov.cases.v1 with its own consumer group (Confluent's client, like
examples/notifier), learns from gov.case.reported.v2 which cases came as external tickets
(`external_source`, `external_id`), keeps that mapping in a small SQLite file, and for every
later status change of such a case POSTs one JSON document to HOTLINE_STATUS_URL:

    {"ticket_id": "GD-2026-0001", "source": "12345", "status": "dispatched", "status_label": "已派发",
     "case_number": "CP-2026-000123", "occurred_at": "2026-11-30T09:12:00+08:00", "reason": null}

with the event's id in `X-Event-Id` (the receiver deduplicates on it) and, when HOTLINE_SECRET is
set, `X-Hotline-Signature: sha256=<hex HMAC-SHA256 of the body>`. 5xx answers and connection errors
are retried with backoff; the record's offset is committed only after the POST succeeded (at least
once). Cases that did not come as tickets are never reported. Run it from the repository root:

    HOTLINE_STATUS_URL=http://127.0.0.1:8080/status python examples/hotline_connector/hotline_connector.py \\
        --bootstrap 127.0.0.1:9092

See examples/hotline_connector/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import signal
import sqlite3
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message
from pydantic import ValidationError

try:  # the contracts package: pip install libs/contracts, or its source tree on the path
    import gov_contracts  # noqa: F401
except ImportError:  # running from a checkout of the repository
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "libs" / "contracts" / "src"))

from gov_contracts import REGISTRY, CloudEvent, cases  # noqa: E402
from gov_contracts.envelope import EnvelopeError  # noqa: E402
from gov_contracts.topics import CASES  # noqa: E402

BEIJING = timezone(timedelta(hours=8))
EVENT_ID_HEADER = "X-Event-Id"
SIGNATURE_HEADER = "X-Hotline-Signature"

# the hotline's statuses: the case's own, and three the case's status alone does not tell
STATUS_LABEL = {
    "reported": "已接收",
    "accepted": "已受理",
    "dispatched": "已派发",
    "in_progress": "办理中",
    "resolved": "已办结",
    "verified": "已核查",
    "closed": "已结案",
    "reopened": "重新办理",
    "rejected": "不予受理",
    "withdrawn": "已撤回",
    "merged": "已合并办理",
    "referred": "已转诉调对接",
    "suspended": "挂起",
    "returned": "已退单",  # handed back by the unit (CaseReturned), to be dispatched again
    "extended": "已延期",  # an extension approved (CaseExtensionDecided)
    "callback": "已回访",  # the hotline's satisfaction call-back was recorded (CaseCallbackRecorded)
}
CALLBACK_LABEL = {
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "unsatisfied": "不满意",
    "unreachable": "未接通",
}


# -- what to report ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ticket:
    case_id: str
    source: str
    external_id: str
    last_status: str  # the case's status after the last event handled


def hotline_status(event: cases.CaseFacts, ticket: Ticket) -> str | None:
    """The status to report for this event of a ticket's case, or None when the hotline learns nothing new."""
    if isinstance(event, cases.CaseCallbackRecorded):
        return "callback"
    if isinstance(event, cases.CaseReturned):
        return "returned"
    if isinstance(event, cases.CaseExtensionDecided):
        return "extended" if event.approved else None
    if event.status != ticket.last_status:
        return event.status
    return None


def reason(event: cases.CaseFacts) -> str | None:
    if isinstance(event, cases.CaseCallbackRecorded):
        return CALLBACK_LABEL.get(event.result, event.result)
    if event.reason:
        return event.reason
    return getattr(event, "resolution", None)  # CaseResolved says how it was resolved


def status_document(event: cases.CaseFacts, ticket: Ticket, status: str) -> dict[str, Any]:
    return {
        "ticket_id": ticket.external_id,
        "source": ticket.source,
        "status": status,
        "status_label": STATUS_LABEL.get(status, status),
        "case_number": event.number,
        "occurred_at": event.occurred_at.astimezone(BEIJING).isoformat(),
        "reason": reason(event),
    }


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# -- the mapping case -> ticket ---------------------------------------------------------------------------------------


class TicketStore:
    """case id -> (source, external id, last status), and the ids of the events already reported, in SQLite."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path)
        self.db.executescript(
            """
            create table if not exists tickets (
                case_id     text primary key,
                source      text not null,
                external_id text not null,
                last_status text not null
            );
            create table if not exists reported (event_id text primary key);
            """
        )

    def get(self, case_id: str) -> Ticket | None:
        row = self.db.execute(
            "select case_id, source, external_id, last_status from tickets where case_id = ?", (case_id,)
        ).fetchone()
        return Ticket(*row) if row else None

    def learn(self, case_id: str, source: str, external_id: str, status: str) -> Ticket:
        with self.db:
            self.db.execute(
                "insert into tickets (case_id, source, external_id, last_status) values (?, ?, ?, ?) "
                "on conflict (case_id) do nothing",
                (case_id, source, external_id, status),
            )
        ticket = self.get(case_id)
        assert ticket is not None
        return ticket

    def was_reported(self, event_id: str) -> bool:
        return self.db.execute("select 1 from reported where event_id = ?", (event_id,)).fetchone() is not None

    def handled(self, ticket: Ticket, status: str, event_id: str | None) -> None:
        """After the event: the case's status, and the event's id when its status went out."""
        with self.db:
            self.db.execute("update tickets set last_status = ? where case_id = ?", (status, ticket.case_id))
            if event_id is not None:
                self.db.execute("insert into reported (event_id) values (?) on conflict do nothing", (event_id,))

    def close(self) -> None:
        self.db.close()


# -- posting ----------------------------------------------------------------------------------------------------------


class Stopped(Exception):
    """The connector was asked to stop while a POST was being retried: the record stays uncommitted."""


@dataclass
class Poster:
    url: str
    secret: str | None = None
    timeout: float = 10.0
    retry_initial: float = 1.0
    retry_max: float = 30.0

    def post(self, document: dict[str, Any], event_id: str, stopping: Callable[[], bool]) -> bool:
        """POST until the receiver accepts (2xx: True) or refuses for good (4xx but 408/429: False, logged);
        5xx, 408, 429 and connection errors are retried with doubling waits. Raises Stopped when asked to stop."""
        body = json.dumps(document, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", EVENT_ID_HEADER: event_id}
        if self.secret:
            headers[SIGNATURE_HEADER] = signature(self.secret, body)
        wait = self.retry_initial
        while True:
            try:
                request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                    answer.read()
                return True
            except urllib.error.HTTPError as e:
                if 400 <= e.code < 500 and e.code not in (408, 429):
                    print(
                        f"hotline-connector: {self.url} refused event {event_id} ({e.code}); skipped", file=sys.stderr
                    )
                    return False
                why = f"HTTP {e.code}"
            except (urllib.error.URLError, OSError) as e:
                why = f"{type(e).__name__}: {e}"
            print(f"hotline-connector: POST of event {event_id} failed ({why}); retry in {wait:.1f}s", file=sys.stderr)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if stopping():
                    raise Stopped
                time.sleep(min(0.1, wait))
            wait = min(wait * 2, self.retry_max)


# -- consuming --------------------------------------------------------------------------------------------------------


def parse(headers: Any, value: bytes | None) -> tuple[str, cases.CaseFacts] | None:
    """The event's id and the event, or None for a record that is not a case event this copy knows."""
    try:
        envelope = CloudEvent.from_headers(headers or ())
    except EnvelopeError as e:
        print(f"hotline-connector: skipped a record without a valid CloudEvents envelope: {e}", file=sys.stderr)
        return None
    et = REGISTRY.get(envelope.type)
    if et is None or et.topic != CASES or not issubclass(et.model, cases.CaseFacts):
        return None
    try:
        return envelope.id, et.model.model_validate(json.loads(value or b"null"))
    except (ValueError, ValidationError) as e:
        print(f"hotline-connector: skipped {envelope.type} ({envelope.id}): {str(e).splitlines()[0]}", file=sys.stderr)
        return None


def _learned(store: TicketStore, event: cases.CaseFacts) -> Ticket | None:
    """The ticket of the event's case: known already, or told by this event (a report or call-back with its id)."""
    ticket = store.get(event.case_id)
    if ticket is not None:
        return ticket
    source, external_id = getattr(event, "external_source", None), getattr(event, "external_id", None)
    if not (source and external_id):
        return None
    status = event.status
    if isinstance(event, cases.CaseCallbackRecorded):
        status = ""  # learned late: its status is news to the hotline
    return store.learn(event.case_id, source, external_id, status)


def handle(
    store: TicketStore, poster: Poster, event_id: str, event: cases.CaseFacts, stopping: Callable[[], bool]
) -> None:
    """Report the event to the hotline if it changes a ticket's status; returns once the receiver has it."""
    is_report = isinstance(event, (cases.CaseReported, cases.CaseReportedV2))
    ticket = _learned(store, event)
    if ticket is None or is_report:
        return  # not a ticket; or the ticket's intake, which the hotline itself sent
    status = hotline_status(event, ticket)
    if status is None or store.was_reported(event_id):
        store.handled(ticket, event.status, None)
        return
    document = status_document(event, ticket, status)
    if poster.post(document, event_id, stopping):
        print(f"hotline-connector: {ticket.source} {ticket.external_id} {document['status_label']} ({event.number})")
    store.handled(ticket, event.status, event_id)


def kafka_security_config(env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """librdkafka's keys for the platform's KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_* and KAFKA_SSL_* variables (its
    docs/configuration.md): the same broker login and TLS as the services."""
    protocol = (env.get("KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT").upper()
    if protocol not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
        raise SystemExit(
            f"hotline_connector: KAFKA_SECURITY_PROTOCOL: {protocol!r}: give PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
        )
    config = {"security.protocol": protocol.lower()}
    if protocol.startswith("SASL_"):
        for name in ("KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"):
            if not env.get(name):
                raise SystemExit(f"hotline_connector: {name}: required with KAFKA_SECURITY_PROTOCOL={protocol}")
        config["sasl.mechanism"] = (env.get("KAFKA_SASL_MECHANISM") or "SCRAM-SHA-512").upper()
        config["sasl.username"] = env["KAFKA_SASL_USERNAME"]
        config["sasl.password"] = env["KAFKA_SASL_PASSWORD"]
    if protocol.endswith("SSL"):
        files = {
            "ssl.ca.location": "KAFKA_SSL_CAFILE",
            "ssl.certificate.location": "KAFKA_SSL_CERTFILE",
            "ssl.key.location": "KAFKA_SSL_KEYFILE",
        }
        for key, name in files.items():
            path = env.get(name)
            if path and not Path(path).is_file():
                raise SystemExit(f"hotline_connector: {name}: {path}: no such file")
            if path:
                config[key] = path
        if (env.get("KAFKA_SSL_CHECK_HOSTNAME") or "true").lower() in ("false", "0", "no", "off"):
            config["ssl.endpoint.identification.algorithm"] = "none"
    return config


def run(
    bootstrap: str,
    group: str,
    store: TicketStore,
    poster: Poster,
    *,
    max_messages: int | None = None,
    timeout: float | None = None,
    topic: str = CASES,
) -> int:
    """Consume until max_messages records were handled, timeout seconds passed, or SIGINT/SIGTERM."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": f"{group}-hotline",
            "enable.auto.commit": False,  # commit ourselves, after the hotline has the status
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "max.poll.interval.ms": 3_600_000,  # a POST may be retried for a long while between two polls
            **kafka_security_config(),
        }
    )
    stopping = False
    deadline = time.monotonic() + timeout if timeout else None

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    def should_stop() -> bool:
        return stopping or (deadline is not None and time.monotonic() >= deadline)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    handled = 0
    consumer.subscribe([topic])
    try:
        while not should_stop() and (max_messages is None or handled < max_messages):
            msg: Message | None = consumer.poll(0.5)
            if msg is None:
                continue
            error = msg.error()
            if error:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise KafkaException(error)
            parsed = parse(msg.headers(), msg.value())
            if parsed is not None:
                try:
                    handle(store, poster, *parsed, should_stop)
                except Stopped:
                    break  # not committed: delivered again on the next start
            consumer.commit(message=msg, asynchronous=False)  # only now: the hotline has it
            handled += 1
    finally:
        consumer.close()
    return handled


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Report the status changes of 12345 hotline tickets to the hotline.")
    p.add_argument(
        "--bootstrap",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        help="Kafka host:port (default: KAFKA_BOOTSTRAP_SERVERS)",
    )
    p.add_argument("--group", default="hotline-connector", help="consumer group id (default: hotline-connector)")
    p.add_argument(
        "--db",
        default=os.environ.get("HOTLINE_DB", "hotline_connector.sqlite3"),
        help="SQLite file of the case -> ticket mapping (default: HOTLINE_DB, else ./hotline_connector.sqlite3)",
    )
    p.add_argument("--max-messages", type=int, help="stop after this many records")
    p.add_argument("--timeout", type=float, help="stop after this many seconds")
    args = p.parse_args(argv)
    url = os.environ.get("HOTLINE_STATUS_URL")
    if not url:
        p.error("set HOTLINE_STATUS_URL to the hotline's status endpoint")
    poster = Poster(
        url,
        secret=os.environ.get("HOTLINE_SECRET") or None,
        timeout=float(os.environ.get("HOTLINE_TIMEOUT_S", "10")),
        retry_initial=float(os.environ.get("HOTLINE_RETRY_INITIAL_S", "1")),
        retry_max=float(os.environ.get("HOTLINE_RETRY_MAX_S", "30")),
    )
    store = TicketStore(args.db)
    try:
        n = run(args.bootstrap, args.group, store, poster, max_messages=args.max_messages, timeout=args.timeout)
    finally:
        store.close()
    print(f"hotline-connector: {n} record(s) handled", file=sys.stderr)


if __name__ == "__main__":
    main()

"""An external subscriber of gov.cases.v1, written as another team would write it:
Confluent's client (confluent-kafka), its own consumer group, and the
published contracts (gov_contracts) to read the events.

For each case event it prints one line in Chinese, e.g.

    [CP-2026-000123] 土地山林纠纷 已升级至村级 (changping.kongjiafan.g03)

and only then commits the record's offset (enable.auto.commit=false): a crash
before the commit means the line is printed again after the restart, never
that an event is skipped. Run it from the repository root:

    python examples/notifier/notifier.py --bootstrap 127.0.0.1:9092 --group notifier

See examples/notifier/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException
from pydantic import ValidationError

try:  # the contracts package, installed: pip install libs/contracts (README.md)
    import gov_contracts  # noqa: F401
except ImportError:  # not installed: running from a checkout of the repository, its source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "libs" / "contracts" / "src"))

from gov_contracts import REGISTRY, CloudEvent, cases, event_type_for  # noqa: E402
from gov_contracts.envelope import EnvelopeError  # noqa: E402
from gov_contracts.labels import (  # noqa: E402
    category_label,
    deadline_label,
    event_type_label,
    level_short_label,
    status_label,
)
from gov_contracts.topics import CASES  # noqa: E402

# What happened, in a few words of Chinese: the first entry whose class(es) the event is an instance of.
# The names (categories, levels, statuses, deadlines, event types) come from the contracts' label table.
DESCRIPTIONS: tuple[tuple[type | tuple[type, ...], Callable[[Any], str]], ...] = (
    ((cases.CaseReported, cases.CaseReportedV2), lambda e: f"新上报：{e.title}"),
    (cases.CaseAccepted, lambda e: status_label("accepted")),
    (cases.CaseRejected, lambda e: status_label("rejected") + (f"（{e.reason}）" if e.reason else "")),
    (cases.CaseWithdrawn, lambda e: status_label("withdrawn")),
    (cases.CaseDispatched, lambda e: f"已派遣至{level_short_label(e.unit_level)} {e.unit_id}"),
    (cases.CaseStarted, lambda e: "开始办理"),
    (cases.CaseReferralOutcomeRecorded, lambda e: f"诉调对接结果：{e.outcome}"),
    (cases.CaseResolved, lambda e: status_label("resolved")),
    (cases.CaseVerified, lambda e: "核查通过"),
    (cases.CaseReopened, lambda e: f"核查未通过，第{e.reopen_count}次返工"),
    (cases.CaseClosed, lambda e: status_label("closed") + "（" + ("按期" if e.on_time else "超期") + "）"),
    (cases.CaseEscalated, lambda e: f"已升级至{level_short_label(e.level)}"),
    (cases.CaseOverdue, lambda e: f"{deadline_label(e.deadline)}超期"),
    (cases.CaseReferred, lambda e: f"已转{e.court}诉调对接"),
    (cases.CaseMerged, lambda e: f"已并入 {e.into_number}"),
    (cases.CaseReportCountRaised, lambda e: f"重复上报，累计{e.report_count}次"),
    (cases.CaseRated, lambda e: f"回访满意度 {e.satisfaction}/5"),
)


def describe(event: cases.CaseFacts) -> str:
    """What happened, in a few words of Chinese."""
    for kinds, text in DESCRIPTIONS:
        if isinstance(event, kinds):
            return text(event)
    # any other case event (督办, 退单, 延期/缓办, ...): its type's name and the case's status, e.g. 督办（处置中）
    return f"{event_type_label(event_type_for(type(event)).name)}（{status_label(event.status)}）"


def notification(event: cases.CaseFacts) -> str:
    return f"[{event.number}] {category_label(event.category)} {describe(event)} ({event.grid_id})"


def parse(headers, value: bytes | None) -> cases.CaseFacts | None:
    """The event, or None for a record this notifier does not announce (reported on stderr)."""
    try:
        envelope = CloudEvent.from_headers(headers or ())
    except EnvelopeError as e:
        print(f"notifier: skipped a record without a valid CloudEvents envelope: {e}", file=sys.stderr)
        return None
    et = REGISTRY.get(envelope.type)
    if et is None or et.topic != CASES or not issubclass(et.model, cases.CaseFacts):
        # a newer type than this copy of the contracts knows: not an error, just not ours to announce
        print(f"notifier: skipped {envelope.type} ({envelope.id}): not a known case event", file=sys.stderr)
        return None
    try:
        return et.model.model_validate(json.loads(value or b"null"))
    except (ValueError, ValidationError) as e:
        print(f"notifier: skipped {envelope.type} ({envelope.id}): {str(e).splitlines()[0]}", file=sys.stderr)
        return None


def kafka_security_config(env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """librdkafka's keys for the platform's KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_* and KAFKA_SSL_* variables (its
    docs/configuration.md): the same broker login and TLS as the services."""
    protocol = (env.get("KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT").upper()
    if protocol not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
        raise SystemExit(
            f"notifier: KAFKA_SECURITY_PROTOCOL: {protocol!r}: give PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
        )
    config = {"security.protocol": protocol.lower()}
    if protocol.startswith("SASL_"):
        for name in ("KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"):
            if not env.get(name):
                raise SystemExit(f"notifier: {name}: required with KAFKA_SECURITY_PROTOCOL={protocol}")
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
                raise SystemExit(f"notifier: {name}: {path}: no such file")
            if path:
                config[key] = path
        if (env.get("KAFKA_SSL_CHECK_HOSTNAME") or "true").lower() in ("false", "0", "no", "off"):
            config["ssl.endpoint.identification.algorithm"] = "none"
    return config


def run(
    bootstrap: str, group: str, *, max_messages: int | None = None, timeout: float | None = None, topic: str = CASES
) -> int:
    """Consume until max_messages records were handled, timeout seconds passed, or SIGINT/SIGTERM."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": f"{group}-notifier",
            "enable.auto.commit": False,  # commit ourselves, after printing
            "auto.offset.reset": "earliest",  # a new group starts from the beginning of the log
            "isolation.level": "read_committed",
            **kafka_security_config(),
        }
    )
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    handled = 0
    deadline = time.monotonic() + timeout if timeout else None
    consumer.subscribe([topic])
    try:
        while not stopping:
            if max_messages is not None and handled >= max_messages:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            error = msg.error()
            if error:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise KafkaException(error)
            event = parse(msg.headers(), msg.value())
            if event is not None:
                print(notification(event), flush=True)
            consumer.commit(message=msg, asynchronous=False)  # only now: the line is out
            handled += 1
    finally:
        consumer.close()
    return handled


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="Print a line in Chinese for every case event on gov.cases.v1.")
    p.add_argument(
        "--bootstrap",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        help="Kafka host:port (default: KAFKA_BOOTSTRAP_SERVERS)",
    )
    p.add_argument("--group", default="notifier", help="consumer group id (default: notifier)")
    p.add_argument("--max-messages", type=int, help="stop after this many records")
    p.add_argument("--timeout", type=float, help="stop after this many seconds")
    args = p.parse_args(argv)
    n = run(args.bootstrap, args.group, max_messages=args.max_messages, timeout=args.timeout)
    print(f"notifier: {n} record(s) handled", file=sys.stderr)


if __name__ == "__main__":
    main()

"""Apache Kafka (KRaft, one combined broker+controller) from its Maven Central jars."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import shutil
import string
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from gov_contracts import topics
from govctl import procs
from govctl.errors import StackError
from govctl.kafka_client import client_security
from govctl.ports import is_listening

MAIN_FORMAT = "kafka.tools.StorageTool"
MAIN_SERVER = "kafka.Kafka"


def check_tools() -> None:
    if shutil.which("java") is None:
        raise StackError("java not found: install a Java 17+ runtime (e.g. apt-get install openjdk-17-jre-headless)")
    if shutil.which("mvn") is None:
        raise StackError("mvn not found: install Maven (e.g. apt-get install maven); it fetches Kafka's jars")


def ensure_jars(root: Path, lib: Path) -> bool:
    """Copy Kafka's jars into `lib` with Maven unless the pom is unchanged since the last copy."""
    pom = root / "deploy" / "kafka" / "pom.xml"
    stamp = lib / ".pom-sha256"
    want = hashlib.sha256(pom.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == want and any(lib.glob("kafka_2.13-*.jar")):
        return False
    check_tools()
    if lib.exists():
        shutil.rmtree(lib)
    lib.mkdir(parents=True)
    r = subprocess.run(
        ["mvn", "-q", "-B", "-f", str(pom), "package", f"-Dkafka.lib={lib}"], capture_output=True, text=True
    )
    if r.returncode != 0:
        tail = (r.stdout + r.stderr).strip().splitlines()[-5:]
        raise StackError("maven could not fetch Kafka's jars: " + " | ".join(tail))
    stamp.write_text(want)
    return True


def classpath(lib: Path) -> str:
    return str(lib / "*")


def write_config(root: Path, home: Path, *, port: int, controller_port: int, partitions: int) -> Path:
    tmpl = string.Template((root / "deploy" / "kafka" / "server.properties.in").read_text())
    cfg = home / "server.properties"
    cfg.write_text(
        tmpl.substitute(port=port, controller_port=controller_port, data_dir=str(home / "data"), partitions=partitions)
    )
    return cfg


def write_sasl_ssl_config(
    root: Path,
    home: Path,
    *,
    port: int,
    controller_port: int,
    partitions: int,
    keystore: Path,
    truststore: Path,
    broker_user: str,
    broker_password: str,
    mechanism: str = "SCRAM-SHA-512",
) -> Path:
    """The local broker's configuration with a SASL_SSL listener instead of PLAINTEXT (the controller listener stays
    on loopback, unauthenticated). `keystore`: a PEM file with the broker's unencrypted PKCS#8 key and its
    certificate chain; `truststore`: the CA's PEM. The broker logs in to itself as `broker_user`, a SCRAM user that
    format_storage(scram=...) creates with the cluster."""
    cfg = write_config(root, home, port=port, controller_port=controller_port, partitions=partitions)
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{broker_user}" password="{broker_password}";'
    )
    secured = {
        "listeners": f"SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"SASL_SSL://127.0.0.1:{port}",
        "inter.broker.listener.name": "SASL_SSL",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
        "sasl.enabled.mechanisms": mechanism,
        "sasl.mechanism.inter.broker.protocol": mechanism,
        f"listener.name.sasl_ssl.{mechanism.lower()}.sasl.jaas.config": jaas,
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(truststore),
    }
    with cfg.open("a") as out:  # a later line wins in a properties file
        out.write("\n# SASL_SSL (govctl.kafka.write_sasl_ssl_config)\n")
        out.writelines(f"{key}={value}\n" for key, value in secured.items())
    return cfg


def format_storage(
    lib: Path, cfg: Path, data: Path, scram: Mapping[str, str] | None = None, mechanism: str = "SCRAM-SHA-512"
) -> None:
    """`scram`: user -> password of the SCRAM users the new cluster starts with."""
    if (data / "meta.properties").exists():
        return
    cluster_id = subprocess.run(
        ["java", "-cp", classpath(lib), MAIN_FORMAT, "random-uuid"], capture_output=True, text=True, check=True
    ).stdout.strip()
    r = subprocess.run(
        ["java", "-cp", classpath(lib), MAIN_FORMAT, "format", "-t", cluster_id, "-c", str(cfg)]
        + [
            arg
            for user, pw in (scram or {}).items()
            for arg in ("--add-scram", f"{mechanism}=[name={user},password={pw}]")
        ],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise StackError(f"kafka storage format failed: {(r.stdout + r.stderr).strip()[-300:]}")


def start(root: Path, lib: Path, cfg: Path, log: Path, heap_mb: int = 512) -> int:
    cmd = [
        "java",
        f"-Xms{min(128, heap_mb)}m",
        f"-Xmx{heap_mb}m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={root / 'deploy' / 'kafka' / 'log4j2.yaml'}",
        "-cp",
        classpath(lib),
        MAIN_SERVER,
        str(cfg),
    ]
    return procs.spawn(cmd, log=log)


async def _ready(bootstrap: str, security: Mapping[str, Any] | None = None) -> None:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=3000, **(client_security() if security is None else security)
    )
    try:
        await admin.start()
        await admin.describe_cluster()
    finally:
        await admin.close()


def wait_ready(
    bootstrap: str, port: int, pid: int, log: Path, timeout: float = 60.0, security: Mapping[str, Any] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not procs.alive(pid):
            raise StackError(f"kafka exited during start-up; see {log}")
        if is_listening(port):
            try:
                asyncio.run(_ready(bootstrap, security))
                return
            except Exception as e:
                last = f"{type(e).__name__}: {e}"
        time.sleep(0.3)
    raise StackError(f"kafka did not answer on {bootstrap} within {timeout:.0f}s ({last}); see {log}")


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], timeout: float = 30) -> None:
    """New partitions have no leader for a moment; producing then only earns retries."""
    deadline = time.monotonic() + timeout
    while True:
        described = await admin.describe_topics(names)
        waiting = [
            t["topic"] for t in described if t.get("error_code") or any(p["leader"] < 0 for p in t["partitions"])
        ]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise StackError(f"kafka topics without a leader after {timeout:.0f}s: {', '.join(waiting)}")
        await asyncio.sleep(0.2)


async def create_topics(bootstrap: str, partitions: int, security: Mapping[str, Any] | None = None) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **(client_security() if security is None else security))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = []
        for name in topics.ALL:
            if name in existing:
                continue
            cfg = {"cleanup.policy": "compact"} if name in topics.COMPACTED else {"retention.ms": "-1"}
            new.append(NewTopic(name, partitions, 1, topic_configs=cfg))
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
        await _wait_for_leaders(admin, list(topics.ALL))
        return [t.name for t in new]
    finally:
        await admin.close()

"""A second local Kafka (the jars ./gov uses) that only speaks SASL_SSL: certificates made here (a CA and a server
certificate for 127.0.0.1 and localhost), SCRAM-SHA-512 users created when its storage is formatted. A case created
in the cases service travels through its outbox relay over that listener to the reporting service's consumer,
which applies it, and the example notifier (librdkafka) reads it; a wrong password, a CA that did not sign the
broker's certificate and a PLAINTEXT client are refused. The session stack's own broker is not
touched (the services here use its PostgreSQL only)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from fastapi import FastAPI

from cases import app as cases_app
from cases import config as cases_config
from govctl import areas as area_file
from govctl import kafka, postgres, procs
from govctl.ports import free_port
from govkit import service, settings
from govkit.auth import mint
from govkit.kafka_security import KafkaSecurity, login_problem
from govkit.service import ServiceSpec, run_migrations
from reporting import app as reporting_app
from reporting import config as reporting_config

from .kafka_helpers import eventually

NOTIFIER = Path(__file__).resolve().parents[2] / "examples" / "notifier" / "notifier.py"
BROKER_USER, BROKER_PASSWORD = "admin", "broker-secret-0"
CLIENT_USER, CLIENT_PASSWORD = "gov-services", "p@ss:w/rd#?%-scram"
GRID = "changping.kongjiafan.g03"
CASE = {
    "category": "dispute.land",
    "title": "SASL_SSL 测试：山林边界",
    "description": "经加密的 Kafka",
    "grid_id": GRID,
}


@dataclass
class SecuredKafka:
    bootstrap: str
    ca_file: Path

    def env(self, password: str = CLIENT_PASSWORD) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": CLIENT_USER,
            "KAFKA_SASL_PASSWORD": password,
            "KAFKA_SSL_CAFILE": str(self.ca_file),
        }


def _certificate(
    subject: str, key: rsa.RSAPrivateKey, issuer: x509.Name, signer: rsa.RSAPrivateKey, ca: bool
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(signer, hashes.SHA256())


def make_certificates(directory: Path) -> tuple[Path, Path]:
    """The CA's PEM and the broker's keystore PEM (its PKCS#8 key, then its certificate and the CA's)."""
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = _certificate(
        "gov test CA", ca_key, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gov test CA")]), ca_key, True
    )
    server_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server = _certificate("127.0.0.1", server_key, ca.subject, ca_key, False)
    ca_file, keystore = directory / "ca.pem", directory / "broker.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    key_pem = server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    chain = server.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    keystore.write_bytes(key_pem + chain)
    keystore.chmod(0o600)
    return ca_file, keystore


@pytest.fixture(scope="module")
def secured_kafka(stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredKafka]:
    home = tmp_path_factory.mktemp("sasl-ssl-kafka")
    ca_file, keystore = make_certificates(home)
    port, controller_port = free_port(), free_port()
    cfg = kafka.write_sasl_ssl_config(
        stack.root,
        home,
        port=port,
        controller_port=controller_port,
        partitions=3,
        keystore=keystore,
        truststore=ca_file,
        broker_user=BROKER_USER,
        broker_password=BROKER_PASSWORD,
    )
    kafka.format_storage(
        stack.kafka_lib, cfg, home / "data", scram={BROKER_USER: BROKER_PASSWORD, CLIENT_USER: CLIENT_PASSWORD}
    )
    log = home / "kafka.log"
    pid = kafka.start(stack.root, stack.kafka_lib, cfg, log, heap_mb=256)
    try:
        broker = SecuredKafka(f"127.0.0.1:{port}", ca_file)
        security = KafkaSecurity.from_env(broker.env()).aiokafka_kwargs()
        kafka.wait_ready(broker.bootstrap, port, pid, log, security=security)
        asyncio.run(kafka.create_topics(broker.bootstrap, 3, security=security))
        yield broker
    finally:
        procs.stop(pid, timeout=30)


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[FastAPI]:
    async with app.router.lifespan_context(app):
        yield app


# the services of the test keep their data in a database of their own: sharing the session's, they would take the
# second broker's offsets (from 0) for records their watermarks say were applied, and their timers (the weekly
# report, the deadline sweep) would publish the session's work to the second broker
DATABASE = "gov_sasl_ssl"


async def own_database(stack, services: tuple[tuple[str, ServiceSpec], ...], kafka_env: dict[str, str]) -> dict:
    """{service: its environment} on a fresh database of the session's server, its schemas migrated."""
    await postgres.bootstrap(stack.admin_dsn, stack.state["passwords"], database=DATABASE)
    envs = {}
    for name, spec in services:
        env = {
            **stack.service_env(name),
            f"{name.upper()}_DATABASE_URL": postgres.with_database(stack.service_dsn(name), DATABASE),
            **kafka_env,
        }
        await run_migrations(spec, settings.load(name, env))
        envs[name] = env
    return envs


async def test_an_event_travels_from_cases_to_reporting_over_sasl_ssl(
    stack, secured_kafka: SecuredKafka, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in secured_kafka.env().items():  # ./gov areas publish reads them from its environment
        monkeypatch.setenv(name, value)
    await asyncio.to_thread(area_file.publish, secured_kafka.bootstrap, area_file.DEFAULT_FILE)
    envs = await own_database(
        stack, (("cases", cases_app.SPEC), ("reporting", reporting_app.SPEC)), secured_kafka.env()
    )
    apps = []
    for name, spec, configure in (
        ("cases", cases_app.SPEC, cases_config.configure),
        ("reporting", reporting_app.SPEC, reporting_config.configure),
    ):
        env = envs[name]
        loaded = settings.load(name, env)
        assert loaded.kafka_security.protocol == "SASL_SSL"
        apps.append(service.build_app(spec, loaded, configure(loaded, env)))
    cases, reporting = apps
    token = mint(key=stack.state["jwt_secret"], sub="sasl-test", roles=["town_admin"], areas=["changping"])
    reporting_db = await asyncpg.connect(envs["reporting"]["REPORTING_DATABASE_URL"])
    try:
        async with (
            running(cases),
            running(reporting),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=cases),
                base_url="http://cases",
                headers={"authorization": f"Bearer {token}"},
            ) as client,
        ):

            async def areas_known() -> bool:  # the area tree came through the secured broker
                return (await client.get("/v1/areas")).json()["count"] >= 137

            await eventually(areas_known, timeout=30)
            r = await client.post("/v1/cases", json=CASE)
            assert r.status_code == 201, r.text
            case_id = r.json()["id"]

            async def projected() -> bool:
                return bool(await reporting_db.fetchval("select 1 from reporting.r_cases where case_id = $1", case_id))

            await eventually(projected, timeout=30)
            assert cases.state.broker_started and reporting.state.broker_started
    finally:
        await reporting_db.close()

    # the example subscriber (librdkafka) reads the same event over SASL_SSL with the same settings
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # KAFKA_* set above; it finds the contracts
    notifier = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(NOTIFIER), "--bootstrap", secured_kafka.bootstrap, "--group", "notifier-sasl"]
        + ["--max-messages", "1", "--timeout", "30"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert notifier.returncode == 0, notifier.stderr
    assert r.json()["number"] in notifier.stdout, (notifier.stdout, notifier.stderr)


async def test_a_wrong_password_is_refused_with_a_clear_reason(
    stack, secured_kafka: SecuredKafka, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = KafkaSecurity.from_env(secured_kafka.env(password="not-the-password"))
    producer = AIOKafkaProducer(bootstrap_servers=secured_kafka.bootstrap, **wrong.aiokafka_kwargs())
    started = time.monotonic()
    try:
        with pytest.raises(KafkaConnectionError):  # aiokafka's own words: "Unable to bootstrap"
            await asyncio.wait_for(producer.start(), 20)
    finally:
        await producer.stop()
    assert time.monotonic() - started < 15, "a refused login must fail, not hang"
    reason = await login_problem(secured_kafka.bootstrap, wrong)
    assert reason is not None and reason.startswith(
        f"SASL authentication failed for user '{CLIENT_USER}' (SCRAM-SHA-512): check KAFKA_SASL_USERNAME and "
        "KAFKA_SASL_PASSWORD"
    ), reason
    assert await login_problem(secured_kafka.bootstrap, KafkaSecurity.from_env(secured_kafka.env())) is None

    # a service says so in its log while it keeps retrying (HTTP serves meanwhile, /readyz names Kafka)
    env = {**stack.service_env("reporting"), **secured_kafka.env(password="not-the-password")}
    loaded = settings.load("reporting", env)
    app = service.build_app(reporting_app.SPEC, loaded, reporting_config.configure(loaded, env))
    with caplog.at_level(logging.WARNING, logger="govkit.service"):
        async with running(app):

            async def said_why() -> bool:
                return any("kafka not reachable (SASL authentication failed" in r.getMessage() for r in caplog.records)

            await eventually(said_why, timeout=20)
            assert not app.state.broker_started


async def test_an_untrusted_certificate_names_the_ca_setting(secured_kafka: SecuredKafka, tmp_path: Path) -> None:
    other_ca, _ = make_certificates(tmp_path)
    untrusting = KafkaSecurity.from_env({**secured_kafka.env(), "KAFKA_SSL_CAFILE": str(other_ca)})
    reason = await login_problem(secured_kafka.bootstrap, untrusting)
    assert reason is not None and reason.startswith("the broker's TLS certificate was not accepted"), reason
    assert "KAFKA_SSL_CAFILE" in reason


async def test_a_plaintext_client_cannot_connect(secured_kafka: SecuredKafka) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=secured_kafka.bootstrap, request_timeout_ms=3000)
    try:
        with pytest.raises(Exception) as refused:
            await asyncio.wait_for(admin.start(), 20)
        assert not isinstance(refused.value, TimeoutError), repr(refused.value)
    finally:
        await admin.close()

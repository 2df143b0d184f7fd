"""The Kafka security settings (govkit.kafka_security) and PostgreSQL TLS (govkit.database_tls): what each client is
given, and the one line a bad combination stops the program with."""

from __future__ import annotations

import datetime
import importlib.util
import ssl
import sys
from pathlib import Path
from types import ModuleType

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from govctl import kafka_client
from govctl.errors import UsageError
from govkit import database_tls, settings
from govkit.kafka_security import KafkaSecurity, KafkaSecurityError

ROOT = Path(__file__).resolve().parents[2]
BASE = {"CASES_DATABASE_URL": "postgresql://cases:pw@127.0.0.1:5432/gov", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092"}


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


def sasl_ssl(ca_file: str, **extra: str) -> dict[str, str]:
    return {
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_USERNAME": "cases",
        "KAFKA_SASL_PASSWORD": "s3cret",
        "KAFKA_SSL_CAFILE": ca_file,
        **extra,
    }


def test_plaintext_by_default() -> None:
    security = KafkaSecurity.from_env({})
    assert security.protocol == "PLAINTEXT"
    assert security.aiokafka_kwargs() == {}
    assert security.faststream_security() is None
    assert security.confluent_config() == {"security.protocol": "plaintext"}


def test_sasl_ssl_scram_512(ca_file: str) -> None:
    security = KafkaSecurity.from_env(sasl_ssl(ca_file))
    kwargs = security.aiokafka_kwargs()
    context = kwargs.pop("ssl_context")
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "test CA"),),)]
    assert kwargs == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "cases",
        "sasl_plain_password": "s3cret",
    }
    assert security.confluent_config() == {
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "cases",
        "sasl.password": "s3cret",
        "ssl.ca.location": ca_file,
    }


@pytest.mark.parametrize(
    ("env", "kind"),
    [
        ({"KAFKA_SASL_MECHANISM": "SCRAM-SHA-512"}, SASLScram512),
        ({"KAFKA_SASL_MECHANISM": "scram-sha-256"}, SASLScram256),
        ({"KAFKA_SASL_MECHANISM": "PLAIN"}, SASLPlaintext),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, SASLScram512),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SASL_USERNAME": "", "KAFKA_SASL_PASSWORD": ""}, BaseSecurity),
    ],
)
def test_faststream_is_given_what_aiokafka_is(ca_file: str, env: dict[str, str], kind: type) -> None:
    """FastStream's KafkaBroker turns `security=` into aiokafka arguments: the same ones the relay's producer gets."""
    environ = sasl_ssl(ca_file, **env)
    if env.get("KAFKA_SECURITY_PROTOCOL") == "SASL_PLAINTEXT":
        del environ["KAFKA_SSL_CAFILE"]
    security = KafkaSecurity.from_env(environ)
    fast = security.faststream_security()
    assert type(fast) is kind
    parsed, direct = parse_security(fast), security.aiokafka_kwargs()
    assert (parsed.pop("ssl_context") is None) == (direct.pop("ssl_context", None) is None)
    assert parsed == direct


def test_check_hostname_off_still_verifies_the_ca(ca_file: str) -> None:
    security = KafkaSecurity.from_env(sasl_ssl(ca_file, KAFKA_SSL_CHECK_HOSTNAME="false"))
    context = security.ssl_context()
    assert context is not None and not context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert security.confluent_config()["ssl.endpoint.identification.algorithm"] == "none"


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"KAFKA_SASL_PASSWORD": ""}, "KAFKA_SASL_PASSWORD: required with KAFKA_SECURITY_PROTOCOL=SASL_SSL"),
        ({"KAFKA_SASL_USERNAME": ""}, "KAFKA_SASL_USERNAME: required with KAFKA_SECURITY_PROTOCOL=SASL_SSL"),
        ({"KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"}, "KAFKA_SSL_CAFILE: /nonexistent/ca.pem: no such file"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_TLS"}, "KAFKA_SECURITY_PROTOCOL: 'SASL_TLS': give one of"),
        ({"KAFKA_SASL_MECHANISM": "GSSAPI"}, "KAFKA_SASL_MECHANISM: 'GSSAPI': give one of"),
        ({"KAFKA_SSL_CHECK_HOSTNAME": "maybe"}, "KAFKA_SSL_CHECK_HOSTNAME: 'maybe': give true or false"),
        ({"KAFKA_SSL_KEYFILE": __file__}, "KAFKA_SSL_CERTFILE: required with KAFKA_SSL_KEYFILE"),
        ({"KAFKA_SECURITY_PROTOCOL": "PLAINTEXT", "KAFKA_SSL_CAFILE": ""}, "KAFKA_SECURITY_PROTOCOL: PLAINTEXT does"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "KAFKA_SSL_CAFILE: TLS is off with"),
    ],
)
def test_bad_combinations_name_the_setting(ca_file: str, env: dict[str, str], line: str) -> None:
    environ = sasl_ssl(ca_file, **env)
    with pytest.raises(KafkaSecurityError) as raised:
        KafkaSecurity.from_env(environ)
    assert str(raised.value).startswith(line)
    with pytest.raises(settings.ConfigError) as stopped:  # a service stops at start with the same line
        settings.load("cases", {**BASE, **environ})
    assert str(stopped.value) == f"config error: {raised.value}"
    assert "\n" not in str(stopped.value)
    with pytest.raises(UsageError, match=f"^{raised.value}$".replace("(", r"\(").replace(")", r"\)")):
        kafka_client.client_security(environ)


def test_a_ca_file_that_is_not_pem(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(settings.ConfigError, match=f"^config error: KAFKA_SSL_CAFILE: {bad}: not a PEM certificate"):
        settings.load("cases", {**BASE, "KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": str(bad)})


def test_service_settings_carry_the_security(ca_file: str) -> None:
    s = settings.load("cases", {**BASE, **sasl_ssl(ca_file, KAFKA_SASL_MECHANISM="SCRAM-SHA-256")})
    assert s.kafka_security == KafkaSecurity.from_env(sasl_ssl(ca_file, KAFKA_SASL_MECHANISM="SCRAM-SHA-256"))
    assert settings.load("cases", BASE).kafka_security.protocol == "PLAINTEXT"


def _example(path: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location(Path(path).stem, ROOT / path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", ["examples/notifier/notifier.py", "examples/hotline_connector/hotline_connector.py"])
def test_examples_configure_librdkafka_as_govkit_does(ca_file: str, path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The examples depend on the contracts package only, so they carry their own copy of the mapping."""
    example = _example(path, monkeypatch)
    for env in (
        {},
        sasl_ssl(ca_file),
        sasl_ssl(ca_file, KAFKA_SASL_MECHANISM="PLAIN", KAFKA_SSL_CHECK_HOSTNAME="false"),
        {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": ca_file},
        {"KAFKA_SECURITY_PROTOCOL": "sasl_plaintext", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "p"},
    ):
        assert example.kafka_security_config(env) == KafkaSecurity.from_env(env).confluent_config()
    with pytest.raises(SystemExit, match="KAFKA_SASL_PASSWORD: required with KAFKA_SECURITY_PROTOCOL=SASL_SSL"):
        example.kafka_security_config(sasl_ssl(ca_file, KAFKA_SASL_PASSWORD=""))
    with pytest.raises(SystemExit, match="KAFKA_SSL_CAFILE: /nowhere.pem: no such file"):
        example.kafka_security_config(sasl_ssl("/nowhere.pem"))


def test_database_tls_modes(ca_file: str) -> None:
    assert database_tls.from_env({}) is None  # the DSN's sslmode, else asyncpg's prefer
    assert database_tls.from_env({"PGSSLMODE": "require"}) == "require"
    assert database_tls.from_env({"PGSSLMODE": "disable"}) == "disable"
    full = database_tls.from_env({"PGSSLMODE": "verify-full", "PGSSLROOTCERT": ca_file})
    assert isinstance(full, ssl.SSLContext) and full.check_hostname and full.verify_mode == ssl.CERT_REQUIRED
    assert [c["subject"] for c in full.get_ca_certs()] == [((("commonName", "test CA"),),)]
    verify_ca = database_tls.from_env({"PGSSLMODE": "verify-ca", "PGSSLROOTCERT": ca_file})
    assert isinstance(verify_ca, ssl.SSLContext) and not verify_ca.check_hostname
    assert verify_ca.verify_mode == ssl.CERT_REQUIRED
    # libpq checks the server against a given root certificate under require as well
    required = database_tls.from_env({"PGSSLMODE": "require", "PGSSLROOTCERT": ca_file})
    assert isinstance(required, ssl.SSLContext) and required.verify_mode == ssl.CERT_REQUIRED


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"PGSSLMODE": "on"}, "PGSSLMODE: 'on': give one of disable, allow, prefer, require, verify-ca, verify-full"),
        ({"PGSSLMODE": "verify-full", "PGSSLROOTCERT": "/nonexistent.pem"}, "PGSSLROOTCERT: /nonexistent.pem: no such"),
        ({"PGSSLROOTCERT": "CA"}, "PGSSLMODE: set verify-full (or verify-ca)"),
        ({"PGSSLMODE": "prefer", "PGSSLROOTCERT": "CA"}, "PGSSLROOTCERT: not used with PGSSLMODE=prefer"),
    ],
)
def test_database_tls_bad_settings_stop_the_service(ca_file: str, env: dict[str, str], line: str) -> None:
    env = {name: ca_file if value == "CA" else value for name, value in env.items()}
    with pytest.raises(settings.ConfigError) as stopped:
        settings.load("cases", {**BASE, **env})
    assert str(stopped.value).startswith(f"config error: {line}")

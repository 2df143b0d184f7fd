"""How every Kafka client of the project authenticates and encrypts: the KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_* and
KAFKA_SSL_* settings, checked once, turned into aiokafka keyword arguments, FastStream's `security=` object and
librdkafka (confluent-kafka) configuration keys."""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faststream.security import BaseSecurity

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


class KafkaSecurityError(ValueError):
    """A bad combination of the settings; the message starts with the variable to fix."""


@dataclass(frozen=True)
class KafkaSecurity:
    protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True

    def __post_init__(self) -> None:
        self._check()

    @property
    def uses_sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def uses_ssl(self) -> bool:
        return self.protocol.endswith("SSL")

    def _check(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise KafkaSecurityError(f"KAFKA_SECURITY_PROTOCOL: {self.protocol!r}: give one of {', '.join(PROTOCOLS)}")
        if self.uses_sasl:
            if self.sasl_mechanism not in MECHANISMS:
                raise KafkaSecurityError(
                    f"KAFKA_SASL_MECHANISM: {self.sasl_mechanism!r}: give one of {', '.join(MECHANISMS)}"
                )
            if not self.sasl_username:
                raise KafkaSecurityError(f"KAFKA_SASL_USERNAME: required with KAFKA_SECURITY_PROTOCOL={self.protocol}")
            if not self.sasl_password:
                raise KafkaSecurityError(f"KAFKA_SASL_PASSWORD: required with KAFKA_SECURITY_PROTOCOL={self.protocol}")
        elif self.sasl_username or self.sasl_password:
            raise KafkaSecurityError(
                f"KAFKA_SECURITY_PROTOCOL: {self.protocol} does not authenticate; set SASL_SSL (or SASL_PLAINTEXT) "
                "to use KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
            )
        files = {
            "KAFKA_SSL_CAFILE": self.ssl_cafile,
            "KAFKA_SSL_CERTFILE": self.ssl_certfile,
            "KAFKA_SSL_KEYFILE": self.ssl_keyfile,
        }
        for name, path in files.items():
            if path is None:
                continue
            if not self.uses_ssl:
                raise KafkaSecurityError(
                    f"{name}: TLS is off with KAFKA_SECURITY_PROTOCOL={self.protocol}; set SSL or SASL_SSL"
                )
            if not Path(path).is_file():
                raise KafkaSecurityError(f"{name}: {path}: no such file")
        if self.ssl_keyfile and not self.ssl_certfile:
            raise KafkaSecurityError("KAFKA_SSL_CERTFILE: required with KAFKA_SSL_KEYFILE (the client certificate)")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KafkaSecurity:
        """The settings from the environment; KafkaSecurityError (one line) when they do not fit together."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            return env.get(name) or None

        check = (get("KAFKA_SSL_CHECK_HOSTNAME") or "true").lower()
        if check not in _TRUE + _FALSE:
            raise KafkaSecurityError(f"KAFKA_SSL_CHECK_HOSTNAME: {check!r}: give true or false")
        return cls(
            protocol=(get("KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT").upper(),
            sasl_mechanism=(get("KAFKA_SASL_MECHANISM") or "SCRAM-SHA-512").upper(),
            sasl_username=get("KAFKA_SASL_USERNAME"),
            sasl_password=get("KAFKA_SASL_PASSWORD"),
            ssl_cafile=get("KAFKA_SSL_CAFILE"),
            ssl_certfile=get("KAFKA_SSL_CERTFILE"),
            ssl_keyfile=get("KAFKA_SSL_KEYFILE"),
            ssl_check_hostname=check in _TRUE,
        )

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.uses_ssl:
            return None
        try:
            # no CA file: the system's trusted roots (a managed cluster with a public certificate)
            context = ssl.create_default_context(cafile=self.ssl_cafile)
        except ssl.SSLError as e:
            raise KafkaSecurityError(f"KAFKA_SSL_CAFILE: {self.ssl_cafile}: not a PEM certificate ({e})") from None
        if self.ssl_certfile:
            try:
                context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
            except ssl.SSLError as e:
                raise KafkaSecurityError(
                    f"KAFKA_SSL_CERTFILE: {self.ssl_certfile}: not a certificate matching its key ({e})"
                ) from None
        if not self.ssl_check_hostname:
            context.check_hostname = False  # the certificate is still verified against the CA
        return context

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
        if self.protocol == "PLAINTEXT":
            return {}
        kwargs: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_ssl:
            kwargs["ssl_context"] = self.ssl_context()
        if self.uses_sasl:
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password
        return kwargs

    def faststream_security(self) -> BaseSecurity | None:
        """FastStream's `KafkaBroker(security=...)`."""
        from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

        if self.protocol == "PLAINTEXT":
            return None
        context = self.ssl_context()
        if not self.uses_sasl:
            return BaseSecurity(ssl_context=context, use_ssl=True)
        sasl = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}
        assert self.sasl_username and self.sasl_password  # _check
        return sasl[self.sasl_mechanism](
            username=self.sasl_username, password=self.sasl_password, ssl_context=context, use_ssl=self.uses_ssl
        )

    def confluent_config(self) -> dict[str, str]:
        """librdkafka configuration keys (confluent-kafka's Consumer and Producer)."""
        config = {"security.protocol": self.protocol.lower()}
        if self.uses_sasl:
            config["sasl.mechanism"] = self.sasl_mechanism
            config["sasl.username"] = self.sasl_username or ""
            config["sasl.password"] = self.sasl_password or ""
        if self.uses_ssl:
            if self.ssl_cafile:
                config["ssl.ca.location"] = self.ssl_cafile
            if self.ssl_certfile:
                config["ssl.certificate.location"] = self.ssl_certfile
            if self.ssl_keyfile:
                config["ssl.key.location"] = self.ssl_keyfile
            if not self.ssl_check_hostname:
                config["ssl.endpoint.identification.algorithm"] = "none"
        return config


async def login_problem(bootstrap: str, security: KafkaSecurity, timeout: float = 10) -> str | None:
    """Why a client cannot log in to the first broker of `bootstrap`, naming the settings to check; None when it can
    or when the broker is simply unreachable. aiokafka itself only raises "Unable to bootstrap" for a refused
    password or certificate (the cause goes to its log)."""
    from aiokafka.conn import create_conn
    from aiokafka.errors import SaslAuthenticationFailed, UnsupportedSaslMechanismError

    if security.protocol == "PLAINTEXT":
        return None
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    try:
        conn = await asyncio.wait_for(
            create_conn(host, int(port), request_timeout_ms=int(timeout * 1000), **security.aiokafka_kwargs()), timeout
        )
    except SaslAuthenticationFailed as e:
        return (
            f"SASL authentication failed for user {security.sasl_username!r} ({security.sasl_mechanism}): check "
            f"KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD ({e})"
        )
    except UnsupportedSaslMechanismError as e:
        return f"the broker does not offer {security.sasl_mechanism}: check KAFKA_SASL_MECHANISM ({e})"
    except ssl.SSLCertVerificationError as e:
        return (
            f"the broker's TLS certificate was not accepted ({e.verify_message}): check KAFKA_SSL_CAFILE "
            "(and KAFKA_SSL_CHECK_HOSTNAME)"
        )
    except ssl.SSLError as e:
        return f"TLS handshake with {host}:{port} failed ({e.reason}): does the listener speak {security.protocol}?"
    except (TimeoutError, OSError, ValueError):
        return None
    conn.close()
    return None


def from_env(environ: Mapping[str, str] | None = None) -> KafkaSecurity:
    return KafkaSecurity.from_env(environ)


def aiokafka_kwargs(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """For a tool or script without its own settings: the environment's security as aiokafka keyword arguments."""
    return KafkaSecurity.from_env(environ).aiokafka_kwargs()

"""Service configuration from environment variables.

Every variable is declared once in ENV_VARS (name, default, meaning); the
configuration reference in docs/configuration.md is written from the same
table. A bad value stops the program with one line naming the variable.
"""

from __future__ import annotations

import os
import re
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from govkit import database_tls, kafka_security

M = TypeVar("M", bound=BaseModel)
DEV_JWT_SECRET = "dev-only-secret-change-me-000000000000"
DEV_PSEUDONYM_KEY = "dev-only-pseudonym-key-change-me-0000000"
ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")


@dataclass(frozen=True)
class EnvVar:
    name: str  # "{SERVICE}" is replaced by the service name in upper case
    field: str
    default: str | None
    help: str


ENV_VARS: tuple[EnvVar, ...] = (
    EnvVar("GOV_ENV", "env", "development", "development or production; production refuses development secrets"),
    EnvVar("{SERVICE}_DATABASE_URL", "database_url", None, "postgresql:// DSN of the service's own login role"),
    EnvVar("{SERVICE}_DB_SCHEMA", "db_schema", "{service}", "schema the service owns"),
    EnvVar("{SERVICE}_DB_POOL_MAX", "db_pool_max", "10", "largest number of database connections"),
    EnvVar("KAFKA_BOOTSTRAP_SERVERS", "kafka_bootstrap_servers", None, "host:port[,host:port] of the Kafka brokers"),
    EnvVar(
        "KAFKA_SECURITY_PROTOCOL",
        "kafka_security_protocol",
        "PLAINTEXT",
        "PLAINTEXT, SSL (TLS), SASL_PLAINTEXT or SASL_SSL (TLS and a SASL login): every Kafka client of the "
        "services, the relay, ./gov and the examples",
    ),
    EnvVar("KAFKA_SASL_MECHANISM", "kafka_sasl_mechanism", "SCRAM-SHA-512", "SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN"),
    EnvVar("KAFKA_SASL_USERNAME", "kafka_sasl_username", None, "SASL user; required with SASL_SSL or SASL_PLAINTEXT"),
    EnvVar("KAFKA_SASL_PASSWORD", "kafka_sasl_password", None, "SASL password (a secret); required with a SASL user"),
    EnvVar(
        "KAFKA_SSL_CAFILE",
        "kafka_ssl_cafile",
        None,
        "PEM file of the CA(s) that signed the brokers' certificates; unset: the system's trusted roots",
    ),
    EnvVar("KAFKA_SSL_CERTFILE", "kafka_ssl_certfile", None, "PEM client certificate, for mutual TLS (optional)"),
    EnvVar("KAFKA_SSL_KEYFILE", "kafka_ssl_keyfile", None, "PEM private key of KAFKA_SSL_CERTFILE (unencrypted)"),
    EnvVar(
        "KAFKA_SSL_CHECK_HOSTNAME",
        "kafka_ssl_check_hostname",
        "true",
        "false: accept a broker certificate (still signed by the CA) whose names do not match the address",
    ),
    EnvVar(
        "PGSSLMODE",
        "pgsslmode",
        None,
        "TLS to PostgreSQL, as libpq: disable, allow, prefer, require, verify-ca or verify-full; unset: the "
        "DSN's sslmode parameter, else prefer",
    ),
    EnvVar(
        "PGSSLROOTCERT",
        "pgsslrootcert",
        None,
        "PEM file of the CA that signed the server's certificate (verify-ca, verify-full); unset: the system's roots",
    ),
    EnvVar("{SERVICE}_HTTP_HOST", "http_host", "127.0.0.1", "address the HTTP server binds"),
    EnvVar("{SERVICE}_HTTP_PORT", "http_port", "8000", "port the HTTP server binds"),
    EnvVar("LOG_LEVEL", "log_level", "INFO", "DEBUG, INFO, WARNING or ERROR"),
    EnvVar(
        "JWT_ALGORITHM",
        "jwt_algorithm",
        "HS256",
        "HS256 (shared secret, development only), or RS256, ES256 or RS256,ES256 (a public key or the JWKS "
        "of OIDC_ISSUER / JWT_JWKS_URL)",
    ),
    EnvVar(
        "JWT_SECRET",
        "jwt_secret",
        None,
        "HS256 secret, at least 32 characters; a development default is used outside production",
    ),
    EnvVar("JWT_PUBLIC_KEY_FILE", "jwt_public_key_file", None, "PEM public key file for RS256"),
    EnvVar("JWT_ISSUER", "jwt_issuer", "changping-gov", "expected iss claim (OIDC_ISSUER instead when that is set)"),
    EnvVar(
        "OIDC_ISSUER",
        "oidc_issuer",
        None,
        "issuer URL of the OpenID Connect provider (e.g. https://sso.example/realms/changping): the expected iss, "
        "and {issuer}/.well-known/openid-configuration gives the jwks_uri and token_endpoint",
    ),
    EnvVar(
        "JWT_JWKS_URL",
        "jwt_jwks_url",
        None,
        "URL of the provider's signing keys (JWKS), instead of discovering it from OIDC_ISSUER",
    ),
    EnvVar(
        "JWT_AUDIENCE",
        "jwt_audience",
        None,
        "accepted aud value(s), comma-separated: a token's aud must hold one of them; required in production "
        "with a JWKS; unset: a token carrying aud is refused",
    ),
    EnvVar(
        "JWT_CLAIM_MAP_FILE",
        "jwt_claim_map_file",
        None,
        "YAML saying which claims hold the subject, roles, areas and permissions and how the provider's role "
        "and group names map to the platform's roles (docs/deploy.md); unset: the claims sub, roles, areas, "
        "permissions",
    ),
    EnvVar("JWT_JWKS_CACHE_S", "jwt_jwks_cache_s", "300", "seconds the provider's keys are used before re-fetching"),
    EnvVar(
        "JWT_JWKS_MIN_REFRESH_S",
        "jwt_jwks_min_refresh_s",
        "30",
        "fewest seconds between two fetches of the keys (a token with an unknown kid fetches them at once, "
        "otherwise); the cached keys keep verifying while the provider is down",
    ),
    EnvVar(
        "PSEUDONYM_KEY",
        "pseudonym_key",
        None,
        "HMAC key for pseudonymous references in events (32+ characters); "
        "a development default is used outside production",
    ),
    EnvVar(
        "OUTBOX_POLL_INTERVAL_S",
        "outbox_poll_interval_s",
        "1.0",
        "outbox relay polling fallback when no NOTIFY arrives",
    ),
    EnvVar("OUTBOX_BATCH_SIZE", "outbox_batch_size", "500", "outbox rows published per batch"),
    EnvVar(
        "CONSUMER_MAX_ATTEMPTS",
        "consumer_max_attempts",
        "5",
        "attempts for a handler error that is not a connection failure before dead-lettering",
    ),
    EnvVar(
        "CONSUMER_BATCH_MAX",
        "consumer_batch_max",
        "500",
        "records applied in one database transaction and one offset commit (what the broker has ready, up to this)",
    ),
    EnvVar(
        "CONSUMER_BATCH_WAIT_MS",
        "consumer_batch_wait_ms",
        "50",
        "how long an idle consumer waits for records per poll (the latency added to the first event after a pause)",
    ),
    EnvVar(
        "CONSUMER_FETCH_MIN_BYTES",
        "consumer_fetch_min_bytes",
        "32768",
        "the broker answers a consumer's fetch once it holds this many bytes for it, or after "
        "CONSUMER_FETCH_MAX_WAIT_MS: fewer, fuller batches when events trickle in",
    ),
    EnvVar(
        "CONSUMER_FETCH_MAX_WAIT_MS",
        "consumer_fetch_max_wait_ms",
        "200",
        "the longest the broker holds a fetch waiting for CONSUMER_FETCH_MIN_BYTES (the latency it may add per hop)",
    ),
    EnvVar(
        "CONSUMER_LAG_INTERVAL_S",
        "consumer_lag_interval_s",
        "10",
        "seconds between measurements of consumer lag and stalls (committed vs end offset of every assigned partition)",
    ),
    EnvVar(
        "CONSUMER_STALL_AFTER_S",
        "consumer_stall_after_s",
        "300",
        "a partition whose committed offset has not moved for this long while records wait is reported stalled "
        "(/healthz/consumer answers 503)",
    ),
    EnvVar(
        "OUTBOX_RETENTION_DAYS",
        "outbox_retention_days",
        "7",
        "published outbox rows are deleted after this many days (unpublished rows never)",
    ),
    EnvVar(
        "INBOX_RETENTION_DAYS",
        "inbox_retention_days",
        "30",
        "inbox rows (applied event ids) are deleted after this many days; "
        "a copy of an event re-sent later at a new offset is applied again",
    ),
    EnvVar(
        "RETENTION_INTERVAL_S", "retention_interval_s", "3600", "seconds between retention runs (one replica at a time)"
    ),
    EnvVar("RETENTION_BATCH_SIZE", "retention_batch_size", "1000", "rows deleted per statement by retention"),
    EnvVar(
        "OTEL_TRACES_EXPORTER",
        "otel_traces_exporter",
        None,
        "otlp: export spans over OTLP/HTTP (to OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4318); none: "
        "no spans even with an endpoint; unset: spans are exported when OTEL_EXPORTER_OTLP_ENDPOINT is set",
    ),
    EnvVar(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "otel_exporter_otlp_endpoint",
        None,
        "base URL of the OTLP/HTTP collector (e.g. http://otel-collector:4318; spans go to {endpoint}/v1/traces): "
        "setting it turns tracing on",
    ),
)


class ServiceSettings(BaseModel):
    service: str
    env: Literal["development", "production"] = "development"
    database_url: str = Field(pattern=r"^postgres(ql)?://")
    db_schema: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    db_pool_max: int = Field(ge=1, le=200)
    kafka_bootstrap_servers: str = Field(pattern=r"^[^,\s]+:\d+(,[^,\s]+:\d+)*$")
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_ssl_cafile: str | None = None
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None
    kafka_ssl_check_hostname: str = "true"
    pgsslmode: str | None = None
    pgsslrootcert: str | None = None
    http_host: str
    http_port: int = Field(ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    jwt_algorithm: str = "HS256"
    jwt_secret: str | None = None
    jwt_public_key_file: str | None = None
    jwt_issuer: str = "changping-gov"
    oidc_issuer: str | None = Field(default=None, pattern=r"^https?://")
    jwt_jwks_url: str | None = Field(default=None, pattern=r"^https?://")
    jwt_audience: str | None = None
    jwt_claim_map_file: str | None = None
    jwt_jwks_cache_s: float = Field(default=300, gt=0)
    jwt_jwks_min_refresh_s: float = Field(default=30, ge=0)
    pseudonym_key: str | None = None
    outbox_poll_interval_s: float = Field(gt=0, le=60)
    outbox_batch_size: int = Field(ge=1, le=10000)
    consumer_max_attempts: int = Field(ge=1, le=1000)
    consumer_batch_max: int = Field(ge=1, le=10000)
    consumer_batch_wait_ms: int = Field(ge=1, le=10000)
    consumer_fetch_min_bytes: int = Field(ge=1, le=64 * 1024 * 1024)
    consumer_fetch_max_wait_ms: int = Field(ge=0, le=10000)
    consumer_lag_interval_s: float = Field(gt=0, le=600)
    consumer_stall_after_s: float = Field(gt=0)
    outbox_retention_days: float = Field(gt=0)
    inbox_retention_days: float = Field(gt=0)
    retention_interval_s: float = Field(gt=0)
    retention_batch_size: int = Field(ge=1, le=100000)
    otel_traces_exporter: Literal["otlp", "none"] | None = None
    otel_exporter_otlp_endpoint: str | None = None

    @field_validator("otel_exporter_otlp_endpoint")
    @classmethod
    def _otlp_endpoint(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", v):
            raise ValueError(f"{v!r}: give the collector's base URL, e.g. http://otel-collector:4318")
        return v

    @property
    def otlp_traces_endpoint(self) -> str | None:
        """Where spans are exported (OTLP/HTTP), or None when tracing is off."""
        if self.otel_traces_exporter == "none" or (
            self.otel_traces_exporter is None and self.otel_exporter_otlp_endpoint is None
        ):
            return None
        return (self.otel_exporter_otlp_endpoint or "http://localhost:4318").rstrip("/") + "/v1/traces"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper() if isinstance(v, str) else v

    @field_validator("jwt_algorithm")
    @classmethod
    def _algorithms(cls, v: str) -> str:
        names = [a.strip() for a in v.split(",") if a.strip()]
        if names == ["HS256"] or (names and set(names) <= set(ASYMMETRIC_ALGORITHMS)):
            return ",".join(dict.fromkeys(names))
        raise ValueError(f"{v!r}: give HS256, or one or more of {', '.join(ASYMMETRIC_ALGORITHMS)}")

    @property
    def jwt_algorithms(self) -> list[str]:
        return self.jwt_algorithm.split(",")

    @property
    def jwt_audiences(self) -> list[str]:
        return [a.strip() for a in (self.jwt_audience or "").split(",") if a.strip()]

    @property
    def jwks_configured(self) -> bool:
        return bool(self.oidc_issuer or self.jwt_jwks_url)

    def _token_keys(self) -> None:
        jwks = "OIDC_ISSUER" if self.oidc_issuer else "JWT_JWKS_URL"
        if self.jwt_algorithm == "HS256":
            if self.env == "production":
                raise ValueError(
                    "JWT_ALGORITHM: HS256 (a shared secret) is refused in production; set JWT_ALGORITHM=RS256 "
                    "(or RS256,ES256) and OIDC_ISSUER or JWT_JWKS_URL of your identity provider (docs/deploy.md)"
                )
            if self.jwks_configured:
                raise ValueError(f"JWT_ALGORITHM: set RS256 and/or ES256 to verify tokens with the JWKS of {jwks}")
            return
        if self.jwks_configured:
            if self.jwt_public_key_file:
                raise ValueError(f"JWT_PUBLIC_KEY_FILE: give either a key file or {jwks}, not both")
            if self.env == "production" and not self.jwt_audiences:
                raise ValueError(
                    f"JWT_AUDIENCE: required in production with {jwks} (the client id the provider puts in aud)"
                )
        elif not self.jwt_public_key_file:
            raise ValueError(
                f"JWT_PUBLIC_KEY_FILE: required when JWT_ALGORITHM={self.jwt_algorithm} (or set OIDC_ISSUER or "
                "JWT_JWKS_URL)"
            )
        elif len(self.jwt_algorithms) > 1:
            raise ValueError("JWT_ALGORITHM: one algorithm with JWT_PUBLIC_KEY_FILE (a key has one type)")

    @model_validator(mode="after")
    def _secrets(self) -> ServiceSettings:
        self._token_keys()
        if self.jwt_algorithm == "HS256":
            if self.jwt_secret is None:
                if self.env == "production":
                    raise ValueError("JWT_SECRET: required in production")
                self.jwt_secret = DEV_JWT_SECRET
            if self.env == "production" and self.jwt_secret == DEV_JWT_SECRET:
                raise ValueError("JWT_SECRET: the development secret is refused in production")
            if len(self.jwt_secret) < 32:
                raise ValueError("JWT_SECRET: must be at least 32 characters")
        if self.pseudonym_key is None:
            if self.env == "production":
                raise ValueError("PSEUDONYM_KEY: required in production")
            self.pseudonym_key = DEV_PSEUDONYM_KEY
        if self.env == "production" and self.pseudonym_key == DEV_PSEUDONYM_KEY:
            raise ValueError("PSEUDONYM_KEY: the development key is refused in production")
        if len(self.pseudonym_key) < 32:
            raise ValueError("PSEUDONYM_KEY: must be at least 32 characters")
        return self

    @model_validator(mode="after")
    def _transport_security(self) -> ServiceSettings:
        self.kafka_security.ssl_context()  # KafkaSecurityError (a ValueError) names the variable to fix
        self.database_ssl()
        return self

    @property
    def kafka_security(self) -> kafka_security.KafkaSecurity:
        return kafka_security.KafkaSecurity.from_env(
            {
                "KAFKA_SECURITY_PROTOCOL": self.kafka_security_protocol,
                "KAFKA_SASL_MECHANISM": self.kafka_sasl_mechanism,
                "KAFKA_SASL_USERNAME": self.kafka_sasl_username or "",
                "KAFKA_SASL_PASSWORD": self.kafka_sasl_password or "",
                "KAFKA_SSL_CAFILE": self.kafka_ssl_cafile or "",
                "KAFKA_SSL_CERTFILE": self.kafka_ssl_certfile or "",
                "KAFKA_SSL_KEYFILE": self.kafka_ssl_keyfile or "",
                "KAFKA_SSL_CHECK_HOSTNAME": self.kafka_ssl_check_hostname,
            }
        )

    def database_ssl(self) -> database_tls.SslMode | ssl.SSLContext | None:
        """asyncpg's `ssl=` for PGSSLMODE and PGSSLROOTCERT (govkit.db)."""
        return database_tls.ssl_option(self.pgsslmode, self.pgsslrootcert)


def env_name(var: EnvVar, service: str) -> str:
    return var.name.replace("{SERVICE}", service.upper())


class ConfigError(SystemExit):
    pass


def load(service: str, environ: dict[str, str] | None = None) -> ServiceSettings:
    """Read the service's settings; on error raise ConfigError with one line."""
    return load_model(ServiceSettings, ENV_VARS, service, environ, {"service": service})


def load_model(
    model: type[M],
    env_vars: tuple[EnvVar, ...],
    service: str,
    environ: dict[str, str] | None = None,
    fixed: dict[str, Any] | None = None,
) -> M:
    """Fill `model` from the environment variables `env_vars` (a service's own settings use this too)."""
    env = os.environ if environ is None else environ
    data: dict[str, object] = dict(fixed or {})
    names: dict[str, str] = {}
    for var in env_vars:
        name = env_name(var, service)
        names[var.field] = name
        if name in env and env[name] != "":
            data[var.field] = env[name]
        elif var.default is not None:
            data[var.field] = var.default.replace("{service}", service)
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        msg = err["msg"].removeprefix("Value error, ")
        if field in names:
            line = f"config error: {names[field]}: {msg}"
            if err["type"] == "missing":
                line += f" (set {names[field]}: {next(v.help for v in env_vars if v.field == field)})"
        else:
            line = f"config error: {msg}"
        raise ConfigError(line) from None


def load_or_exit(service: str) -> ServiceSettings:
    try:
        return load(service)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        raise SystemExit(2) from None


def read_yaml(path: Path, variable: str) -> Any:
    """A service's YAML file, parsed; ConfigError naming the variable and the file when it cannot be."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"config error: {variable}: {path}: {e.strerror}") from None
    except yaml.YAMLError:
        raise ConfigError(f"config error: {variable}: {path}: not valid YAML") from None


def load_yaml_model(model: type[M], path: Path, variable: str) -> M:
    """A service's YAML file validated by `model`; one line naming the variable, the file and the key otherwise."""
    try:
        return model.model_validate(read_yaml(path, variable))
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"config error: {variable}: {path}: {field + ': ' if field else ''}{msg}") from None

"""Service configuration from environment variables.

Every variable is declared once in ENV_VARS (name, default, meaning); the
configuration reference in docs/configuration.md is written from the same
table. A bad value stops the program with one line naming the variable.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

M = TypeVar("M", bound=BaseModel)
DEV_JWT_SECRET = "dev-only-secret-change-me-000000000000"
DEV_PSEUDONYM_KEY = "dev-only-pseudonym-key-change-me-0000000"


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
    EnvVar("{SERVICE}_HTTP_HOST", "http_host", "127.0.0.1", "address the HTTP server binds"),
    EnvVar("{SERVICE}_HTTP_PORT", "http_port", "8000", "port the HTTP server binds"),
    EnvVar("LOG_LEVEL", "log_level", "INFO", "DEBUG, INFO, WARNING or ERROR"),
    EnvVar("JWT_ALGORITHM", "jwt_algorithm", "HS256", "HS256 (shared secret) or RS256 (public key)"),
    EnvVar(
        "JWT_SECRET",
        "jwt_secret",
        None,
        "HS256 secret, at least 32 characters; a development default is used outside production",
    ),
    EnvVar("JWT_PUBLIC_KEY_FILE", "jwt_public_key_file", None, "PEM public key file for RS256"),
    EnvVar("JWT_ISSUER", "jwt_issuer", "changping-gov", "expected iss claim"),
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
)


class ServiceSettings(BaseModel):
    service: str
    env: Literal["development", "production"] = "development"
    database_url: str = Field(pattern=r"^postgres(ql)?://")
    db_schema: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    db_pool_max: int = Field(ge=1, le=200)
    kafka_bootstrap_servers: str = Field(pattern=r"^[^,\s]+:\d+(,[^,\s]+:\d+)*$")
    http_host: str
    http_port: int = Field(ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_secret: str | None = None
    jwt_public_key_file: str | None = None
    jwt_issuer: str = "changping-gov"
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

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper() if isinstance(v, str) else v

    @model_validator(mode="after")
    def _secrets(self) -> ServiceSettings:
        if self.jwt_algorithm == "HS256":
            if self.jwt_secret is None:
                if self.env == "production":
                    raise ValueError("JWT_SECRET: required in production")
                self.jwt_secret = DEV_JWT_SECRET
            if self.env == "production" and self.jwt_secret == DEV_JWT_SECRET:
                raise ValueError("JWT_SECRET: the development secret is refused in production")
            if len(self.jwt_secret) < 32:
                raise ValueError("JWT_SECRET: must be at least 32 characters")
        elif not self.jwt_public_key_file:
            raise ValueError("JWT_PUBLIC_KEY_FILE: required when JWT_ALGORITHM=RS256")
        if self.pseudonym_key is None:
            if self.env == "production":
                raise ValueError("PSEUDONYM_KEY: required in production")
            self.pseudonym_key = DEV_PSEUDONYM_KEY
        if self.env == "production" and self.pseudonym_key == DEV_PSEUDONYM_KEY:
            raise ValueError("PSEUDONYM_KEY: the development key is refused in production")
        if len(self.pseudonym_key) < 32:
            raise ValueError("PSEUDONYM_KEY: must be at least 32 characters")
        return self


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

"""The notifications service's own settings: the routing file, channel endpoints and the links it sends."""

from __future__ import annotations

from datetime import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from govkit.settings import ConfigError, EnvVar, ServiceSettings, load_model, load_yaml_model, read_yaml
from notifications.domain.kinds import CHANNELS, LATER_KIND_DEFAULTS, PERSONAL_CHANNELS, Kind
from notifications.domain.quiet import QuietHours

ROOT = Path(__file__).resolve().parents[4]
DEFAULT_FILE = Path(__file__).resolve().parents[2] / "config" / "notifications.yaml"
DEFAULT_POLICY = ROOT / "services" / "cases" / "config" / "policy.yaml"

ENV_VARS = (
    EnvVar(
        "NOTIFICATIONS_RULES_FILE",
        "rules_file",
        str(DEFAULT_FILE),
        "routing YAML: quiet hours, critical "
        "categories, reminder and deadline lead times, default channels per kind, per-channel rate and retries",
    ),
    EnvVar(
        "NOTIFICATIONS_CATEGORY_FILE",
        "category_file",
        str(DEFAULT_POLICY),
        "the cases policy file, read for the Chinese names of case categories and for who decides extension and "
        "suspension requests (its operations:)",
    ),
    EnvVar(
        "NOTIFICATIONS_VOLUNTEERS_URL",
        "volunteers_url",
        "",
        "base URL of the volunteers service, for the audited contact lookup (POST /internal/v1/contacts)",
    ),
    EnvVar(
        "NOTIFICATIONS_SERVICE_TOKEN",
        "service_token",
        "",
        "bearer token of this service for the contact lookup (role service, permission volunteer_contact:read); "
        "empty: minted with JWT_SECRET (development, HS256 only)",
    ),
    EnvVar(
        "NOTIFICATIONS_OIDC_CLIENT_ID",
        "oidc_client_id",
        "",
        "client id of this service at the identity provider: the contact lookup's token is then asked of the "
        "token endpoint with the client_credentials grant; required unless JWT_ALGORITHM is HS256 or "
        "NOTIFICATIONS_SERVICE_TOKEN is set",
    ),
    EnvVar(
        "NOTIFICATIONS_OIDC_CLIENT_SECRET", "oidc_client_secret", "", "client secret for NOTIFICATIONS_OIDC_CLIENT_ID"
    ),
    EnvVar(
        "NOTIFICATIONS_OIDC_TOKEN_URL",
        "oidc_token_url",
        "",
        "the provider's token endpoint; empty: the token_endpoint of OIDC_ISSUER's discovery document",
    ),
    EnvVar(
        "NOTIFICATIONS_OIDC_SCOPE",
        "oidc_scope",
        "volunteer_contact:read",
        "scope asked for with the client credentials (the volunteers service requires volunteer_contact:read "
        "among the token's permissions, through JWT_CLAIM_MAP_FILE)",
    ),
    EnvVar(
        "NOTIFICATIONS_REPORT_URL",
        "report_url",
        "",
        "base URL leaders open the weekly report at, for a gov.report.weekly_published.v1 without a share_url "
        "(older events): {base}/v1/reports/weekly.html?area=..&week=..; the event's signed share link comes first",
    ),
    EnvVar(
        "NOTIFICATIONS_SMS_URL",
        "sms_url",
        "",
        "SMS gateway endpoint; empty: SMS go to the service log in development, and are logged failed in production",
    ),
    EnvVar("NOTIFICATIONS_SMS_KEY_ID", "sms_key_id", "", "SMS gateway access key id"),
    EnvVar("NOTIFICATIONS_SMS_KEY_SECRET", "sms_key_secret", "", "SMS gateway access key secret (HMAC-SHA256)"),
    EnvVar("NOTIFICATIONS_SMS_SIGN_NAME", "sms_sign_name", "长坪镇", "SMS sign name registered with the provider"),
    EnvVar("NOTIFICATIONS_SMS_TEMPLATE", "sms_template", "", "SMS template code; its one variable ${text} is the text"),
    EnvVar(
        "NOTIFICATIONS_SMTP_HOST",
        "smtp_host",
        "",
        "SMTP server; empty: e-mail goes to the service log in development, and is logged failed in production",
    ),
    EnvVar("NOTIFICATIONS_SMTP_PORT", "smtp_port", "25", "SMTP port"),
    EnvVar("NOTIFICATIONS_SMTP_USER", "smtp_user", "", "SMTP login (empty: none)"),
    EnvVar("NOTIFICATIONS_SMTP_PASSWORD", "smtp_password", "", "SMTP password"),
    EnvVar("NOTIFICATIONS_SMTP_SENDER", "smtp_sender", "notice@changping.example.cn", "From address of e-mail"),
    EnvVar("NOTIFICATIONS_SMTP_STARTTLS", "smtp_starttls", "false", "true: STARTTLS after connecting"),
    EnvVar(
        "NOTIFICATIONS_ROBOT_HOSTS",
        "robot_hosts",
        "qyapi.weixin.qq.com,oapi.dingtalk.com",
        "hosts a group robot's webhook URL may point at (https only; loopback too in development)",
    ),
    EnvVar(
        "NOTIFICATIONS_SENDER_POLL_S",
        "sender_poll_s",
        "0.5",
        "seconds a channel's sender waits for due deliveries when it found none",
    ),
    EnvVar(
        "NOTIFICATIONS_TIMER_INTERVAL_S",
        "timer_interval_s",
        "15",
        "seconds between sweeps for offer reminders and approaching deadlines",
    ),
)


class ChannelLimits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rate_per_s: float = Field(gt=0, le=10000)
    concurrency: int = Field(ge=1, le=256)
    max_attempts: int = Field(ge=1, le=50)
    backoff_s: float = Field(gt=0, le=3600)


class QuietHoursRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: time
    end: time

    def rule(self) -> QuietHours:
        return QuietHours(self.start, self.end)


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quiet_hours: QuietHoursRule | None
    critical_categories: list[str]
    offer_reminder_minutes: float = Field(gt=0, le=1440)
    deadline_lead_minutes: dict[str, float]
    defaults: dict[Kind, list[str]]
    channels: dict[str, ChannelLimits]
    what_to_bring: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Rules:
        if set(self.deadline_lead_minutes) != {"accept", "resolve"}:
            raise ValueError("deadline_lead_minutes: give accept and resolve")
        for later, fallback in LATER_KIND_DEFAULTS.items():
            self.defaults.setdefault(later, list(fallback))
        missing = [k.value for k in Kind if k not in self.defaults]
        if missing:
            raise ValueError(f"defaults: no channels for {', '.join(missing)}")
        for kind, chans in self.defaults.items():
            bad = [c for c in chans if c not in PERSONAL_CHANNELS]
            if bad:
                raise ValueError(f"defaults.{kind.value}: {bad[0]!r} is not a personal channel; use in_app, sms, email")
        missing = [c for c in CHANNELS if c not in self.channels]
        if missing or set(self.channels) - set(CHANNELS):
            raise ValueError(f"channels: give exactly {', '.join(CHANNELS)}")
        if self.quiet_hours and self.quiet_hours.start == self.quiet_hours.end:
            raise ValueError("quiet_hours: start and end must differ")
        return self


class NotificationsConfig(BaseModel):
    rules_file: str
    category_file: str
    volunteers_url: str = ""
    service_token: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_token_url: str = ""
    oidc_scope: str = "volunteer_contact:read"
    report_url: str = ""
    sms_url: str = ""
    sms_key_id: str = ""
    sms_key_secret: str = ""
    sms_sign_name: str = ""
    sms_template: str = ""
    smtp_host: str = ""
    smtp_port: int = Field(ge=1, le=65535)
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_sender: str = ""
    smtp_starttls: bool = False
    robot_hosts: str = ""
    development: bool = True
    sender_poll_s: float = Field(gt=0, le=60)
    timer_interval_s: float = Field(gt=0, le=3600)
    rules: Rules | None = None
    category_names: dict[str, str] = Field(default_factory=dict)
    # who decides an extension or suspension request, from the same file's `operations:` (the cases service's rule)
    approvers: dict[str, str] = Field(default_factory=dict)

    @property
    def robot_hosts_list(self) -> list[str]:
        return [h.strip() for h in self.robot_hosts.split(",") if h.strip()]

    @property
    def loaded(self) -> Rules:
        if self.rules is None:
            raise ConfigError("config error: NOTIFICATIONS_RULES_FILE: not loaded (configure() loads it)")
        return self.rules


def load_rules(path: Path) -> Rules:
    return load_yaml_model(Rules, path, "NOTIFICATIONS_RULES_FILE")


def _category_names(path: Path) -> dict[str, str]:
    try:
        doc = read_yaml(path, "NOTIFICATIONS_CATEGORY_FILE")
        return {code: c["name"] for code, c in doc["categories"].items()}
    except (KeyError, TypeError, AttributeError) as e:
        raise ConfigError(f"config error: NOTIFICATIONS_CATEGORY_FILE: {path}: cannot read categories ({e})") from None


APPROVER_RULES = ("level_above", "grid", "village", "town", "county")


def _approvers(path: Path) -> dict[str, str]:
    """{extension, suspension: who decides}, as the cases policy file's `operations:` says (level_above when not)."""
    doc = read_yaml(path, "NOTIFICATIONS_CATEGORY_FILE")
    operations = doc.get("operations") or {} if isinstance(doc, dict) else {}
    out = {}
    for op in ("extension", "suspension"):
        rule = operations.get(f"{op}_approver", "level_above") if isinstance(operations, dict) else "level_above"
        if rule not in APPROVER_RULES:
            raise ConfigError(
                f"config error: NOTIFICATIONS_CATEGORY_FILE: {path}: operations.{op}_approver: {rule!r} is not "
                f"{', '.join(APPROVER_RULES)}"
            )
        out[op] = rule
    return out


def configure(s: ServiceSettings, environ: dict[str, str] | None = None) -> NotificationsConfig:
    cfg = load_model(NotificationsConfig, ENV_VARS, "notifications", environ)
    cfg.rules = load_rules(Path(cfg.rules_file))
    cfg.development = s.env != "production"
    cfg.category_names = _category_names(Path(cfg.category_file))
    cfg.approvers = _approvers(Path(cfg.category_file))
    if cfg.sms_url and not (cfg.sms_key_id and cfg.sms_key_secret and cfg.sms_template):
        raise ConfigError(
            "config error: NOTIFICATIONS_SMS_URL is set: set NOTIFICATIONS_SMS_KEY_ID, NOTIFICATIONS_SMS_KEY_SECRET "
            "and NOTIFICATIONS_SMS_TEMPLATE too"
        )
    for name, url in (
        ("NOTIFICATIONS_SMS_URL", cfg.sms_url),
        ("NOTIFICATIONS_VOLUNTEERS_URL", cfg.volunteers_url),
        ("NOTIFICATIONS_REPORT_URL", cfg.report_url),
        ("NOTIFICATIONS_OIDC_TOKEN_URL", cfg.oidc_token_url),
    ):
        if url and not url.startswith(("http://", "https://")):
            raise ConfigError(f"config error: {name}: must start with http:// or https://")
    _client_credentials(cfg, s)
    return cfg


def _client_credentials(cfg: NotificationsConfig, s: ServiceSettings) -> None:
    """The contact lookup needs a token: given, from the identity provider, or minted (HS256, development)."""
    if cfg.service_token:
        return
    if not cfg.oidc_client_id:
        if s.jwt_algorithm != "HS256":
            raise ConfigError(
                "config error: NOTIFICATIONS_OIDC_CLIENT_ID: required unless JWT_ALGORITHM is HS256 (client "
                "credentials for the contact lookup; or set NOTIFICATIONS_SERVICE_TOKEN)"
            )
        return
    if not cfg.oidc_client_secret:
        raise ConfigError("config error: NOTIFICATIONS_OIDC_CLIENT_SECRET: required with NOTIFICATIONS_OIDC_CLIENT_ID")
    if not (cfg.oidc_token_url or s.oidc_issuer):
        raise ConfigError(
            "config error: NOTIFICATIONS_OIDC_TOKEN_URL: required with NOTIFICATIONS_OIDC_CLIENT_ID unless "
            "OIDC_ISSUER is set (its discovery names the token endpoint)"
        )

"""The reporting service's own settings."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from govkit.settings import ConfigError, EnvVar, ServiceSettings, load_model
from reporting import risk, share

ROOT = Path(__file__).resolve().parents[4]
DEFAULT_RISK = Path(__file__).resolve().parents[2] / "config" / "risk.yaml"
DEFAULT_POLICY = ROOT / "services" / "cases" / "config" / "policy.yaml"

ENV_VARS = (
    EnvVar(
        "REPORTING_RISK_FILE",
        "risk_file",
        str(DEFAULT_RISK),
        "risk scoring rule YAML (points per open case, thresholds)",
    ),
    EnvVar(
        "REPORTING_CATEGORY_FILE",
        "category_file",
        str(DEFAULT_POLICY),
        "the cases policy file, read for category names and livelihood keywords",
    ),
    EnvVar(
        "REPORTING_PUBLISH_INTERVAL_S",
        "publish_interval_s",
        "300",
        "how often the weekly-report job checks whether last week's reports are published",
    ),
    EnvVar(
        "REPORTING_PUBLISH_AFTER_HOUR",
        "publish_after_hour",
        "6",
        "local hour on Monday after which last week's reports are published",
    ),
    EnvVar(
        "REPORTING_PUBLIC_URL",
        "public_url",
        "",
        "base URL a reader's browser opens share links under (/v1/public/shared/reports/...); "
        "default http://{REPORTING_HTTP_HOST}:{REPORTING_HTTP_PORT}",
    ),
    EnvVar(
        "REPORTING_SHARE_KEY",
        "share_key",
        "",
        "HMAC key signing the weekly report's share links (32+ characters); empty: derived from PSEUDONYM_KEY",
    ),
    EnvVar(
        "REPORTING_SHARE_TTL_DAYS",
        "share_ttl_days",
        "14",
        "days a share link of a weekly report stays valid",
    ),
)


class ReportingConfig(BaseModel):
    risk_file: str
    category_file: str
    publish_interval_s: float = Field(gt=0, le=86400)
    publish_after_hour: int = Field(ge=0, le=23)
    public_url: str = ""
    share_key: str = Field(default="", repr=False)
    share_ttl_days: float = Field(gt=0, le=366)
    link_key: bytes = Field(default=b"", repr=False)  # derived from share_key (or the pseudonym key) by configure()
    rule: object = None
    category_names: dict = Field(default_factory=dict)
    livelihood_keywords: dict = Field(default_factory=dict)


def configure(s: ServiceSettings, environ=None) -> ReportingConfig:
    cfg = load_model(ReportingConfig, ENV_VARS, "reporting", environ)
    cfg.rule = risk.load(Path(cfg.risk_file))
    if cfg.share_key and len(cfg.share_key) < 32:
        raise ConfigError("config error: REPORTING_SHARE_KEY: must be at least 32 characters")
    # the key that signs share links: derived, so the secret itself never signs anything else
    cfg.link_key = share.derive_key(cfg.share_key or s.pseudonym_key or "")
    cfg.public_url = (cfg.public_url or f"http://{s.http_host}:{s.http_port}").rstrip("/")
    try:
        doc = yaml.safe_load(Path(cfg.category_file).read_text(encoding="utf-8"))
        cats = doc["categories"]
        cfg.category_names = {k: v["name"] for k, v in cats.items()}
        kw = cats.get("livelihood.request", {}).get("keywords", [])
    except (OSError, KeyError, TypeError, yaml.YAMLError) as e:
        raise ConfigError(
            f"config error: REPORTING_CATEGORY_FILE: {cfg.category_file}: cannot read categories ({e})"
        ) from None
    # each livelihood keyword is a theme of its own (路灯, 饮水, 道路, 养老 ...)
    cfg.livelihood_keywords = {w: [w] for w in kw}
    return cfg

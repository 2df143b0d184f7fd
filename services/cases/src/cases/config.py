"""The cases service's own settings (besides govkit's shared ones)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from cases.domain import policy as policy_mod
from cases.domain import workdays as workdays_mod
from govkit.settings import ConfigError, EnvVar, ServiceSettings, load_model

DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "config" / "policy.yaml"
DEFAULT_WORKDAYS = Path(__file__).resolve().parents[2] / "config" / "workdays.yaml"

ENV_VARS = (
    EnvVar(
        "CASES_POLICY_FILE",
        "policy_file",
        str(DEFAULT_POLICY),
        "category policy YAML (levels, deadlines, field work, Open311 codes)",
    ),
    EnvVar(
        "CASES_WORKDAYS_FILE",
        "workdays_file",
        str(DEFAULT_WORKDAYS),
        "local working-day overrides YAML (work: / rest: dates) on top of China's official holidays",
    ),
    EnvVar("CASES_NUMBER_PREFIX", "number_prefix", "CP", "prefix of human case numbers, e.g. CP-2026-000123"),
    EnvVar("CASES_SLA_SWEEP_INTERVAL_S", "sla_sweep_interval_s", "30", "seconds between deadline sweeps"),
    EnvVar(
        "CASES_DUPLICATE_THRESHOLD",
        "duplicate_threshold",
        "0.3",
        "pg_trgm similarity from which a report is flagged as a possible duplicate",
    ),
    EnvVar(
        "CASES_OPEN311_API_KEYS",
        "open311_api_keys",
        "",
        "comma-separated api_key values accepted by Open311 POST requests",
    ),
    EnvVar(
        "CASES_ATTACHMENT_MAX_BYTES",
        "attachment_max_bytes",
        str(10 * 1024 * 1024),
        "largest file accepted on a progress note, in bytes (larger: 413)",
    ),
    EnvVar("CASES_ATTACHMENT_MAX_FILES", "attachment_max_files", "5", "most files on one progress note"),
    EnvVar(
        "CASES_STORAGE",
        "storage",
        "postgres",
        "where attachment bytes are kept: postgres (the case_attachment_blobs table of the cases schema) "
        "or s3 (an S3-compatible bucket, CASES_S3_*)",
    ),
    EnvVar(
        "CASES_S3_ENDPOINT",
        "s3_endpoint",
        "",
        "with CASES_STORAGE=s3: the store's base URL, e.g. https://minio.gov:9000",
    ),
    EnvVar("CASES_S3_BUCKET", "s3_bucket", "", "with CASES_STORAGE=s3: the bucket (path-style requests)"),
    EnvVar("CASES_S3_REGION", "s3_region", "us-east-1", "with CASES_STORAGE=s3: the region signed into requests"),
    EnvVar("CASES_S3_ACCESS_KEY", "s3_access_key", "", "with CASES_STORAGE=s3: the access key id"),
    EnvVar("CASES_S3_SECRET_KEY", "s3_secret_key", "", "with CASES_STORAGE=s3: the secret access key (a Secret)"),
    EnvVar("CASES_OPEN311_JURISDICTION", "open311_jurisdiction", "changping.xiangyang.cn", "Open311 jurisdiction_id"),
    EnvVar(
        "CASES_CLOCK_FILE",
        "clock_file",
        "",
        "development only: a file holding a number of seconds the service's clock runs ahead or behind (drills, "
        "tests of deadlines across holidays)",
    ),
)


class CasesConfig(BaseModel):
    policy_file: str
    workdays_file: str
    number_prefix: str = Field(pattern=r"^[A-Z]{1,6}$")
    sla_sweep_interval_s: float = Field(gt=0, le=3600)
    duplicate_threshold: float = Field(gt=0, le=1)
    open311_api_keys: str = ""
    open311_jurisdiction: str = Field(min_length=1)
    attachment_max_bytes: int = Field(gt=0, le=100 * 1024 * 1024)
    attachment_max_files: int = Field(ge=1, le=20)
    storage: Literal["postgres", "s3"] = "postgres"
    s3_endpoint: str = ""
    s3_bucket: str = ""
    s3_region: str = Field(default="us-east-1", min_length=1)
    s3_access_key: str = ""
    s3_secret_key: str = ""
    clock_file: str = ""
    policy: object = None

    @property
    def api_keys(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.open311_api_keys.split(",") if k.strip())


def configure(s: ServiceSettings, environ=None) -> CasesConfig:
    cfg = load_model(CasesConfig, ENV_VARS, "cases", environ)
    try:
        calendar = workdays_mod.load(Path(cfg.workdays_file))
    except workdays_mod.WorkdaysError as e:
        raise ConfigError(f"config error: CASES_WORKDAYS_FILE: {e}") from None
    try:
        cfg.policy = policy_mod.load(Path(cfg.policy_file), calendar)
    except policy_mod.PolicyError as e:
        raise ConfigError(f"config error: CASES_POLICY_FILE: {e}") from None
    if cfg.storage == "s3":
        for var in ENV_VARS:
            if var.name.startswith("CASES_S3_") and not getattr(cfg, var.field):
                raise ConfigError(f"config error: {var.name}: required with CASES_STORAGE=s3 ({var.help})")
        if not cfg.s3_endpoint.startswith(("http://", "https://")):
            raise ConfigError("config error: CASES_S3_ENDPOINT: an http(s) URL")
    if cfg.clock_file and s.env == "production":
        raise ConfigError("config error: CASES_CLOCK_FILE: not allowed in production (GOV_ENV=production)")
    return cfg

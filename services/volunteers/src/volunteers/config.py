"""The volunteers service's own settings and dispatch configuration."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from govkit.settings import ConfigError, EnvVar, ServiceSettings, load_model, load_yaml_model
from volunteers.domain.dispatch import ROLE_FIT
from volunteers.domain.meetings import MEETING_PUBLICITY

PUBLIC_URL = re.compile(r"https?://[^\s/?#]+(/[^\s?#]*)?")
DEFAULT_FILE = Path(__file__).resolve().parents[2] / "config" / "dispatch.yaml"
TASK_TYPES = tuple(ROLE_FIT)
# task types the service makes on its own (pairing visits, publicity for meeting notices): the file must define them
SELF_MADE = ("pairing_visit", MEETING_PUBLICITY)
SKILLS = (
    "mediation",
    "elderly_care",
    "meal_delivery",
    "first_aid",
    "disinfection",
    "temperature_check",
    "publicity",
    "legal_aid",
    "cleanup",
    "driving",
)
ROLES = (
    "party_member",
    "grid_manager",
    "sanitation_worker",
    "civility_supervisor",
    "public_service_worker",
    "mediator",
    "volunteer",
)

ENV_VARS = (
    EnvVar(
        "VOLUNTEERS_DISPATCH_FILE",
        "dispatch_file",
        str(DEFAULT_FILE),
        "dispatch configuration YAML (offer expiry, hours cap, points rule, default skills)",
    ),
    EnvVar(
        "VOLUNTEERS_OFFER_EXPIRY_S",
        "offer_expiry_s",
        "",
        "overrides offer_expiry_minutes of the file, in seconds (tests, drills)",
    ),
    EnvVar(
        "VOLUNTEERS_TIMER_INTERVAL_S",
        "timer_interval_s",
        "5",
        "seconds between offer-expiry, schedule and pairing sweeps",
    ),
    EnvVar(
        "VOLUNTEERS_SCHEDULE_HORIZON_DAYS",
        "schedule_horizon_days",
        "7",
        "how far ahead recurring schedules create tasks",
    ),
    EnvVar(
        "VOLUNTEERS_PUBLIC_URL",
        "public_url",
        "",
        "base URL a volunteer's phone opens answer links under (/a/<token>); "
        "default http://{VOLUNTEERS_HTTP_HOST}:{VOLUNTEERS_HTTP_PORT}",
    ),
)


class PointsRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base: int = Field(ge=0)
    per_hour: int = Field(ge=0)


class DispatchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    offer_expiry_minutes: float = Field(gt=0)
    urgent_offer_expiry_minutes: float = Field(gt=0)
    max_hours_per_task: float = Field(gt=0, le=24)
    points: dict[str, PointsRule]
    default_skills: dict[str, list[str]]
    case_task_window_hours: float = Field(gt=0)

    @model_validator(mode="after")
    def _check(self) -> DispatchConfig:
        if "default" not in self.points:
            raise ValueError("points: needs a 'default' rule")
        for t in [*self.points, *self.default_skills]:
            if t != "default" and t not in TASK_TYPES:
                raise ValueError(f"unknown task type {t!r}; use {', '.join(TASK_TYPES)}")
        for t in SELF_MADE:
            if t not in self.default_skills:
                raise ValueError(f"default_skills: needs {t!r} (the service makes such tasks itself)")
        for t, skills in self.default_skills.items():
            bad = [s for s in skills if s not in SKILLS]
            if bad:
                raise ValueError(f"default_skills.{t}: unknown skill {bad[0]!r}; use {', '.join(SKILLS)}")
        return self

    def points_for(self, task_type: str, hours: float) -> int:
        rule = self.points.get(task_type, self.points["default"])
        return rule.base + round(rule.per_hour * hours)


class VolunteersConfig(BaseModel):
    dispatch_file: str
    offer_expiry_s: str = ""
    timer_interval_s: float = Field(gt=0, le=3600)
    schedule_horizon_days: int = Field(ge=1, le=60)
    public_url: str = ""  # configure() fills in the default from the HTTP host and port
    dispatch: DispatchConfig | None = None

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, url: str) -> str:
        if url and not PUBLIC_URL.fullmatch(url):
            raise ValueError(
                "must be an http:// or https:// URL without query or fragment, e.g. https://vol.example.cn"
            )
        return url

    @property
    def rules(self) -> DispatchConfig:
        """The dispatch configuration, loaded from dispatch_file by configure()."""
        if self.dispatch is None:
            raise ConfigError("config error: VOLUNTEERS_DISPATCH_FILE: not loaded (configure() loads it)")
        return self.dispatch

    @property
    def expiry_s(self) -> float:
        return float(self.offer_expiry_s) if self.offer_expiry_s else self.rules.offer_expiry_minutes * 60

    @property
    def urgent_expiry_s(self) -> float:
        return float(self.offer_expiry_s) if self.offer_expiry_s else self.rules.urgent_offer_expiry_minutes * 60


def load_dispatch(path: Path) -> DispatchConfig:
    return load_yaml_model(DispatchConfig, path, "VOLUNTEERS_DISPATCH_FILE")


def configure(s: ServiceSettings, environ=None) -> VolunteersConfig:
    cfg = load_model(VolunteersConfig, ENV_VARS, "volunteers", environ)
    if cfg.offer_expiry_s:
        try:
            if float(cfg.offer_expiry_s) <= 0:
                raise ValueError
        except ValueError:
            raise ConfigError("config error: VOLUNTEERS_OFFER_EXPIRY_S: must be a positive number of seconds") from None
    cfg.dispatch = load_dispatch(Path(cfg.dispatch_file))
    cfg.public_url = (cfg.public_url or f"http://{s.http_host}:{s.http_port}").rstrip("/")
    return cfg

"""The livelihood service's own settings: its flows, its meeting and notice rules, and (development only) a
clock that tests can move."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from govkit.settings import ConfigError, EnvVar, ServiceSettings, load_model, load_yaml_model, read_yaml
from livelihood.domain import flow as flow_rules
from livelihood.domain import meetings

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"

ENV_VARS = (
    EnvVar(
        "LIVELIHOOD_FLOWS_DIR",
        "flows_dir",
        str(CONFIG_DIR / "flows"),
        "directory of stage configurations (*.yaml), each a flow proposals may follow",
    ),
    EnvVar(
        "LIVELIHOOD_DEFAULT_FLOW",
        "default_flow",
        "three_step",
        "the flow of a proposal that names none (three_step: 提、审、议; four_two: 四议两公开)",
    ),
    EnvVar(
        "LIVELIHOOD_RULES_FILE",
        "rules_file",
        str(CONFIG_DIR / "rules.yaml"),
        "meeting quorum and majority, notice periods, project categories, ranking weights",
    ),
    EnvVar(
        "LIVELIHOOD_CLOCK_FILE",
        "clock_file",
        "",
        "development only: a file holding a number of seconds the service's clock runs ahead (drills, tests)",
    ),
)


class Weights(BaseModel):
    model_config = ConfigDict(extra="forbid")
    evidence: float = Field(ge=0)
    people: float = Field(ge=0)
    cost: float = Field(ge=0)


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    meeting_notice_days: int = Field(ge=0, le=60)
    notice_days: int = Field(ge=1, le=60)
    meetings: dict[str, dict[str, Any]]
    categories: dict[str, str]
    ranking: Weights


class LivelihoodConfig(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    flows_dir: str
    default_flow: str
    rules_file: str
    clock_file: str = ""
    rules: Rules | None = None
    flows: dict[str, flow_rules.Flow] = Field(default_factory=dict)
    meeting_rules: dict[str, meetings.MeetingRule] = Field(default_factory=dict)

    @property
    def loaded(self) -> Rules:
        if self.rules is None:
            raise ConfigError("config error: LIVELIHOOD_RULES_FILE: not loaded (configure() loads it)")
        return self.rules


def load_flows(directory: Path) -> dict[str, flow_rules.Flow]:
    flows = {}
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise ConfigError(f"config error: LIVELIHOOD_FLOWS_DIR: {directory}: no *.yaml flow")
    for path in files:
        try:
            f = flow_rules.build(read_yaml(path, "LIVELIHOOD_FLOWS_DIR") or {})
        except flow_rules.FlowError as e:
            raise ConfigError(f"config error: LIVELIHOOD_FLOWS_DIR: {path.name}: {e}") from None
        flows[f.name] = f
    return flows


def load_rules(path: Path) -> tuple[Rules, dict[str, meetings.MeetingRule]]:
    rules = load_yaml_model(Rules, path, "LIVELIHOOD_RULES_FILE")
    kinds = {"villagers_meeting", "representatives_meeting"}
    if set(rules.meetings) != kinds:
        raise ConfigError(
            f"config error: LIVELIHOOD_RULES_FILE: {path}: meetings: give exactly {', '.join(sorted(kinds))}"
        )
    try:
        parsed = {kind: meetings.rule_from(kind, raw) for kind, raw in rules.meetings.items()}
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:
        raise ConfigError(f"config error: LIVELIHOOD_RULES_FILE: {path}: meetings: {type(e).__name__} {e}") from None
    return rules, parsed


def configure(s: ServiceSettings, environ: dict[str, str] | None = None) -> LivelihoodConfig:
    cfg = load_model(LivelihoodConfig, ENV_VARS, "livelihood", environ)
    cfg.flows = load_flows(Path(cfg.flows_dir))
    if cfg.default_flow not in cfg.flows:
        raise ConfigError(
            f"config error: LIVELIHOOD_DEFAULT_FLOW: {cfg.default_flow!r} is not one of {', '.join(sorted(cfg.flows))}"
        )
    cfg.rules, cfg.meeting_rules = load_rules(Path(cfg.rules_file))
    if cfg.clock_file and s.env == "production":
        raise ConfigError("config error: LIVELIHOOD_CLOCK_FILE: not allowed in production (GOV_ENV=production)")
    return cfg

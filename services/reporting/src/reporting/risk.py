"""The risk rule: configuration, and the score of one grid with its reasons. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gov_contracts.vocabulary import SEVERITY_LABEL, Severity
from govkit.settings import ConfigError

SEVERITIES = tuple(severity.value for severity in Severity)
LEVELS = ("green", "yellow", "orange", "red")


class Trend(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_new: int = Field(ge=1)
    ratio: float = Field(gt=1)
    points: int = Field(ge=0)


class RiskRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    open_dispute: dict[str, int]
    open_petition: dict[str, int]
    overdue_open: int = Field(ge=0)
    repeat_report: int = Field(ge=0)
    repeat_address: int = Field(ge=0)
    trend: Trend
    levels: dict[str, int]

    @model_validator(mode="after")
    def _check(self) -> RiskRule:
        for name in ("open_dispute", "open_petition"):
            table = getattr(self, name)
            if set(table) != set(SEVERITIES):
                raise ValueError(f"{name}: give points for exactly {', '.join(SEVERITIES)}")
        if set(self.levels) != {"yellow", "orange", "red"}:
            raise ValueError("levels: give thresholds for yellow, orange and red")
        if not self.levels["yellow"] <= self.levels["orange"] <= self.levels["red"]:
            raise ValueError("levels: thresholds must rise yellow <= orange <= red")
        return self


def load(path: Path) -> RiskRule:
    try:
        return RiskRule.model_validate(yaml.safe_load(Path(path).read_text(encoding="utf-8")))
    except OSError as e:
        raise ConfigError(f"config error: REPORTING_RISK_FILE: {path}: {e.strerror}") from None
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConfigError(
            f"config error: REPORTING_RISK_FILE: {path}: {where + ': ' if where else ''}"
            f"{err['msg'].removeprefix('Value error, ')}"
        ) from None


@dataclass
class GridFacts:
    """What the rule looks at, for one grid at the end of a week."""

    open_disputes: dict[str, int] = field(default_factory=dict)  # severity -> count
    open_petitions: dict[str, int] = field(default_factory=dict)
    overdue_open: int = 0
    repeat_reports: int = 0
    repeat_addresses: int = 0
    new: int = 0
    mean_4w: float = 0.0


def score(rule: RiskRule, f: GridFacts) -> tuple[int, str, list[str]]:
    """(score, level, reasons in Chinese); the reasons name every term that added points."""
    total, reasons = 0, []
    for label, table, counts in (
        ("矛盾纠纷", rule.open_dispute, f.open_disputes),
        ("信访", rule.open_petition, f.open_petitions),
    ):
        pts = sum(table[s] * counts.get(s, 0) for s in SEVERITIES)
        if pts:
            n = sum(counts.values())
            detail = "、".join(f"{SEVERITY_LABEL[s]}{counts[s]}起" for s in SEVERITIES if counts.get(s))
            reasons.append(f"未办结{label}{n}起（{detail}），+{pts}")
            total += pts
    for n, per, text in (
        (f.overdue_open, rule.overdue_open, "超期未办结{n}起"),
        (f.repeat_reports, rule.repeat_report, "重复反映案件{n}起"),
        (f.repeat_addresses, rule.repeat_address, "同一地点30天内多次反映{n}处"),
    ):
        if n and per:
            reasons.append(text.format(n=n) + f"，+{n * per}")
            total += n * per
    t = rule.trend
    if f.new >= t.min_new and f.new >= t.ratio * f.mean_4w:
        reasons.append(f"本周新增{f.new}起，前四周周均{f.mean_4w:.1f}起，上升明显，+{t.points}")
        total += t.points
    level = "green"
    for name in ("yellow", "orange", "red"):
        if total >= rule.levels[name]:
            level = name
    return total, level, reasons

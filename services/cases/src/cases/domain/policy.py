"""Category policy: handling level, deadlines, field work, Open311 service code,
what the public reads show of a case.

Loaded from a YAML file at start-up (CASES_POLICY_FILE); a bad file stops the
service with one line naming the entry and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cases.domain.model import Level

SEVERITIES = ("low", "medium", "high", "critical")
TASK_TYPES = (
    "meal_delivery",
    "pairing_visit",
    "epidemic_temperature_check",
    "epidemic_publicity",
    "epidemic_disinfection",
    "dispute_mediation",
    "sanitation_cleanup",
    "patrol",
    "cultural_activity",
)


class PolicyError(Exception):
    pass


class Visibility(str, Enum):  # noqa: UP042  (StrEnum would change str() of a member)
    """What the public reads (Open311, no credentials) show of a case of the category."""

    public = "public"  # everything public, the description and address with phones and ID numbers redacted
    status_only = "status_only"  # number, category, status and dates; no description, place or media
    hidden = "hidden"  # not listed, and a read by number answers 404


class Deadlines(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accept_hours: float = Field(gt=0)
    resolve_hours: float = Field(gt=0)


class CategoryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    level: Level
    accept_hours: float = Field(gt=0)
    resolve_hours: float = Field(gt=0)
    by_severity: dict[str, Deadlines] = Field(default_factory=dict)
    field_work: str | None = None
    service_code: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    keywords: list[str] = Field(default_factory=list)
    # a category the file does not mark shows its status only: nothing private goes public by omission
    visibility: Visibility = Visibility.status_only

    @model_validator(mode="after")
    def _check(self) -> CategoryPolicy:
        for sev in self.by_severity:
            if sev not in SEVERITIES:
                raise ValueError(f"by_severity: unknown severity {sev!r}; use {', '.join(SEVERITIES)}")
        if self.field_work is not None and self.field_work not in TASK_TYPES:
            raise ValueError(f"field_work: unknown task type {self.field_work!r}; use {', '.join(TASK_TYPES)}")
        return self


@dataclass(frozen=True)
class Policy:
    categories: dict[str, CategoryPolicy]
    critical_factor: float

    def get(self, category: str) -> CategoryPolicy:
        return self.categories[category]

    def deadlines(self, category: str, severity: str) -> tuple[timedelta, timedelta]:
        """(accept, resolve) for a case of this category and severity; critical halves the defaults."""
        c = self.categories[category]
        if severity in c.by_severity:
            d = c.by_severity[severity]
            return timedelta(hours=d.accept_hours), timedelta(hours=d.resolve_hours)
        f = self.critical_factor if severity == "critical" else 1.0
        return timedelta(hours=c.accept_hours * f), timedelta(hours=c.resolve_hours * f)

    def visibility(self, category: str) -> Visibility:
        """What the public reads show of a case of the category; one gone from the file shows its status only."""
        c = self.categories.get(category)
        return c.visibility if c else Visibility.status_only

    def with_visibility(self, visibility: Visibility) -> list[str]:
        return [name for name, c in self.categories.items() if c.visibility is visibility]

    def by_service_code(self, code: str) -> str | None:
        for name, c in self.categories.items():
            if c.service_code == code:
                return name
        return None


def load(path: Path) -> Policy:
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise PolicyError(f"policy {path}: cannot read: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise PolicyError(f"policy {path}: not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("categories"), dict) or not doc["categories"]:
        raise PolicyError(f"policy {path}: expected a 'categories:' mapping")
    factor = doc.get("critical_factor", 0.5)
    if not isinstance(factor, (int, float)) or not 0 < factor <= 1:
        raise PolicyError(f"policy {path}: critical_factor: must be a number in (0, 1]")
    cats: dict[str, CategoryPolicy] = {}
    codes: dict[str, str] = {}
    for name, raw in doc["categories"].items():
        if not isinstance(raw, dict):
            raise PolicyError(f"policy {path}: categories.{name}: expected a mapping")
        try:
            c = CategoryPolicy.model_validate(raw)
        except ValidationError as e:
            err = e.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            where = f"categories.{name}: {field}: " if field else f"categories.{name}: "
            raise PolicyError(f"policy {path}: {where}{err['msg'].removeprefix('Value error, ')}") from None
        if c.service_code in codes:
            raise PolicyError(
                f"policy {path}: categories.{name}: service_code: {c.service_code!r} "
                f"already used by {codes[c.service_code]}"
            )
        codes[c.service_code] = name
        cats[str(name)] = c
    return Policy(cats, float(factor))

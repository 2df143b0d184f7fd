"""Category policy: handling level, deadlines, field work, Open311 service code,
what the public reads show of a case.

Loaded from a YAML file at start-up (CASES_POLICY_FILE); a bad file stops the
service with one line naming the entry and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cases.domain.model import Level
from cases.domain.workdays import WorkCalendar

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


@dataclass(frozen=True)
class Span:
    """A deadline's length: hours (calendar time) or working days (workdays.WorkCalendar)."""

    hours: float | None = None
    workdays: int | None = None

    def due(self, start: datetime, calendar: WorkCalendar) -> datetime:
        """The deadline of a clock started at `start`."""
        if self.workdays is not None:
            return calendar.add_working_days(start, self.workdays)
        assert self.hours is not None
        return start + timedelta(hours=self.hours)

    @property
    def nominal(self) -> timedelta:
        """The length as a duration: exact for hours; a working day counted as a day (estimates only)."""
        return timedelta(hours=self.hours) if self.hours is not None else timedelta(days=self.workdays or 0)

    @property
    def label(self) -> str:
        """How the public reads say it: 24 小时, 7 天, 15 个工作日."""
        if self.workdays is not None:
            return f"{self.workdays} 个工作日"
        assert self.hours is not None
        if self.hours >= 48 and self.hours % 24 == 0:
            return f"{int(self.hours // 24)} 天"
        return f"{self.hours:g} 小时"


class Deadlines(BaseModel):
    """Each deadline in hours or in working days: exactly one of the two."""

    model_config = ConfigDict(extra="forbid")
    accept_hours: float | None = Field(default=None, gt=0)
    accept_workdays: int | None = Field(default=None, gt=0, le=366)
    resolve_hours: float | None = Field(default=None, gt=0)
    resolve_workdays: int | None = Field(default=None, gt=0, le=366)

    @model_validator(mode="after")
    def _one_of_each(self) -> Deadlines:
        for kind in ("accept", "resolve"):
            given = [f for f in (f"{kind}_hours", f"{kind}_workdays") if getattr(self, f) is not None]
            if len(given) != 1:
                raise ValueError(
                    f"{kind}_hours / {kind}_workdays: give exactly one of them"
                    + (" (both given)" if given else " (neither given)")
                )
        return self

    @property
    def accept(self) -> Span:
        return Span(self.accept_hours, self.accept_workdays)

    @property
    def resolve(self) -> Span:
        return Span(self.resolve_hours, self.resolve_workdays)


class CategoryPolicy(Deadlines):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    level: Level
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


LEVEL_ABOVE = "level_above"


class Operations(BaseModel):
    """The rules of the operations beside the main loop (the policy file's `operations:`)."""

    model_config = ConfigDict(extra="forbid")
    max_extensions: int = Field(default=2, ge=0, le=10)  # approved extensions (延期) per case
    # who decides a request: `level_above` the case's level (the county decides its own), or a fixed level
    extension_approver: str = LEVEL_ABOVE
    suspension_approver: str = LEVEL_ABOVE
    return_window_hours: float = Field(default=24, gt=0)  # 退单 within this long of the dispatch

    @model_validator(mode="after")
    def _check(self) -> Operations:
        for name in ("extension_approver", "suspension_approver"):
            value = getattr(self, name)
            if value != LEVEL_ABOVE and value not in Level.__members__:
                raise ValueError(f"{name}: {value!r} is not level_above, grid, village, town or county")
        return self

    def approver_level(self, kind: str, case_level: Level) -> Level:
        """The lowest level that decides a `kind` (extension or suspension) request of a case at `case_level`."""
        rule = self.extension_approver if kind == "extension" else self.suspension_approver
        if rule == LEVEL_ABOVE:
            return case_level.up() or case_level
        fixed = Level(rule)
        return fixed if fixed.rank > case_level.rank else case_level.up() or case_level


@dataclass(frozen=True)
class Policy:
    categories: dict[str, CategoryPolicy]
    critical_factor: float
    calendar: WorkCalendar = field(default_factory=WorkCalendar)
    operations: Operations = field(default_factory=Operations)

    def get(self, category: str) -> CategoryPolicy:
        return self.categories[category]

    def spans(self, category: str, severity: str) -> tuple[Span, Span]:
        """(accept, resolve) for a case of this category and severity: by_severity's figures if it gives them,
        else the category's, hours multiplied by critical_factor for a critical case (working days are not)."""
        c = self.categories[category]
        if severity in c.by_severity:
            d = c.by_severity[severity]
            return d.accept, d.resolve
        f = self.critical_factor if severity == "critical" else 1.0
        return _scaled(c.accept, f), _scaled(c.resolve, f)

    def due(self, category: str, severity: str, start: datetime) -> tuple[datetime, datetime]:
        """(accept due, resolve due) of clocks started at `start` for a case of this category and severity."""
        accept, resolve = self.spans(category, severity)
        return accept.due(start, self.calendar), resolve.due(start, self.calendar)

    def deadlines(self, category: str, severity: str) -> tuple[timedelta, timedelta]:
        """(accept, resolve) as durations: exact for hours, a working day counted as a day. For estimates (the
        benchmark's synthetic history); a case's due times come from `due`."""
        accept, resolve = self.spans(category, severity)
        return accept.nominal, resolve.nominal

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


def _scaled(span: Span, factor: float) -> Span:
    return Span(hours=span.hours * factor) if span.hours is not None else span


def load(path: Path, calendar: WorkCalendar | None = None) -> Policy:
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
    try:
        operations = Operations.model_validate(doc.get("operations") or {})
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise PolicyError(
            f"policy {path}: operations: {loc + ': ' if loc else ''}{err['msg'].removeprefix('Value error, ')}"
        ) from None
    cats: dict[str, CategoryPolicy] = {}
    codes: dict[str, str] = {}
    for name, raw in doc["categories"].items():
        if not isinstance(raw, dict):
            raise PolicyError(f"policy {path}: categories.{name}: expected a mapping")
        try:
            c = CategoryPolicy.model_validate(raw)
        except ValidationError as e:
            err = e.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            where = f"categories.{name}: {loc}: " if loc else f"categories.{name}: "
            raise PolicyError(f"policy {path}: {where}{err['msg'].removeprefix('Value error, ')}") from None
        if c.service_code in codes:
            raise PolicyError(
                f"policy {path}: categories.{name}: service_code: {c.service_code!r} "
                f"already used by {codes[c.service_code]}"
            )
        codes[c.service_code] = name
        cats[str(name)] = c
    return Policy(cats, float(factor), calendar or WorkCalendar(), operations)

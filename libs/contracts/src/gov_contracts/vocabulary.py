"""The words every service and event shares: area ids and their levels,
severities, the local time zone, and their Chinese labels (one table).

An area id is the dotted path of the area tree, root first:
`changping` (town) → `changping.kongjiafan` (village or community) →
`changping.kongjiafan.g03` (grid). The same string is an ltree path in SQL.
"""

from __future__ import annotations

from enum import Enum
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")  # China Standard Time: the town's calendar, days and weeks
LOCAL_TZ_NAME = "Asia/Shanghai"


class Level(str, Enum):  # noqa: UP042  (StrEnum would change str() of a member)
    """Handling levels, lowest first: a case climbs them when escalated."""

    grid = "grid"
    village = "village"
    town = "town"
    county = "county"

    @property
    def rank(self) -> int:
        return LEVELS.index(self)

    def up(self) -> Level | None:
        i = self.rank
        return LEVELS[i + 1] if i + 1 < len(LEVELS) else None

    @property
    def label(self) -> str:
        return LEVEL_LABEL[self.value]


LEVELS: tuple[Level, ...] = (Level.grid, Level.village, Level.town, Level.county)


class Severity(str, Enum):  # noqa: UP042  (StrEnum would change str() of a member)
    """How serious a case is, in the four grades of China's emergency classification."""

    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"

    @property
    def label(self) -> str:
        return SEVERITY_LABEL[self.value]


# the one table of Chinese labels: 一般/较大/重大/特别重大 is the national four-grade scale
SEVERITY_LABEL = {"low": "一般", "medium": "较大", "high": "重大", "critical": "特别重大"}
LEVEL_LABEL = {"grid": "网格", "village": "村(社区)", "town": "镇", "county": "县"}


def area_chain(area_id: str) -> list[str]:
    """The area and every area above it, nearest first:
    `changping.kongjiafan.g03` → [`changping.kongjiafan.g03`, `changping.kongjiafan`, `changping`]."""
    parts = area_id.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


def area_at_depth(area_id: str, depth: int) -> str:
    """The area containing `area_id` at `depth` (1 = the town, 2 = its village, 3 = the grid)."""
    return ".".join(area_id.split(".")[:depth])


def parent_area(area_id: str) -> str | None:
    head, dot, _ = area_id.rpartition(".")
    return head if dot else None


def area_depth(area_id: str) -> int:
    return area_id.count(".") + 1


def is_within(area_id: str, scope: str) -> bool:
    """True when `area_id` is `scope` or lies under it (ltree's `<@`)."""
    return area_id == scope or area_id.startswith(scope + ".")

"""Rules of the volunteer registry, pure: what a registration, a leave period or
a pairing must satisfy, and the rejections when they do not."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gov_contracts.errors import Conflict, InvalidInput


@dataclass
class NewVolunteer:
    name: str
    roles: list[str]
    home_grid: str
    skills: list[str]
    availability: list[dict[str, Any]]
    phone: str | None = None
    party_branch: str | None = None
    max_concurrent: int = 2
    active: bool = True
    account_sub: str | None = None
    external_id: str | None = None


class AlreadyRegistered(Conflict):
    """An account_sub or external_id another volunteer holds (409, naming the field like a 422)."""

    def __init__(self, field: str):
        self.field, self.message = field, "already registered"
        super().__init__(
            f"{field}: {self.message}", title="Invalid request", errors=[{"field": field, "message": self.message}]
        )


def check_grid(field: str, grid_id: str, kind: str | None) -> None:
    """`kind` is what the area tree says `grid_id` is (None: it does not know it)."""
    if kind != "grid":
        raise InvalidInput(field, f"{grid_id!r} is not a known grid")


def check_leave(starts: datetime, ends: datetime) -> None:
    if ends <= starts:
        raise InvalidInput("body.ends_at", "must be after starts_at")


AREA_FILTER = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,2}$")  # the town, a village or a grid


def check_area_filter(area: str | None) -> str | None:
    """An `area` query filter must name an area of the town's tree (up to grid depth)."""
    if area is not None and not AREA_FILTER.match(area):
        raise InvalidInput("query.area", "not an area id like changping.kongjiafan")
    return area

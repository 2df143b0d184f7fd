"""Shared input types of the HTTP edge: values every service can store and
compute with, so that a bad one is a 4xx naming its field, never a 500 from
PostgreSQL or from Python's date arithmetic.

- `AreaId`: labels of `A-Za-z0-9_-`, at most 64 characters each, joined by
  dots, at most 255 in all. Always a valid ltree (PostgreSQL 16 and later
  take labels of letters, digits, `_` and `-` up to 1,000 characters).
- `BoundedDatetime`, `BoundedDate`: years 1900 to 2100. Python cannot shift
  0001-01-01T00:00+14:00 to UTC nor add a week to 9999-12-31.
- No NUL character (U+0000) in any string of a request (body, query, path):
  PostgreSQL text cannot hold one. `reject_nul` checks them all; service.py
  installs it on every route.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Request
from pydantic import AfterValidator, Field

from govkit.problems import Problem

AREA_LABEL_MAX = 64
AREA_ID_MAX = 255
AREA_ID_PATTERN = rf"^[A-Za-z0-9_-]{{1,{AREA_LABEL_MAX}}}(\.[A-Za-z0-9_-]{{1,{AREA_LABEL_MAX}}})*$"
YEAR_MIN, YEAR_MAX = 1900, 2100

AreaId = Annotated[
    str,
    Field(
        pattern=AREA_ID_PATTERN,
        max_length=AREA_ID_MAX,
        examples=["changping.kongjiafan"],
        description=f"area id: labels of A-Za-z0-9_- joined by dots, at most {AREA_ID_MAX} characters",
    ),
]


def year_in_range(value: date | datetime) -> bool:
    return YEAR_MIN <= value.year <= YEAR_MAX


_Day = TypeVar("_Day", date, datetime)


def _bounded(value: _Day) -> _Day:
    if not year_in_range(value):
        raise ValueError(f"year {value.year} is outside {YEAR_MIN} to {YEAR_MAX}")
    return value


BoundedDatetime = Annotated[datetime, AfterValidator(_bounded)]
BoundedDate = Annotated[date, AfterValidator(_bounded)]


def nul_at(value: Any, where: str) -> str | None:
    """The field (`body.parties.0.name`) of the first string holding a NUL, or None."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    if isinstance(value, dict):
        for k, v in value.items():
            found = nul_at(k, where) or nul_at(v, f"{where}.{k}")
            if found:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = nul_at(v, f"{where}.{i}")
            if found:
                return found
    return None


def nul_problem(field: str) -> Problem:
    message = "contains a NUL character (U+0000)"
    return Problem(422, "Invalid request", f"{field}: {message}", errors=[{"field": field, "message": message}])


async def reject_nul(request: Request) -> None:
    """An app-wide dependency: runs after routing (so it can name path parameters) and before the endpoint."""
    for name, value in request.path_params.items():
        if isinstance(value, str) and "\x00" in value:
            raise nul_problem(f"path.{name}")
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise nul_problem(f"query.{name}")
    # JSON bodies only: FastAPI has read (and cached) them already; a JSON text spells NUL as \u0000
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if getattr(request.scope.get("route"), "body_field", None) is None or (media and "json" not in media):
        return
    body = await request.body()
    if b"\\u0000" not in body:
        return
    try:
        parsed = json.loads(body)
    except ValueError:
        return  # not JSON: the route's own validation answers
    field = nul_at(parsed, "body")
    if field:
        raise nul_problem(field)

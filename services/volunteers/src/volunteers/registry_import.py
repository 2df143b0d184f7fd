"""CSV bulk import of volunteers (批量导入).

Parsing and validation are pure (`parse_csv`, `parse_row`, `parse_availability`);
`import_rows` writes the good rows, each in its own savepoint, so a bad row is
reported by line and field and rejects nothing else.

Re-importing a row whose external_id is registered already changes nothing and
reports it as "exists" (idempotent, never an update: the registry is the source
of truth once a volunteer is in it; a changed spreadsheet does not overwrite it).

File format (UTF-8, with or without BOM; header line first, columns in any order):

    external_id,name,phone,roles,party_branch,home_grid,skills,availability,max_concurrent,account_sub,active

roles and skills are separated by '|'; availability is `DAYS@HH:MM-HH:MM` entries
separated by ';', DAYS a weekday (0 = Monday) or a range, comma-separated, e.g.
"0-4@08:00-18:00;5@09:00-12:00".
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import asyncpg

from gov_contracts.errors import InvalidInput
from govkit.auth import Principal
from govkit.inputs import AREA_ID_MAX
from volunteers import queries, registry
from volunteers.config import ROLES, SKILLS
from volunteers.context import Connection, Context, fetch_existing
from volunteers.domain.registry import AlreadyRegistered, NewVolunteer

COLUMNS = (
    "external_id",
    "name",
    "phone",
    "roles",
    "party_branch",
    "home_grid",
    "skills",
    "availability",
    "max_concurrent",
    "account_sub",
    "active",
)
REQUIRED_COLUMNS = ("external_id", "name", "roles", "home_grid")
MAX_ROWS = 5000
MAX_BYTES = 2 * 1024 * 1024
MAX_WINDOWS = 50

GRID_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
PHONE_RE = re.compile(r"^\+?[0-9 -]{7,20}$")
TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})$")
TRUE = frozenset({"true", "1", "yes", "y", "是"})
FALSE = frozenset({"false", "0", "no", "n", "否"})


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str

    def as_dict(self) -> dict:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass
class ParsedRow:
    line: int
    volunteer: NewVolunteer | None  # None when the row has errors
    errors: list[RowError] = field(default_factory=list)


class FileError(Exception):
    """The file as a whole is refused (too large, not UTF-8, bad header); `status` is the HTTP status the
    import route answers (api/import_routes.py)."""

    def __init__(self, status: int, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.status, self.field, self.message = status, field, message


# -- single fields ------------------------------------------------------------------------------------------------


def _hhmm(text: str) -> str:
    m = TIME_RE.match(text.strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError(f"{text.strip()!r} is not a time HH:MM (00:00 to 23:59)")
    return f"{int(m.group(1)):02d}:{m.group(2)}"


def _weekdays(text: str) -> list[int]:
    days: list[int] = []
    for part in text.split(","):
        part = part.strip()
        a, sep, b = part.partition("-")
        try:
            lo, hi = int(a), int(b) if sep else int(a)
        except ValueError:
            raise ValueError(f"{part!r} is not a weekday (0 = Monday … 6 = Sunday) or a range like 0-4") from None
        if not (0 <= lo <= 6 and 0 <= hi <= 6):
            raise ValueError(f"weekday {part!r} is outside 0 (Monday) to 6 (Sunday)")
        if hi < lo:
            raise ValueError(f"weekday range {part!r} runs backwards")
        days.extend(range(lo, hi + 1))
    return days


def parse_availability(text: str) -> list[dict]:
    """ "0-4@08:00-18:00;5@09:00-12:00" -> [{"weekday": 0, "start": "08:00", "end": "18:00"}, ...]."""
    windows: set[tuple[int, str, str]] = set()
    for entry in text.split(";"):
        entry = entry.strip()
        if not entry:
            continue
        days, at, span = entry.partition("@")
        if not at:
            raise ValueError(f"{entry!r}: write DAYS@HH:MM-HH:MM, e.g. 0-4@08:00-18:00")
        start, dash, end = span.partition("-")
        if not dash:
            raise ValueError(f"{entry!r}: the time span needs a start and an end, e.g. 08:00-18:00")
        start, end = _hhmm(start), _hhmm(end)
        if end <= start:
            raise ValueError(f"{entry!r}: end must be after start")
        for d in _weekdays(days):
            windows.add((d, start, end))
    if len(windows) > MAX_WINDOWS:
        raise ValueError(f"{len(windows)} windows; at most {MAX_WINDOWS}")
    return [{"weekday": d, "start": s, "end": e} for d, s, e in sorted(windows)]


def _choices(text: str, allowed: tuple[str, ...], what: str) -> list[str]:
    out: list[str] = []
    for v in (x.strip() for x in text.split("|")):
        if not v:
            continue
        if v not in allowed:
            raise ValueError(f"unknown {what} {v!r}; use {', '.join(allowed)}")
        if v not in out:
            out.append(v)
    return out


def _bool(text: str) -> bool:
    t = text.strip().lower()
    if t == "" or t in TRUE:
        return True
    if t in FALSE:
        return False
    raise ValueError(f"{text!r} is not true or false")


def _text(value: str, limit: int, *, required: bool) -> str | None:
    v = value.strip()
    if not v:
        if required:
            raise ValueError("required")
        return None
    if len(v) > limit:
        raise ValueError(f"longer than {limit} characters")
    return v


def _phone(v: str) -> str | None:
    v = v.strip()
    if v and not PHONE_RE.match(v):
        raise ValueError(f"{v!r} is not a phone number")
    return v or None


def _grid(v: str) -> str:
    v = v.strip()
    if not v:
        raise ValueError("required")
    if not GRID_RE.match(v) or len(v) > AREA_ID_MAX:
        raise ValueError(f"{v!r} is not a grid id like changping.kongjiafan.g03")
    return v


def _roles(v: str) -> list[str]:
    r = _choices(v, ROLES, "role")
    if not r:
        raise ValueError("required: at least one role, separated by '|'")
    return r


def _max_concurrent(v: str) -> int:
    v = v.strip()
    if not v:
        return 2
    try:
        n = int(v)
    except ValueError:
        raise ValueError(f"{v!r} is not a whole number") from None
    if not 1 <= n <= 20:
        raise ValueError(f"{n} is outside 1 to 20")
    return n


def parse_row(line: int, rec: dict[str, str]) -> ParsedRow:
    """Validate one record (column -> raw text); every bad field is reported, not just the first."""
    errors: list[RowError] = []
    out: dict = {}

    def take(name: str, fn: Callable[[str], object]) -> None:
        if "\x00" in (rec.get(name) or ""):  # PostgreSQL text cannot hold it
            errors.append(RowError(line, name, "contains a NUL character (U+0000)"))
            return
        try:
            out[name] = fn(rec.get(name) or "")
        except ValueError as e:
            errors.append(RowError(line, name, str(e)))

    take("external_id", lambda v: _text(v, 100, required=True))
    take("name", lambda v: _text(v, 50, required=True))
    take("phone", _phone)
    take("roles", _roles)
    take("party_branch", lambda v: _text(v, 100, required=False))
    take("home_grid", _grid)
    take("skills", lambda v: _choices(v, SKILLS, "skill"))
    take("availability", parse_availability)
    take("max_concurrent", _max_concurrent)
    take("account_sub", lambda v: _text(v, 100, required=False))
    take("active", _bool)
    if errors:
        return ParsedRow(line, None, errors)
    return ParsedRow(line, NewVolunteer(**out))


def _header(reader: Iterator[list[str]]) -> list[str]:
    """The column names of line 1, checked."""
    header = next(reader, None)
    if header is None or not any(h.strip() for h in header):
        raise FileError(422, "header", f"the file is empty; line 1 names the columns: {','.join(COLUMNS)}")
    names = [h.strip().lower() for h in header]
    for n in names:
        if n not in COLUMNS:
            raise FileError(422, "header", f"unknown column {n!r}; columns are {','.join(COLUMNS)}")
        if names.count(n) > 1:
            raise FileError(422, "header", f"column {n!r} appears twice")
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise FileError(422, "header", f"missing column(s) {', '.join(missing)}")
    return names


def _no_repeats(row: ParsedRow, first_seen: dict[tuple[str, str], int]) -> None:
    """An external_id or account_sub repeating an earlier line is this row's error."""
    if row.volunteer is None:
        return
    for key in ("external_id", "account_sub"):
        value = getattr(row.volunteer, key)
        if value is None:
            continue
        if (key, value) in first_seen:
            row.errors.append(RowError(row.line, key, f"{value!r} repeats line {first_seen[(key, value)]}"))
        else:
            first_seen[(key, value)] = row.line
    if row.errors:
        row.volunteer = None


def parse_csv(data: bytes) -> list[ParsedRow]:
    """All data rows of the file with their line numbers (the header is line 1); raises FileError for the file."""
    if len(data) > MAX_BYTES:
        raise FileError(413, "body", f"{len(data)} bytes; at most {MAX_BYTES} (2 MiB) per file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise FileError(422, "body", f"not UTF-8 (byte {e.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        names = _header(reader)
        rows: list[ParsedRow] = []
        first_seen: dict[tuple[str, str], int] = {}
        while True:
            line = reader.line_num + 1
            cells = next(reader, None)
            if cells is None:
                break
            if not any(c.strip() for c in cells):
                continue  # blank line
            if len(rows) == MAX_ROWS:
                raise FileError(413, "body", f"more than {MAX_ROWS} rows; split the file")
            if len(cells) > len(names):
                rows.append(
                    ParsedRow(
                        line,
                        None,
                        [RowError(line, "row", f"{len(cells)} values but the header has {len(names)} columns")],
                    )
                )
                continue
            row = parse_row(line, dict(zip(names, cells, strict=False)))  # short rows: the missing cells are empty
            _no_repeats(row, first_seen)
            rows.append(row)
    except csv.Error as e:
        raise FileError(422, "body", f"line {reader.line_num}: not valid CSV ({e})") from None
    return rows


# -- writing ------------------------------------------------------------------------------------------------------


class _Report:
    """The import's answer: counts, the errors by line and field, and every row's outcome."""

    def __init__(self) -> None:
        self.body: dict = {"created": 0, "skipped": 0, "failed": 0, "errors": [], "rows": []}

    def failed(self, line: int, errs: list[RowError]) -> None:
        self.body["failed"] += 1
        self.body["errors"].extend(e.as_dict() for e in errs)
        self.body["rows"].append({"line": line, "status": "error"})

    def created(self, line: int, external_id: str | None, row: asyncpg.Record) -> None:
        self.body["created"] += 1
        self.body["rows"].append({"line": line, "status": "created", "id": str(row["id"]), "external_id": external_id})

    def exists(self, line: int, external_id: str | None, visible_id: str | None) -> None:
        self.body["skipped"] += 1
        self.body["rows"].append({"line": line, "status": "exists", "external_id": external_id, "id": visible_id})


async def _insert(
    con: Connection, ctx: Context, line: int, v: NewVolunteer
) -> tuple[asyncpg.Record | None, asyncpg.Record | None, list[RowError]]:
    """(created, existing, errors): the row inserted in its own savepoint; the row registered meanwhile by a
    concurrent import of the same external_id; or why it was refused."""
    try:
        async with con.transaction():  # savepoint: a failing row leaves the others alone
            return await registry.register_volunteer(con, ctx, v, field_prefix="row"), None, []
    except (InvalidInput, AlreadyRegistered) as e:
        field = e.field.removeprefix("row.")
        if isinstance(e, AlreadyRegistered) and field == "external_id":  # a concurrent import got there first
            missing = f"no volunteer {v.external_id}"
            return (
                None,
                await fetch_existing(con, queries.GET_VOLUNTEER_BY_EXTERNAL, v.external_id, missing=missing),
                [],
            )
        return None, None, [RowError(line, field, e.message)]
    except asyncpg.PostgresError as e:  # a constraint the parser did not foresee
        return None, None, [RowError(line, "row", f"refused by the database: {e.__class__.__name__}")]


async def import_rows(ctx: Context, rows: list[ParsedRow], principal: Principal) -> dict:
    """Insert the good rows, each in its own savepoint; the report lists every row."""
    report = _Report()
    async with ctx.writing() as con:
        ids = [r.volunteer.external_id for r in rows if r.volunteer is not None]
        existing = {r["external_id"]: r for r in await con.fetch(queries.VOLUNTEERS_BY_EXTERNAL_IDS, ids)}
        for row in rows:
            v = row.volunteer
            if v is None:
                report.failed(row.line, row.errors)
                continue
            if not principal.covers(v.home_grid):
                report.failed(row.line, [RowError(row.line, "home_grid", f"{v.home_grid} is outside your area scope")])
                continue
            old = existing.get(v.external_id)
            if old is None:
                new, old, errors = await _insert(con, ctx, row.line, v)
                if errors:
                    report.failed(row.line, errors)
                    continue
                if new is not None:
                    existing[v.external_id] = new
                    report.created(row.line, v.external_id, new)
                    continue
            assert old is not None  # _insert answers the new row, the existing one or errors
            report.exists(row.line, v.external_id, str(old["id"]) if principal.covers(old["home_grid"]) else None)
    return report.body

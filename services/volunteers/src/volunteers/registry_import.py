"""Bulk import of volunteers (批量导入): the rows of a CSV file or an XLSX sheet checked and written.

Parsing and validation are pure (`parse_csv`, `parse_table`, `parse_row`, `parse_availability`);
`import_rows` writes the good rows, each in its own savepoint, so a bad row is reported by line and field and
rejects nothing else. Reading the file (CSV in UTF-8 or GB18030, XLSX) is import_formats.py; the Chinese
headers, role, skill and grid names are import_labels.py.

Re-importing a row whose external_id is registered already changes nothing and
reports it as "exists" (idempotent, never an update: the registry is the source
of truth once a volunteer is in it; a changed spreadsheet does not overwrite it).

Columns (header line first, in any order; English names or the Chinese ones of import_labels.py):

    external_id,name,phone,roles,party_branch,home_grid,skills,availability,max_concurrent,account_sub,active

and `is_party_member` (是否党员: 是 adds the role party_member). roles and skills are separated by '|' (or
、 , ; /), by code or Chinese name; home_grid is a grid id or the grid's name in the area tree; availability
is `DAYS@HH:MM-HH:MM` entries separated by ';', DAYS a weekday (0 = Monday) or a range, comma-separated, e.g.
"0-4@08:00-18:00;5@09:00-12:00".

Every message exists in English and Chinese: the report is in Chinese when the file's headers are.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import asyncpg

from gov_contracts.errors import InvalidInput
from govkit.auth import Principal
from govkit.inputs import AREA_ID_MAX
from volunteers import import_formats, import_labels, queries, registry
from volunteers.config import ROLES, SKILLS
from volunteers.context import Connection, Context, fetch_existing
from volunteers.domain.registry import AlreadyRegistered, NewVolunteer
from volunteers.import_formats import MAX_BYTES as MAX_BYTES  # the limit the route applies while reading
from volunteers.import_formats import FileError, Lang

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
EXTRA_COLUMNS = ("is_party_member",)  # not stored as such: 是 adds the role party_member
REQUIRED_COLUMNS = ("external_id", "name", "roles", "home_grid")
MAX_ROWS = 5000
MAX_WINDOWS = 50
EXAMPLE_PREFIXES = ("示例", "example")  # the template's example row: skipped, never registered

GRID_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
PHONE_RE = re.compile(r"^\+?[0-9 -]{7,20}$")
TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})$")
TRUE = frozenset({"true", "1", "yes", "y", "是"})
FALSE = frozenset({"false", "0", "no", "n", "否"})
NORMALIZED = frozenset({"phone", "roles", "home_grid", "skills", "availability", "max_concurrent", "active"})


class Invalid(ValueError):
    """A value refused, in English (the exception's text) and in Chinese."""

    def __init__(self, en: str, zh: str):
        super().__init__(en)
        self.zh = zh


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str
    zh: str = ""

    def as_dict(self, lang: Lang = "en", column: str | None = None) -> dict:
        out: dict = {
            "line": self.line,
            "field": self.field,
            "message": self.zh if lang == "zh" and self.zh else self.message,
        }
        if column and column != self.field:  # the header as written, when it is not the column's code
            out["column"] = column
        return out


@dataclass
class ParsedRow:
    line: int
    volunteer: NewVolunteer | None  # None when the row has errors (or is the template's example)
    errors: list[RowError] = field(default_factory=list)
    example: bool = False


@dataclass
class ParsedFile:
    """The rows of a file, the language its headers speak and each column's header as written."""

    rows: list[ParsedRow]
    lang: Lang = "en"
    headers: dict[str, str] = field(default_factory=dict)


# -- single fields ------------------------------------------------------------------------------------------------


def _hhmm(text: str) -> str:
    m = TIME_RE.match(text.strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise Invalid(
            f"{text.strip()!r} is not a time HH:MM (00:00 to 23:59)",
            f"“{text.strip()}”不是 HH:MM 格式的时间（00:00 至 23:59）",
        )
    return f"{int(m.group(1)):02d}:{m.group(2)}"


def _weekdays(text: str) -> list[int]:
    days: list[int] = []
    for part in text.split(","):
        part = part.strip()
        a, sep, b = part.partition("-")
        try:
            lo, hi = int(a), int(b) if sep else int(a)
        except ValueError:
            raise Invalid(
                f"{part!r} is not a weekday (0 = Monday … 6 = Sunday) or a range like 0-4",
                f"“{part}”不是星期（0 = 周一 … 6 = 周日）或 0-4 这样的范围",
            ) from None
        if not (0 <= lo <= 6 and 0 <= hi <= 6):
            raise Invalid(
                f"weekday {part!r} is outside 0 (Monday) to 6 (Sunday)", f"星期“{part}”超出 0（周一）至 6（周日）"
            )
        if hi < lo:
            raise Invalid(f"weekday range {part!r} runs backwards", f"星期范围“{part}”前大后小")
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
            raise Invalid(
                f"{entry!r}: write DAYS@HH:MM-HH:MM, e.g. 0-4@08:00-18:00",
                f"“{entry}”：请写成 星期@HH:MM-HH:MM，例如 0-4@08:00-18:00（0 = 周一）",
            )
        start, dash, end = span.partition("-")
        if not dash:
            raise Invalid(
                f"{entry!r}: the time span needs a start and an end, e.g. 08:00-18:00",
                f"“{entry}”：时间段需要开始和结束，例如 08:00-18:00",
            )
        start, end = _hhmm(start), _hhmm(end)
        if end <= start:
            raise Invalid(f"{entry!r}: end must be after start", f"“{entry}”：结束时间须晚于开始时间")
        for d in _weekdays(days):
            windows.add((d, start, end))
    if len(windows) > MAX_WINDOWS:
        raise Invalid(f"{len(windows)} windows; at most {MAX_WINDOWS}", f"{len(windows)} 个时段，最多 {MAX_WINDOWS} 个")
    return [{"weekday": d, "start": s, "end": e} for d, s, e in sorted(windows)]


def _choices(text: str, allowed: tuple[str, ...], what: str) -> list[str]:
    """Codes or Chinese names, separated by | 、 , ; / (import_labels.py)."""
    names = import_labels.ROLE_NAMES if what == "role" else import_labels.SKILL_NAMES
    index = import_labels.ROLE_INDEX if what == "role" else import_labels.SKILL_INDEX
    out: list[str] = []
    for v in import_labels.codes(text, index):
        if v not in allowed:
            raise Invalid(
                f"unknown {what} {v!r}; use {', '.join(allowed)}",
                f"未知的{'身份' if what == 'role' else '技能'}“{v}”；可填：{'、'.join(names[c][0] for c in allowed)}",
            )
        out.append(v)
    return out


def _bool(text: str) -> bool:
    t = text.strip().lower()
    if t == "" or t in TRUE:
        return True
    if t in FALSE:
        return False
    raise Invalid(f"{text!r} is not true or false", f"“{text}”不是“是”或“否”")


def _party_flag(text: str) -> bool | None:
    """是否党员: None when empty."""
    return _bool(text) if text.strip() else None


def _text(value: str, limit: int, *, required: bool) -> str | None:
    v = value.strip()
    if not v:
        if required:
            raise Invalid("required", "必填")
        return None
    if len(v) > limit:
        raise Invalid(f"longer than {limit} characters", f"超过 {limit} 个字符")
    return v


def _phone(v: str) -> str | None:
    v = v.strip()
    if v and not PHONE_RE.match(v):
        raise Invalid(f"{v!r} is not a phone number", f"“{v}”不是电话号码")
    return v or None


def _grid(v: str, grids: Mapping[str, str | None] | None = None) -> str:
    """A grid id, or (given the area tree's grid names, import_labels.grid_index) a grid's name."""
    v = v.strip()
    if not v:
        raise Invalid("required", "必填")
    if GRID_RE.match(v) and len(v) <= AREA_ID_MAX:
        return v
    if grids is not None and import_labels.CJK.search(v):
        key = import_labels.grid_name_key(v)
        if key not in grids:
            raise Invalid(f"no grid is named {v!r}", f"没有名为“{v}”的网格；请填写区域树中的网格名称或网格编号")
        grid_id = grids[key]
        if grid_id is None:
            raise Invalid(f"several grids are named {v!r}; write the grid id", f"有多个网格名为“{v}”，请填写网格编号")
        return grid_id
    raise Invalid(
        f"{v!r} is not a grid id like changping.kongjiafan.g03",
        f"“{v}”不是网格编号（如 changping.kongjiafan.g03）或网格名称（如 孔家畈村第3网格）",
    )


def _roles(v: str) -> list[str]:
    r = _choices(v, ROLES, "role")
    if not r:
        raise Invalid("required: at least one role, separated by '|'", "必填：至少一种身份，多个用“、”分隔")
    return r


def _max_concurrent(v: str) -> int:
    v = v.strip()
    if not v:
        return 2
    try:
        n = int(v)
    except ValueError:
        raise Invalid(f"{v!r} is not a whole number", f"“{v}”不是整数") from None
    if not 1 <= n <= 20:
        raise Invalid(f"{n} is outside 1 to 20", f"{n} 超出 1 至 20")
    return n


def _with_party_flag(rec: Mapping[str, str]) -> str:
    """The roles cell, with party_member added when 是否党员 says 是 (a wrong flag is is_party_member's error)."""
    roles = rec.get("roles") or ""
    try:
        flag = _party_flag(rec.get("is_party_member") or "")
    except Invalid:
        return roles
    return f"{roles}|party_member" if flag else roles


def _party_consistent(rec: Mapping[str, str]) -> bool | None:
    flag = _party_flag(rec.get("is_party_member") or "")
    if flag is False and "party_member" in import_labels.codes(rec.get("roles") or "", import_labels.ROLE_INDEX):
        raise Invalid("says no, but roles include party_member", "填了“否”，但身份中有党员")
    return flag


def parse_row(line: int, rec: Mapping[str, str], grids: Mapping[str, str | None] | None = None) -> ParsedRow:
    """Validate one record (column -> raw text); every bad field is reported, not just the first. `grids` (name
    key -> grid id, import_labels.grid_index) lets home_grid name a grid."""
    errors: list[RowError] = []
    out: dict = {}

    def take(name: str, fn: Callable[[str], object], raw: str | None = None) -> None:
        value = (rec.get(name) or "") if raw is None else raw
        if "\x00" in value:  # PostgreSQL text cannot hold it
            errors.append(RowError(line, name, "contains a NUL character (U+0000)", "含有 NUL 字符（U+0000）"))
            return
        if name in NORMALIZED:  # full-width digits, colons and commas as typed with a Chinese input method
            value = unicodedata.normalize("NFKC", value)
        try:
            out[name] = fn(value)
        except Invalid as e:
            errors.append(RowError(line, name, str(e), e.zh))
        except ValueError as e:
            errors.append(RowError(line, name, str(e)))

    take("external_id", lambda v: _text(v, 100, required=True))
    take("name", lambda v: _text(v, 50, required=True))
    take("phone", _phone)
    take("roles", _roles, _with_party_flag(rec))
    if rec.get("is_party_member"):
        take("is_party_member", lambda _: _party_consistent(rec))
        out.pop("is_party_member", None)
    take("party_branch", lambda v: _text(v, 100, required=False))
    take("home_grid", lambda v: _grid(v, grids))
    take("skills", lambda v: _choices(v, SKILLS, "skill"))
    take("availability", parse_availability)
    take("max_concurrent", _max_concurrent)
    take("account_sub", lambda v: _text(v, 100, required=False))
    take("active", _bool)
    if errors:
        return ParsedRow(line, None, errors)
    return ParsedRow(line, NewVolunteer(**out))


def is_example(rec: Mapping[str, str]) -> bool:
    """The template's example row (编号 示例…), which an office may leave in the sheet it fills."""
    return (rec.get("external_id") or "").strip().lower().startswith(EXAMPLE_PREFIXES)


def _chinese_headers(columns: Iterable[str]) -> str:
    return "、".join(import_labels.COLUMN_HEADERS[c][0] for c in columns)


def _header(header: list[str], lang: Lang) -> list[str]:
    """The column codes of the header row, checked."""
    if not any(h.strip() for h in header):
        raise FileError(
            422,
            "header",
            f"the file is empty; line 1 names the columns: {','.join(COLUMNS)}",
            f"文件是空的；第 1 行是表头：{_chinese_headers(COLUMNS)}",
        )
    names: list[str] = []
    for raw in header:
        code = import_labels.column_of(raw)
        if code is None:
            shown = import_labels.header_text(raw) if lang == "en" else raw.strip()
            raise FileError(
                422,
                "header",
                f"unknown column {shown!r}; columns are {','.join(COLUMNS)}",
                f"未知的列“{raw.strip()}”；可用的列：{_chinese_headers((*COLUMNS, *EXTRA_COLUMNS))}",
            )
        if code in names:
            raise FileError(422, "header", f"column {code!r} appears twice", f"列“{raw.strip()}”出现了两次")
        names.append(code)
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise FileError(
            422,
            "header",
            f"missing column(s) {', '.join(missing)}",
            f"缺少列：{_chinese_headers(missing)}",
        )
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
            n = first_seen[(key, value)]
            row.errors.append(RowError(row.line, key, f"{value!r} repeats line {n}", f"“{value}”与第 {n} 行重复"))
        else:
            first_seen[(key, value)] = row.line
    if row.errors:
        row.volunteer = None


def parse_table(
    header: list[str], records: Iterable[tuple[int, list[str]]], grids: Mapping[str, str | None] | None = None
) -> ParsedFile:
    """The header's cells and the data rows as (line or sheet row number, cells): every non-blank row parsed;
    raises FileError for a bad header or more than MAX_ROWS rows."""
    lang: Lang = "zh" if import_labels.is_chinese(header) else "en"
    try:
        names = _header(header, lang)
    except FileError as e:
        e.lang = lang
        raise
    rows: list[ParsedRow] = []
    first_seen: dict[tuple[str, str], int] = {}
    for line, cells in records:
        if not any(c.strip() for c in cells):
            continue  # blank line
        if len(rows) == MAX_ROWS:
            too_many = FileError(
                413, "body", f"more than {MAX_ROWS} rows; split the file", f"超过 {MAX_ROWS} 行；请拆分成几个文件"
            )
            too_many.lang = lang
            raise too_many
        if len(cells) > len(names) and any(c.strip() for c in cells[len(names) :]):
            rows.append(
                ParsedRow(
                    line,
                    None,
                    [
                        RowError(
                            line,
                            "row",
                            f"{len(cells)} values but the header has {len(names)} columns",
                            f"本行有 {len(cells)} 个值，但表头只有 {len(names)} 列",
                        )
                    ],
                )
            )
            continue
        rec = dict(zip(names, cells, strict=False))  # short rows: the missing cells are empty
        if is_example(rec):
            rows.append(ParsedRow(line, None, example=True))
            continue
        row = parse_row(line, rec, grids)
        _no_repeats(row, first_seen)
        rows.append(row)
    return ParsedFile(
        rows,
        lang,
        {code: import_labels.HEADER_NOTE.sub("", raw).strip() for code, raw in zip(names, header, strict=True)},
    )


def parse_upload(
    data: bytes,
    kind: import_formats.Format,
    *,
    filename: str | None = None,
    grids: Mapping[str, str | None] | None = None,
) -> ParsedFile:
    """The rows of an uploaded file (CSV in UTF-8 or GB18030, or an XLSX workbook's first sheet); raises
    FileError for the file."""
    header, records = import_formats.read_table(data, kind, filename)
    return parse_table(header, records, grids)


def parse_csv(data: bytes, grids: Mapping[str, str | None] | None = None) -> list[ParsedRow]:
    """All data rows of a CSV file with their line numbers (the header is line 1); raises FileError for the file."""
    return parse_upload(data, import_formats.Format.CSV, grids=grids).rows


# -- writing ------------------------------------------------------------------------------------------------------

# the area tree's grids, with their village's name (the template lists them)
GRIDS = """
select g.id, g.name, coalesce(v.name, '') as village
from areas g left join areas v on v.id = g.parent_id
where g.kind = 'grid'
order by g.path
"""
# what the registry says, in Chinese (its messages are English)
_REFUSED_ZH = {"already registered": "已被登记"}


class _Report:
    """The import's answer: counts, the errors by line and field (in the file's language, with the column's
    header as written), and every row's outcome."""

    def __init__(self, lang: Lang, headers: Mapping[str, str]) -> None:
        self.lang, self.headers = lang, headers
        self.body: dict = {"created": 0, "skipped": 0, "failed": 0, "errors": [], "rows": []}

    def failed(self, line: int, errs: list[RowError]) -> None:
        self.body["failed"] += 1
        self.body["errors"].extend(e.as_dict(self.lang, self.headers.get(e.field)) for e in errs)
        self.body["rows"].append({"line": line, "status": "error"})

    def created(self, line: int, external_id: str | None, row: asyncpg.Record) -> None:
        self.body["created"] += 1
        self.body["rows"].append({"line": line, "status": "created", "id": str(row["id"]), "external_id": external_id})

    def exists(self, line: int, external_id: str | None, visible_id: str | None) -> None:
        self.body["skipped"] += 1
        self.body["rows"].append({"line": line, "status": "exists", "external_id": external_id, "id": visible_id})

    def example(self, line: int) -> None:
        self.body["skipped"] += 1
        self.body["rows"].append({"line": line, "status": "example"})


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
        zh = _REFUSED_ZH.get(e.message) or (f"“{v.home_grid}”不是区域树中的网格" if field == "home_grid" else "")
        return None, None, [RowError(line, field, e.message, zh)]
    except asyncpg.PostgresError as e:  # a constraint the parser did not foresee
        name = e.__class__.__name__
        return None, None, [RowError(line, "row", f"refused by the database: {name}", f"被数据库拒绝：{name}")]


async def import_rows(
    ctx: Context,
    rows: list[ParsedRow],
    principal: Principal,
    *,
    lang: Lang = "en",
    headers: Mapping[str, str] | None = None,
) -> dict:
    """Insert the good rows, each in its own savepoint; the report lists every row. `lang` and `headers` (column
    -> header as written) are the file's (ParsedFile)."""
    report = _Report(lang, headers or {})
    async with ctx.writing() as con:
        ids = [r.volunteer.external_id for r in rows if r.volunteer is not None]
        existing = {r["external_id"]: r for r in await con.fetch(queries.VOLUNTEERS_BY_EXTERNAL_IDS, ids)}
        for row in rows:
            v = row.volunteer
            if row.example:
                report.example(row.line)
                continue
            if v is None:
                report.failed(row.line, row.errors)
                continue
            if not principal.covers(v.home_grid):
                outside = RowError(
                    row.line,
                    "home_grid",
                    f"{v.home_grid} is outside your area scope",
                    f"{v.home_grid} 不在您的管辖范围内",
                )
                report.failed(row.line, [outside])
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


async def grid_names(ctx: Context) -> dict[str, str | None]:
    """The area tree's grids by name (import_labels.grid_index), for home_grid given as a name."""
    return import_labels.grid_index((r["id"], r["name"]) for r in await ctx.pool.fetch(GRIDS))

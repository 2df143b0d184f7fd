"""CSV files of the staff directory and the roster, as a town office keeps them: UTF-8 (with or without BOM) or
GBK, English or Chinese headers. A file applies whole or not at all; the first bad line is named."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from typing import Any

from gov_contracts.errors import InvalidInput
from notifications.directory import StaffEntry
from notifications.domain.routing import STAFF_ROLES

STAFF_HEADERS = {
    "sub": ("sub", "账号"),
    "name": ("name", "姓名"),
    "role": ("role", "角色"),
    "area_id": ("area_id", "区域", "区域编码"),
    "unit": ("unit", "单位", "部门"),
    "phone": ("phone", "手机", "电话"),
    "email": ("email", "邮箱"),
}
ROSTER_HEADERS = {"day": ("day", "date", "日期"), "area_id": ("area_id", "区域", "区域编码"), "sub": ("sub", "账号")}
ROLE_NAMES = {
    "网格员": "grid_manager",
    "村干部": "village_admin",
    "镇干部": "town_admin",
    "县干部": "county_admin",
    "部门": "department",
    "领导": "leader",
}
PHONE = re.compile(r"^1\d{10}$|^0\d{2,3}-?\d{7,8}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000


def decode(data: bytes) -> str:
    if len(data) > MAX_BYTES:
        raise InvalidInput("file", "larger than 2 MiB")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput("file", "neither UTF-8 nor GBK")


def _rows(
    text: str, headers: dict[str, tuple[str, ...]], required: tuple[str, ...]
) -> list[tuple[int, dict[str, str]]]:
    reader = csv.reader(io.StringIO(text))
    head = [h.strip() for h in next(reader, [])]
    columns: dict[str, int] = {}
    for field, names in headers.items():
        for i, h in enumerate(head):
            if h.lower() in names:
                columns[field] = i
    missing = [f for f in required if f not in columns]
    if missing:
        raise InvalidInput(f"file.{missing[0]}", f"no such column (header {' or '.join(headers[missing[0]])})")
    out = []
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        out.append((line, {f: (cells[i].strip() if i < len(cells) else "") for f, i in columns.items()}))
        if len(out) > MAX_ROWS:
            raise InvalidInput("file", f"more than {MAX_ROWS} rows")
    return out


def _bad(line: int, field: str, message: str) -> InvalidInput:
    return InvalidInput(f"file.line[{line}].{field}", message)


def staff(data: bytes) -> list[StaffEntry]:
    entries = []
    for line, r in _rows(decode(data), STAFF_HEADERS, ("sub", "name", "role", "area_id")):
        entries.append(_staff_entry(line, r))
    subs = [e.sub for e in entries]
    if len(set(subs)) != len(subs):
        dup = next(s for s in subs if subs.count(s) > 1)
        raise InvalidInput("file.sub", f"account {dup!r} appears twice")
    return entries


def _staff_entry(line: int, r: dict[str, Any]) -> StaffEntry:
    role = ROLE_NAMES.get(r["role"], r["role"])
    if role not in STAFF_ROLES:
        raise _bad(line, "role", f"{r['role']!r} is not one of {', '.join(STAFF_ROLES)}")
    for field in ("sub", "name", "area_id"):
        if not r[field] or len(r[field]) > 200:
            raise _bad(line, field, "required, at most 200 characters")
    phone, email = r.get("phone") or None, r.get("email") or None
    if phone and not PHONE.match(phone):
        raise _bad(line, "phone", "not a mobile (11 digits from 1) or landline number")
    if email and not EMAIL.match(email):
        raise _bad(line, "email", "not an e-mail address")
    return StaffEntry(r["sub"], r["name"], role, r["area_id"], r.get("unit") or None, phone, email)


def roster(data: bytes) -> list[tuple[date, str, list[str]]]:
    days: dict[tuple[date, str], list[str]] = {}
    for line, r in _rows(decode(data), ROSTER_HEADERS, ("day", "area_id", "sub")):
        try:
            day = date.fromisoformat(r["day"].replace("/", "-"))
        except ValueError:
            raise _bad(line, "day", "not a date such as 2026-12-01") from None
        if not r["sub"] or not r["area_id"]:
            raise _bad(line, "sub", "account and area are required")
        days.setdefault((day, r["area_id"]), []).append(r["sub"])
    return [(day, area, subs) for (day, area), subs in sorted(days.items())]

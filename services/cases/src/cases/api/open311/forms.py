"""What an Open311 client sends: the form-encoded report of `POST /requests` and the
filters of `GET /requests`, read and checked field by field. A bad field is a 400
whose description starts with the field's Open311 name."""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

from fastapi import Request
from starlette.exceptions import HTTPException

from cases.api.open311.errors import Open311Error, bad
from cases.api.open311.views import PUBLIC_STATUSES
from cases.api.open311.wire import GRID_HINT
from cases.domain.policy import Policy
from cases.public_requests import PublicFilter
from cases.service import NewCase
from gov_contracts.vocabulary import LOCAL_TZ, Severity
from govkit.inputs import AREA_ID_MAX, YEAR_MAX, YEAR_MIN, year_in_range

MAX_BODY = 64 * 1024
MAX_RESULTS = 1000
DEFAULT_WINDOW = timedelta(days=90)
SEVERITIES = [s.value for s in Severity]

GRID_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,2}$")
PHONE = re.compile(r"^\+?[0-9 -]{7,20}$")
CJK = re.compile(r"[\u3400-\u9fff]")

FORM_FIELDS = [
    "api_key",
    "jurisdiction_id",
    "service_code",
    "lat",
    "long",
    "address_string",
    "address_id",
    "email",
    "device_id",
    "account_id",
    "first_name",
    "last_name",
    "phone",
    "description",
    "media_url",
    "attribute[grid_id]",
    "attribute[severity]",
    "attribute[parties]",
]
FORM_EXAMPLE = {
    "api_key": "your-api-key",
    "service_code": "103",
    "lat": "31.7183",
    "long": "111.3508",
    "address_string": "孔家畈村三组后山",
    "description": "三组村民反映四组在争议山林内砍伐树木，双方多次发生口角，请求村里调处。",
    "first_name": "晓明",
    "last_name": "李",
    "phone": "13812341234",
    "attribute[grid_id]": "changping.kongjiafan.g03",
    "attribute[severity]": "medium",
    "attribute[parties]": "王某,,三组村民；赵某,,四组村民",
}


# -- the report (POST /requests) --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Media:
    """The `media` part of a multipart report, as sent (cases.attachments checks and strips it)."""

    filename: str | None
    data: bytes


async def read_form(request: Request, max_media_bytes: int = 0) -> tuple[dict[str, str], Media | None]:
    """The fields of the query string and the form (the form wins), stripped; UTF-8. Form-encoded: at most
    MAX_BODY; multipart/form-data (GeoReport v2's POST with media): the fields and one `media` file part of
    at most max_media_bytes (413 beyond)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    multipart = ctype == "multipart/form-data"
    if ctype not in ("", "application/x-www-form-urlencoded") and not multipart:
        raise Open311Error(
            400,
            "send the fields form-encoded (application/x-www-form-urlencoded), or as multipart/form-data "
            f"with a media part, not {ctype}",
        )
    limit = MAX_BODY + max_media_bytes if multipart else MAX_BODY
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            if multipart:
                raise Open311Error(413, f"media: larger than {max_media_bytes} bytes")
            raise Open311Error(400, f"request body larger than {MAX_BODY // 1024} KiB")
        chunks.append(chunk)
    body = b"".join(chunks)
    fields = dict(request.query_params.items())  # some clients send api_key etc. in the query
    media = None
    if multipart:
        form_fields, media = await _multipart(request, body, max_media_bytes)
        fields.update(form_fields)
    else:
        try:
            parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
        except UnicodeDecodeError:
            raise Open311Error(400, "the form must be UTF-8 encoded") from None
        except ValueError as e:
            raise Open311Error(400, f"malformed form: {e}") from None
        fields.update({k: v[0] for k, v in parsed.items()})
    for name, value in fields.items():
        if "\x00" in name or "\x00" in value:
            raise bad(name, "contains a NUL character (U+0000)")
    return {k: v.strip() for k, v in fields.items()}, media


async def _multipart(request: Request, body: bytes, max_media_bytes: int) -> tuple[dict[str, str], Media | None]:
    async def replay() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=200)
    except HTTPException as e:
        raise Open311Error(400, f"malformed multipart form: {e.detail}") from None
    fields: dict[str, str] = {}
    media = None
    try:
        for name, value in form.multi_items():
            if isinstance(value, str):
                fields.setdefault(name, value)
            elif name == "media":
                data = await value.read(max_media_bytes + 1)
                if len(data) > max_media_bytes:
                    raise Open311Error(413, f"media: larger than {max_media_bytes} bytes")
                media = Media(value.filename, data) if data else None
            else:
                raise bad(name, "the only file part is media")
    finally:
        await form.close()
    return fields, media


def api_key(fields: dict[str, str], accepted: frozenset[str]) -> str:
    key = fields.get("api_key")
    if not key:
        raise Open311Error(403, "api_key: required to create a service request")
    if key not in accepted:
        raise Open311Error(403, "api_key: not accepted; ask the jurisdiction for a key")
    return key


def api_key_sub(key: str) -> str:
    """A stable pseudonymous principal for an api key (the key itself is never stored)."""
    return "open311:" + hashlib.sha256(key.encode()).hexdigest()[:8]


def new_case(fields: dict[str, str], policy: Policy) -> NewCase:
    """The case the form reports, every field checked; a missing or bad one is a 400 naming it."""
    category = _category(fields.get("service_code"), policy)
    description = _description(fields.get("description", ""))
    lat, lon, address = _location(fields)
    grid_id = _grid_id(fields.get("attribute[grid_id]"), placed=lat is not None)
    severity = fields.get("attribute[severity]") or Severity.medium.value
    if severity not in SEVERITIES:
        raise bad("attribute[severity]", f"one of {', '.join(SEVERITIES)}")
    media_url = _media_url(fields)
    first, last = _optional(fields, "first_name", 25), _optional(fields, "last_name", 25)
    parties = _parties(fields.get("attribute[parties]")) if category.startswith("dispute.") else []
    return NewCase(
        category=category,
        title=" ".join(description.split())[:30],
        description=description,
        grid_id=grid_id,
        severity=severity,
        source="open311",
        address=address,
        lat=lat,
        lon=lon,
        reporter_name=reporter_name(first, last),
        reporter_phone=_phone(fields.get("phone")),
        parties=parties,
        attachments=[media_url] if media_url else [],
    )


def _category(code: str | None, policy: Policy) -> str:
    if not code:
        raise bad("service_code", "required; see services.json")
    category = policy.by_service_code(code)
    if category is None:
        raise bad("service_code", f"unknown service code {code!r}; see services.json")
    return category


def _description(text: str) -> str:
    if len(text) < 2:
        raise bad("description", "required (at least 2 characters)")
    if len(text) > 4000:
        raise bad("description", "at most 4000 characters")
    return text


def _location(fields: dict[str, str]) -> tuple[float | None, float | None, str | None]:
    lat, lon = _coordinate(fields, "lat", 90), _coordinate(fields, "long", 180)
    if (lat is None) != (lon is None):
        raise bad("lat" if lat is None else "long", "lat and long go together")
    address = _optional(fields, "address_string", 200)
    if lat is None and not address:
        raise bad("lat/long", "a location is required: lat and long, or address_string")
    return lat, lon, address


def _grid_id(raw: str | None, *, placed: bool) -> str | None:
    """The grid named; None when lat/long are given to place the request in the grid holding the point."""
    if not raw:
        if placed:
            return None
        raise bad(
            "attribute[grid_id]",
            "required without lat and long: the grid (网格) of the place, e.g. changping.kongjiafan.g03",
        )
    if not GRID_ID.match(raw) or len(raw) > AREA_ID_MAX:
        raise bad("attribute[grid_id]", f"{raw!r} is not a grid id ({GRID_HINT})")
    return raw


def _media_url(fields: dict[str, str]) -> str | None:
    url = _optional(fields, "media_url", 2000)
    if url and not re.match(r"^https?://[^\s/]+", url):
        raise bad("media_url", "an http(s) URL")
    return url


def _optional(fields: dict[str, str], name: str, max_len: int) -> str | None:
    value = fields.get(name) or None
    if value is not None and len(value) > max_len:
        raise bad(name, f"at most {max_len} characters")
    return value


def _coordinate(fields: dict[str, str], name: str, limit: float) -> float | None:
    raw = fields.get(name)
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise bad(name, f"not a number: {raw!r}") from None
    if not math.isfinite(value) or not -limit <= value <= limit:
        raise bad(name, f"must be between {-limit:g} and {limit:g}")
    return value


def _phone(raw: str | None) -> str | None:
    if not raw:
        return None
    value = re.sub(r"[().]", "", raw).strip()
    if not PHONE.match(value):
        raise bad("phone", "not a phone number (digits, spaces, '-', optional leading '+', 7-20 characters)")
    return value


def reporter_name(first: str | None, last: str | None) -> str | None:
    """Chinese names read family name first (欧阳 + 晓明); others "first last"."""
    if first and last and CJK.search(first) and CJK.search(last):
        return last + first
    return " ".join(p for p in (first, last) if p) or None


def _party(entry: str) -> dict[str, str] | None:
    bits = [b.strip() for b in re.split(r"[,，]", entry)]
    if not bits or not bits[0]:
        return None
    if len(bits) > 3 or len(bits[0]) > 50:
        raise bad("attribute[parties]", f"each party as 姓名,电话,身份 (name at most 50 characters): {entry.strip()!r}")
    party = {"name": bits[0]}
    if len(bits) > 1 and bits[1]:
        if not PHONE.match(bits[1]):
            raise bad("attribute[parties]", f"not a phone number: {bits[1]!r}")
        party["phone"] = bits[1]
    if len(bits) > 2 and bits[2]:
        party["role"] = bits[2][:30]
    return party


def _parties(raw: str | None) -> list[dict[str, str]]:
    if not raw:
        return []
    parties = [p for p in (_party(entry) for entry in re.split(r"[\n;；]+", raw)) if p is not None]
    if len(parties) > 20:
        raise bad("attribute[parties]", "at most 20 parties")
    return parties


# -- the filters of GET /requests ------------------------------------------------------------------------------------


def _list(raw: str | None) -> list[str]:
    return [p.strip() for p in (raw or "").split(",") if p.strip()]


def _date(name: str, raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        dt = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise bad(name, f"not an ISO 8601 date-time: {raw!r} (e.g. 2026-11-01T00:00:00+08:00)") from None
    if not year_in_range(dt):
        raise bad(name, f"year {dt.year} is outside {YEAR_MIN} to {YEAR_MAX}")
    return dt if dt.tzinfo else dt.replace(tzinfo=LOCAL_TZ)


def _date_range(start_date: str | None, end_date: str | None) -> tuple[datetime, datetime | None]:
    """At most DEFAULT_WINDOW: from/to the one date given, or the last DEFAULT_WINDOW."""
    start, end = _date("start_date", start_date), _date("end_date", end_date)
    if start and end:
        if end < start:
            raise bad("end_date", "before start_date")
        if end - start > DEFAULT_WINDOW:
            raise bad("end_date", "the range may span at most 90 days")
        return start, end
    if start:
        return start, start + DEFAULT_WINDOW
    if end:
        return end - DEFAULT_WINDOW, end
    return datetime.now(UTC) - DEFAULT_WINDOW, None


def _categories(service_code: str | None, policy: Policy) -> list[str]:
    codes = _list(service_code)
    categories = [policy.by_service_code(c) for c in codes]
    unknown = [code for code, category in zip(codes, categories, strict=True) if category is None]
    if unknown:
        raise bad("service_code", f"unknown service code(s) {', '.join(unknown)}; see services.json")
    return [c for c in categories if c is not None]


def _statuses(status: str | None) -> list[str]:
    wanted = set(_list(status))
    if wanted - set(PUBLIC_STATUSES):
        raise bad("status", "open, closed, or both comma-separated")
    return PUBLIC_STATUSES[wanted.pop()] if len(wanted) == 1 else []


def request_filter(
    policy: Policy,
    *,
    service_request_id: str | None,
    service_code: str | None,
    start_date: str | None,
    end_date: str | None,
    status: str | None,
) -> PublicFilter:
    """Case numbers override every other filter; else categories, dates (at most 90 days) and status."""
    numbers = _list(service_request_id)
    if numbers:
        if len(numbers) > MAX_RESULTS:
            raise bad("service_request_id", f"at most {MAX_RESULTS} ids")
        return PublicFilter(numbers=numbers)
    categories = _categories(service_code, policy)
    created_from, created_until = _date_range(start_date, end_date)
    return PublicFilter(
        categories=categories, created_from=created_from, created_until=created_until, statuses=_statuses(status)
    )

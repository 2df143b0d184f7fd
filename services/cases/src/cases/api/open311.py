"""Open311 GeoReport v2 on the cases service (docs/open311.md).

Civic-reporting apps that speak Open311 list the categories of the policy file
as services, report cases (created synchronously, so the answer carries the
case number and no token is needed) and follow them by number. The reads are
public, as the specification intends: they carry no personal data, and each
category's `visibility` in the policy decides how much of a case they show.

Every answer of this router, errors included, is in Open311's own shape, JSON
or XML after the extension the client asked for.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Literal, Optional
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from cases import queries as Q
from cases import service
from cases.domain import model as M
from cases.domain.policy import SEVERITIES, CategoryPolicy, Visibility
from cases.domain.redaction import redact
from govkit.auth import Principal
from govkit.inputs import AREA_ID_MAX, YEAR_MAX, YEAR_MIN, year_in_range
from govkit.problems import RETRY_AFTER_S, UNAVAILABLE, Problem

log = logging.getLogger(__name__)

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-29T00:00:00+08:00"  # date of the last change to this endpoint's behaviour
LOCAL = timezone(timedelta(hours=8))  # the jurisdiction's time (China Standard Time, no daylight saving)
MAX_RESULTS = 1000
DEFAULT_WINDOW = timedelta(days=90)
MAX_BODY = 64 * 1024
JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"

Fmt = Literal["json", "xml"]

LEVEL_LABEL = {"grid": "网格", "village": "村(社区)", "town": "镇", "county": "县"}
LEVEL_SHORT = {"grid": "网格", "village": "村级", "town": "镇级", "county": "县级"}
SEVERITY_NAME = {"low": "低", "medium": "一般", "high": "高", "critical": "紧急"}
CLOSED = frozenset(s.value for s in M.TERMINAL)  # closed, rejected, withdrawn, merged
# internal status -> public note; {lv} is the handling level (LEVEL_SHORT)
STATUS_NOTES = {
    "reported": "已上报，待{lv}受理",
    "accepted": "已受理，{lv}办理中",
    "dispatched": "已派遣，{lv}办理中",
    "in_progress": "正在处置，{lv}办理中",
    "resolved": "已办结，待核查",
    "verified": "已核查，待结案",
    "reopened": "核查未通过，{lv}返工办理中",
    "referred": "已转法院诉前调解（诉调联动）",
    "closed": "已结案",
    "rejected": "不予受理",
    "withdrawn": "已撤回",
    "merged": "已与其他反映合并办理",
}
GRID_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,2}$")
PHONE = re.compile(r"^\+?[0-9 -]{7,20}$")
CJK = re.compile(r"[\u3400-\u9fff]")
GRID_HINT = "网格编号，如 changping.kongjiafan.g03"
PARTIES_HINT = ("当事人，每人一行（或以分号分隔）：姓名,电话,身份；电话和身份可省略，"
                "如 “王某,13800000000,三组村民；赵某,,四组村民”")


# -- errors and rendering ------------------------------------------------------------------------------------------

class Open311Error(Exception):
    def __init__(self, code: int, description: str):
        super().__init__(description)
        self.code, self.description = code, description


def _fmt_of(request: Request) -> str:
    return "xml" if request.url.path.lower().endswith(".xml") else "json"


def _text(v: Any) -> Optional[str]:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


_ITEM = {"attributes": "attribute", "values": "value", "endpoints": "endpoint", "formats": "format"}


def _fill(el: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _fill(ET.SubElement(el, k), v)
    elif isinstance(value, list):
        for v in value:
            _fill(ET.SubElement(el, _ITEM.get(el.tag, "item")), v)
    else:
        el.text = _text(value)


def render(data: Any, fmt: str, root: str, item: Optional[str] = None, status: int = 200,
           headers: Optional[dict] = None) -> Response:
    """JSON as is; XML as <root><item>...</item>...</root> (a list) or <root>...</root> (an object)."""
    if fmt == "xml":
        top = ET.Element(root)
        if isinstance(data, list):
            for d in data:
                _fill(ET.SubElement(top, item or "item"), d)
        else:
            _fill(top, data)
        body = ET.tostring(top, encoding="utf-8", xml_declaration=True)
        return Response(body, status_code=status, media_type=XML_TYPE, headers=headers)
    return Response(json.dumps(data, ensure_ascii=False), status_code=status, media_type=JSON_TYPE,
                    headers=headers)


def error_response(code: int, description: str, fmt: str, headers: Optional[dict] = None) -> Response:
    return render([{"code": code, "description": description}], fmt, "errors", "error", status=code,
                  headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ()) if p not in ("path", "query", "body")]
        name = "format (.json or .xml)" if loc == ["fmt"] else ".".join(loc) or "request"
        parts.append(f"{name}: {e.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


class Open311Route(APIRoute):
    """Turns every error of a route into Open311's [{"code", "description"}], in the requested format."""

    problem_details = False  # for govkit.openapi: the routes document their errors with answers()

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            fmt = _fmt_of(request)
            try:
                return await handler(request)
            except Open311Error as e:
                return error_response(e.code, e.description, fmt)
            except RequestValidationError as e:
                return error_response(400, _validation_message(e), fmt)
            except Problem as e:  # Open311 names a parameter without govkit's "query." or "path."
                detail = re.sub(r"^(query|path|body)\.", "", e.detail or e.title)
                return error_response(400 if e.status == 422 else e.status, detail, fmt)
            except StarletteHTTPException as e:
                return error_response(e.status_code, str(e.detail), fmt)
            except UNAVAILABLE as e:
                log.warning("open311 %s %s: dependency unreachable (%s)", request.method, request.url.path,
                            type(e).__name__)
                return error_response(503, "service temporarily unavailable; please try again later", fmt,
                                      headers={"Retry-After": str(RETRY_AFTER_S)})
            except Exception:
                log.exception("open311 %s %s failed", request.method, request.url.path)
                return error_response(500, "internal error; please try again later", fmt)

        return run


def _jurisdiction(request: Request, jurisdiction_id: Optional[str] = Query(
        default=None, description="optional: this endpoint serves one jurisdiction",
        examples=["changping.xiangyang.cn"])) -> None:
    _check_jurisdiction(request, jurisdiction_id)


def _check_jurisdiction(request: Request, jurisdiction_id: Optional[str]) -> None:
    ours = request.app.state.config.open311_jurisdiction
    if jurisdiction_id and jurisdiction_id.strip() != ours:
        raise Open311Error(404, f"jurisdiction_id: unknown jurisdiction {jurisdiction_id!r}; this endpoint serves {ours}")


router = APIRouter(prefix="/open311/v2", tags=["open311"], route_class=Open311Route,
                   dependencies=[Depends(_jurisdiction)])


class Open311ErrorItem(BaseModel):
    """One entry of Open311's error list: [{"code": 400, "description": "..."}]."""
    code: int = Field(examples=[400])
    description: str = Field(examples=["attribute[grid_id]: required"])


ERRORS = {400: "a parameter is missing or invalid (an invalid format too); the description names it",
          403: "api_key missing or not accepted", 404: "unknown jurisdiction_id, or no such object",
          503: "the database is out of reach; Retry-After says when to try again"}


def answers(*errors: int, ok: int = 200, example: Any = None, **described: str) -> dict:
    """`responses=` of an Open311 route: JSON or XML after the extension, errors as Open311's list."""
    json_ok = {"example": example} if example is not None else {}
    out: dict = {ok: {"content": {"application/json": json_ok, "text/xml": {}}}}
    for code in sorted({400, 404, 503, *errors}):  # every route: format (400), jurisdiction_id (404), database (503)
        out[code] = {"model": list[Open311ErrorItem], "description": described.get(f"e{code}", ERRORS[code]),
                     "content": {"text/xml": {}}}
    return out


FMT = Path(description="json or xml", examples=["json"])


# -- formatting helpers ---------------------------------------------------------------------------------------------

def _when(dt: Optional[datetime]) -> Optional[str]:
    return dt.astimezone(LOCAL).isoformat() if dt is not None else None


def _span(hours: float) -> str:
    if hours >= 48 and hours % 24 == 0:
        return f"{int(hours // 24)} 天"
    return f"{hours:g} 小时"


def _group(category: str) -> str:
    return category.split(".", 1)[0]


def _deadlines(policy, category: str, severity: str = "medium") -> tuple[str, str]:
    accept, resolve = policy.deadlines(category, severity)
    return _span(accept.total_seconds() / 3600), _span(resolve.total_seconds() / 3600)


def _service(policy, name: str, c: CategoryPolicy) -> dict:
    a, r = _deadlines(policy, name)
    return {"service_code": c.service_code, "service_name": c.name,
            "description": f"{c.name}：由{LEVEL_LABEL[c.level.value]}及以上办理，受理时限 {a}，办结时限 {r}（一般紧急程度）",
            "metadata": True, "type": "realtime", "keywords": ",".join(c.keywords), "group": _group(name)}


def _attributes(category: str) -> list[dict]:
    attrs = [
        {"variable": True, "code": "severity", "datatype": "singlevaluelist", "required": False,
         "datatype_description": "默认 medium（一般）；critical（紧急）的时限减半", "order": 1, "description": "紧急程度",
         "values": [{"key": s, "name": SEVERITY_NAME[s]} for s in SEVERITIES]},
        {"variable": True, "code": "grid_id", "datatype": "string", "required": True,
         "datatype_description": GRID_HINT, "order": 2, "description": "事发网格"},
    ]
    if category.startswith("dispute."):
        attrs.append({"variable": True, "code": "parties", "datatype": "text", "required": False,
                      "datatype_description": PARTIES_HINT, "order": 3, "description": "纠纷当事人"})
    return attrs


def _category_of(policy, code: str) -> str:
    name = policy.by_service_code(code)
    if name is None:
        raise Open311Error(404, f"service_code: unknown service code {code!r}; see services.json")
    return name


def status_notes(status: str, level: str) -> str:
    return STATUS_NOTES.get(status, status).format(lv=LEVEL_SHORT.get(level, level))


def agency(level: str) -> str:
    return f"{LEVEL_LABEL.get(level, level)} ({level})"


def visibility(policy, category: str) -> Visibility:
    c = policy.categories.get(category)
    return c.visibility if c else Visibility.status_only


def public_request(row, policy) -> dict:
    """A case as an Open311 service request: no reporter, phone, parties or staff names; of a status_only
    category no description, place or media either; phone and ID numbers redacted from what is shown."""
    c = policy.categories.get(row["category"])
    a, r = _deadlines(policy, row["category"], row["severity"]) if c else ("", "")
    shown = visibility(policy, row["category"]) is Visibility.public
    return {
        "service_request_id": row["number"],
        "status": "closed" if row["status"] in CLOSED else "open",
        "status_notes": status_notes(row["status"], row["level"]),
        "service_name": c.name if c else row["category"],
        "service_code": c.service_code if c else None,
        "description": redact(row["description"]) if shown else None,
        "agency_responsible": agency(row["level"]),
        "service_notice": f"受理时限 {a}，办结时限 {r}" if c else None,
        "requested_datetime": _when(row["created_at"]),
        "updated_datetime": _when(row["updated_at"]),
        "expected_datetime": _when(row["resolve_due"]),
        "address": redact(row["address"]) if shown else None,
        "address_id": None,
        "zipcode": None,
        "lat": row["lat"] if shown else None,
        "long": row["lon"] if shown else None,
        "media_url": row["attachments"][0] if shown and row["attachments"] else None,
    }


# -- discovery and services -----------------------------------------------------------------------------------------

@router.get("/discovery.{fmt}", summary="Open311 discovery (服务发现)", operation_id="open311Discovery",
            responses=answers())
async def discovery(request: Request, fmt: Fmt = FMT):
    url = str(request.base_url).rstrip("/") + router.prefix
    return render({
        "changeset": CHANGESET,
        "contact": "长坪镇综治中心（网格化服务管理），事件编号可在本接口 requests/{编号}.json 查询",
        "key_service": "api_key 由长坪镇综治中心发放（服务配置 CASES_OPEN311_API_KEYS）",
        "endpoints": [{"specification": SPECIFICATION, "url": url, "changeset": CHANGESET, "type": "production",
                       "formats": ["application/json", "text/xml"]}],
    }, fmt, "discovery")


@router.get("/services.{fmt}", summary="Service list: one service per case category (事件类别)",
            operation_id="open311ListServices", responses=answers(example=[{
                "service_code": "103", "service_name": "土地山林纠纷",
                "description": "土地山林纠纷：由村(社区)及以上办理，受理时限 24 小时，办结时限 7 天（一般紧急程度）",
                "metadata": True, "type": "realtime", "keywords": "土地,山林,边界", "group": "dispute"}]))
async def services(request: Request, fmt: Fmt = FMT):
    policy = request.app.state.config.policy
    return render([_service(policy, name, c) for name, c in policy.categories.items()], fmt, "services", "service")


@router.get("/services/{service_code}.{fmt}", summary="Service definition: the attributes a request carries",
            operation_id="open311GetServiceDefinition", responses=answers(e404="unknown service_code or jurisdiction_id"))
async def service_definition(request: Request, service_code: str = Path(examples=["103"]), fmt: Fmt = FMT):
    name = _category_of(request.app.state.config.policy, service_code)
    return render({"service_code": service_code, "attributes": _attributes(name)}, fmt, "service_definition")


# -- creating --------------------------------------------------------------------------------------------------------

def _bad(field: str, message: str) -> Open311Error:
    return Open311Error(400, f"{field}: {message}")


async def _form(request: Request) -> dict[str, str]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("", "application/x-www-form-urlencoded"):
        raise Open311Error(400, f"send the fields form-encoded (application/x-www-form-urlencoded), not {ctype}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise Open311Error(400, f"request body larger than {MAX_BODY // 1024} KiB")
        chunks.append(chunk)
    try:
        parsed = parse_qs(b"".join(chunks).decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except UnicodeDecodeError:
        raise Open311Error(400, "the form must be UTF-8 encoded") from None
    except ValueError as e:
        raise Open311Error(400, f"malformed form: {e}") from None
    fields = {k: v for k, v in request.query_params.items()}  # some clients send api_key etc. in the query
    fields.update({k: v[0] for k, v in parsed.items()})
    for name, value in fields.items():
        if "\x00" in name or "\x00" in value:
            raise _bad(name, "contains a NUL character (U+0000)")
    return {k: v.strip() for k, v in fields.items()}


def _opt(f: dict, name: str, max_len: int) -> Optional[str]:
    v = f.get(name) or None
    if v is not None and len(v) > max_len:
        raise _bad(name, f"at most {max_len} characters")
    return v


def _coord(f: dict, name: str, limit: float) -> Optional[float]:
    raw = f.get(name)
    if not raw:
        return None
    try:
        v = float(raw)
    except ValueError:
        raise _bad(name, f"not a number: {raw!r}") from None
    if not math.isfinite(v) or not -limit <= v <= limit:
        raise _bad(name, f"must be between {-limit:g} and {limit:g}")
    return v


def _phone(raw: Optional[str]) -> Optional[str]:
    if not raw:
        return None
    v = re.sub(r"[().]", "", raw).strip()
    if not PHONE.match(v):
        raise _bad("phone", "not a phone number (digits, spaces, '-', optional leading '+', 7-20 characters)")
    return v


def reporter_name(first: Optional[str], last: Optional[str]) -> Optional[str]:
    """Chinese names read family name first (欧阳 + 晓明); others "first last"."""
    if first and last and CJK.search(first) and CJK.search(last):
        return last + first
    return " ".join(p for p in (first, last) if p) or None


def _parties(raw: Optional[str]) -> list[dict]:
    if not raw:
        return []
    out = []
    for entry in re.split(r"[\n;；]+", raw):
        bits = [b.strip() for b in re.split(r"[,，]", entry)]
        if not bits or not bits[0]:
            continue
        if len(bits) > 3 or len(bits[0]) > 50:
            raise _bad("attribute[parties]", f"each party as 姓名,电话,身份 (name at most 50 characters): {entry.strip()!r}")
        party = {"name": bits[0]}
        if len(bits) > 1 and bits[1]:
            if not PHONE.match(bits[1]):
                raise _bad("attribute[parties]", f"not a phone number: {bits[1]!r}")
            party["phone"] = bits[1]
        if len(bits) > 2 and bits[2]:
            party["role"] = bits[2][:30]
        out.append(party)
    if len(out) > 20:
        raise _bad("attribute[parties]", "at most 20 parties")
    return out


def api_key_sub(api_key: str) -> str:
    """A stable pseudonymous principal for an api key (the key itself is never stored)."""
    return "open311:" + hashlib.sha256(api_key.encode()).hexdigest()[:8]


_FORM_EXAMPLE = {
    "api_key": "your-api-key", "service_code": "103", "lat": "31.7362", "long": "111.8398",
    "address_string": "孔家畈村三组后山",
    "description": "三组村民反映四组在争议山林内砍伐树木，双方多次发生口角，请求村里调处。",
    "first_name": "晓明", "last_name": "李", "phone": "13812341234",
    "attribute[grid_id]": "changping.kongjiafan.g03", "attribute[severity]": "medium",
    "attribute[parties]": "王某,,三组村民；赵某,,四组村民",
}
_FORM_FIELDS = ["api_key", "jurisdiction_id", "service_code", "lat", "long", "address_string", "address_id",
                "email", "device_id", "account_id", "first_name", "last_name", "phone", "description", "media_url",
                "attribute[grid_id]", "attribute[severity]", "attribute[parties]"]


@router.post("/requests.{fmt}", status_code=201, summary="Report a case (上报事件), form-encoded",
             description="Creates the case at once: the answer carries its number as service_request_id "
                         "(no token). Reporter name and phone are kept apart as personal data.",
             operation_id="open311CreateRequest", responses=answers(403, ok=201, example=[{
                 "service_request_id": "CP-2026-000123",
                 "service_notice": "已收到，事件编号 CP-2026-000123；将于 2026-11-30 11:00 前受理，可凭编号查询办理进度",
                 "account_id": None}], e400="a field is missing or invalid (an unknown service_code, a grid_id "
                                            "the area tree does not hold); the description names it"),
             openapi_extra={"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {
                 "schema": {"type": "object", "required": ["api_key", "service_code", "description",
                                                           "attribute[grid_id]"],
                            "properties": {k: {"type": "string"} for k in _FORM_FIELDS}},
                 "example": _FORM_EXAMPLE}}}})
async def create_request(request: Request, fmt: Fmt = FMT):
    cfg = request.app.state.config
    f = await _form(request)
    api_key = f.get("api_key")
    if not api_key:
        raise Open311Error(403, "api_key: required to create a service request")
    if api_key not in cfg.api_keys:
        raise Open311Error(403, "api_key: not accepted; ask the jurisdiction for a key")
    _check_jurisdiction(request, f.get("jurisdiction_id"))
    policy = cfg.policy
    code = f.get("service_code")
    if not code:
        raise _bad("service_code", "required; see services.json")
    category = policy.by_service_code(code)
    if category is None:
        raise _bad("service_code", f"unknown service code {code!r}; see services.json")
    description = f.get("description", "")
    if len(description) < 2:
        raise _bad("description", "required (at least 2 characters)")
    if len(description) > 4000:
        raise _bad("description", "at most 4000 characters")
    lat, lon = _coord(f, "lat", 90), _coord(f, "long", 180)
    if (lat is None) != (lon is None):
        raise _bad("lat" if lat is None else "long", "lat and long go together")
    address = _opt(f, "address_string", 200)
    if lat is None and not address:
        raise _bad("lat/long", "a location is required: lat and long, or address_string")
    grid_id = f.get("attribute[grid_id]")
    if not grid_id:
        raise _bad("attribute[grid_id]", "required: the grid (网格) of the place, e.g. changping.kongjiafan.g03")
    if not GRID_ID.match(grid_id) or len(grid_id) > AREA_ID_MAX:
        raise _bad("attribute[grid_id]", f"{grid_id!r} is not a grid id ({GRID_HINT})")
    severity = f.get("attribute[severity]") or "medium"
    if severity not in SEVERITIES:
        raise _bad("attribute[severity]", f"one of {', '.join(SEVERITIES)}")
    media_url = _opt(f, "media_url", 2000)
    if media_url and not re.match(r"^https?://[^\s/]+", media_url):
        raise _bad("media_url", "an http(s) URL")
    first, last = _opt(f, "first_name", 25), _opt(f, "last_name", 25)
    parties = _parties(f.get("attribute[parties]")) if category.startswith("dispute.") else []
    title = " ".join(description.split())[:30]
    new = service.NewCase(category=category, title=title, description=description, grid_id=grid_id,
                          severity=severity, source="open311", address=address, lat=lat, lon=lon,
                          reporter_name=reporter_name(first, last), reporter_phone=_phone(f.get("phone")),
                          parties=parties, attachments=[media_url] if media_url else [])
    principal = Principal(sub=api_key_sub(api_key), roles=["resident"], areas=[])
    try:
        row, _ = await service.create_case(request.app.state.cases, new, principal=principal, reporter_sub=None)
    except Problem as e:
        if "grid_id" in (e.detail or ""):
            raise _bad("attribute[grid_id]", f"{grid_id!r} is not a known grid ({GRID_HINT})") from None
        raise
    number = row["number"]
    due = row["accept_due"].astimezone(LOCAL).strftime("%Y-%m-%d %H:%M")
    notice = f"已收到，事件编号 {number}；将于 {due} 前受理，可凭编号查询办理进度"
    log.info("open311 request %s created by %s", number, principal.sub)
    return render([{"service_request_id": number, "service_notice": notice, "account_id": None}], fmt,
                  "service_requests", "request", status=201,
                  headers={"Location": f"{router.prefix}/requests/{number}.{fmt}"})


# -- reading ---------------------------------------------------------------------------------------------------------

def _date(name: str, raw: Optional[str]) -> Optional[datetime]:
    if not raw:
        return None
    try:
        dt = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise _bad(name, f"not an ISO 8601 date-time: {raw!r} (e.g. 2026-11-01T00:00:00+08:00)") from None
    if not year_in_range(dt):
        raise _bad(name, f"year {dt.year} is outside {YEAR_MIN} to {YEAR_MAX}")
    return dt if dt.tzinfo else dt.replace(tzinfo=LOCAL)


def _list(raw: Optional[str]) -> list[str]:
    return [p.strip() for p in (raw or "").split(",") if p.strip()]


@router.get("/requests.{fmt}", summary="Service requests (public; no personal data)",
            description="Without service_request_id: the last 90 days (or the given range, at most 90 days), "
                        "newest first, at most 1000.",
            operation_id="open311ListRequests", responses=answers(example=[{
                "service_request_id": "CP-2026-000123", "status": "open", "status_notes": "已受理，村级办理中",
                "service_name": "土地山林纠纷", "service_code": "103",
                "description": "三组村民反映四组在争议山林内砍伐树木，请求村里调处。",
                "agency_responsible": "村(社区) (village)", "service_notice": "受理时限 24 小时，办结时限 7 天",
                "requested_datetime": "2026-11-29T09:30:00+08:00", "updated_datetime": "2026-11-29T10:05:00+08:00",
                "expected_datetime": "2026-12-06T10:05:00+08:00", "address": "孔家畈村三组后山",
                "address_id": None, "zipcode": None, "lat": 31.7362, "long": 111.8398, "media_url": None}]))
async def list_requests(
        request: Request, fmt: Fmt = FMT,
        service_request_id: Optional[str] = Query(default=None, description="case numbers, comma-separated; "
                                                  "overrides the other filters", examples=["CP-2026-000123"]),
        service_code: Optional[str] = Query(default=None, description="comma-separated", examples=["103,104"]),
        start_date: Optional[str] = Query(default=None, description="ISO 8601, on requested_datetime; "
                                          "without a zone: +08:00", examples=["2026-11-01T00:00:00+08:00"]),
        end_date: Optional[str] = Query(default=None, description="ISO 8601, inclusive",
                                        examples=["2026-11-30T00:00:00+08:00"]),
        status: Optional[str] = Query(default=None, description="open, closed or open,closed", examples=["open"])):
    ctx: service.Context = request.app.state.cases
    policy = ctx.policy
    where, args = [], []

    def add(fragment: str, value) -> None:
        args.append(value)
        where.append(fragment.format(n=len(args)))

    hidden = policy.with_visibility(Visibility.hidden)
    if hidden:
        add(Q.F_NOT_CATEGORY, hidden)
    numbers = _list(service_request_id)
    if numbers:
        if len(numbers) > MAX_RESULTS:
            raise _bad("service_request_id", f"at most {MAX_RESULTS} ids")
        add(Q.F_NUMBERS, numbers)
    else:
        codes = _list(service_code)
        if codes:
            cats = [policy.by_service_code(c) for c in codes]
            unknown = [c for c, cat in zip(codes, cats) if cat is None]
            if unknown:
                raise _bad("service_code", f"unknown service code(s) {', '.join(unknown)}; see services.json")
            add(Q.F_CATEGORY, cats)
        start, end = _date("start_date", start_date), _date("end_date", end_date)
        if start and end:
            if end < start:
                raise _bad("end_date", "before start_date")
            if end - start > DEFAULT_WINDOW:
                raise _bad("end_date", "the range may span at most 90 days")
        elif start:
            end = start + DEFAULT_WINDOW
        elif end:
            start = end - DEFAULT_WINDOW
        else:
            start = datetime.now(timezone.utc) - DEFAULT_WINDOW
        add(Q.F_FROM, start)
        if end:
            add(Q.F_UNTIL, end)
        wanted = set(_list(status))
        if wanted - {"open", "closed"}:
            raise _bad("status", "open, closed, or both comma-separated")
        if wanted == {"open"}:
            add(Q.F_STATUS, sorted(s.value for s in M.OPEN))
        elif wanted == {"closed"}:
            add(Q.F_STATUS, sorted(CLOSED))
    sql = Q.LIST_SELECT + " where " + " and ".join(where) + Q.LIST_ORDER.format(limit=MAX_RESULTS)
    async with ctx.pool.acquire() as con:
        rows = await con.fetch(sql, *args)
    return render([public_request(r, policy) for r in rows], fmt, "service_requests", "request")


@router.get("/requests/{service_request_id}.{fmt}", summary="One service request by case number (public)",
            operation_id="open311GetRequest", responses=answers(e404="no such request, or unknown jurisdiction_id"))
async def get_request(request: Request, service_request_id: str = Path(examples=["CP-2026-000123"]),
                      fmt: Fmt = FMT):
    ctx: service.Context = request.app.state.cases
    async with ctx.pool.acquire() as con:
        row = await con.fetchrow(Q.GET_CASE_BY_NUMBER, service_request_id)
    if row is None or visibility(ctx.policy, row["category"]) is Visibility.hidden:
        raise Open311Error(404, f"service_request_id: no request {service_request_id!r}")
    return render([public_request(row, ctx.policy)], fmt, "service_requests", "request")


# anything else under /open311/v2: an Open311 404 (or 405), not the service's problem+json
@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def not_found(request: Request, rest: str):
    for route in router.routes:
        if route.endpoint is not not_found and route.matches(request.scope)[0] is Match.PARTIAL:
            raise Open311Error(405, f"{request.method} is not allowed on {request.url.path}")
    raise Open311Error(404, f"no Open311 endpoint {request.url.path}; see discovery.json")

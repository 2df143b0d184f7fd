"""What the public Open311 reads show: categories as services, their definitions, and
cases as service requests without personal data, each as far as its category's
`visibility` allows (docs/open311.md, docs/decisions.md 24)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cases.api.open311.wire import GRID_HINT, PARTIES_HINT, local_time
from cases.domain import model
from cases.domain.policy import CategoryPolicy, Policy, Visibility
from cases.domain.redaction import redact
from gov_contracts.vocabulary import LEVEL_LABEL, LOCAL_TZ, Severity

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-30T00:00:00+08:00"  # date of the last change to this endpoint's behaviour or texts
DEFAULT_SEVERITY = Severity.medium

CLOSED = frozenset(s.value for s in model.TERMINAL)  # closed, rejected, withdrawn, merged
# Open311's two statuses and the internal ones each stands for
PUBLIC_STATUSES = {"open": sorted(s.value for s in model.OPEN), "closed": sorted(CLOSED)}
LEVEL_SHORT = {"grid": "网格", "village": "村级", "town": "镇级", "county": "县级"}
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
    "suspended": "经批准缓办，{lv}待条件具备后继续办理",
}


def discovery(url: str) -> dict[str, Any]:
    return {
        "changeset": CHANGESET,
        "contact": "长坪镇综治中心（网格化服务管理），事件编号可在本接口 requests/{编号}.json 查询",
        "key_service": "api_key 由长坪镇综治中心发放（服务配置 CASES_OPEN311_API_KEYS）",
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": url,
                "changeset": CHANGESET,
                "type": "production",
                "formats": ["application/json", "text/xml"],
            }
        ],
    }


# -- services ---------------------------------------------------------------------------------------------------------


def _deadlines(policy: Policy, category: str, severity: str = DEFAULT_SEVERITY.value) -> tuple[str, str]:
    accept, resolve = policy.spans(category, severity)
    return accept.label, resolve.label


def service(policy: Policy, name: str, category: CategoryPolicy) -> dict[str, Any]:
    """A category as an Open311 service, its deadlines those of the default severity."""
    accept, resolve = _deadlines(policy, name)
    return {
        "service_code": category.service_code,
        "service_name": category.name,
        "description": f"{category.name}：由{LEVEL_LABEL[category.level.value]}及以上办理，受理时限 {accept}，"
        f"办结时限 {resolve}（默认等级：{DEFAULT_SEVERITY.label}）",
        "metadata": True,
        "type": "realtime",
        "keywords": ",".join(category.keywords),
        "group": name.split(".", 1)[0],
    }


def attributes(category: str) -> list[dict[str, Any]]:
    """The attributes of a service definition: severity, grid, and the parties of a dispute."""
    severity = {
        "variable": True,
        "code": "severity",
        "datatype": "singlevaluelist",
        "required": False,
        "datatype_description": f"默认 {DEFAULT_SEVERITY.value}（{DEFAULT_SEVERITY.label}）；"
        f"{Severity.critical.value}（{Severity.critical.label}）的时限减半",
        "order": 1,
        "description": "事件等级",
        "values": [{"key": s.value, "name": s.label} for s in Severity],
    }
    grid = {
        "variable": True,
        "code": "grid_id",
        "datatype": "string",
        "required": False,  # lat/long place a request without it (docs/open311.md)
        "datatype_description": GRID_HINT,
        "order": 2,
        "description": "事发网格（给出 lat/long 时可省略，按坐标所在网格确定）",
    }
    if not category.startswith("dispute."):
        return [severity, grid]
    parties = {
        "variable": True,
        "code": "parties",
        "datatype": "text",
        "required": False,
        "datatype_description": PARTIES_HINT,
        "order": 3,
        "description": "纠纷当事人",
    }
    return [severity, grid, parties]


# -- service requests -------------------------------------------------------------------------------------------------


def status_notes(status: str, level: str) -> str:
    return STATUS_NOTES.get(status, status).format(lv=LEVEL_SHORT.get(level, level))


def agency(level: str) -> str:
    return f"{LEVEL_LABEL.get(level, level)} ({level})"


def media_url(attachment: str, base_url: str) -> str:
    """An attachment as a URL: a photo sent as `media` is stored as its path under this service
    (`/open311/v2/media/{id}`, never with a host a request's Host header chose), made absolute here."""
    return base_url.rstrip("/") + attachment if attachment.startswith("/") else attachment


def public_request(row: Any, policy: Policy, base_url: str = "") -> dict[str, Any]:
    """A case as an Open311 service request: no reporter, phone, parties or staff names; of a status_only
    category no description, place or media either; phone and ID numbers redacted from what is shown."""
    c = policy.categories.get(row["category"])
    accept, resolve = _deadlines(policy, row["category"], row["severity"]) if c else ("", "")
    shown = policy.visibility(row["category"]) is Visibility.public
    return {
        "service_request_id": row["number"],
        "status": "closed" if row["status"] in CLOSED else "open",
        "status_notes": status_notes(row["status"], row["level"]),
        "service_name": c.name if c else row["category"],
        "service_code": c.service_code if c else None,
        "description": redact(row["description"]) if shown else None,
        "agency_responsible": agency(row["level"]),
        "service_notice": f"受理时限 {accept}，办结时限 {resolve}" if c else None,
        "requested_datetime": local_time(row["created_at"]),
        "updated_datetime": local_time(row["updated_at"]),
        "expected_datetime": local_time(row["resolve_due"]),
        "address": redact(row["address"]) if shown else None,
        "address_id": None,
        "zipcode": None,
        "lat": row["lat"] if shown else None,
        "long": row["lon"] if shown else None,
        "media_url": media_url(row["attachments"][0], base_url) if shown and row["attachments"] else None,
    }


def created(number: str, accept_due: datetime) -> dict[str, Any]:
    """The answer to a report: its number, and by when it will be accepted."""
    due = accept_due.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")
    notice = f"已收到，事件编号 {number}；将于 {due} 前受理，可凭编号查询办理进度"
    return {"service_request_id": number, "service_notice": notice, "account_id": None}

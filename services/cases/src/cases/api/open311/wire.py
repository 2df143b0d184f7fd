"""Open311's wire format: JSON or XML after the path's extension, its error list, its
times, and how the OpenAPI document describes answers in both formats."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from datetime import datetime
from typing import Any, Literal

from fastapi import Path, Request, Response
from pydantic import BaseModel, Field

from gov_contracts.vocabulary import LOCAL_TZ

JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"

Fmt = Literal["json", "xml"]
FMT = Path(description="json or xml", examples=["json"])

# a use case's name (NewCase) of what the Open311 form sends under another name
OPEN311_FIELD = {
    "grid_id": "attribute[grid_id]",
    "severity": "attribute[severity]",
    "parties": "attribute[parties]",
    "category": "service_code",
    "lon": "long",
    "address": "address_string",
    "reporter_phone": "phone",
}
GRID_HINT = "网格编号，如 changping.kongjiafan.g03"
PARTIES_HINT = (
    "当事人，每人一行（或以分号分隔）：姓名,电话,身份；电话和身份可省略，如 “王某,13800000000,三组村民；赵某,,四组村民”"
)
FIELD_HINT = {"attribute[grid_id]": GRID_HINT}  # added to a use case's rejection of the field

# XML names the items of these lists after the list: <attributes><attribute>...</attribute></attributes>
_ITEM = {"attributes": "attribute", "values": "value", "endpoints": "endpoint", "formats": "format"}


def fmt_of(request: Request) -> str:
    """The format the client asked for, also when the route did not match or its `fmt` was invalid."""
    return "xml" if request.url.path.lower().endswith(".xml") else "json"


def local_time(dt: datetime | None) -> str | None:
    """ISO 8601 in the jurisdiction's time (+08:00)."""
    return dt.astimezone(LOCAL_TZ).isoformat() if dt is not None else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(element: ElementTree.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _fill(ElementTree.SubElement(element, key), item)
    elif isinstance(value, list):
        for item in value:
            _fill(ElementTree.SubElement(element, _ITEM.get(element.tag, "item")), item)
    else:
        element.text = _text(value)


def render(
    data: Any, fmt: str, root: str, item: str | None = None, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """JSON as is; XML as <root><item>...</item>...</root> (a list) or <root>...</root> (an object)."""
    if fmt == "xml":
        top = ElementTree.Element(root)
        if isinstance(data, list):
            for entry in data:
                _fill(ElementTree.SubElement(top, item or "item"), entry)
        else:
            _fill(top, data)
        body = ElementTree.tostring(top, encoding="utf-8", xml_declaration=True)
        return Response(body, status_code=status, media_type=XML_TYPE, headers=headers)
    return Response(json.dumps(data, ensure_ascii=False), status_code=status, media_type=JSON_TYPE, headers=headers)


def error_response(code: int, description: str, fmt: str, headers: dict[str, str] | None = None) -> Response:
    return render([{"code": code, "description": description}], fmt, "errors", "error", status=code, headers=headers)


class Open311ErrorItem(BaseModel):
    """One entry of Open311's error list: [{"code": 400, "description": "..."}]."""

    code: int = Field(examples=[400])
    description: str = Field(examples=["attribute[grid_id]: required"])


ERRORS = {
    400: "a parameter is missing or invalid (an invalid format too); the description names it",
    403: "api_key missing or not accepted",
    404: "unknown jurisdiction_id, or no such object",
    503: "the database is out of reach; Retry-After says when to try again",
}


def answers(*errors: int, ok: int = 200, example: Any = None, **described: str) -> dict[int | str, Any]:
    """`responses=` of an Open311 route: JSON or XML after the extension, errors as Open311's list."""
    json_ok = {"example": example} if example is not None else {}
    out: dict[int | str, Any] = {ok: {"content": {"application/json": json_ok, "text/xml": {}}}}
    for code in sorted({400, 404, 503, *errors}):  # every route: format (400), jurisdiction_id (404), database (503)
        out[code] = {
            "model": list[Open311ErrorItem],
            "description": described.get(f"e{code}", ERRORS[code]),
            "content": {"text/xml": {}},
        }
    return out

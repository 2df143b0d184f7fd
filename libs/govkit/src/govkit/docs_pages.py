"""The API pages every service serves, without internet: Swagger UI at /docs and ReDoc at /redoc from the assets
the fastapi-offline package ships (FastAPI's default pages load them from a CDN, so a town's offline network saw a
blank page; Swagger UI 5, which reads OpenAPI 3.1), and the service's events at /asyncapi, rendered on the server
from the contracts' registry (no script at all)."""

from __future__ import annotations

import html
import importlib.util
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from gov_contracts.labels import event_type_label
from gov_contracts.registry import REGISTRY, EventType

if TYPE_CHECKING:
    from govkit.service import ServiceSpec

ASSETS = "/docs/assets"
# fastapi-offline's static folder, found without importing the package (its import pulls in nothing we use)
STATIC = Path(importlib.util.find_spec("fastapi_offline").origin or "").parent / "static"  # type: ignore[union-attr]
SERVED = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
_REPLACED = {"/docs", "/docs/oauth2-redirect", "/redoc"}


class _Assets(StaticFiles):
    """The files named in SERVED, nothing else of the folder."""

    def lookup_path(self, path: str) -> tuple[str, Any]:
        if Path(path).name not in SERVED:
            return "", None
        return super().lookup_path(path)


def install(app: FastAPI, spec: ServiceSpec) -> None:
    """Replaces FastAPI's CDN pages (/docs, /redoc) with packaged ones and adds /asyncapi."""
    app.router.routes = [r for r in app.router.routes if getattr(r, "path", None) not in _REPLACED]
    app.mount(ASSETS, _Assets(directory=STATIC), name="api-page-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{spec.title} — API",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=f"{spec.title} — API",
            redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png",
            with_google_fonts=False,
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    page = asyncapi_html(spec)

    @app.get("/asyncapi", include_in_schema=False)
    async def asyncapi() -> HTMLResponse:
        return HTMLResponse(page)


# -- the events page ------------------------------------------------------------------------------------------------


def asyncapi_html(spec: ServiceSpec) -> str:
    """The events the service publishes and those it applies, each with its payload's fields, as one HTML page."""
    produced = sorted((et for et in REGISTRY.values() if et.producer == spec.name), key=lambda et: et.name)
    applied = sorted(
        (REGISTRY[t] for t in set(spec.handled_types()) if t in REGISTRY and REGISTRY[t].producer != spec.name),
        key=lambda et: et.name,
    )
    topics = sorted({et.topic for et in produced} | set(spec.all_topics()))
    parts = [
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>",
        f"<title>{_e(spec.title)} — 事件 (AsyncAPI)</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(spec.title)} — 事件</h1>",
        f"<p class='lead'>{_e(spec.description)}</p>",
        "<p>Kafka 上的事件，每条为 CloudEvents 1.0（binary mode：<code>ce_*</code> 头，键为聚合 id，"
        "值为下列字段的 JSON）。机器可读的 AsyncAPI 3.0 文档在仓库的 <code>contracts/asyncapi/</code>；"
        "接口文档见 <a href='/docs'>/docs</a>。</p>",
        "<nav><h2>目录</h2><ul>",
        f"<li><a href='#topics'>主题 Topics</a> ({len(topics)})</li>",
        f"<li><a href='#published'>本服务发布 Published</a> ({len(produced)})</li>",
        f"<li><a href='#applied'>本服务处理 Applied</a> ({len(applied)})</li></ul></nav>",
        "<h2 id='topics'>主题 Topics</h2><ul>",
        *(f"<li><code>{_e(t)}</code></li>" for t in topics),
        "</ul>",
        f"<h2 id='published'>本服务发布 Published ({len(produced)})</h2>",
        *(_event(et) for et in produced),
        f"<h2 id='applied'>本服务处理 Applied ({len(applied)})</h2>",
        f"<p>consumer group <code>{_e(spec.name)}</code>；偏移量在数据库提交之后提交。</p>",
        *(_event(et) for et in applied),
        "</body></html>",
    ]
    return "".join(parts)


def _event(et: EventType) -> str:
    schema = et.model.model_json_schema()
    required = set(schema.get("required", []))
    rows = [
        f"<tr><td><code>{_e(name)}</code>{' *' if name in required else ''}</td><td>{_e(_type(prop, schema))}</td>"
        f"<td>{_e(prop.get('description', ''))}{_examples(prop)}</td></tr>"
        for name, prop in schema.get("properties", {}).items()
    ]
    doc = " ".join((et.model.__doc__ or "").split())
    return (
        f"<section class='event' id='{_e(et.name)}'><h3><code>{_e(et.name)}</code> {_e(event_type_label(et.name))}</h3>"
        f"<p>topic <code>{_e(et.topic)}</code> · producer {_e(et.producer)}</p>"
        + (f"<p>{_e(doc)}</p>" if doc else "")
        + "<table><thead><tr><th>字段 field</th><th>类型 type</th><th>说明</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></section>"
    )


def _type(prop: dict[str, Any], schema: dict[str, Any]) -> str:
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in prop:
        return " | ".join(_type(option, schema) for option in prop["anyOf"])
    kind = prop.get("type", "any")
    if kind == "array":
        return f"array of {_type(prop.get('items', {}), schema)}"
    if prop.get("format"):
        return f"{kind} ({prop['format']})"
    return str(kind)


def _examples(prop: dict[str, Any]) -> str:
    examples = prop.get("examples")
    if not examples:
        return ""
    shown = ", ".join(json.dumps(x, ensure_ascii=False) for x in examples[:2])
    return f" <span class='ex'>例 {_e(shown)}</span>"


def _e(text: str) -> str:
    return html.escape(str(text), quote=True)


_STYLE = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;max-width:960px;margin:24px auto;padding:0 16px;
color:#1f2328;line-height:1.5}
h1{font-size:24px;border-bottom:2px solid #1f6feb;padding-bottom:6px}h2{font-size:19px;margin-top:28px}
h3{font-size:15px;margin:18px 0 4px}table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border:1px solid #d0d7de;padding:4px 6px;text-align:left;vertical-align:top}th{background:#f6f8fa}
code{background:#f6f8fa;padding:0 3px;border-radius:3px}.lead{color:#57606a}.ex{color:#57606a}
section.event{border-top:1px solid #d0d7de;padding-top:4px}
"""

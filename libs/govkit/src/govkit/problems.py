"""RFC 9457 problem details for every HTTP error, the unexpected ones included."""

from __future__ import annotations

import logging
from typing import Any

from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gov_contracts import errors as domain_errors
from govkit import db, messages, tracing

MEDIA_TYPE = "application/problem+json"
RETRY_AFTER_S = 5
# a dependency out of reach: the request may succeed later, so 503 rather than 500
UNAVAILABLE: tuple[type[BaseException], ...] = (*db.TRANSIENT_ERRORS, KafkaConnectionError, KafkaTimeoutError)

log = logging.getLogger(__name__)


class Problem(Exception):
    def __init__(self, status: int, title: str, detail: str = "", *, type_: str = "about:blank", **extra: Any):
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.type, self.extra = status, title, detail, type_, extra
        # RFC 6750: a 401 tells the client which scheme to use
        self.headers = {"WWW-Authenticate": 'Bearer realm="changping-gov"'} if status == 401 else {}


def response(
    status: int, title: str, detail: str = "", *, instance: str = "", type_: str = "about:blank", **extra: Any
) -> JSONResponse:
    body = {"type": type_, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE)


def localized(
    request: Request, status: int, title: str, detail: str = "", *, type_: str = "about:blank", **extra: Any
) -> JSONResponse:
    """The problem response, its title, detail and field messages in Chinese when the request prefers Chinese
    (Accept-Language; govkit.messages is the catalogue), else as given."""
    if not messages.prefers_chinese(request.headers.get("accept-language")):
        return response(status, title, detail, instance=request.url.path, type_=type_, **_plain(extra))
    if "errors" in extra:
        extra["errors"] = [
            {
                "field": e["field"],
                "message": messages.field_message(e["message"], e.get("type"), e.get("ctx")),
            }
            for e in extra["errors"]
        ]
    answer = response(
        status,
        messages.title(title),
        messages.detail(detail, status) if detail else "",
        instance=request.url.path,
        type_=type_,
        **extra,
    )
    answer.headers["Content-Language"] = "zh-CN"
    return answer


def _plain(extra: dict[str, Any]) -> dict[str, Any]:
    """The field errors without what only the translation reads (pydantic's error type and context)."""
    if "errors" in extra:
        extra["errors"] = [{"field": e["field"], "message": e["message"]} for e in extra["errors"]]
    return extra


def unexpected(request: Request, exc: BaseException) -> JSONResponse:
    """The last resort: 503 with Retry-After when a dependency is out of reach, else a 500 carrying the
    trace id (the stack goes to the log under the same id, never to the client)."""
    trace_id = (tracing.current.get() or tracing.new()).trace_id
    where = f"{request.method} {request.url.path}"
    if isinstance(exc, UNAVAILABLE):
        log.warning("%s: dependency unreachable (%s: %s)", where, type(exc).__name__, exc, extra={"trace_id": trace_id})
        unavailable = localized(
            request,
            503,
            "Service unavailable",
            "the database or the broker is out of reach; try again later",
            trace_id=trace_id,
        )
        unavailable.headers["Retry-After"] = str(RETRY_AFTER_S)
        return unavailable
    log.error("%s failed: %s", where, type(exc).__name__, exc_info=exc, extra={"trace_id": trace_id})
    return localized(
        request, 500, "Internal error", "an unexpected error; quote the trace id when reporting it", trace_id=trace_id
    )


def from_domain(exc: domain_errors.DomainError) -> Problem:
    """The one mapping of the domain's rejections to HTTP (docs/decisions.md)."""
    if isinstance(exc, domain_errors.InvalidInput):
        return Problem(422, exc.title, exc.detail, errors=[{"field": exc.field, "message": exc.message}], **exc.extra)
    if isinstance(exc, domain_errors.IllegalAction):
        action = {"action": exc.action} if exc.action is not None else {}
        return Problem(
            409,
            exc.title,
            exc.detail,
            type_="/problems/illegal-action",
            status_now=exc.status,
            **action,
            allowed_actions=exc.allowed,
            **exc.extra,
        )
    status = {domain_errors.NotFound: 404, domain_errors.Forbidden: 403, domain_errors.Conflict: 409}
    for cls, code in status.items():
        if isinstance(exc, cls):
            return Problem(code, exc.title, exc.detail, **exc.extra)
    return Problem(422, exc.title, exc.detail, **exc.extra)


def _field(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        where, parts = parts[0], parts[1:]
        return f"{where}.{'.'.join(parts)}" if parts else where
    return ".".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        answer = localized(request, exc.status, exc.title, exc.detail, type_=exc.type, **dict(exc.extra))
        answer.headers.update(exc.headers)
        return answer

    @app.exception_handler(domain_errors.DomainError)
    async def _refused(request: Request, exc: domain_errors.DomainError) -> JSONResponse:
        p = from_domain(exc)
        return localized(request, p.status, p.title, p.detail, type_=p.type, **p.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors: list[dict[str, Any]] = [
            {"field": _field(tuple(e["loc"])), "message": e["msg"], "type": e["type"], "ctx": e.get("ctx")}
            for e in exc.errors()
        ]
        first: dict[str, Any] = errors[0] if errors else {"field": "", "message": "invalid request"}
        if errors and messages.prefers_chinese(request.headers.get("accept-language")):
            chinese = messages.field_message(first["message"], first["type"], first["ctx"])
            return localized(request, 422, "Invalid request", f"{first['field']}: {chinese}", errors=errors)
        return localized(request, 422, "Invalid request", f"{first['field']}: {first['message']}", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
        detail = str(exc.detail) if exc.detail else ""
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            # FastAPI's answer to a body that is not UTF-8 (or not a form it can parse): name the field
            message = "not a UTF-8 encoded JSON document"
            return localized(
                request, 400, "Invalid request", f"body: {message}", errors=[{"field": "body", "message": message}]
            )
        return localized(request, exc.status_code, title, detail)

    # Starlette's ServerErrorMiddleware runs this and re-raises; service.py's middleware catches first, in the
    # request's trace context, so this only answers for errors raised outside it (and for bare test apps)
    app.add_exception_handler(Exception, unexpected)

"""Every error of the Open311 router as Open311's own list, in the requested format.

Open311 clients parse `[{"code", "description"}]`, so the router answers its
errors so rather than as problem+json; the description starts with the field
at fault, named as the Open311 client sent it. This is the one place where
errors become that list: the router's own, FastAPI's validation, the domain's
rejections (gov_contracts.errors, through govkit's one mapping to HTTP) and
govkit's `Problem`s.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from cases.api.open311.wire import FIELD_HINT, OPEN311_FIELD, error_response, fmt_of
from gov_contracts.errors import DomainError
from govkit.problems import RETRY_AFTER_S, UNAVAILABLE, Problem, from_domain

log = logging.getLogger(__name__)

_LOCATION = re.compile(r"^(query|path|body)\.")


class Open311Error(Exception):
    def __init__(self, code: int, description: str):
        super().__init__(description)
        self.code, self.description = code, description


def bad(field: str, message: str) -> Open311Error:
    """400 naming the field at fault."""
    return Open311Error(400, f"{field}: {message}")


def from_problem(problem: Problem) -> Open311Error:
    """422 becomes 400; the field loses govkit's `query.`/`path.`/`body.`, and a use case's name of a
    form field becomes the client's: `body.grid_id: ...` is `attribute[grid_id]: ... (hint)`."""
    code = 400 if problem.status == 422 else problem.status
    detail = problem.detail or problem.title
    location = _LOCATION.match(detail)
    detail = detail[location.end() :] if location else detail
    field, colon, message = detail.partition(": ")
    if location and location[1] == "body" and colon and field in OPEN311_FIELD:
        field = OPEN311_FIELD[field]
        hint = f" ({FIELD_HINT[field]})" if field in FIELD_HINT else ""
        detail = f"{field}: {message}{hint}"
    return Open311Error(code, detail)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ()) if p not in ("path", "query", "body")]
        name = "format (.json or .xml)" if loc == ["fmt"] else ".".join(loc) or "request"
        parts.append(f"{name}: {e.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _as_open311(exc: Exception) -> Open311Error:
    if isinstance(exc, DomainError):
        exc = from_domain(exc)
    if isinstance(exc, Problem):
        return from_problem(exc)
    if isinstance(exc, RequestValidationError):
        return Open311Error(400, _validation_message(exc))
    if isinstance(exc, StarletteHTTPException):
        return Open311Error(exc.status_code, str(exc.detail))
    assert isinstance(exc, Open311Error)
    return exc


class Open311Route(APIRoute):
    """Turns every error of a route into Open311's [{"code", "description"}], in the requested format."""

    problem_details = False  # for govkit.openapi: the routes document their errors with wire.answers()

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            fmt = fmt_of(request)
            try:
                return await handler(request)
            except (Open311Error, DomainError, Problem, RequestValidationError, StarletteHTTPException) as e:
                error = _as_open311(e)
                return error_response(error.code, error.description, fmt)
            except UNAVAILABLE as e:
                log.warning(
                    "open311 %s %s: dependency unreachable (%s)", request.method, request.url.path, type(e).__name__
                )
                return error_response(
                    503,
                    "service temporarily unavailable; please try again later",
                    fmt,
                    headers={"Retry-After": str(RETRY_AFTER_S)},
                )
            except Exception:
                log.exception("open311 %s %s failed", request.method, request.url.path)
                return error_response(500, "internal error; please try again later", fmt)

        return run

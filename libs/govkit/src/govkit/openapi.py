"""What a service's OpenAPI document says about errors, authentication and operation ids.

FastAPI documents a 422 with its own `HTTPValidationError` body and nothing else,
while the services answer every error as RFC 9457 `application/problem+json`
(govkit.problems) and authenticate with bearer JWTs (govkit.auth). `install(app)`
makes the document say so:

- every 4xx/5xx response of a route has the one shared `Problem` schema, FastAPI's
  422 included;
- operations that depend on `govkit.auth.current_principal` carry the `bearerAuth`
  scheme (HTTP bearer, JWT), its 401 and 403, so /docs has an Authorize button;
- every operation but those in `always_available` may answer 503 (database or
  broker unreachable), and every one with a JSON body 400 (FastAPI's answer to a
  body it cannot decode);
- operation ids are the endpoint's name in camelCase (`create_case` -> `createCase`)
  unless the route names its own.

Routes declare the other statuses they answer with `responses=problems(403, 404)`
(or their own `{409: {"description": ...}}`: the Problem content is filled in).
A route class whose errors have another shape (Open311) sets `problem_details = False`
and documents its errors itself; it answers 400, not 422, for invalid parameters.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from govkit import auth
from govkit.problems import MEDIA_TYPE

SECURITY_SCHEME = "bearerAuth"
PROBLEM_REF = "#/components/schemas/Problem"

DESCRIPTIONS = {
    400: "Bad request",
    401: "No bearer token, or one that is malformed, expired or not signed by the issuer",
    403: "The caller's roles or area scope do not allow this",
    404: "No such object, or not one the caller may see",
    409: "Not allowed in the object's current state",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid request: `detail` and `errors` name each offending field (body.x, query.y, path.z)",
    503: "Database or broker unreachable: try again later (Retry-After, when given, says when)",
}


class FieldError(BaseModel):
    field: str = Field(examples=["body.grid_id"], description="where: body.<field>, query.<name>, path.<name>")
    message: str = Field(examples=["'changping.nowhere.g01' is not a known grid"])


def _absent_not_null(schema: dict[str, Any]) -> None:
    for prop in schema.get("properties", {}).values():
        if prop.get("default", "") is None:
            del prop["default"]  # an optional member is left out, never null


class Problem(BaseModel):
    """RFC 9457 problem details; members beyond these are extensions of the particular problem."""

    model_config = ConfigDict(extra="allow", title="Problem", json_schema_extra=_absent_not_null)
    type: str = Field(examples=["about:blank"], description="a URI reference naming the kind of problem")
    title: str = Field(examples=["Invalid request"])
    status: int = Field(ge=400, le=599, examples=[422])
    detail: str | SkipJsonSchema[None] = Field(
        default=None, examples=["body.grid_id: 'changping.nowhere.g01' is not a known grid"]
    )
    instance: str | SkipJsonSchema[None] = Field(default=None, examples=["/v1/cases"], description="the request path")
    errors: list[FieldError] | SkipJsonSchema[None] = Field(default=None, description="every invalid field (422)")


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route: the problem statuses it answers besides those added for every route."""
    return {status: {"description": DESCRIPTIONS[status]} for status in statuses}


def operation_id(route: APIRoute) -> str:
    """FastAPI's generate_unique_id_function: the endpoint's name in camelCase."""
    first, *rest = route.name.split("_")
    return first + "".join(word[:1].upper() + word[1:] for word in rest)


def install(app: FastAPI, *, always_available: Iterable[str] = ()) -> None:
    generate = app.openapi
    quiet = frozenset(always_available)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            # FastAPI keeps the document it returns in app.openapi_schema; complete() edits it in place
            app.openapi_schema = complete(generate(), app, quiet)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise the document


def complete(doc: dict[str, Any], app: FastAPI, always_available: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Post-process FastAPI's document in place (see the module's docstring)."""
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem_schema.pop("$defs", {}))
    schemas["Problem"] = problem_schema
    components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "a JWT with subject, roles and area scopes (`./gov token` mints one for development)",
    }

    for context in iter_route_contexts(app.routes):  # routes of included routers, with their full paths
        route = context.original_route
        if not isinstance(route, APIRoute) or not context.include_in_schema:
            continue
        for method in context.methods or ():  # always set for an APIRoute
            operation = doc["paths"].get(context.path_format, {}).get(method.lower())
            if operation is not None:
                _complete_operation(operation, route, context.path_format in always_available)

    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's, unless something still refers to them
        others = {k: v for k, v in schemas.items() if k != name}
        if f'"#/components/schemas/{name}"' not in json.dumps([doc["paths"], others]):
            schemas.pop(name, None)
    return doc


def _complete_operation(operation: dict[str, Any], route: APIRoute, always_available: bool) -> None:
    responses = operation.setdefault("responses", {})
    if not getattr(route, "problem_details", True):
        if _is_fastapi_validation_error(responses.get("422")):
            del responses["422"]  # such routes answer invalid parameters with 400, documented by the route
        return
    if _depends_on(route, auth.current_principal):
        operation["security"] = [{SECURITY_SCHEME: []}]
        for status in (401, 403):  # 403 also when a token's area scope names an area the tree does not hold
            responses.setdefault(str(status), {"description": DESCRIPTIONS[status]})
    if not always_available:
        responses.setdefault("503", {"description": DESCRIPTIONS[503]})
    if "application/json" in operation.get("requestBody", {}).get("content", {}):
        responses.setdefault("400", {"description": "The body cannot be read as JSON text (e.g. not UTF-8)"})
    for code, response in responses.items():
        if not code.isdigit() or int(code) < 400:
            continue
        if _is_fastapi_validation_error(response):
            response["description"] = DESCRIPTIONS[422]
            response.pop("content")
        content = response.setdefault("content", {})
        if not content:
            content[MEDIA_TYPE] = {"schema": {"$ref": PROBLEM_REF}}


def _is_fastapi_validation_error(response: dict[str, Any] | None) -> bool:
    schema = ((response or {}).get("content") or {}).get("application/json", {}).get("schema", {})
    ref: str = schema.get("$ref", "")
    return ref.endswith("/HTTPValidationError")


def _depends_on(route: APIRoute, call: Callable[..., Any]) -> bool:
    todo = list(route.dependant.dependencies)
    while todo:
        dep = todo.pop()
        if dep.call is call:
            return True
        todo.extend(dep.dependencies)
    return False

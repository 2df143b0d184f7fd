"""The shared edge checks on a bare app: NUL characters, bounded dates, cursors,
weeks, and the last-resort answer (no stack needed; the integration test
tests/integration/test_http_edge.py proves the same on the running services)."""

import json
from datetime import datetime

import asyncpg
import pytest
from fastapi import Depends, FastAPI, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.requests import Request

from govkit import inputs, pagination, problems, tracing
from reporting.kpis import Week


class Thing(BaseModel):
    title: str
    tags: list[str] = []
    due: inputs.BoundedDatetime | None = None


def app() -> TestClient:
    a = FastAPI(dependencies=[Depends(inputs.reject_nul)])
    problems.install(a)

    @a.post("/things/{ref}")
    async def create(ref: str, body: Thing, q: str | None = None):
        return {"ref": ref}

    @a.get("/things")
    async def search(area: inputs.AreaId | None = Query(default=None), cursor: str | None = None):
        return {"cursor": [str(v) for v in pagination.decode(cursor)] if cursor else None}

    @a.get("/broken")
    async def broken():
        raise RuntimeError("a bug")

    @a.get("/database-down")
    async def database_down():
        raise ConnectionRefusedError(111, "Connect call failed")

    @a.get("/pool-closed")
    async def pool_closed():
        raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation")

    return TestClient(a, raise_server_exceptions=False)


def field_of(r) -> str:
    assert r.status_code == 422 and r.headers["content-type"] == problems.MEDIA_TYPE, r.text
    return r.json()["errors"][0]["field"]


def test_a_nul_anywhere_in_a_request_names_its_field():
    c = app()
    assert field_of(c.post("/things/x", json={"title": "a\u0000"})) == "body.title"
    assert field_of(c.post("/things/x", json={"title": "a", "tags": ["b", "\u0000"]})) == "body.tags.1"
    assert field_of(c.post("/things/x?q=a%00b", json={"title": "a"})) == "query.q"
    assert field_of(c.post("/things/a%00b", json={"title": "a"})) == "path.ref"
    # an escaped backslash followed by u0000 is text, not a NUL
    assert c.post("/things/x", json={"title": "\\u0000"}).status_code == 200


def test_dates_outside_1900_to_2100_are_refused_by_name():
    c = app()
    assert field_of(c.post("/things/x", json={"title": "a", "due": "0001-01-01T00:00:00+14:00"})) == "body.due"
    assert field_of(c.post("/things/x", json={"title": "a", "due": "9999-12-31T23:59:59-14:00"})) == "body.due"
    assert c.post("/things/x", json={"title": "a", "due": "2100-12-31T23:59:59-14:00"}).status_code == 200


def test_area_ids_ltree_would_refuse_are_422():
    c = app()
    for bad in ("changping..x", "changping.", "a" * 65, "村", "a b"):
        assert field_of(c.get("/things", params={"area": bad})) == "query.area"
    assert c.get("/things", params={"area": "changping.kongjiafan.g03"}).status_code == 200


def test_a_cursor_we_did_not_make_is_422_whatever_is_wrong_with_it():
    c = app()
    good = pagination.encode(
        {
            "created_at": datetime.fromisoformat("2026-11-29T10:00:00+08:00"),
            "id": "0b6f0d3e-8a9c-4c55-9a43-3e0b7f1f5a10",
        }
    )
    assert c.get("/things", params={"cursor": good}).status_code == 200
    early = pagination.encode(
        {
            "created_at": datetime.fromisoformat("0001-01-01T00:00:00+14:00"),
            "id": "0b6f0d3e-8a9c-4c55-9a43-3e0b7f1f5a10",
        }
    )
    for bad in (early, "not base64!", "W10=", "WzEsMl0="):  # out of range, garbage, [], [1,2]
        assert field_of(c.get("/things", params={"cursor": bad})) == "query.cursor"


@pytest.mark.parametrize("text", ["9999-W52", "0001-W01", "1899-W52", "2101-W01", "2026-W54", "x-W01"])
def test_weeks_outside_the_bounded_years_do_not_parse(text):
    with pytest.raises(ValueError):
        Week.parse(text)


def test_a_bound_week_parses_and_shifts():
    assert str(Week.parse("2100-W52").shift(1)) == "2101-W01" and str(Week.parse("1900-W01").shift(-1)) == "1899-W52"


def test_an_unexpected_exception_is_a_500_problem_with_a_trace_id():
    r = app().get("/broken")
    assert r.status_code == 500 and r.headers["content-type"] == problems.MEDIA_TYPE
    body = r.json()
    assert body["title"] == "Internal error" and len(body["trace_id"]) == 32 and "a bug" not in r.text


@pytest.mark.parametrize("path", ["/database-down", "/pool-closed"])
def test_a_dependency_out_of_reach_is_a_503_with_retry_after(path):
    r = app().get(path)
    assert r.status_code == 503 and r.headers["content-type"] == problems.MEDIA_TYPE
    assert r.headers["retry-after"] == str(problems.RETRY_AFTER_S)


def test_the_last_resort_carries_the_current_trace_id():
    ctx = tracing.new()
    token = tracing.current.set(ctx)
    try:
        request = Request({"type": "http", "method": "GET", "path": "/x", "headers": [], "query_string": b""})
        answer = problems.unexpected(request, RuntimeError("boom"))
    finally:
        tracing.current.reset(token)
    assert answer.status_code == 500 and json.loads(bytes(answer.body))["trace_id"] == ctx.trace_id

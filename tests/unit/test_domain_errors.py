"""The domain's rejections become problem+json in one place, with the status each class means."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from gov_contracts import errors
from gov_contracts.vocabulary import Level, area_at_depth, area_chain, is_within, parent_area
from govkit import problems


def app_raising(exc: Exception) -> TestClient:
    app = FastAPI()
    problems.install(app)

    @app.get("/x")
    async def x():
        raise exc

    return TestClient(app, raise_server_exceptions=False)


def test_each_rejection_has_its_status_and_names_what_is_wrong():
    cases = [
        (errors.NotFound("no case 7"), 404, "Not found"),
        (errors.Forbidden("your area scope does not cover changping.x"), 403, "Forbidden"),
        (errors.InvalidInput("body.grid_id", "not a known grid"), 422, "Invalid request"),
        (
            errors.IllegalAction(
                "cannot verify a reported case", status="reported", action="verify", allowed=["accept", "reject"]
            ),
            409,
            "Action not allowed in this state",
        ),
        (errors.Conflict("case CP-1 was rated 5", title="Already rated"), 409, "Already rated"),
    ]
    for exc, status, title in cases:
        r = app_raising(exc).get("/x")
        assert r.status_code == status and r.headers["content-type"] == "application/problem+json", r.text
        body = r.json()
        assert body["title"] == title and body["detail"] == exc.detail and body["instance"] == "/x"
    body = app_raising(cases[2][0]).get("/x").json()
    assert body["detail"] == "body.grid_id: not a known grid"
    assert body["errors"] == [{"field": "body.grid_id", "message": "not a known grid"}]
    body = app_raising(cases[3][0]).get("/x").json()
    assert body["type"] == "/problems/illegal-action"
    assert (body["status_now"], body["action"], body["allowed_actions"]) == ("reported", "verify", ["accept", "reject"])


def test_area_vocabulary():
    assert area_chain("changping.kongjiafan.g03") == ["changping.kongjiafan.g03", "changping.kongjiafan", "changping"]
    assert area_at_depth("changping.kongjiafan.g03", 2) == "changping.kongjiafan"
    assert parent_area("changping") is None and parent_area("changping.kongjiafan") == "changping"
    assert is_within("changping.kongjiafan.g03", "changping.kongjiafan")
    assert not is_within("changping.kongjiafan2", "changping.kongjiafan") and not is_within("changping", "")
    assert Level.grid.up() is Level.village and Level.county.up() is None and Level.town.rank == 2
    assert Level.village.label == "村(社区)"

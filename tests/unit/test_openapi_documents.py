"""The services' OpenAPI documents say what the services answer: problem+json
errors with one Problem schema, bearer authentication on protected operations,
readable operation ids (govkit.openapi). The live answers are checked against
them by tests/integration/test_api_fuzz.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from govctl import contracts_export
from govkit import auth, openapi, problems

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
OPEN311 = "/open311/"


def document(service: str) -> dict:
    return json.loads((ROOT / "contracts" / "openapi" / f"{service}.json").read_text(encoding="utf-8"))


def operations(doc: dict):
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield path, method, op


@pytest.mark.parametrize("service", contracts_export.SERVICES)
def test_every_error_is_a_documented_problem_and_protected_operations_take_a_bearer_token(service):
    doc = document(service)
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": doc["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    assert "HTTPValidationError" not in json.dumps(doc)
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids)), "operation ids repeat"
    assert all(re.fullmatch(r"[a-z][a-zA-Z0-9]*", i) for i in ids), ids
    for path, method, op in operations(doc):
        errors = {code: r for code, r in op["responses"].items() if int(code) >= 400}
        if path.startswith(OPEN311):
            continue
        assert errors or path in ("/healthz", "/metrics"), f"{method} {path} documents no error"
        for code, r in errors.items():
            assert r["content"] == PROBLEM, f"{method} {path} {code}"
        # /v1/public/: the livelihood notices anyone may read and object to without signing in
        if path.startswith(("/v1/", "/internal/")) and path != "/v1/areas" and not path.startswith("/v1/public/"):
            assert op["security"] == [{"bearerAuth": []}], f"{method} {path}"
            assert {"401", "403", "503"} <= set(op["responses"]), f"{method} {path}"
        else:
            assert "security" not in op, f"{method} {path}"
        if "parameters" in op or "requestBody" in op:
            assert "422" in op["responses"], f"{method} {path}"


def test_open311_errors_are_its_own_list_in_json_or_xml_and_invalid_input_is_400():
    doc = document("cases")
    seen = 0
    for path, method, op in operations(doc):
        if not path.startswith(OPEN311):
            continue
        seen += 1
        assert "security" not in op and "422" not in op["responses"], f"{method} {path}"
        for code in ("400", "404"):
            content = op["responses"][code]["content"]
            assert content["application/json"]["schema"]["items"] == {"$ref": "#/components/schemas/Open311ErrorItem"}
            assert "text/xml" in content
        ok = op["responses"]["201" if method == "post" else "200"]["content"]
        assert {"application/json", "text/xml"} <= set(ok), f"{method} {path}"
    assert seen == 6


def test_values_that_come_from_configuration_document_their_422():
    cases, volunteers = document("cases"), document("volunteers")
    by_id = {op["operationId"]: op for doc in (cases, volunteers) for _, _, op in operations(doc)}
    assert "`category`" in by_id["createCase"]["responses"]["422"]["description"]
    assert "CASES_POLICY_FILE" in cases["components"]["schemas"]["CaseCreate"]["properties"]["category"]["description"]
    for op_id in ("createTask", "createSchedule"):
        assert "`task_type`" in by_id[op_id]["responses"]["422"]["description"], op_id
    assert by_id["createCase"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CaseRead"
    }  # the Idempotency-Key replay answers the case too


# -- govkit.openapi on a minimal app ----------------------------------------------------------------


class Thing(BaseModel):
    title: str = Field(min_length=1)


class ForeignErrorsRoute(APIRoute):
    problem_details = False


def minimal_app() -> FastAPI:
    app = FastAPI(generate_unique_id_function=openapi.operation_id)
    problems.install(app)
    openapi.install(app, always_available=("/alive",))
    app.state.verifier = auth.TokenVerifier(algorithm="HS256", key="k" * 40, issuer="changping-gov")

    @app.post("/things", responses=openapi.problems(409))
    async def create_thing(body: Thing, p=Depends(auth.require_roles("town_admin"))):
        return body

    @app.get("/alive")
    async def alive():
        return {}

    foreign = APIRouter(route_class=ForeignErrorsRoute)

    @foreign.get("/foreign/{n}")
    async def get_foreign(n: int):
        return {"n": n}

    app.include_router(foreign)
    return app


def test_install_documents_problems_security_and_camel_case_ids():
    doc = minimal_app().openapi()
    create = doc["paths"]["/things"]["post"]
    assert create["operationId"] == "createThing"
    assert create["security"] == [{"bearerAuth": []}]  # found through require_roles -> current_principal
    assert set(create["responses"]) == {"200", "400", "401", "403", "409", "422", "503"}
    assert all(create["responses"][c]["content"] == PROBLEM for c in ("400", "401", "403", "409", "422", "503"))
    assert set(doc["paths"]["/alive"]["get"]["responses"]) == {"200"}
    foreign = doc["paths"]["/foreign/{n}"]["get"]
    assert foreign["operationId"] == "getForeign"
    assert "422" not in foreign["responses"] and "503" not in foreign["responses"]
    assert {"ValidationError", "HTTPValidationError"}.isdisjoint(doc["components"]["schemas"])


def test_the_problem_schema_holds_the_answers_the_app_gives():
    app = minimal_app()
    doc = app.openapi()
    client = TestClient(app)
    token = auth.mint(key="k" * 40, sub="ta", roles=["town_admin"], areas=[])
    answers = [
        client.post("/things", json={"title": ""}, headers={"authorization": f"Bearer {token}"}),
        client.post("/things", json={"title": "x"}),
        client.post(
            "/things", content=b"\xff", headers={"authorization": f"Bearer {token}", "content-type": "application/json"}
        ),
    ]
    assert [a.status_code for a in answers] == [422, 401, 400]
    schema = {**doc["components"]["schemas"]["Problem"], "components": doc["components"]}
    for a in answers:
        assert a.headers["content-type"] == problems.MEDIA_TYPE
        jsonschema.validate(a.json(), schema)
    assert answers[0].json()["errors"][0]["field"] == "body.title"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"title": "no status"}, schema)

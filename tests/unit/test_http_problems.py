"""RFC 9457 problem bodies, on a minimal app using the shared installer."""

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from govkit import areas, auth, problems


class CaseCreate(BaseModel):
    title: str = Field(min_length=1)
    severity: str = Field(pattern="^(low|medium|high|critical)$")


def app():
    a = FastAPI()
    problems.install(a)
    a.state.verifier = auth.TokenVerifier(algorithm="HS256", key="k" * 40, issuer="changping-gov")
    a.state.known_areas = areas.KnownAreas(None, {"changping"})

    @a.post("/things")
    async def create(body: CaseCreate):
        return body

    @a.get("/admin")
    async def admin(p=Depends(auth.require_roles("town_admin"))):
        return {"sub": p.sub}

    return TestClient(a)


def test_validation_error_names_the_field():
    r = app().post("/things", json={"title": "邻里纠纷", "severity": "apocalyptic"})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == 422 and body["detail"].startswith("body.severity:")
    assert body["errors"][0]["field"] == "body.severity"


def test_auth_errors_are_problems():
    c = app()
    r = c.get("/admin")
    assert r.status_code == 401 and r.json()["title"] == "Authentication required"
    token = auth.mint(key="k" * 40, sub="gm", roles=["grid_manager"], areas=["changping"])
    r = c.get("/admin", headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 403 and "town_admin" in r.json()["detail"]
    token = auth.mint(key="k" * 40, sub="boss", roles=["town_admin"], areas=["changping"])
    assert c.get("/admin", headers={"authorization": f"Bearer {token}"}).json() == {"sub": "boss"}


def test_unknown_route_is_a_problem():
    r = app().get("/nowhere")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


def test_a_body_that_is_not_utf8_is_a_400_naming_the_body():
    r = app().post("/things", content=b'{"title": "\xff\xfe"}', headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["errors"] == [{"field": "body", "message": "not a UTF-8 encoded JSON document"}]
    assert body["detail"] == "body: not a UTF-8 encoded JSON document"

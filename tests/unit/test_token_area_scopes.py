"""A token's area scopes are well-formed (else 401) and known to the service (else 403), and the
scopes a principal sees by are one list: the one covers() checks and SQL filters receive."""

import time

import jwt
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from govkit import areas, auth, problems
from govkit.problems import Problem

KEY = "k" * 40
KNOWN = {"changping", "changping.kongjiafan", "changping.kongjiafan.g03"}


def token(**claims) -> str:
    body = {"sub": "gm-x", "roles": ["grid_manager"], "iss": "changping-gov", "exp": int(time.time()) + 60}
    body.update(claims)
    return jwt.encode(body, KEY, algorithm="HS256")


def client() -> TestClient:
    app = FastAPI()
    problems.install(app)
    app.state.verifier = auth.TokenVerifier(algorithm="HS256", key=KEY, issuer="changping-gov")
    app.state.known_areas = areas.KnownAreas(None, KNOWN)

    @app.get("/whoami")
    async def whoami(p: auth.Principal = Depends(auth.current_principal)):
        return {"areas": p.visible_areas()}

    return TestClient(app)


@pytest.mark.parametrize(
    "claim,field",
    [
        ([""], "token.areas[0]"),  # the ltree root: every row in SQL
        (["changping", "changping..x"], "token.areas[1]"),
        (["changping."], "token.areas[0]"),
        (["Changping"], "token.areas[0]"),
        (["changping\n"], "token.areas[0]"),
        (["changping.a.b.c"], "token.areas[0]"),  # deeper than town > village > grid
        ("changping", "token.areas"),  # not a list
        ([7], "token.areas.0"),
    ],
)
def test_a_malformed_area_claim_is_401_naming_it(claim, field):
    r = client().get("/whoami", headers={"authorization": f"Bearer {token(areas=claim)}"})
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["title"] == "Invalid token" and body["errors"][0]["field"] == field
    assert body["detail"].startswith(field + ": ") or body["detail"].startswith("token.areas")
    assert r.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("sub", ["", "gm\x00x", "gm\nx", "x" * 201])
def test_a_subject_that_is_empty_too_long_or_has_control_characters_is_401(sub):
    """The subject becomes the actor of cases and tasks; a NUL in it used to reach Postgres as a 500."""
    r = client().get("/whoami", headers={"authorization": f"Bearer {token(sub=sub)}"})
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json", r.text
    assert r.json()["errors"] == [{"field": "token.sub", "message": "must be 1 to 200 printable characters"}]
    assert r.headers["www-authenticate"] == 'Bearer realm="changping-gov"'


def test_an_unknown_area_is_403_naming_it():
    r = client().get("/whoami", headers={"authorization": f"Bearer {token(areas=['changping', 'changping.nowhere'])}"})
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"] == [{"field": "token.areas[1]", "message": "'changping.nowhere' is not a known area"}]


def test_known_areas_and_no_areas_pass():
    c = client()
    r = c.get("/whoami", headers={"authorization": f"Bearer {token(areas=['changping.kongjiafan.g03'])}"})
    assert r.status_code == 200 and r.json() == {"areas": ["changping.kongjiafan.g03"]}
    r = c.get("/whoami", headers={"authorization": f"Bearer {token(roles=['resident'])}"})
    assert r.status_code == 200 and r.json() == {"areas": []}


def test_verify_alone_refuses_the_empty_scope():
    with pytest.raises(Problem) as e:
        auth.TokenVerifier(algorithm="HS256", key=KEY, issuer="changping-gov").verify(token(areas=[""]))
    assert e.value.status == 401 and e.value.extra["errors"][0]["field"] == "token.areas[0]"


def test_a_principal_cannot_hold_an_empty_scope_and_mint_refuses_one():
    with pytest.raises(ValueError):
        auth.Principal(sub="x", areas=[""])
    with pytest.raises(ValueError, match="not an area id"):
        auth.mint(key=KEY, sub="x", roles=["grid_manager"], areas=[""])


def test_covers_answers_from_the_same_scopes_sql_gets():
    p = auth.Principal(sub="x", roles=["village_admin"], areas=["changping.kongjiafan"])
    assert p.visible_areas() == ["changping.kongjiafan"]
    assert p.covers("changping.kongjiafan.g03") and not p.covers("changping.kongjiafanxi.g01")
    assert not auth.Principal(sub="x").covers("changping")


async def test_known_areas_without_a_table_know_only_what_they_were_given():
    known = areas.KnownAreas(None, {"changping"})
    assert await known.unknown(["changping", "changping.x", "changping.x"]) == ["changping.x"]

"""Tokens of an OpenID Connect provider, verified against its JWKS served by a local HTTP server (FakeIdp):
RS256 and ES256 accepted with roles read from nested claims through the claim map; each kind of bad token
refused 401 naming what failed; key rotation picked up by one refresh on an unknown kid, a key dropped from the
JWKS refused after a refresh; a flood of made-up kids costs at most one fetch per refresh interval; the
provider down: cached keys still verify, none cached is 503 with Retry-After."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest
from fastapi import FastAPI

from govkit import areas, auth, jwks, oidc, problems
from govkit.problems import MEDIA_TYPE, Problem
from govkit.settings import load

from .test_oidc_provider import AUDIENCE, FakeIdp, SigningKey

CLAIM_MAP = """
roles:
  claims: [realm_access.roles, resource_access.changping-gov.roles]
  map:
    gov-grid-manager: grid_manager
    gov-service: service
    gov-leaders: [town_admin, analyst]
areas:
  claims: [areas]
permissions:
  claims: [permissions, scope]
"""
KNOWN_AREAS = {"changping", "changping.kongjiafan", "changping.kongjiafan.g03"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def idp():
    provider = FakeIdp()
    yield provider
    provider.stop()


@pytest.fixture
def claim_map(tmp_path: Path) -> oidc.ClaimMap:
    path = tmp_path / "claims.yaml"
    path.write_text(CLAIM_MAP)
    return oidc.load_claim_map(str(path), auth.ROLES)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def verifier(idp: FakeIdp, claim_map: oidc.ClaimMap, clock: Clock) -> auth.TokenVerifier:
    keys = jwks.JwksCache(issuer=idp.issuer, clock=clock, ttl_s=300, min_refresh_s=30)
    return auth.TokenVerifier(
        algorithm=["RS256", "ES256"], keys=keys, issuer=idp.issuer, audience=[AUDIENCE], claim_map=claim_map
    )


def grid_manager(idp: FakeIdp, **extra) -> dict:
    claims = {
        "sub": "gm-7",
        "realm_access": {"roles": ["gov-grid-manager", "offline_access", "default-roles-changping"]},
        "resource_access": {"changping-gov": {"roles": ["gov-leaders"]}, "account": {"roles": ["manage-account"]}},
        "areas": ["changping.kongjiafan.g03"],
        "scope": "openid profile personal_data:read",
    }
    return idp.claims(**{**claims, **extra})


async def refused(v: auth.TokenVerifier, token: str) -> Problem:
    with pytest.raises(Problem) as e:
        await v.authenticate(token)
    return e.value


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
async def test_a_token_is_accepted_with_roles_areas_and_permissions_mapped_from_nested_claims(
    idp, claim_map, clock, alg
):
    key = idp.rotate(alg, keep_old=False)
    p = await verifier(idp, claim_map, clock).authenticate(idp.sign(grid_manager(idp)))
    assert p.sub == "gm-7"
    assert p.roles == ["grid_manager", "town_admin", "analyst"]  # offline_access, default-roles-...: not ours
    assert p.areas == ["changping.kongjiafan.g03"]
    assert p.permissions == ["openid", "profile", "personal_data:read"] and p.can(auth.PERSONAL_DATA)
    assert key.kid == idp.signing.kid and idp.jwks_fetches == 1


def _tampered(token: str) -> str:
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["realm_access"]["roles"].append("gov-leaders")
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{head}.{forged}.{sig}"


@pytest.mark.parametrize(
    "make,detail",
    [
        (lambda idp: idp.sign(grid_manager(idp, iss="https://sso.elsewhere/realms/x")), "issuer (iss)"),
        (lambda idp: idp.sign(grid_manager(idp, aud="another-client")), "audience (aud)"),
        (lambda idp: idp.sign(grid_manager(idp, aud=["account", "other"])), "audience (aud)"),
        (lambda idp: idp.sign({k: v for k, v in grid_manager(idp).items() if k != "aud"}), "no aud claim"),
        (lambda idp: idp.sign(grid_manager(idp, exp=int(time.time()) - 120)), "expired"),
        (lambda idp: idp.sign({k: v for k, v in grid_manager(idp).items() if k != "exp"}), "no exp claim"),
        (lambda idp: idp.sign({k: v for k, v in grid_manager(idp).items() if k != "sub"}), "no sub claim"),
        (lambda idp: _tampered(idp.sign(grid_manager(idp))), "signature does not verify"),
        # signed by another key under the provider's kid
        (lambda idp: idp.sign(grid_manager(idp), SigningKey("RS256", kid=idp.signing.kid)), "signature does not"),
        (lambda idp: idp.sign(grid_manager(idp), SigningKey("RS256")), "signing key (kid)"),
        # the dev secret path in a JWKS deployment, and the none algorithm
        (lambda idp: jwt.encode(grid_manager(idp), "s" * 40, algorithm="HS256"), "algorithm is not accepted"),
        (lambda idp: jwt.encode(grid_manager(idp), "", algorithm="none"), "algorithm is not accepted"),
        # an ES256 header on the RSA key's kid: the key decides the algorithm
        (
            lambda idp: jwt.encode(
                grid_manager(idp), SigningKey("ES256").private, algorithm="ES256", headers={"kid": idp.signing.kid}
            ),
            "does not match its key",
        ),
        (lambda idp: "not.a.jwt", "not a well-formed JWT"),
        (lambda idp: idp.sign(grid_manager(idp, areas="changping")), "token.areas: must be a list of strings"),
    ],
)
async def test_a_bad_token_is_401_saying_what_failed(idp, claim_map, clock, make, detail):
    problem = await refused(verifier(idp, claim_map, clock), make(idp))
    assert problem.status == 401 and problem.title == "Invalid token"
    assert detail in problem.detail, problem.detail
    assert idp.issuer not in problem.detail and "127.0.0.1" not in problem.detail  # nothing of the setup
    assert problem.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_rotated_key_is_fetched_once_and_a_dropped_key_stops_working(idp, claim_map, clock):
    v = verifier(idp, claim_map, clock)
    old = idp.signing
    assert (await v.authenticate(idp.sign(grid_manager(idp)))).sub == "gm-7"
    assert idp.jwks_fetches == 1
    clock.now += 60  # keys still fresh, and past the refresh interval: a rotation some time later

    new = idp.rotate("ES256")
    for _ in range(3):
        assert (await v.authenticate(idp.sign(grid_manager(idp)))).sub == "gm-7"
    assert idp.jwks_fetches == 2  # the first token with the new kid fetched the keys, once
    assert (await v.authenticate(idp.sign(grid_manager(idp), old))).sub == "gm-7"  # both published

    idp.keys = [new]  # the provider retires the old key
    clock.now += 301  # the cache expires and is fetched again with the next token
    assert (await v.authenticate(idp.sign(grid_manager(idp)))).sub == "gm-7"
    assert idp.jwks_fetches == 3
    problem = await refused(v, idp.sign(grid_manager(idp), old))
    assert problem.status == 401 and "signing key (kid)" in problem.detail
    assert idp.jwks_fetches == 3  # within the refresh interval: no fetch for the old kid


async def test_a_flood_of_unknown_kids_fetches_at_most_once_per_refresh_interval(idp, claim_map, clock):
    v = verifier(idp, claim_map, clock)
    await v.authenticate(idp.sign(grid_manager(idp)))
    clock.now += 31

    forger = SigningKey("RS256")

    async def stranger() -> Problem:
        made_up = SigningKey("RS256", kid=uuid.uuid4().hex, private=forger.private)
        return await refused(v, idp.sign(grid_manager(idp), made_up))

    for _ in range(2):
        problems_ = await asyncio.gather(*(stranger() for _ in range(40)))
        assert all(p.status == 401 and "signing key (kid)" in p.detail for p in problems_)
        problems_ = [await stranger() for _ in range(20)]  # one after the other, too
        assert all(p.status == 401 for p in problems_)
    assert idp.jwks_fetches == 2  # the first fetch and one refresh for 120 unknown kids
    clock.now += 31
    await asyncio.gather(*(stranger() for _ in range(40)))
    assert idp.jwks_fetches == 3
    assert (await v.authenticate(idp.sign(grid_manager(idp)))).sub == "gm-7"  # the real key all along


async def test_the_provider_down_cached_keys_still_verify_and_without_keys_it_is_503(idp, claim_map, clock):
    v = verifier(idp, claim_map, clock)
    token = idp.sign(grid_manager(idp))
    await v.authenticate(token)
    idp.failing = True
    clock.now += 1000  # far past the TTL: the cache tries to refresh, fails, keeps its keys
    assert (await v.authenticate(token)).sub == "gm-7"
    idp.stop()  # gone altogether: connection refused
    clock.now += 1000
    assert (await v.authenticate(token)).sub == "gm-7"

    cold = verifier(idp, claim_map, clock)
    problem = await refused(cold, token)
    assert problem.status == 503 and problem.headers["Retry-After"] == "30"
    assert "identity provider" in problem.detail and "127.0.0.1" not in problem.detail
    clock.now += 10
    problem = await refused(cold, token)  # no new attempt before the interval: told when to come back
    assert problem.status == 503 and problem.headers["Retry-After"] == "20"


async def test_settings_with_oidc_issuer_and_claim_map_build_a_jwks_verifier(idp, tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text(CLAIM_MAP)
    s = load(
        "cases",
        {
            "CASES_DATABASE_URL": "postgresql://cases:pw@127.0.0.1:5432/gov",
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
            "GOV_ENV": "production",
            "PSEUDONYM_KEY": "p" * 40,
            "JWT_ALGORITHM": "RS256,ES256",
            "OIDC_ISSUER": idp.issuer,
            "JWT_AUDIENCE": f"other-api, {AUDIENCE}",
            "JWT_CLAIM_MAP_FILE": str(path),
        },
    )
    v = auth.TokenVerifier.from_settings(s)
    p = await v.authenticate(idp.sign(grid_manager(idp)))
    assert p.roles == ["grid_manager", "town_admin", "analyst"] and v.issuer == idp.issuer
    with pytest.raises(TypeError, match="authenticate"):
        v.verify(idp.sign(grid_manager(idp)))


def app_with(v: auth.TokenVerifier) -> httpx.AsyncClient:
    app = FastAPI()
    problems.install(app)
    app.state.verifier = v
    app.state.known_areas = areas.KnownAreas(None, KNOWN_AREAS)

    @app.get("/whoami")
    async def whoami(p: auth.CurrentPrincipal) -> dict:
        return {"sub": p.sub, "roles": p.roles}

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_over_http_refusals_are_problem_documents_and_the_provider_down_is_503(idp, claim_map, clock):
    v = verifier(idp, claim_map, clock)
    async with app_with(v) as http:
        ok = await http.get("/whoami", headers={"authorization": f"Bearer {idp.sign(grid_manager(idp))}"})
        assert ok.status_code == 200 and ok.json()["roles"] == ["grid_manager", "town_admin", "analyst"]
        expired = idp.sign(grid_manager(idp, exp=int(time.time()) - 120))
        r = await http.get("/whoami", headers={"authorization": f"Bearer {expired}"})
        assert r.status_code == 401 and r.headers["content-type"] == MEDIA_TYPE
        assert r.json()["detail"] == "the token has expired" and r.headers["www-authenticate"].startswith("Bearer")

    idp.stop()
    async with app_with(verifier(idp, claim_map, clock)) as http:
        r = await http.get("/whoami", headers={"authorization": f"Bearer {idp.sign(grid_manager(idp))}"})
        assert r.status_code == 503 and r.headers["content-type"] == MEDIA_TYPE
        assert int(r.headers["retry-after"]) >= 1 and r.json()["title"] == "Service unavailable"

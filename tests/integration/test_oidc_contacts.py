"""The notifications → volunteers contact lookup with tokens of an identity provider: the volunteers service runs
as a process verifying tokens against the JWKS of a local provider (FakeIdp, an HTTP server in this test) through
a Keycloak-style claim map; the notifications side (VolunteerContacts, in process) gets its token from the
provider's token endpoint with the client_credentials grant and reuses it. A token without the scope, a person's
token, a development HS256 token and a token for another audience are refused."""

from __future__ import annotations

import uuid

import httpx
import pytest

from govkit.problems import MEDIA_TYPE as PROBLEM
from govkit.settings import load
from notifications.channels.base import TransientFailure
from notifications.config import configure
from notifications.contacts import Lookup, VolunteerContacts
from volunteers import service

from ..unit.test_oidc_provider import AUDIENCE, Client, FakeIdp
from .volunteers_process import make_context, new_task, register, retire, service_token, volunteers_service

GRID = "changping.baihe.g04"
SCOPE = "volunteer_contact:read"
CLAIM_MAP = """
roles:
  claims: [realm_access.roles]
  map: {gov-service: service, gov-grid-manager: grid_manager}
permissions:
  claims: [permissions, scope]
"""


@pytest.fixture(scope="module")
def idp():
    provider = FakeIdp()
    provider.clients["notifications"] = Client("notifications-secret", ["gov-service"], [SCOPE])
    provider.clients["reporting"] = Client("reporting-secret", ["gov-service"], [])  # a service, not this scope
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def live(stack, idp, tmp_path_factory):
    claim_map = tmp_path_factory.mktemp("oidc") / "claims.yaml"
    claim_map.write_text(CLAIM_MAP)
    with volunteers_service(
        stack,
        JWT_ALGORITHM="RS256,ES256",
        OIDC_ISSUER=idp.issuer,
        JWT_AUDIENCE=AUDIENCE,
        JWT_CLAIM_MAP_FILE=str(claim_map),
    ) as url:
        yield url


@pytest.fixture
async def ctx(stack):
    c = await make_context(stack)
    yield c
    await c.pool.close()


@pytest.fixture
async def offer(ctx):
    """A volunteer of the grid offered a task: (the volunteer, the task)."""
    vol = await register(ctx, GRID, "统一认证测试", phone="13900009901")
    async with ctx.pool.acquire() as con, con.transaction():
        task = await service.create_task(con, ctx, new_task(GRID, "统一认证联络测试", headcount=1))
    yield vol, task
    await retire(ctx, [GRID], [vol["id"]])


def notifications_contacts(http: httpx.AsyncClient, idp: FakeIdp, live: str, client_id: str) -> VolunteerContacts:
    environ = {
        "NOTIFICATIONS_DATABASE_URL": "postgresql://notifications:pw@127.0.0.1:5432/gov",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
        "JWT_ALGORITHM": "RS256",
        "OIDC_ISSUER": idp.issuer,
        "JWT_AUDIENCE": AUDIENCE,
        "NOTIFICATIONS_VOLUNTEERS_URL": live,
        "NOTIFICATIONS_OIDC_CLIENT_ID": client_id,
        "NOTIFICATIONS_OIDC_CLIENT_SECRET": idp.clients[client_id].secret,
    }
    s = load("notifications", environ)
    return VolunteerContacts.from_config(http, configure(s, environ), s)


async def test_the_lookup_works_with_a_client_credentials_token_of_the_provider(idp, live, ctx, offer):
    vol, task = offer
    ref = ctx.vref(vol["id"])
    asked_before = idp.token_requests
    async with httpx.AsyncClient() as http:
        contacts = notifications_contacts(http, idp, live, "notifications")
        for _ in range(3):
            [found] = await contacts.resolve([Lookup(volunteer_ref=ref, task_id=str(task["id"]))])
            assert found.found and found.phone == "13900009901" and found.offer_status == "pending"
            assert found.answer_url
    assert idp.token_requests == asked_before + 1  # one token for the three lookups
    reads = await ctx.pool.fetch("select reader from personal_data_reads where volunteer_id = $1", vol["id"])
    assert {r["reader"] for r in reads} == {"service-account-notifications"}  # audited as the client


async def test_a_token_without_the_scope_or_of_a_person_or_the_development_kind_is_refused(idp, stack, live, ctx):
    unknown = Lookup(volunteer_ref="volunteer_00000000000000000000", pairing_id=str(uuid.uuid4()))
    body = {"items": [{"volunteer_ref": unknown.volunteer_ref, "pairing_id": unknown.pairing_id}]}

    async def post(http: httpx.AsyncClient, token: str) -> httpx.Response:
        return await http.post(f"{live}/internal/v1/contacts", json=body, headers={"authorization": f"Bearer {token}"})

    async with httpx.AsyncClient() as http:
        reporting = notifications_contacts(http, idp, live, "reporting")  # a service of ours, not granted the scope
        with pytest.raises(TransientFailure, match="answered 403"):
            await reporting.resolve([unknown])
        person = idp.sign(
            idp.claims(sub="gm-1", realm_access={"roles": ["gov-grid-manager"]}, scope=f"profile {SCOPE}")
        )
        for token in (await reporting._token(), person):
            r = await post(http, token)
            assert r.status_code == 403 and r.headers["content-type"] == PROBLEM, r.text
            assert SCOPE in r.json()["detail"]

        other_audience = idp.sign(
            idp.claims(sub="svc", aud="another-api", realm_access={"roles": ["gov-service"]}, scope=SCOPE)
        )
        for token, detail in (
            (service_token(stack), "algorithm is not accepted"),  # HS256, minted with the stack's secret
            (other_audience, "audience (aud)"),
        ):
            r = await post(http, token)
            assert r.status_code == 401 and r.headers["content-type"] == PROBLEM, r.text
            assert detail in r.json()["detail"]

        granted = await notifications_contacts(http, idp, live, "notifications")._token()
        r = await post(http, granted)
        assert r.status_code == 200 and r.json()["items"][0]["found"] is False, r.text

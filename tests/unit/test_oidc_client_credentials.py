"""Client-credential tokens from the provider's token endpoint (a local FakeIdp): asked once and reused until
shortly before they expire, one request for many concurrent callers, the endpoint discovered from the issuer;
a refused or unreachable endpoint is TokenUnavailable, which the contact lookup turns into a retry."""

from __future__ import annotations

import asyncio

import httpx
import jwt
import pytest

from govkit.oidc import ClientCredentials, TokenUnavailable
from govkit.settings import load
from notifications.channels.base import TransientFailure
from notifications.config import configure
from notifications.contacts import VolunteerContacts

from .test_oidc_jwks import Clock
from .test_oidc_provider import AUDIENCE, Client, FakeIdp

SCOPE = "volunteer_contact:read"


@pytest.fixture
def idp():
    provider = FakeIdp()
    provider.clients["notifications"] = Client("s3cret/+=", ["gov-service"], [SCOPE])
    yield provider
    provider.stop()


def claims_of(token: str, idp: FakeIdp) -> dict:
    key = idp.signing.private.public_key()
    return jwt.decode(token, key, algorithms=["RS256"], audience=AUDIENCE, issuer=idp.issuer)


async def test_a_token_is_reused_until_shortly_before_it_expires(idp):
    clock = Clock()
    async with httpx.AsyncClient() as http:
        cc = ClientCredentials(
            http,
            client_id="notifications",
            client_secret="s3cret/+=",
            scope=SCOPE,
            token_url=idp.token_url,
            clock=clock,
        )
        first = await cc.token()
        assert claims_of(first, idp)["scope"].split() == ["profile", SCOPE]
        assert [await cc.token() for _ in range(5)] == [first] * 5 and idp.token_requests == 1
        clock.now += 300 - 61  # more than a minute left of 300 s
        assert await cc.token() == first and idp.token_requests == 1
        clock.now += 2  # less than a minute left: renewed
        await cc.token()
        assert idp.token_requests == 2
        clock.now += 1000
        tokens = await asyncio.gather(*(cc.token() for _ in range(20)))
        assert len(set(tokens)) == 1 and idp.token_requests == 3


async def test_the_token_endpoint_is_discovered_from_the_issuer(idp):
    async with httpx.AsyncClient() as http:
        cc = ClientCredentials(
            http, client_id="notifications", client_secret="s3cret/+=", scope=SCOPE, issuer=idp.issuer
        )
        assert claims_of(await cc.token(), idp)["azp"] == "notifications" and cc.token_url == idp.token_url


async def test_a_refused_or_unreachable_endpoint_is_token_unavailable(idp):
    async with httpx.AsyncClient() as http:
        wrong = ClientCredentials(
            http, client_id="notifications", client_secret="guess", scope=SCOPE, token_url=idp.token_url
        )
        with pytest.raises(TokenUnavailable, match="answered 401 invalid_client"):
            await wrong.token()
        idp.stop()
        gone = ClientCredentials(
            http, client_id="notifications", client_secret="s3cret/+=", scope=SCOPE, issuer=idp.issuer
        )
        with pytest.raises(TokenUnavailable, match="discovery"):
            await gone.token()


async def test_the_contact_lookup_uses_client_credentials_and_retries_without_a_token(idp):
    environ = {
        "NOTIFICATIONS_DATABASE_URL": "postgresql://n:pw@127.0.0.1:5432/gov",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
        "JWT_ALGORITHM": "RS256",
        "OIDC_ISSUER": idp.issuer,
        "JWT_AUDIENCE": AUDIENCE,
        "NOTIFICATIONS_VOLUNTEERS_URL": "http://127.0.0.1:9",
        "NOTIFICATIONS_OIDC_CLIENT_ID": "notifications",
        "NOTIFICATIONS_OIDC_CLIENT_SECRET": "s3cret/+=",
    }
    s = load("notifications", environ)
    async with httpx.AsyncClient() as http:
        contacts = VolunteerContacts.from_config(http, configure(s, environ), s)
        token = await contacts._token()
        assert claims_of(token, idp)["sub"] == "service-account-notifications"
        idp.clients["notifications"].secret = "rotated"
        contacts = VolunteerContacts.from_config(http, configure(s, environ), s)
        with pytest.raises(TransientFailure, match="no token for the contact lookup"):
            await contacts._token()
    # development: still minted with the shared secret, no provider asked
    environ = {k: v for k, v in environ.items() if not k.startswith(("JWT_", "OIDC_", "NOTIFICATIONS_OIDC_"))}
    dev = load("notifications", environ)
    async with httpx.AsyncClient() as http:
        minted = await VolunteerContacts.from_config(http, configure(dev, environ), dev)._token()
    assert dev.jwt_secret is not None
    assert jwt.decode(minted, dev.jwt_secret, algorithms=["HS256"], issuer=dev.jwt_issuer)["roles"] == ["service"]
    assert idp.token_requests == 2

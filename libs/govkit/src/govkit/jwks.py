"""An identity provider's signing keys (its JWKS), fetched over HTTP and cached.

The keys are kept for `ttl_s`; a token signed with a key id (`kid`) not in the cache makes one refresh, so a
key rotation at the provider is picked up by the first token signed with the new key. Refreshes are at most
one per `min_refresh_s`, whatever asks for them (a flood of made-up kids, or a provider that is down), and
concurrent askers share one fetch. When the provider cannot be reached, the keys already cached keep verifying
past their TTL; with none cached, ProviderUnavailable (the caller answers 503).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
from pydantic import BaseModel, ValidationError

log = logging.getLogger(__name__)
DISCOVERY_PATH = "/.well-known/openid-configuration"
TIMEOUT_S = 5.0


class ProviderUnavailable(Exception):
    """The identity provider could not be reached (or answered nonsense) and no key is cached."""

    def __init__(self, reason: str, retry_after_s: float):
        super().__init__(reason)
        self.retry_after_s = max(1, math.ceil(retry_after_s))


class UnknownKey(Exception):
    """No key of the provider has the token's key id (also after a refresh, or a refresh was not allowed yet)."""


class ProviderMetadata(BaseModel):
    """The parts of an OpenID Provider's discovery document the platform uses."""

    issuer: str
    jwks_uri: str
    token_endpoint: str | None = None


async def discover(client: httpx.AsyncClient, issuer: str) -> ProviderMetadata:
    """The provider's metadata from {issuer}/.well-known/openid-configuration; ProviderUnavailable if it fails."""
    url = issuer.rstrip("/") + DISCOVERY_PATH
    try:
        r = await client.get(url, timeout=TIMEOUT_S)
        r.raise_for_status()
        meta = ProviderMetadata.model_validate(r.json())
    except (httpx.HTTPError, ValueError, ValidationError) as e:
        raise ProviderUnavailable(f"discovery at {url} failed ({type(e).__name__})", TIMEOUT_S) from None
    if meta.issuer.rstrip("/") != issuer.rstrip("/"):
        # OpenID Connect Discovery 1.0 section 4.3: the document must name the issuer it was fetched for
        raise ProviderUnavailable(f"discovery at {url} names another issuer", TIMEOUT_S)
    return meta


def parse_jwks(document: Any) -> dict[str, jwt.PyJWK]:
    """The signature keys of a JWKS document by kid (a key without kid under ""); encryption keys and keys of
    types this library cannot use are skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK Set (no keys array)")
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK.from_dict(entry)
        except jwt.PyJWTError:
            continue
        keys[str(entry.get("kid", ""))] = key
    return keys


class JwksCache:
    def __init__(
        self,
        *,
        jwks_url: str | None = None,
        issuer: str | None = None,
        ttl_s: float = 300.0,
        min_refresh_s: float = 30.0,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not (jwks_url or issuer):
            raise ValueError("JwksCache needs a jwks_url or an issuer to discover it from")
        self.jwks_url, self.issuer = jwks_url, issuer
        self.ttl_s, self.min_refresh_s = ttl_s, min_refresh_s
        self._client, self._clock = client, clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # last successful fetch
        self._attempted_at: float | None = None  # last fetch tried, successful or not
        self._lock = asyncio.Lock()
        self.fetches = 0  # JWKS documents requested, for the tests and the log

    def _client_now(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient()
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    def _fresh(self, now: float) -> bool:
        return self._fetched_at is not None and now - self._fetched_at < self.ttl_s

    def _may_refresh(self, now: float) -> bool:
        return self._attempted_at is None or now - self._attempted_at >= self.min_refresh_s

    def _wait(self, now: float) -> float:
        return self.min_refresh_s - (now - self._attempted_at) if self._attempted_at is not None else 0.0

    async def key(self, kid: str | None) -> jwt.PyJWK:
        """The key for a token's kid (a token without kid: the provider's only key)."""
        wanted = kid or ""
        now = self._clock()
        if wanted in self._keys and self._fresh(now):
            return self._keys[wanted]
        seen = self._attempted_at
        async with self._lock:
            now = self._clock()
            # another request refreshed while this one waited: no second fetch for the same need
            if self._attempted_at == seen and self._may_refresh(now):
                await self._refresh(now)
        if wanted in self._keys:
            return self._keys[wanted]
        if not wanted and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        if self._fetched_at is None:
            raise ProviderUnavailable("no signing keys fetched yet", self._wait(self._clock()))
        raise UnknownKey(wanted)

    async def _refresh(self, now: float) -> None:
        self._attempted_at = now
        self.fetches += 1
        try:
            if self.jwks_url is None:
                assert self.issuer is not None
                self.jwks_url = (await discover(self._client_now(), self.issuer)).jwks_uri
            r = await self._client_now().get(self.jwks_url, timeout=TIMEOUT_S)
            r.raise_for_status()
            keys = parse_jwks(r.json())
        except (httpx.HTTPError, ValueError, ProviderUnavailable) as e:
            # keep what is cached: a provider down for a while must not log everybody out
            log.warning("identity provider keys not refreshed (%s: %s)", type(e).__name__, e)
            return
        self._keys, self._fetched_at = keys, self._clock()
        log.info("identity provider keys refreshed: %d key(s)", len(keys))

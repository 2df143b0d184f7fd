"""What the platform takes from an OpenID Connect provider besides its keys (govkit.jwks): which claims of a
token hold the subject, roles, areas and permissions (JWT_CLAIM_MAP_FILE), and client-credential tokens for one
service calling another (OAuth 2.0, RFC 6749 section 4.4), cached until shortly before they expire.

The claim map, as YAML (every section optional; without a file, the platform's own claims are read as they are):

    subject: sub                       # or preferred_username, ...
    roles:
      claims: [realm_access.roles, resource_access.changping-gov.roles, groups]
      map: {gov-town-admin: town_admin, /changping/grid-managers: grid_manager, gov-service: service}
    areas:
      claims: [areas]
    permissions:
      claims: [permissions, scope]     # scope, a string, is split at spaces

A claim is named by a dotted path into the token (a top-level claim whose name holds dots is found first) and
holds a list of strings (a claim of another shape refuses the token, naming it). A
role the map does not name is kept when it is a platform role (govkit.auth.ROLES) and otherwise ignored: the
provider's own roles (offline_access, default-roles-...) are in every token and mean nothing here. Every map
target must be a platform role, else the file is refused at start. Areas are kept as they are unless the section
has a map, then only mapped values count (a groups claim holds more than areas). Permissions are kept as they
are, renamed where the map says so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from govkit import jwks
from govkit.settings import ConfigError, read_yaml

REFRESH_BEFORE_S = 60.0


class ClaimSource(BaseModel):
    model_config = ConfigDict(extra="forbid")
    claims: list[str] = Field(min_length=1)
    map: dict[str, str | list[str]] = Field(default_factory=dict)

    def targets(self, value: str) -> list[str]:
        found = self.map.get(value)
        if found is None:
            return []
        return [found] if isinstance(found, str) else list(found)


class ClaimMap(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str = "sub"
    roles: ClaimSource = ClaimSource(claims=["roles"])
    areas: ClaimSource = ClaimSource(claims=["areas"])
    permissions: ClaimSource = ClaimSource(claims=["permissions"])

    @field_validator("roles")
    @classmethod
    def _platform_roles(cls, roles: ClaimSource, info: ValidationInfo) -> ClaimSource:
        known: Collection[str] = (info.context or {}).get("roles", ())
        for name in roles.map:
            bad = [r for r in roles.targets(name) if r not in known]
            if bad:
                raise ValueError(f"map.{name}: {bad[0]!r} is not a platform role ({', '.join(sorted(known))})")
        return roles

    def principal_fields(self, claims: dict[str, Any], roles: Collection[str]) -> dict[str, Any]:
        """The keyword arguments of a Principal from a verified token's claims."""
        return {
            "sub": claim(claims, self.subject),
            "roles": _unique(self._roles(claims, roles)),
            "areas": _unique(self._areas(claims)),
            "permissions": _unique(
                t for v in values(claims, self.permissions.claims) for t in (self.permissions.targets(v) or [v])
            ),
        }

    def _roles(self, claims: dict[str, Any], known: Collection[str]) -> Iterable[str]:
        for v in values(claims, self.roles.claims):
            yield from self.roles.targets(v) or ([v] if v in known else [])

    def _areas(self, claims: dict[str, Any]) -> Iterable[str]:
        for v in values(claims, self.areas.claims):
            yield from self.areas.targets(v) if self.areas.map else [v]


def claim(claims: dict[str, Any], path: str) -> Any:
    """The value at a dotted path (None when absent); a top-level claim named with dots is found first."""
    if path in claims:
        return claims[path]
    node: Any = claims
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


class ClaimError(ValueError):
    """A claim of the wrong shape: `field` names it as token.<path>[.index]."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def values(claims: dict[str, Any], paths: list[str]) -> list[str]:
    """The strings held by the claims (an absent claim holds none): a list of strings, or for OAuth's `scope` a
    string of space-separated names (RFC 9068 section 2.2.3); any other shape is a ClaimError."""
    out: list[str] = []
    for path in paths:
        found = claim(claims, path)
        if found is None:
            continue
        if isinstance(found, str) and path.rsplit(".", 1)[-1] == "scope":
            out += found.split()
            continue
        if not isinstance(found, list):
            raise ClaimError(f"token.{path}", "must be a list of strings")
        for i, v in enumerate(found):
            if not isinstance(v, str):
                raise ClaimError(f"token.{path}.{i}", "must be a string")
        out += found
    return out


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def load_claim_map(path: str | None, roles: Collection[str]) -> ClaimMap:
    """The claim map of JWT_CLAIM_MAP_FILE (the platform's own claims without one); ConfigError naming the key."""
    if not path:
        return ClaimMap()
    data = read_yaml(Path(path), "JWT_CLAIM_MAP_FILE")
    try:
        return ClaimMap.model_validate(data or {}, context={"roles": roles})
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if msg.startswith("map."):  # the roles validator names the key under its section
            where, msg = f"{where}.{msg.split(': ', 1)[0]}", msg.split(": ", 1)[1]
        raise ConfigError(f"config error: JWT_CLAIM_MAP_FILE: {path}: {where + ': ' if where else ''}{msg}") from None


class TokenUnavailable(Exception):
    """No client-credential token could be had from the provider now."""


class ClientCredentials:
    """Access tokens of this service from the provider's token endpoint (grant client_credentials), one at a
    time: reused until shortly before it expires, one request for all callers when it has to be renewed."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        client_id: str,
        client_secret: str,
        scope: str,
        token_url: str | None = None,
        issuer: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not (token_url or issuer):
            raise ValueError("ClientCredentials needs a token_url or an issuer to discover it from")
        self.client, self.token_url, self.issuer = client, token_url, issuer
        self.client_id, self.client_secret, self.scope = client_id, client_secret, scope
        self._clock = clock
        self._token: tuple[str, float] | None = None  # the token and when to stop using it
        self._lock = asyncio.Lock()
        self.requests = 0  # tokens asked for, for the tests

    def _current(self) -> str | None:
        if self._token is not None and self._clock() < self._token[1]:
            return self._token[0]
        return None

    async def token(self) -> str:
        current = self._current()
        if current is not None:
            return current
        async with self._lock:
            current = self._current()
            if current is None:
                current = await self._fetch()
            return current

    async def _fetch(self) -> str:
        try:
            if self.token_url is None:
                assert self.issuer is not None
                meta = await jwks.discover(self.client, self.issuer)
                if not meta.token_endpoint:
                    raise TokenUnavailable("the provider's discovery document names no token_endpoint")
                self.token_url = meta.token_endpoint
        except jwks.ProviderUnavailable as e:
            raise TokenUnavailable(str(e)) from None
        self.requests += 1
        # RFC 6749 section 2.3.1: id and secret form-encoded, then HTTP Basic
        auth = httpx.BasicAuth(quote(self.client_id, safe=""), quote(self.client_secret, safe=""))
        try:
            r = await self.client.post(
                self.token_url,
                data={"grant_type": "client_credentials", "scope": self.scope},
                auth=auth,
                timeout=jwks.TIMEOUT_S,
            )
        except httpx.HTTPError as e:
            raise TokenUnavailable(f"token endpoint unreachable ({type(e).__name__})") from None
        if r.status_code != 200:
            error = _json(r).get("error", "")
            raise TokenUnavailable(f"token endpoint answered {r.status_code}{' ' + error if error else ''}")
        body = _json(r)
        access_token, expires_in = body.get("access_token"), body.get("expires_in", 300)
        if not isinstance(access_token, str) or not isinstance(expires_in, int | float) or expires_in <= 0:
            raise TokenUnavailable("token endpoint answered without access_token and expires_in")
        lead = min(REFRESH_BEFORE_S, expires_in / 5)
        self._token = (access_token, self._clock() + expires_in - lead)
        return access_token


def _json(r: httpx.Response) -> dict[str, Any]:
    try:
        body = r.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}

"""Bearer JWTs: subject, roles, area scopes and permissions.

HS256 with a shared secret in development (refused in production); in
production RS256/ES256 against the identity provider's JWKS (govkit.jwks) or
one public key, with the claims read through the claim map (govkit.oidc).
A scope is an area id; it covers that area and everything under it.
A token's area scopes must be well-formed area ids (else 401) that the
service's copy of the area tree knows (else 403): an empty scope would be the
ltree root and match every row in SQL.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from pydantic import BaseModel, Field, ValidationError, field_validator

from gov_contracts.areas import AREA_ID_PATTERN
from govkit import jwks, oidc
from govkit.problems import Problem
from govkit.settings import ServiceSettings

ROLES = frozenset(
    {
        "resident",
        "grid_manager",
        "village_admin",
        "town_admin",
        "county_admin",
        "department",
        "volunteer",
        "analyst",
        "operator",
        "service",  # another service of the platform calling in (e.g. notifications), with narrow permissions
        "representative",  # 村民代表 (livelihood: proposals; the register says of which village and when)
        "party_branch",  # 村党支部 (livelihood: review, scoped to the village)
        "supervisory_committee",  # 村务监督委员会 (livelihood: acceptance)
        "clerk",  # meeting clerk (livelihood: tallies)
        "hotline",  # an outside hotline (12345) sending tickets and their call-backs (cases)
    }
)
PERSONAL_DATA = "personal_data:read"
_AREA_ID = re.compile(AREA_ID_PATTERN)


class Principal(BaseModel):
    sub: str
    roles: list[str] = Field(default_factory=list)
    areas: list[str] = Field(default_factory=list)
    permissions: list[str] = Field(default_factory=list)

    @field_validator("sub")
    @classmethod
    def _subject(cls, sub: str) -> str:
        # the subject is written as the actor of cases and tasks: no empty one, no control characters (a NUL
        # would reach Postgres), and of a length an account id has
        if not sub or len(sub) > 200 or any(ord(c) < 32 or ord(c) == 127 for c in sub):
            raise ValueError("sub: must be 1 to 200 printable characters")
        return sub

    @field_validator("areas")
    @classmethod
    def _area_ids(cls, areas: list[str]) -> list[str]:
        for i, a in enumerate(areas):
            if not _AREA_ID.fullmatch(a):
                raise ValueError(f"areas[{i}]: {a!r} is not an area id such as changping.kongjiafan")
        return areas

    def has_role(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    def visible_areas(self) -> list[str]:
        """The area scopes this principal may see, each with everything under it: the one answer used by
        covers() and passed to SQL as the ltree[] of `path <@ any($n::ltree[])` filters."""
        return list(self.areas)

    def covers(self, area_id: str) -> bool:
        return any(area_id == s or area_id.startswith(s + ".") for s in self.visible_areas())

    def can(self, permission: str) -> bool:
        return permission in self.permissions


# what a refused token is told: which check failed, never the expected values or the library's words
_REFUSALS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet"),
    (jwt.InvalidIssuerError, "the token's issuer (iss) is not the one this service trusts"),
    (jwt.InvalidAudienceError, "the token's audience (aud) is not this service"),
    (jwt.InvalidSignatureError, "the token's signature does not verify"),
    (jwt.InvalidAlgorithmError, "the token's signing algorithm is not accepted"),
    (jwt.DecodeError, "not a well-formed JWT"),
)


def _refusal(e: jwt.PyJWTError) -> Problem:
    if isinstance(e, jwt.MissingRequiredClaimError):
        return Problem(401, "Invalid token", f"the token has no {e.claim} claim")
    detail = next((text for cls, text in _REFUSALS if isinstance(e, cls)), "the token is not valid")
    return Problem(401, "Invalid token", detail)


class TokenVerifier:
    """Verifies bearer tokens with one static key (HS256 secret, PEM public key) or an identity provider's JWKS
    (govkit.jwks), checks issuer and audience, and reads the principal through the claim map (govkit.oidc)."""

    def __init__(
        self,
        *,
        algorithm: str | list[str],
        issuer: str,
        key: str | None = None,
        keys: jwks.JwksCache | None = None,
        audience: list[str] | None = None,
        claim_map: oidc.ClaimMap | None = None,
    ):
        if (key is None) == (keys is None):
            raise ValueError("TokenVerifier needs exactly one of key and keys")
        self.algorithms = algorithm.split(",") if isinstance(algorithm, str) else list(algorithm)
        self.key, self.keys, self.issuer = key, keys, issuer
        self.audience = audience or None
        self.claim_map = claim_map or oidc.ClaimMap()

    @classmethod
    def from_settings(cls, s: ServiceSettings) -> TokenVerifier:
        # ServiceSettings' validator fills in or refuses a missing secret (HS256), refuses HS256 in production,
        # and requires a key file or a JWKS source otherwise
        claim_map = oidc.load_claim_map(s.jwt_claim_map_file, ROLES)
        if s.jwks_configured:
            cache = jwks.JwksCache(
                jwks_url=s.jwt_jwks_url,
                issuer=s.oidc_issuer,
                ttl_s=s.jwt_jwks_cache_s,
                min_refresh_s=s.jwt_jwks_min_refresh_s,
            )
            return cls(
                algorithm=s.jwt_algorithms,
                keys=cache,
                issuer=s.oidc_issuer or s.jwt_issuer,
                audience=s.jwt_audiences,
                claim_map=claim_map,
            )
        if s.jwt_algorithm == "HS256":
            assert s.jwt_secret is not None
            key = s.jwt_secret
        else:
            assert s.jwt_public_key_file is not None
            key = Path(s.jwt_public_key_file).read_text()
        return cls(
            algorithm=s.jwt_algorithms, key=key, issuer=s.jwt_issuer, audience=s.jwt_audiences, claim_map=claim_map
        )

    def verify(self, token: str) -> Principal:
        """A token signed with the static key; the JWKS needs `await authenticate()`."""
        if self.key is None:
            raise TypeError("a TokenVerifier on a JWKS verifies with `await authenticate(token)`")
        return self._principal(self._decode(token, self.key, self.algorithms))

    async def authenticate(self, token: str) -> Principal:
        """The principal of a bearer token: 401 Problem when refused, 503 Problem (Retry-After) when the
        identity provider's keys cannot be had."""
        if self.keys is None:
            return self.verify(token)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            raise _refusal(e) from None
        algorithm = header.get("alg")
        if algorithm not in self.algorithms:
            raise Problem(401, "Invalid token", "the token's signing algorithm is not accepted")
        kid = header.get("kid")
        try:
            key = await self.keys.key(kid if isinstance(kid, str) else None)
        except jwks.UnknownKey:
            raise Problem(401, "Invalid token", "the token's signing key (kid) is not one of the provider's") from None
        except jwks.ProviderUnavailable as e:
            problem = Problem(503, "Service unavailable", "the identity provider is out of reach; try again later")
            problem.headers["Retry-After"] = str(e.retry_after_s)
            raise problem from None
        if key.algorithm_name != algorithm:
            # a key is used with the one algorithm it is for, never the one a token asks for
            raise Problem(401, "Invalid token", "the token's signing algorithm does not match its key")
        return self._principal(self._decode(token, key.key, [algorithm]))

    def _decode(self, token: str, key: Any, algorithms: list[str]) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=self.issuer,
                audience=self.audience,
                options={"require": ["exp", "iss"]},
            )
        except jwt.PyJWTError as e:
            raise _refusal(e) from None
        return claims

    def _principal(self, claims: dict[str, Any]) -> Principal:
        try:
            fields = self.claim_map.principal_fields(claims, ROLES)
        except oidc.ClaimError as e:
            raise Problem(401, "Invalid token", str(e), errors=[{"field": e.field, "message": e.message}]) from None
        if fields["sub"] is None:
            raise Problem(401, "Invalid token", f"the token has no {self.claim_map.subject} claim")
        try:
            return Principal(**fields)
        except ValidationError as e:
            err = e.errors()[0]
            where, detail = ".".join(str(part) for part in err["loc"]), err["msg"].removeprefix("Value error, ")
            if detail.startswith(("areas[", "sub: ")):  # our validators name the claim
                where, detail = detail.split(": ", 1)
            raise Problem(
                401,
                "Invalid token",
                f"token.{where}: {detail}",
                errors=[{"field": f"token.{where}", "message": detail}],
            ) from None


def mint(
    *,
    key: str,
    sub: str,
    roles: list[str],
    areas: list[str],
    permissions: list[str] | None = None,
    algorithm: str = "HS256",
    issuer: str = "changping-gov",
    ttl_s: int = 8 * 3600,
) -> str:
    unknown = set(roles) - ROLES
    if unknown:
        raise ValueError(f"unknown role(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(ROLES))}")
    bad = [a for a in areas if not _AREA_ID.fullmatch(a)]
    if bad:
        raise ValueError(f"not an area id: {bad[0]!r} (e.g. changping.kongjiafan.g03)")
    now = int(time.time())
    claims = {
        "sub": sub,
        "roles": roles,
        "areas": areas,
        "permissions": permissions or [],
        "iss": issuer,
        "iat": now,
        "exp": now + ttl_s,
    }
    return jwt.encode(claims, key, algorithm=algorithm)


async def current_principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Problem(401, "Authentication required", "send Authorization: Bearer <token>")
    verifier: TokenVerifier = request.app.state.verifier
    principal = await verifier.authenticate(token.strip())
    if principal.areas:
        unknown = await request.app.state.known_areas.unknown(principal.areas)
        if unknown:
            fields = [f"token.areas[{principal.areas.index(a)}]" for a in unknown]
            raise Problem(
                403,
                "Forbidden",
                f"{fields[0]}: {unknown[0]!r} is not a known area",
                errors=[
                    {"field": f, "message": f"{a!r} is not a known area"} for f, a in zip(fields, unknown, strict=True)
                ],
            )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
"""A route parameter typed `principal: CurrentPrincipal` is the authenticated caller."""


def require_roles(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    # async, as current_principal: FastAPI runs a plain `def` dependency in a worker thread on every request
    async def dep(p: Principal = Depends(current_principal)) -> Principal:
        if not p.has_role(*roles):
            raise Problem(403, "Forbidden", f"needs one of the roles: {', '.join(roles)}")
        return p

    return dep

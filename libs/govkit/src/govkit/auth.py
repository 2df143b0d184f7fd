"""Bearer JWTs: subject, roles, area scopes and permissions.

HS256 with a shared secret in development, RS256 with a public key in
production. A scope is an area id; it covers that area and everything under it.
A token's area scopes must be well-formed area ids (else 401) that the
service's copy of the area tree knows (else 403): an empty scope would be the
ltree root and match every row in SQL.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated

import jwt
from fastapi import Depends, Request
from pydantic import BaseModel, Field, ValidationError, field_validator

from gov_contracts.areas import AREA_ID_PATTERN
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


class TokenVerifier:
    def __init__(self, *, algorithm: str, key: str, issuer: str):
        self.algorithm, self.key, self.issuer = algorithm, key, issuer

    @classmethod
    def from_settings(cls, s: ServiceSettings) -> TokenVerifier:
        # ServiceSettings' validator fills in or refuses a missing secret (HS256) and refuses a missing key file (RS256)
        if s.jwt_algorithm == "HS256":
            assert s.jwt_secret is not None
            key = s.jwt_secret
        else:
            assert s.jwt_public_key_file is not None
            key = Path(s.jwt_public_key_file).read_text()
        return cls(algorithm=s.jwt_algorithm, key=key, issuer=s.jwt_issuer)

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=[self.algorithm],
                issuer=self.issuer,
                options={"require": ["sub", "exp", "iss"]},
            )
        except jwt.PyJWTError as e:
            raise Problem(401, "Invalid token", str(e)) from None
        try:
            return Principal(
                sub=claims["sub"],
                roles=claims.get("roles", []),
                areas=claims.get("areas", []),
                permissions=claims.get("permissions", []),
            )
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
    principal = verifier.verify(token.strip())
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

"""Volunteers' contact data, asked of the volunteers service at send time and never kept here: its internal,
service-authenticated and audited endpoint POST /internal/v1/contacts (docs/notifications.md)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from govkit.auth import mint
from govkit.oidc import ClientCredentials, TokenUnavailable
from govkit.settings import ServiceSettings
from notifications.channels.base import TransientFailure
from notifications.config import NotificationsConfig

SCOPE = "volunteer_contact:read"
BATCH = 200  # the endpoint's limit per request


@dataclass(frozen=True)
class Lookup:
    volunteer_ref: str
    task_id: str | None = None
    pairing_id: str | None = None


@dataclass(frozen=True)
class Contact:
    found: bool
    account_sub: str | None = None
    phone: str | None = None
    answer_url: str | None = None
    offer_status: str | None = None


class VolunteerContacts:
    """The contact lookup's client. Its bearer token: NOTIFICATIONS_SERVICE_TOKEN when set; else one from the
    identity provider's token endpoint (client credentials, scope volunteer_contact:read) when
    NOTIFICATIONS_OIDC_CLIENT_ID is set; else, in development with HS256, one minted with JWT_SECRET."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        token: str,
        jwt_secret: str | None,
        issuer: str,
        credentials: ClientCredentials | None = None,
    ):
        self.client, self.base_url = client, base_url.rstrip("/")
        self._fixed_token, self._secret, self._issuer = token, jwt_secret, issuer
        self._credentials = credentials
        self._minted: tuple[str, float] | None = None

    @classmethod
    def from_config(cls, client: httpx.AsyncClient, cfg: NotificationsConfig, s: ServiceSettings) -> VolunteerContacts:
        credentials = None
        if cfg.oidc_client_id and not cfg.service_token:
            credentials = ClientCredentials(
                client,
                client_id=cfg.oidc_client_id,
                client_secret=cfg.oidc_client_secret,
                scope=cfg.oidc_scope,
                token_url=cfg.oidc_token_url or None,
                issuer=s.oidc_issuer,
            )
        secret = s.jwt_secret if s.jwt_algorithm == "HS256" else None
        return cls(client, cfg.volunteers_url, cfg.service_token, secret, s.jwt_issuer, credentials)

    async def _token(self) -> str:
        if self._fixed_token:
            return self._fixed_token
        if self._credentials is not None:
            try:
                return await self._credentials.token()
            except TokenUnavailable as e:
                raise TransientFailure(f"no token for the contact lookup: {e}") from None
        if self._minted is None or self._minted[1] < time.time() + 60:
            assert self._secret is not None, "configure() requires client credentials without HS256"
            ttl = 3600
            token = mint(
                key=self._secret,
                sub="svc:notifications",
                roles=["service"],
                areas=[],
                permissions=[SCOPE],
                issuer=self._issuer,
                ttl_s=ttl,
            )
            self._minted = (token, time.time() + ttl)
        return self._minted[0]

    async def resolve(self, lookups: list[Lookup]) -> list[Contact]:
        """One Contact per lookup, in order; TransientFailure when the volunteers service cannot answer now."""
        if not self.base_url:
            raise TransientFailure("NOTIFICATIONS_VOLUNTEERS_URL is not set: volunteers cannot be reached")
        out: list[Contact] = []
        for i in range(0, len(lookups), BATCH):
            out += await self._resolve(lookups[i : i + BATCH])
        return out

    async def _resolve(self, lookups: list[Lookup]) -> list[Contact]:
        body = {
            "items": [
                {"volunteer_ref": x.volunteer_ref, "task_id": x.task_id, "pairing_id": x.pairing_id} for x in lookups
            ]
        }
        try:
            r = await self.client.post(
                f"{self.base_url}/internal/v1/contacts",
                json=body,
                headers={"authorization": f"Bearer {await self._token()}"},
                timeout=10,
            )
        except httpx.HTTPError as e:
            raise TransientFailure(f"volunteers service unreachable: {type(e).__name__}") from None
        if r.status_code != 200:
            # a refused token or a bad request will not mend itself, but the deliveries must not be lost
            # either: retried with backoff until their attempts run out, and logged loudly
            raise TransientFailure(f"volunteers contact lookup answered {r.status_code}")
        items: list[dict[str, Any]] = r.json()["items"]
        return [
            Contact(
                found=bool(item.get("found")),
                account_sub=item.get("account_sub"),
                phone=item.get("phone"),
                answer_url=item.get("answer_url"),
                offer_status=item.get("offer_status"),
            )
            for item in items
        ]

"""A stand-in OpenID Connect provider for the tests: an HTTP server on 127.0.0.1 (a thread of the test process)
serving a Keycloak-shaped realm: the discovery document, the JWKS and a token endpoint for the client_credentials
grant. Keys are generated here with `cryptography`; the tests rotate them, drop them from the JWKS, count the
fetches and take the server down. Its own checks are the tests at the end."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

REALM = "/realms/changping"
AUDIENCE = "changping-gov"


@dataclass
class SigningKey:
    alg: str
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    private: Any = None

    def __post_init__(self) -> None:
        if self.private is None:
            if self.alg == "RS256":
                self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            else:
                self.private = ec.generate_private_key(ec.SECP256R1())

    def jwk(self) -> dict[str, Any]:
        algorithm = RSAAlgorithm if self.alg == "RS256" else ECAlgorithm
        return {
            **algorithm.to_jwk(self.private.public_key(), as_dict=True),
            "kid": self.kid,
            "alg": self.alg,
            "use": "sig",
        }


@dataclass
class Client:
    secret: str
    roles: list[str]
    scopes: list[str]  # the scopes it may be granted


class FakeIdp:
    def __init__(self) -> None:
        self.keys = [SigningKey("RS256")]
        self.signing = self.keys[0]
        self.clients: dict[str, Client] = {}
        self.jwks_fetches = 0
        self.token_requests = 0
        self.failing = False  # answer 503 to everything
        self.token_ttl_s = 300
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.issuer = self.base + REALM
        self.jwks_url = self.issuer + "/protocol/openid-connect/certs"
        self.token_url = self.issuer + "/protocol/openid-connect/token"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def rotate(self, alg: str = "RS256", keep_old: bool = True) -> SigningKey:
        new = SigningKey(alg)
        self.keys = [*self.keys, new] if keep_old else [new]
        self.signing = new
        return new

    def sign(self, claims: dict[str, Any], key: SigningKey | None = None, **headers: Any) -> str:
        key = key or self.signing
        return jwt.encode(claims, key.private, algorithm=key.alg, headers={"kid": key.kid, **headers})

    def claims(self, **extra: Any) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": self.issuer, "aud": AUDIENCE, "sub": "u-1", "iat": now, "exp": now + 300, **extra}

    def _grant(self, client_id: str, requested: str) -> tuple[int, dict[str, Any]]:
        client = self.clients[client_id]
        granted = [s for s in requested.split() if s in client.scopes]
        claims = self.claims(
            sub=f"service-account-{client_id}",
            azp=client_id,
            exp=int(time.time()) + self.token_ttl_s,
            realm_access={"roles": client.roles},
            scope=" ".join(["profile", *granted]),
        )
        return 200, {"access_token": self.sign(claims), "token_type": "Bearer", "expires_in": self.token_ttl_s}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if idp.failing:
                    return self._answer(503, {"error": "temporarily_unavailable"})
                if self.path == REALM + "/.well-known/openid-configuration":
                    return self._answer(
                        200, {"issuer": idp.issuer, "jwks_uri": idp.jwks_url, "token_endpoint": idp.token_url}
                    )
                if self.path == REALM + "/protocol/openid-connect/certs":
                    idp.jwks_fetches += 1
                    return self._answer(200, {"keys": [k.jwk() for k in idp.keys]})
                self._answer(404, {"error": "not_found"})

            def do_POST(self) -> None:
                if idp.failing:
                    return self._answer(503, {"error": "temporarily_unavailable"})
                if self.path != REALM + "/protocol/openid-connect/token":
                    return self._answer(404, {"error": "not_found"})
                idp.token_requests += 1
                form = parse_qs(self.rfile.read(int(self.headers.get("content-length", 0))).decode())
                scheme, _, credentials = self.headers.get("authorization", "").partition(" ")
                client_id, _, secret = base64.b64decode(credentials).decode().partition(":")
                client_id, secret = unquote(client_id), unquote(secret)
                client = idp.clients.get(client_id)
                if scheme != "Basic" or client is None or client.secret != secret:
                    return self._answer(401, {"error": "invalid_client"})
                if form.get("grant_type") != ["client_credentials"]:
                    return self._answer(400, {"error": "unsupported_grant_type"})
                self._answer(*idp._grant(client_id, form.get("scope", [""])[0]))

        return Handler


def test_the_provider_serves_discovery_jwks_and_client_credential_tokens():
    idp = FakeIdp()
    try:
        idp.clients["notifications"] = Client("s3cret", ["gov-service"], ["volunteer_contact:read"])
        meta = httpx.get(idp.issuer + "/.well-known/openid-configuration").json()
        assert meta == {"issuer": idp.issuer, "jwks_uri": idp.jwks_url, "token_endpoint": idp.token_url}
        keys = httpx.get(meta["jwks_uri"]).json()["keys"]
        assert [k["kid"] for k in keys] == [idp.signing.kid] and idp.jwks_fetches == 1
        refused = httpx.post(idp.token_url, data={"grant_type": "client_credentials"}, auth=("notifications", "x"))
        assert refused.status_code == 401
        r = httpx.post(
            idp.token_url,
            data={"grant_type": "client_credentials", "scope": "volunteer_contact:read other"},
            auth=("notifications", "s3cret"),
        )
        claims = jwt.decode(
            r.json()["access_token"],
            jwt.PyJWK.from_dict(keys[0]).key,
            algorithms=["RS256"],
            audience=AUDIENCE,
            issuer=idp.issuer,
        )
        assert claims["scope"] == "profile volunteer_contact:read" and claims["realm_access"]["roles"] == [
            "gov-service"
        ]
    finally:
        idp.stop()

"""The identity-provider settings: HS256 stays for development and is refused in production with one line
saying what to set; a JWKS deployment in production needs its audience; the claim map file is checked at start
(its roles must be the platform's); the notifications service needs client credentials once tokens come from a
provider."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest

from govkit import auth, oidc
from govkit.problems import Problem
from govkit.settings import DEV_JWT_SECRET, ConfigError, load
from notifications.config import configure as configure_notifications

BASE = {"CASES_DATABASE_URL": "postgresql://cases:pw@127.0.0.1:5432/gov", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092"}
PRODUCTION = {**BASE, "GOV_ENV": "production", "PSEUDONYM_KEY": "p" * 40}
ISSUER = "https://sso.changping.example/realms/changping"
OIDC = {"JWT_ALGORITHM": "RS256", "OIDC_ISSUER": ISSUER, "JWT_AUDIENCE": "changping-gov"}


def config_error(env: dict[str, str], service: str = "cases") -> str:
    with pytest.raises(ConfigError) as e:
        load(service, env)
    line = str(e.value)
    assert "\n" not in line
    return line


@pytest.mark.parametrize(
    "env",
    [
        {**PRODUCTION, "JWT_SECRET": "s" * 40},
        {**PRODUCTION, "JWT_ALGORITHM": "HS256", "JWT_SECRET": "s" * 40},
        PRODUCTION,  # no secret either: still the algorithm is what to fix first
        {**PRODUCTION, "JWT_SECRET": DEV_JWT_SECRET},
    ],
)
def test_hs256_is_refused_in_production_saying_what_to_set(env):
    line = config_error(env)
    assert line.startswith("config error: JWT_ALGORITHM: HS256 (a shared secret) is refused in production")
    assert "OIDC_ISSUER or JWT_JWKS_URL" in line


def test_hs256_stays_for_development_and_its_tokens_verify():
    s = load("cases", BASE)
    assert s.jwt_algorithm == "HS256" and s.jwt_secret == DEV_JWT_SECRET
    v = auth.TokenVerifier.from_settings(s)
    token = auth.mint(key=DEV_JWT_SECRET, sub="gm-1", roles=["grid_manager"], areas=["changping"])
    assert v.verify(token).roles == ["grid_manager"]


def test_a_token_with_aud_is_accepted_when_it_matches_the_audience():
    s = load("cases", {**BASE, "JWT_AUDIENCE": "changping-gov,cases-api"})
    v = auth.TokenVerifier.from_settings(s)
    claims = {"sub": "x", "iss": "changping-gov", "exp": int(time.time()) + 60, "roles": ["analyst"]}
    assert v.verify(jwt.encode({**claims, "aud": "cases-api"}, DEV_JWT_SECRET, algorithm="HS256")).sub == "x"
    with pytest.raises(Problem, match="audience"):
        v.verify(jwt.encode({**claims, "aud": "somebody-else"}, DEV_JWT_SECRET, algorithm="HS256"))
    unset = auth.TokenVerifier.from_settings(load("cases", BASE))  # no JWT_AUDIENCE: a token with aud is refused
    with pytest.raises(Problem, match="audience"):
        unset.verify(jwt.encode({**claims, "aud": "cases-api"}, DEV_JWT_SECRET, algorithm="HS256"))


@pytest.mark.parametrize(
    "env,start",
    [
        ({**PRODUCTION, **OIDC, "JWT_AUDIENCE": ""}, "JWT_AUDIENCE: required in production with OIDC_ISSUER"),
        (
            {**PRODUCTION, "JWT_ALGORITHM": "ES256", "JWT_JWKS_URL": ISSUER + "/certs"},
            "JWT_AUDIENCE: required in production with JWT_JWKS_URL",
        ),
        ({**BASE, "OIDC_ISSUER": ISSUER}, "JWT_ALGORITHM: set RS256 and/or ES256"),
        ({**BASE, "JWT_ALGORITHM": "RS512"}, "JWT_ALGORITHM: 'RS512': give HS256, or one or more of RS256, ES256"),
        ({**BASE, "JWT_ALGORITHM": "HS256,RS256"}, "JWT_ALGORITHM"),
        ({**BASE, "JWT_ALGORITHM": "ES256"}, "JWT_PUBLIC_KEY_FILE: required when JWT_ALGORITHM=ES256"),
        ({**BASE, **OIDC, "JWT_PUBLIC_KEY_FILE": "/k.pem"}, "JWT_PUBLIC_KEY_FILE: give either a key file or"),
        ({**BASE, "JWT_ALGORITHM": "RS256,ES256", "JWT_PUBLIC_KEY_FILE": "/k.pem"}, "JWT_ALGORITHM: one algorithm"),
        ({**BASE, **OIDC, "OIDC_ISSUER": "sso.example"}, "OIDC_ISSUER"),
        ({**BASE, **OIDC, "JWT_JWKS_MIN_REFRESH_S": "-1"}, "JWT_JWKS_MIN_REFRESH_S"),
    ],
)
def test_a_bad_identity_provider_setting_is_one_line_naming_it(env, start):
    assert config_error(env).startswith(f"config error: {start}")


def test_production_with_an_identity_provider_loads():
    s = load("cases", {**PRODUCTION, **OIDC, "JWT_ALGORITHM": "ES256, RS256"})
    assert s.jwt_algorithms == ["ES256", "RS256"] and s.jwt_audiences == ["changping-gov"]
    assert s.jwks_configured and s.jwt_secret is None


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "claims.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    "text,message",
    [
        (
            "roles:\n  claims: [groups]\n  map: {/leaders: mayor}\n",
            "roles.map./leaders: 'mayor' is not a platform role",
        ),
        ("roles:\n  claims: [groups]\n  map: {g: [analyst, king]}\n", "roles.map.g: 'king' is not a platform role"),
        ("roles:\n  claims: []\n", "roles.claims"),
        ("role:\n  claims: [groups]\n", "role: Extra inputs are not permitted"),
        ("roles: [a\n", "not valid YAML"),
    ],
)
def test_a_bad_claim_map_stops_the_service_naming_the_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        auth.TokenVerifier.from_settings(load("cases", {**BASE, "JWT_CLAIM_MAP_FILE": path}))
    assert str(e.value).startswith(f"config error: JWT_CLAIM_MAP_FILE: {path}: ") and message in str(e.value)


def test_the_claim_map_reads_dotted_paths_renames_and_keeps_only_what_it_knows(tmp_path):
    claim_map = oidc.load_claim_map(
        write(
            tmp_path,
            "subject: preferred_username\n"
            "roles:\n  claims: [groups, https://changping.example/roles]\n"
            "  map: {/staff/town: [town_admin, analyst], /services: service}\n"
            "areas:\n  claims: [groups]\n  map: {/areas/kongjiafan: changping.kongjiafan}\n"
            "permissions:\n  claims: [scp]\n  map: {contacts: 'volunteer_contact:read'}\n",
        ),
        auth.ROLES,
    )
    claims = {
        "sub": "0b6f-uuid",
        "preferred_username": "zhang.san",
        "groups": ["/staff/town", "/areas/kongjiafan", "/services", "/staff/town", "/unrelated"],
        "https://changping.example/roles": ["grid_manager", "uma_authorization"],
        "scp": ["contacts", "personal_data:read"],
    }
    assert claim_map.principal_fields(claims, auth.ROLES) == {
        "sub": "zhang.san",
        "roles": ["town_admin", "analyst", "service", "grid_manager"],  # uma_authorization, /unrelated: ignored
        "areas": ["changping.kongjiafan"],
        "permissions": ["volunteer_contact:read", "personal_data:read"],
    }
    assert oidc.ClaimMap().principal_fields({"sub": "x"}, auth.ROLES) == {
        "sub": "x",
        "roles": [],
        "areas": [],
        "permissions": [],
    }


NOTIFICATIONS = {
    "NOTIFICATIONS_DATABASE_URL": "postgresql://n:pw@127.0.0.1:5432/gov",
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
    **OIDC,
}


@pytest.mark.parametrize(
    "env,start",
    [
        ({}, "NOTIFICATIONS_OIDC_CLIENT_ID: required unless JWT_ALGORITHM is HS256"),
        ({"NOTIFICATIONS_OIDC_CLIENT_ID": "notifications"}, "NOTIFICATIONS_OIDC_CLIENT_SECRET: required"),
        (
            {"NOTIFICATIONS_OIDC_CLIENT_ID": "n", "NOTIFICATIONS_OIDC_CLIENT_SECRET": "s", "OIDC_ISSUER": ""},
            "NOTIFICATIONS_OIDC_TOKEN_URL: required",
        ),
        (
            {"NOTIFICATIONS_OIDC_CLIENT_ID": "n", "NOTIFICATIONS_OIDC_CLIENT_SECRET": "s"}
            | {"NOTIFICATIONS_OIDC_TOKEN_URL": "sso/token"},
            "NOTIFICATIONS_OIDC_TOKEN_URL: must start with http",
        ),
    ],
)
def test_notifications_needs_client_credentials_once_tokens_come_from_a_provider(env, start):
    environ = {**NOTIFICATIONS, **env}
    if environ.get("OIDC_ISSUER") == "":
        environ |= {"JWT_JWKS_URL": ISSUER + "/certs"}
    s = load("notifications", environ)
    with pytest.raises(ConfigError) as e:
        configure_notifications(s, environ)
    assert str(e.value).startswith(f"config error: {start}")


def test_notifications_with_client_credentials_or_a_fixed_token_configures():
    environ = {**NOTIFICATIONS, "NOTIFICATIONS_OIDC_CLIENT_ID": "n", "NOTIFICATIONS_OIDC_CLIENT_SECRET": "s"}
    cfg = configure_notifications(load("notifications", environ), environ)
    assert cfg.oidc_scope == "volunteer_contact:read" and cfg.oidc_token_url == ""
    environ = {**NOTIFICATIONS, "NOTIFICATIONS_SERVICE_TOKEN": "eyJ.fixed.token"}
    assert configure_notifications(load("notifications", environ), environ).service_token

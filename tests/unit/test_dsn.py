"""DSNs assembled by govctl: the user and password percent-escaped, so any character survives the URL."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from govctl import postgres

AWKWARD = "p@ss:w/rd#?%"


def test_password_round_trips() -> None:
    dsn = postgres.dsn(user="cases", password=AWKWARD, host="127.0.0.1", port=5433)
    assert dsn == "postgresql://cases:p%40ss%3Aw%2Frd%23%3F%25@127.0.0.1:5433/gov"
    parts = urlsplit(dsn)
    assert (unquote(parts.username or ""), unquote(parts.password or "")) == ("cases", AWKWARD)
    assert (parts.hostname, parts.port, parts.path) == ("127.0.0.1", 5433, "/gov")
    assert postgres.server_of(dsn) == ("127.0.0.1", 5433)


def test_user_and_ipv6_host() -> None:
    dsn = postgres.dsn(user="odd user", password="x", host="::1", port=5432, database="postgres")
    assert dsn == "postgresql://odd%20user:x@[::1]:5432/postgres"
    assert postgres.server_of(dsn) == ("::1", 5432)


def test_with_database_keeps_login_and_parameters() -> None:
    admin = postgres.dsn(user="postgres", password=AWKWARD, host="db.example", port=5432, database="postgres")
    moved = postgres.with_database(admin + "?sslmode=verify-full", "gov")
    parts = urlsplit(moved)
    assert unquote(parts.password or "") == AWKWARD
    assert parts.path == "/gov"
    assert parse_qs(parts.query) == {"sslmode": ["verify-full"]}


def test_server_of_an_external_dsn() -> None:
    assert postgres.server_of("postgresql://admin:a%40b@pg.internal/postgres") == ("pg.internal", 5432)
    with pytest.raises(ValueError):
        postgres.server_of("nonsense")

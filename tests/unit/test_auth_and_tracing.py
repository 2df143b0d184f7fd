import time

import jwt
import pytest

from govkit import auth, tracing
from govkit.problems import Problem

KEY = "k" * 40


def verifier():
    return auth.TokenVerifier(algorithm="HS256", key=KEY, issuer="changping-gov")


def test_minted_token_carries_roles_scopes_and_permissions():
    token = auth.mint(
        key=KEY,
        sub="gm-7",
        roles=["grid_manager"],
        areas=["changping.kongjiafan.g03"],
        permissions=[auth.PERSONAL_DATA],
    )
    p = verifier().verify(token)
    assert p.sub == "gm-7" and p.has_role("grid_manager") and p.can(auth.PERSONAL_DATA)


@pytest.mark.parametrize(
    "scope,area,covered",
    [
        ("changping", "changping.kongjiafan.g03", True),
        ("changping.kongjiafan", "changping.kongjiafan.g03", True),
        ("changping.kongjiafan.g03", "changping.kongjiafan.g03", True),
        ("changping.kongjiafan.g03", "changping.kongjiafan", False),
        ("changping.kongjiafan", "changping.kongjiafanxi.g01", False),  # prefix of a name is not a parent
        ("changping.zhongguping", "changping.kongjiafan.g03", False),
    ],
)
def test_scope_covers_an_area_and_everything_under_it(scope, area, covered):
    assert auth.Principal(sub="x", areas=[scope]).covers(area) is covered


@pytest.mark.parametrize(
    "token",
    [
        jwt.encode({"sub": "x", "iss": "changping-gov", "exp": int(time.time()) - 10}, KEY, algorithm="HS256"),
        jwt.encode({"sub": "x", "iss": "someone-else", "exp": int(time.time()) + 60}, KEY, algorithm="HS256"),
        jwt.encode({"sub": "x", "iss": "changping-gov", "exp": int(time.time()) + 60}, "w" * 40, algorithm="HS256"),
        jwt.encode({"iss": "changping-gov", "exp": int(time.time()) + 60}, KEY, algorithm="HS256"),
        "not-a-token",
    ],
)
def test_bad_tokens_are_401(token):
    with pytest.raises(Problem) as e:
        verifier().verify(token)
    assert e.value.status == 401


def test_unknown_role_is_refused_when_minting():
    with pytest.raises(ValueError, match="unknown role"):
        auth.mint(key=KEY, sub="x", roles=["emperor"], areas=[])


def test_traceparent_is_continued_or_started():
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    child = tracing.continue_or_start(parent)
    assert child.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736" and child.span_id != "00f067aa0ba902b7"
    for bad in (None, "", "garbage", "00-" + "0" * 32 + "-00f067aa0ba902b7-01"):
        fresh = tracing.continue_or_start(bad)
        assert len(fresh.trace_id) == 32 and fresh.trace_id != "0" * 32

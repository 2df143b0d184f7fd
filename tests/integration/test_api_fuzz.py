"""Schemathesis against each service's live OpenAPI document: no generated
request gets a 5xx, and every answer has a documented status code, content
type and body schema.

Bounded (docs/decisions.md): a fixed budget of generated requests per service,
spread over its operations, derandomized (the same requests every run), no
shrinking. Most requests carry a valid token of a broad role; negative data
(values the schema forbids) and requests without a token or with a forged one
are part of the budget, and a few requests per operation are built from the
documents' own examples (real grids and categories reach deeper). The run
writes what it manages to create through the APIs, so it runs after every
other test of the session (tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from hypothesis.strategies import one_of
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from govctl import areas as area_file
from govkit.auth import PERSONAL_DATA, mint

SERVICES = ("cases", "volunteers", "reporting", "notifications", "livelihood")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
BUDGET = 300  # generated requests per service, shared out over its operations
FLOOR = 200  # fewer than this means generation silently stopped somewhere
SHARE = {"positive": 0.6, "negative": 0.3, "no token": 0.05, "forged token": 0.05}
SCHEMA_EXAMPLES = 3  # besides the budget: requests built from the documents' own examples (real grids, categories)


pytestmark = pytest.mark.fuzz  # run last: see tests/conftest.py


@pytest.fixture(scope="module")
def services(stack):
    stack.start_services(say=lambda *_: None)
    area_file.publish(stack.bootstrap, area_file.DEFAULT_FILE)
    for svc in SERVICES:
        stack.wait_areas(svc, 137)  # a token's area scopes must be areas the service knows
    yield stack
    stack.stop_services()


@dataclass
class Tally:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)  # one example per (operation, failure kind)
    # per operation: where the time goes
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    protected_successes: int = 0  # 2xx from operations that need a token

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def fail(self, label: str, kind: str, text: str) -> None:
        self.failures.setdefault(f"{label}: {kind}", text[:1500])


def _config() -> schemathesis.Config:
    # the bearer header is ours (valid, missing or forged), never a generated one
    return schemathesis.Config.from_dict({"generation": {"with-security-parameters": False}})


def _fuzz(
    operation, strategy, examples: int, base_url: str, headers: dict, session: requests.Session, tally: Tally
) -> None:
    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def run(case):
        try:
            response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
        except requests.RequestException as e:
            tally.fail(operation.label, f"no answer ({type(e).__name__})", str(e))
            return
        tally.requests += 1
        tally.statuses[response.status_code] += 1
        if 200 <= response.status_code < 300 and _protected(operation):
            tally.protected_successes += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except (AssertionError, BaseExceptionGroup) as e:
            failures = e.exceptions if isinstance(e, BaseExceptionGroup) else [e]
            for failure in failures:
                title = getattr(failure, "title", type(failure).__name__)
                tally.fail(
                    operation.label,
                    title,
                    f"{failure}\n{case.as_curl_command(headers=headers)}\n-> {response.status_code} "
                    f"{response.headers.get('content-type')} {response.text[:300]}",
                )

    started = time.monotonic()
    # Unsatisfiable: nothing the schema forbids (negative data for an operation with no parameters)
    with contextlib.suppress(Unsatisfiable):
        run()
    tally.seconds[operation.label] += time.monotonic() - started


def _protected(operation) -> bool:
    return bool(operation.definition.raw.get("security"))


def _has_inputs(operation) -> bool:
    return bool(operation.definition.raw.get("parameters") or operation.definition.raw.get("requestBody"))


@pytest.mark.parametrize("service", SERVICES)
def test_fuzzed_requests_get_no_5xx_and_only_documented_answers(services, service):
    stack = services
    base_url = stack.url(service)
    schema = schemathesis.openapi.from_url(base_url + "/openapi.json", config=_config())
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"{service}: {result.err()}"
        if not result.ok().path.endswith("/stream"):  # an event stream never ends: nothing to fuzz in its answer
            operations.append(result.ok())
    assert len(operations) >= 8, f"{service}: only {len(operations)} operations in its OpenAPI"

    token = mint(
        key=stack.state["jwt_secret"],
        sub="fuzz-town-admin",
        roles=["town_admin", "analyst"],
        areas=["changping"],
        permissions=[PERSONAL_DATA],
    )
    forged = mint(key="not-the-secret-" * 3, sub="fuzz-forger", roles=["town_admin"], areas=["changping"])
    runs = {
        "examples": (None, {"Authorization": f"Bearer {token}"}),
        "positive": (GenerationMode.POSITIVE, {"Authorization": f"Bearer {token}"}),
        "negative": (GenerationMode.NEGATIVE, {"Authorization": f"Bearer {token}"}),
        "no token": (GenerationMode.POSITIVE, {}),
        "forged token": (GenerationMode.POSITIVE, {"Authorization": f"Bearer {forged}"}),
    }
    tally = Tally()
    by_run: dict[str, Counter] = {}
    started = time.monotonic()
    with requests.Session() as session:
        for name, (mode, headers) in runs.items():
            targets = [op for op in operations if _protected(op)] if name.endswith("token") else operations
            # an operation without parameters has one request to make (/healthz); the others share the budget
            examples = (
                SCHEMA_EXAMPLES
                if mode is None
                else max(1, round(BUDGET * SHARE[name] / sum(1 for op in targets if _has_inputs(op))))
            )
            before = Counter(tally.statuses)
            for operation in targets:
                if mode is None:
                    from_examples = schema.get_strategies_from_examples(operation)
                    if from_examples:
                        _fuzz(operation, one_of(from_examples), examples, base_url, headers, session, tally)
                else:
                    _fuzz(
                        operation,
                        operation.as_strategy(generation_mode=mode),
                        examples,
                        base_url,
                        headers,
                        session,
                        tally,
                    )
            by_run[name] = tally.statuses - before
    elapsed = time.monotonic() - started
    print(
        f"\nfuzz {service}: {tally.requests} requests in {elapsed:.1f}s over {len(operations)} operations "
        f"({', '.join(f'{k} {v.total()}' for k, v in by_run.items())}); 5xx: {tally.server_errors}; "
        f"statuses: {dict(sorted(tally.statuses.items()))}; slowest: "
        + ", ".join(
            f"{label} {sec:.1f}s"
            for label, sec in sorted(tally.seconds.items(), key=lambda kv: kv[1], reverse=True)[:3]
        )
    )

    assert not tally.failures, f"{service}: {len(tally.failures)} kind(s) of failure:\n\n" + "\n\n".join(
        f"{key}\n{text}" for key, text in sorted(tally.failures.items())
    )
    assert tally.server_errors == 0
    assert tally.requests >= FLOOR, f"{service}: only {tally.requests} requests generated"
    assert tally.protected_successes > 0, "the valid token never got an operation that needs one to succeed"
    for name in ("no token", "forged token"):
        assert by_run[name][401] > 0 and not any(s < 400 for s in by_run[name]), f"{name}: {by_run[name]}"

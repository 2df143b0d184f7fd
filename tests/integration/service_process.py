"""A service as a process of its own on a free port against the session's stack, for the tests of its HTTP edge:
started, waited for until /healthz answers, stopped afterwards."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from govctl import procs
from govctl.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def serving(args: list[str], port: int, env: dict[str, str], log: Path, every: float = 0.2) -> Iterator[str]:
    """`python -m <args>` with `env` on top of this process's environment; its base URL once /healthz answers
    (its log's tail in the failure when it dies or does not answer within 60 s)."""
    pid = procs.spawn([sys.executable, "-m", *args], log=log, env={**os.environ, **env}, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert procs.alive(pid), log.read_text()[-3000:]
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(every)
        yield url
    finally:
        procs.stop(pid, timeout=25)


@contextmanager
def reporting_service(stack, log_name: str = "reporting", **env: str) -> Iterator[str]:
    """The reporting service without a broker: it consumes and publishes nothing, what it writes to its outbox
    stays there; its weekly job runs once, at the start. `env` adds or overrides variables."""
    port = free_port()
    environ = {
        **stack.service_env("reporting"),
        "REPORTING_HTTP_PORT": str(port),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "REPORTING_PUBLISH_INTERVAL_S": "86400",
        **env,
    }
    with serving(["reporting", "serve"], port, environ, stack.logs / f"{log_name}-{port}.log") as url:
        yield url

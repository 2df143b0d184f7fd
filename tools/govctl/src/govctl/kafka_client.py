"""What every ./gov command that talks to Kafka needs besides the address: the security settings of its
environment, and one line when its client could not start. Light on imports: compose's areas job runs it on the
image's packages only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from govctl.errors import StackError, UsageError
from govkit import kafka_security


def client_security(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_* and KAFKA_SSL_* (docs/configuration.md) as aiokafka keyword
    arguments, for every ./gov command that talks to Kafka; a bad combination is one usage line."""
    try:
        return kafka_security.aiokafka_kwargs(environ)
    except kafka_security.KafkaSecurityError as e:
        raise UsageError(str(e)) from None


async def unreachable(bootstrap: str, error: BaseException) -> StackError:
    """The one line for a client that could not start: why its login was refused (password, certificate) when it
    was, else the error."""
    problem = await kafka_security.login_problem(bootstrap, kafka_security.from_env())
    return StackError(f"kafka at {bootstrap} not reachable: {problem or f'{type(error).__name__}: {error}'}")

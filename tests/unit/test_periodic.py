"""Timer jobs: a round that fails because a dependency is away is a warning, any other failure is logged
with its stack; either way the next round comes."""

import asyncio
import logging

import asyncpg
from aiokafka.errors import KafkaConnectionError

from govkit.periodic import Periodic, unavailable


def test_dependencies_out_of_reach_are_told_from_our_own_failures():
    assert unavailable(asyncpg.CannotConnectNowError("starting up"))
    assert unavailable(ConnectionRefusedError()) and unavailable(TimeoutError())
    assert unavailable(KafkaConnectionError())
    assert not unavailable(KeyError("status")) and not unavailable(asyncpg.UndefinedColumnError("x"))


async def test_each_round_runs_after_a_failure_and_the_failure_is_logged_by_kind(caplog):
    failures = [ConnectionRefusedError("db away"), KeyError("status"), None]
    rounds = []

    async def job():
        rounds.append(1)
        failure = failures[len(rounds) - 1] if len(rounds) <= len(failures) else None
        if failure:
            raise failure

    timer = Periodic("test job", job, 0.01)
    with caplog.at_level(logging.WARNING, logger="govkit.periodic"):
        timer.start()
        while len(rounds) < 3:
            await asyncio.sleep(0.01)
        await timer.stop()
    warned, errors = (
        [r for r in caplog.records if r.levelno == logging.WARNING],
        [r for r in caplog.records if r.levelno == logging.ERROR],
    )
    assert len(warned) == 1 and "ConnectionRefusedError: db away" in warned[0].getMessage()
    assert warned[0].exc_info is None
    assert len(errors) == 1 and "test job failed" in errors[0].getMessage()
    assert errors[0].exc_info is not None and errors[0].exc_info[0] is KeyError

"""Wiring of the volunteers service: registry, dispatch, timers, and tasks from case events and meeting notices."""

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI

from gov_contracts import topics
from govkit import db
from govkit.consumer import Handler
from govkit.periodic import Periodic
from govkit.service import ServiceSpec
from volunteers import config, recurring, service
from volunteers.api import answer_page, import_routes, internal_routes, recurring_routes, routes
from volunteers.candidate_index import CandidateIndex
from volunteers.context import Context

log = logging.getLogger(__name__)

PERIODIC: list[Callable[[Context], Awaitable[None]]] = [  # schedule and pairing generators register here
    recurring.schedule_job,  # tasks of schedule occurrences within the horizon, once each (schedule_runs claim)
    recurring.pairing_job,  # visits due by tomorrow, once each; next_due advances; overdue reported once per due date
]


def context(app: FastAPI) -> Context:
    """The one Context of the running service (app.state.volunteers), made on first use: the consumer's
    handlers ask for it before on_start runs, the routes (api/deps.py) and the timers after."""
    if getattr(app.state, "volunteers", None) is None:
        app.state.volunteers = Context(
            pool=app.state.pool, config=app.state.config, pseudonym_key=app.state.settings.pseudonym_key
        )
    return app.state.volunteers


def on_case_dispatched(app: FastAPI) -> Handler:
    return service.on_case_dispatched(context(app))


def on_meeting_noticed(app: FastAPI) -> Handler:
    return service.on_meeting_noticed(context(app))


async def _timer_round(app: FastAPI) -> None:
    ctx = context(app)
    n = await service.expire_offers(ctx)
    if n:
        log.info("offers expired: %d", n)
    for job in app.state.periodic:
        await job(ctx)


async def on_start(app: FastAPI) -> None:
    ctx = context(app)
    # the dispatch index (candidate_index.py): built before the timers start, on a connection of its own
    settings = app.state.settings
    index = CandidateIndex(lambda: db.connect(settings.database_url, settings.db_schema))
    await index.start()
    ctx.index = index
    app.state.periodic = list(PERIODIC)
    app.state.timer = Periodic("timer round", lambda: _timer_round(app), app.state.config.timer_interval_s)
    app.state.timer.start()


async def on_stop(app: FastAPI) -> None:
    await app.state.timer.stop()
    ctx = context(app)
    if ctx.index is not None:
        await ctx.index.stop()
        ctx.index = None
    app.state.volunteers = None  # its pool closes with this lifespan


SPEC = ServiceSpec(
    name="volunteers",
    title="Volunteers service (志愿服务与派单)",
    description="Registry of party members, grid managers, workers and volunteers; fair and fast dispatch of "
    "field tasks with offers; schedules and pairings; hours and points.",
    migrations_dir=Path(__file__).resolve().parents[2] / "migrations",
    handler_factories={
        "gov.case.dispatched.v1": on_case_dispatched,
        "gov.livelihood.meeting_noticed.v1": on_meeting_noticed,  # publicity tasks (会议宣传)
    },
    topics=[topics.CASES, topics.LIVELIHOOD],
    # + CSV import, schedules, pairings; the notifications service's contact lookup; the answer-link page
    routers=[routes.router, import_routes.router, recurring_routes.router, internal_routes.router, answer_page.router],
    on_start=on_start,
    on_stop=on_stop,
    configure=config.configure,
    extra_env=config.ENV_VARS,
)

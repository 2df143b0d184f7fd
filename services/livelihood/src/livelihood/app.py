"""Wiring of the livelihood service: proposals, meetings, notices and implementation; copies of cases and of
reporting's demand analysis for evidence."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from gov_contracts import topics
from govkit.clock import SystemClock
from govkit.consumer import Handler
from govkit.service import ServiceSpec
from livelihood import config, handlers
from livelihood.api import routes
from livelihood.context import Context, FileOffsetClock


def context(app: FastAPI) -> Context:
    if getattr(app.state, "livelihood", None) is None:
        cfg = app.state.config
        clock = FileOffsetClock(cfg.clock_file) if cfg.clock_file else SystemClock()
        app.state.livelihood = Context(pool=app.state.pool, config=cfg, clock=clock)
    ctx: Context = app.state.livelihood
    return ctx


async def on_start(app: FastAPI) -> None:
    context(app)


async def on_stop(app: FastAPI) -> None:
    app.state.livelihood = None


def _handlers() -> dict[str, Handler]:
    return handlers.copies.handlers()


SPEC = ServiceSpec(
    name="livelihood",
    title="Livelihood projects service (民生实事)",
    description="Villagers' representatives propose, the Party branch reviews, the villagers decide (村民代表提、"
    "支部审、群众议; or 四议两公开): evidence from the data, meetings with quorum and double-entered tallies, public "
    "notices with objections, implementation against the budget, acceptance and results made public.",
    migrations_dir=Path(__file__).resolve().parents[2] / "migrations",
    handlers=_handlers(),
    batch_handlers=handlers.copies.batch_handlers(),
    topics=[topics.CASES, topics.REPORTS],
    routers=[routes.router, routes.public],
    on_start=on_start,
    on_stop=on_stop,
    configure=config.configure,
    extra_env=config.ENV_VARS,
)

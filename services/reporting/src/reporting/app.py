"""Wiring of the reporting service: projections from events, report API, weekly job."""

import logging
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI

from gov_contracts import topics
from govkit.periodic import Periodic
from govkit.service import ServiceSpec
from reporting import config, projections, publisher
from reporting.api import routes

log = logging.getLogger(__name__)


async def _publish_due_week(app: FastAPI) -> None:
    cfg = app.state.config
    week = publisher.due_week(datetime.now(UTC), cfg.publish_after_hour)
    n = await publisher.publish_week(app.state.pool, cfg, week)
    if n:
        log.info("published %d weekly report(s) for %s", n, week)
    demand = await publisher.publish_demand(app.state.pool, cfg, week)
    if demand.published:
        log.info("published the livelihood demand of %d village(s) for %s", len(demand.published), week)


async def on_start(app: FastAPI) -> None:
    app.state.weekly_job = Periodic(
        "weekly report job", lambda: _publish_due_week(app), app.state.config.publish_interval_s
    )
    app.state.weekly_job.start()


async def on_stop(app: FastAPI) -> None:
    await app.state.weekly_job.stop()


SPEC = ServiceSpec(
    name="reporting",
    title="Reporting service (周研判与数据分析)",
    description=(
        "Weekly risk assessment for grid, village and town; KPIs; livelihood priorities and demand; "
        "livelihood projects (民生实事) weekly and annual; exports."
    ),
    migrations_dir=Path(__file__).resolve().parents[2] / "migrations",
    handlers=projections.handlers(),
    batch_handlers=projections.batch_handlers(),
    topics=[topics.CASES, topics.TASKS, topics.VOLUNTEERS, topics.LIVELIHOOD],
    routers=[routes.router, routes.shared_router],
    on_start=on_start,
    on_stop=on_stop,
    configure=config.configure,
    extra_env=config.ENV_VARS,
)

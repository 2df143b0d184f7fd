"""Wiring of the cases service: what it consumes, its migrations, its HTTP routes, its timer."""

import logging
from pathlib import Path

import asyncpg
from fastapi import FastAPI

from cases import config, service
from cases.api import open311, routes
from cases.storage import PostgresStorage, S3Storage, Storage
from gov_contracts import topics
from gov_contracts.registry import REGISTRY
from govkit.clock import FileOffsetClock, SystemClock
from govkit.handlers import HandlerRegistry
from govkit.periodic import Periodic
from govkit.service import ServiceSpec

log = logging.getLogger(__name__)

# every task event puts the task's step on the timeline of the case it came from
task_progress = HandlerRegistry()
task_progress.handles(*(et.model for et in REGISTRY.values() if et.topic == topics.TASKS))(service.on_task_event)


async def _sweep(ctx: service.Context) -> None:
    n = await service.sweep_deadlines(ctx)
    if n:
        log.info("deadline sweep: %d case(s) overdue", n)


def storage(cfg: config.CasesConfig, pool: asyncpg.Pool | None) -> Storage:
    """The attachment store CASES_STORAGE names."""
    if cfg.storage == "s3":
        return S3Storage(cfg.s3_endpoint, cfg.s3_bucket, cfg.s3_access_key, cfg.s3_secret_key, cfg.s3_region)
    assert pool is not None
    return PostgresStorage(pool)


async def on_start(app: FastAPI) -> None:
    cfg = app.state.config
    app.state.cases = service.Context(
        pool=app.state.pool,
        policy=cfg.policy,
        pseudonym_key=app.state.settings.pseudonym_key,
        number_prefix=cfg.number_prefix,
        duplicate_threshold=cfg.duplicate_threshold,
        storage=storage(cfg, app.state.pool),
        attachment_max_bytes=cfg.attachment_max_bytes,
        attachment_max_files=cfg.attachment_max_files,
        clock=FileOffsetClock(cfg.clock_file) if cfg.clock_file else SystemClock(),
    )
    ctx = app.state.cases
    app.state.sla_timer = Periodic("deadline sweep", lambda: _sweep(ctx), cfg.sla_sweep_interval_s)
    app.state.sla_timer.start()


async def on_stop(app: FastAPI) -> None:
    await app.state.sla_timer.stop()
    if isinstance(app.state.cases.storage, S3Storage):
        await app.state.cases.storage.aclose()


SPEC = ServiceSpec(
    name="cases",
    title="Cases service (事件办理)",
    description="Cases found in the grids: the closed loop from report to verified close, deadlines, escalation, "
    "duplicates, Open311 GeoReport v2.",
    migrations_dir=Path(__file__).resolve().parents[2] / "migrations",
    handlers=task_progress.handlers(),
    topics=[topics.TASKS],
    routers=[routes.router, open311.geojson_router, open311.router],
    on_start=on_start,
    on_stop=on_stop,
    configure=config.configure,
    extra_env=config.ENV_VARS,
)

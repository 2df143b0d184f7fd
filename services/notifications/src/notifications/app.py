"""Wiring of the notifications service: triggers from case, task, report and volunteer events; senders per
channel; reminder and deadline sweeps; the directory, roster, inbox and delivery-log API."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
from fastapi import FastAPI

from gov_contracts import REGISTRY, topics
from govkit.consumer import BatchHandler, Handler
from govkit.handlers import HandlerRegistry
from govkit.periodic import Periodic
from govkit.service import ServiceSpec
from notifications import config, handlers, timers, wiring
from notifications.api import routes
from notifications.context import Context
from notifications.inbox import InboxHub

log = logging.getLogger(__name__)


def context(app: FastAPI) -> Context:
    """The one Context of the running service, made on first use (the consumer's handlers ask before on_start)."""
    if getattr(app.state, "notifications", None) is None:
        app.state.notifications = Context(pool=app.state.pool, config=app.state.config)
    ctx: Context = app.state.notifications
    return ctx


def _registry(app: FastAPI) -> HandlerRegistry:
    if getattr(app.state, "notification_handlers", None) is None:
        app.state.notification_handlers = handlers.registry(context(app))
    registry: HandlerRegistry = app.state.notification_handlers
    return registry


def _handler(event_type: str):  # noqa: ANN202
    def make(app: FastAPI) -> Handler:
        return _registry(app).handlers()[event_type]

    return make


def _batch_handler(event_type: str):  # noqa: ANN202
    def make(app: FastAPI) -> BatchHandler:
        return _registry(app).batch_handlers()[event_type]

    return make


async def on_start(app: FastAPI) -> None:
    ctx = context(app)
    s = app.state.settings
    app.state.http_client = httpx.AsyncClient(trust_env=False, limits=httpx.Limits(max_connections=100))
    app.state.senders = wiring.senders(ctx, s, app.state.http_client)
    await app.state.senders.start(s.database_url, s.db_schema)
    app.state.inbox_hub = InboxHub()
    await app.state.inbox_hub.start(s.database_url, s.db_schema)
    app.state.sweeps = Periodic("notification sweeps", lambda: timers.sweep(ctx), ctx.config.timer_interval_s)
    app.state.sweeps.start()
    app.state.queue_gauge = Periodic("notification queue depth", app.state.senders.measure_queues, 15)
    app.state.queue_gauge.start()


async def on_stop(app: FastAPI) -> None:
    await app.state.sweeps.stop()
    await app.state.queue_gauge.stop()
    await app.state.senders.stop()
    await app.state.inbox_hub.stop()
    await app.state.http_client.aclose()
    app.state.notifications = None


def _handled_types(batch: bool = False) -> list[str]:
    # handlers.registry needs a context to bind; the types it registers do not depend on it
    probe = handlers.registry(Context.__new__(Context))
    return [t for t in (probe.batch_handlers() if batch else probe.handlers()) if t in REGISTRY]


SPEC = ServiceSpec(
    name="notifications",
    title="Notifications service (消息通知)",
    description="Tells volunteers of offers (with a link to answer), on-duty staff of critical cases, the levels "
    "holding cases of deadlines and escalations, leaders of the weekly assessment: WeCom and DingTalk robots, SMS, "
    "e-mail and an in-app inbox with a live stream; quiet hours and preferences; a delivery log.",
    migrations_dir=Path(__file__).resolve().parents[2] / "migrations",
    handler_factories={t: _handler(t) for t in _handled_types()},
    batch_handler_factories={t: _batch_handler(t) for t in _handled_types(batch=True)},
    topics=[topics.CASES, topics.TASKS, topics.REPORTS, topics.VOLUNTEERS, topics.LIVELIHOOD],
    routers=[routes.router],
    on_start=on_start,
    on_stop=on_stop,
    configure=config.configure,
    extra_env=config.ENV_VARS,
)

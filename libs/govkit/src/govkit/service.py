"""One service process: a FastAPI app whose lifespan runs the database pool,
the FastStream Kafka consumer and the outbox relay.

All three services are assembled here, the same way: a ServiceSpec names what
differs (migrations, event handlers, topics, routers).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import State
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gov_contracts import topics
from govkit import areas, auth, db, docs_pages, inputs, metrics, migrate, openapi, problems, telemetry, tracing
from govkit import logging as jsonlog
from govkit import settings as settings_mod
from govkit.consumer import BatchHandler, EventConsumer, Handler
from govkit.consumer_health import ConsumerMonitor, ConsumerReport
from govkit.kafka import Producer
from govkit.kafka_security import login_problem
from govkit.outbox import OutboxRelay
from govkit.retention import RetentionJob

log = logging.getLogger(__name__)
access_log = logging.getLogger("govkit.http")
_QUIET = frozenset({"/healthz", "/healthz/consumer", "/readyz", "/metrics"})


@dataclass
class ServiceSpec:
    name: str
    title: str
    description: str
    migrations_dir: Path
    handlers: dict[str, Handler] = field(default_factory=dict)
    # type name -> the batch handler that also stands behind its entry in `handlers` (govkit.handlers.handles_batch)
    batch_handlers: dict[str, BatchHandler] = field(default_factory=dict)
    # event type -> a function making its handler from the running app, for handlers that need the service's
    # pool, configuration or settings; called once the pool exists, before the consumer starts
    handler_factories: dict[str, Callable[[FastAPI], Handler]] = field(default_factory=dict)
    # the same for batch handlers that need the running app (each type name also in handler_factories)
    batch_handler_factories: dict[str, Callable[[FastAPI], BatchHandler]] = field(default_factory=dict)
    topics: list[str] = field(default_factory=list)  # besides the areas topic
    routers: list[APIRouter] = field(default_factory=list)
    on_start: Callable[[FastAPI], Awaitable[None]] | None = None
    on_stop: Callable[[FastAPI], Awaitable[None]] | None = None
    # reads and validates the service's own configuration before anything starts;
    # raises settings.ConfigError (one line) when it is wrong; the result is app.state.config
    configure: Callable[[settings_mod.ServiceSettings], object] | None = None
    extra_env: tuple[settings_mod.EnvVar, ...] = ()  # the service's own settings_mod.EnvVar entries, for the docs

    def migrations(self) -> list[migrate.Migration]:
        return migrate.service_migrations(self.migrations_dir)

    def all_handlers(self, app: FastAPI) -> dict[str, Handler]:
        built = {event_type: make(app) for event_type, make in self.handler_factories.items()}
        return {**areas.HANDLERS, **self.handlers, **built}

    def all_batch_handlers(self, app: FastAPI) -> dict[str, BatchHandler]:
        built = {event_type: make(app) for event_type, make in self.batch_handler_factories.items()}
        return {**self.batch_handlers, **built}

    def handled_types(self) -> list[str]:
        """The event types the service applies (the others on its topics are skipped)."""
        return [*areas.HANDLERS, *self.handlers, *self.handler_factories]

    def all_topics(self) -> list[str]:
        return [topics.AREAS, *[t for t in self.topics if t != topics.AREAS]]


async def _start_broker(app: FastAPI, broker: KafkaBroker) -> None:
    """Kafka may be down when the service starts: keep trying, HTTP serves meanwhile."""
    backoff = 0.5
    while True:
        try:
            await broker.start()
            app.state.broker_started = True
            log.info("kafka consumer started")
            return
        except asyncio.CancelledError:
            raise
        except Exception as e:
            s: settings_mod.ServiceSettings = app.state.settings
            reason = await login_problem(s.kafka_bootstrap_servers, s.kafka_security)
            log.warning("kafka not reachable (%s); retrying in %.1fs", reason or f"{type(e).__name__}: {e}", backoff)
            with contextlib.suppress(Exception):
                await broker.stop()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10)


def build_app(spec: ServiceSpec, s: settings_mod.ServiceSettings, config: object = None) -> FastAPI:
    if config is None and spec.configure is not None:
        config = spec.configure(s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = s
        app.state.config = config
        # before the pool: a connection traces its statements when tracing is on as it opens
        tracer_provider = telemetry.setup(spec.name, s)
        app.state.verifier = auth.TokenVerifier.from_settings(s)
        app.state.pool = await db.create_pool(s.database_url, s.db_schema, max_size=s.db_pool_max)
        app.state.known_areas = areas.KnownAreas(app.state.pool)  # checks the area scopes of tokens
        app.state.migrations_ok = False
        producer = Producer(s.kafka_bootstrap_servers, f"{spec.name}-producer", s.kafka_security)
        app.state.producer = producer
        # per-message access logs at DEBUG; service messages go through our JSON handler
        broker = KafkaBroker(
            s.kafka_bootstrap_servers,
            client_id=spec.name,
            acks="all",
            enable_idempotence=True,
            security=s.kafka_security.faststream_security(),
            logger=logging.getLogger("faststream.broker"),
            log_level=logging.DEBUG,
        )
        app.state.broker = broker
        app.state.broker_started = False
        consumer = EventConsumer(
            service=spec.name,
            group_id=spec.name,
            topics=spec.all_topics(),
            pool=app.state.pool,
            producer=producer,
            handlers=spec.all_handlers(app),
            batch_handlers=spec.all_batch_handlers(app),
            max_attempts=s.consumer_max_attempts,
            batch_max=s.consumer_batch_max,
            batch_wait_ms=s.consumer_batch_wait_ms,
            fetch_min_bytes=s.consumer_fetch_min_bytes,
            fetch_max_wait_ms=s.consumer_fetch_max_wait_ms,
        )
        consumer.attach(broker)
        monitor = ConsumerMonitor(consumer, interval=s.consumer_lag_interval_s, stall_after=s.consumer_stall_after_s)
        app.state.consumer_monitor = monitor
        monitor.start()
        retention = RetentionJob(
            pool=app.state.pool,
            service=spec.name,
            outbox_days=s.outbox_retention_days,
            inbox_days=s.inbox_retention_days,
            interval=s.retention_interval_s,
            batch=s.retention_batch_size,
        )
        retention.start()
        relay = OutboxRelay(
            dsn=s.database_url,
            schema=s.db_schema,
            pool=app.state.pool,
            producer=producer,
            service=spec.name,
            batch_size=s.outbox_batch_size,
            poll_interval=s.outbox_poll_interval_s,
        )
        app.state.relay = relay
        relay.start()
        starter = asyncio.create_task(_start_broker(app, broker))
        if spec.on_start:
            await spec.on_start(app)
        log.info("%s started on %s:%s", spec.name, s.http_host, s.http_port)
        try:
            yield
        finally:
            # stop consuming first, then flush the outbox, then close connections
            if spec.on_stop:
                await spec.on_stop(app)
            starter.cancel()
            await retention.stop()
            await monitor.stop()
            try:
                await broker.stop()
            except Exception:
                log.warning("broker stop failed", exc_info=True)
            await relay.stop()
            await producer.stop()
            await app.state.pool.close()
            telemetry.shutdown(tracer_provider)
            log.info("%s stopped", spec.name)

    app = FastAPI(
        title=spec.title,
        description=spec.description,
        version="1.0.0",
        lifespan=lifespan,
        generate_unique_id_function=openapi.operation_id,
        dependencies=[Depends(inputs.reject_nul)],
        # TraceAndCount makes the request's span (govkit.telemetry): FastAPI's own telemetry would make a second
        # one under any global provider, and its logs would carry exception messages
        telemetry={"tracing": False, "metrics": False, "logs": False, "auto_configure": False},
    )
    problems.install(app)
    openapi.install(app, always_available=("/healthz", "/metrics"))
    docs_pages.install(app, spec)
    _instrument(app, spec.name)
    app.include_router(_ops_router(spec))
    app.include_router(areas.router)
    for r in spec.routers:
        app.include_router(r)
    return app


def _instrument(app: FastAPI, service: str) -> None:
    app.add_middleware(TraceAndCount, service=service)


class TraceAndCount:
    """Trace context, metrics, the access log and the last-resort problem response of every request. A plain
    ASGI middleware (Starlette's `@app.middleware("http")` runs each request through an extra task and
    streams, a measurable share of a request's CPU)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v for k, v in scope["headers"] if k == b"traceparent"), None)
        traceparent = incoming.decode("latin-1") if incoming is not None else None
        if telemetry.tracer is None:
            span = None
            ctx = tracing.continue_or_start(traceparent)
        else:
            span = telemetry.ServerSpan(traceparent, scope["method"])
            ctx = span.context
        token = tracing.current.set(ctx)
        started = time.perf_counter()
        status = 500
        responded = False

        async def send_traced(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
                message["headers"] = [*message.get("headers", ()), (b"traceparent", ctx.traceparent.encode())]
            await send(message)

        try:
            try:
                await self.app(scope, receive, send_traced)
            except Exception as exc:  # caught here, in the request's trace context: a client never gets text/plain
                if responded:
                    raise
                await problems.unexpected(Request(scope), exc)(scope, receive, send_traced)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - started
            method = scope["method"]
            metrics.HTTP_REQUESTS.labels(self.service, method, path, str(status)).inc()
            metrics.HTTP_LATENCY.labels(self.service, method, path).observe(elapsed)
            access_log.log(
                logging.DEBUG if path in _QUIET else logging.INFO,
                "%s %s %s",
                method,
                scope["path"],
                status,
                extra={"status": status, "ms": round(elapsed * 1000, 1)},
            )
            tracing.current.reset(token)
            if span is not None:
                span.end(method, path, status)


def _consumer_summary(state: State) -> dict[str, str]:
    monitor = getattr(state, "consumer_monitor", None)
    if monitor is None:
        return {"status": "unknown", "detail": "not started"}
    report = monitor.report()
    return {"status": report["status"], "detail": report["detail"]}


def _ops_router(spec: ServiceSpec) -> APIRouter:
    r = APIRouter(tags=["operations"])

    # response_model=None: these answer plain dicts or a problem response, and the document says no more of them
    @r.get("/healthz", summary="Alive: the process serves HTTP", operation_id="getHealth", response_model=None)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": spec.name}

    @r.get(
        "/readyz",
        summary="Ready: database and broker reachable, migrations applied",
        operation_id="getReadiness",
        response_model=None,
        responses={503: {"description": "not ready: `checks` says which of database, migrations, broker is not"}},
    )
    async def readyz(request: Request) -> dict[str, Any] | JSONResponse:
        st = request.app.state
        checks: dict[str, str] = {}
        try:
            async with st.pool.acquire(timeout=2) as con:
                await con.fetchval("select 1")
                checks["database"] = "ok"
                if not st.migrations_ok:
                    todo = await migrate.pending(con, spec.migrations())
                    st.migrations_ok = not todo
                    checks["migrations"] = "ok" if not todo else f"{len(todo)} pending: run migrate"
                else:
                    checks["migrations"] = "ok"
        except Exception as e:
            checks["database"] = f"unreachable: {type(e).__name__}"
            checks.setdefault("migrations", "unknown")
        try:
            ok = st.broker_started and await st.broker.ping(timeout=2)
            checks["broker"] = "ok" if ok else "unreachable"
        except Exception as e:
            checks["broker"] = f"unreachable: {type(e).__name__}"
        ready = all(v == "ok" for v in checks.values())
        # reported, not gating: taking the pod out of the Service would not unstick it (docs/decisions.md)
        consumer = _consumer_summary(st)
        if not ready:
            failing = "; ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok")
            not_ready = problems.response(503, "Not ready", failing, checks=checks, consumer=consumer)
            not_ready.headers["Retry-After"] = str(problems.RETRY_AFTER_S)
            return not_ready
        return {"status": "ready", "checks": checks, "consumer": consumer}

    @r.get(
        "/healthz/consumer",
        summary="Consumer keeping up: no partition stalled longer than CONSUMER_STALL_AFTER_S",
        operation_id="getConsumerHealth",
        response_model=None,
        responses={
            503: {
                "description": "a partition has been stuck longer than CONSUMER_STALL_AFTER_S, or lag "
                "could not be measured for that long; `behind` lists the partitions"
            }
        },
    )
    async def consumer_health(request: Request) -> ConsumerReport | JSONResponse:
        monitor: ConsumerMonitor = request.app.state.consumer_monitor
        report = monitor.report()
        if report["status"] != "ok":
            extensions: dict[str, Any] = {k: v for k, v in report.items() if k not in ("status", "detail")}
            return problems.response(503, f"Consumer {report['status']}", report["detail"], **extensions)
        return report

    @r.get(
        "/metrics",
        summary="Prometheus metrics",
        operation_id="getMetrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def prometheus(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return r


async def run_migrations(spec: ServiceSpec, s: settings_mod.ServiceSettings) -> list[migrate.Migration]:
    con = await db.connect(s.database_url, s.db_schema)
    try:
        return await migrate.migrate(con, spec.migrations())
    finally:
        await con.close()


def main(spec: ServiceSpec, argv: list[str] | None = None) -> None:
    """`python -m <service> serve|migrate`."""
    parser = argparse.ArgumentParser(prog=spec.name, description=spec.description)
    parser.add_argument("command", choices=["serve", "migrate", "openapi"])
    args = parser.parse_args(argv)
    s = settings_mod.load_or_exit(spec.name)
    config = None
    if spec.configure is not None and args.command != "migrate":
        try:
            config = spec.configure(s)
        except settings_mod.ConfigError as e:
            print(str(e), file=sys.stderr)
            raise SystemExit(2) from None
    jsonlog.setup(spec.name, s.log_level)
    if args.command == "migrate":
        try:
            done = asyncio.run(run_migrations(spec, s))
        except migrate.MigrationError as e:
            print(f"migrate: {e}", file=sys.stderr)
            raise SystemExit(1) from None
        print(f"{spec.name}: applied {len(done)} migration(s)" + "".join(f"\n  {m.stream}/{m.filename}" for m in done))
        return
    if args.command == "openapi":
        import json

        print(json.dumps(build_app(spec, s, config).openapi(), ensure_ascii=False, indent=2))
        return
    import uvicorn

    uvicorn.run(
        build_app(spec, s, config),
        host=s.http_host,
        port=s.http_port,
        log_config=None,
        access_log=False,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=20,
    )

"""The volunteers service for the tests of its HTTP edge that need it running (the contact lookup, the
answer-link page): a process of its own on a free port, against the session's stack, with a known pseudonym
key; and a Context on the same database and key, for setting up volunteers, tasks and offers directly."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from datetime import time as clock
from pathlib import Path

from gov_contracts import CloudEvent
from gov_contracts.vocabulary import LOCAL_TZ
from govctl import areas as area_file
from govctl.ports import free_port
from govkit import db
from govkit.areas import on_area_upserted
from govkit.auth import Principal, mint
from govkit.settings import load as load_settings
from volunteers import config as vconfig
from volunteers import registry, service
from volunteers.context import Context
from volunteers.domain.registry import NewVolunteer
from volunteers.domain.tasks import NewTask

from .service_process import serving

ROOT = Path(__file__).resolve().parents[2]
PSEUDONYM_KEY = "answer-link-tests-pseudonym-key-0123456789"
ALL_WEEK = [{"weekday": d, "start": "00:00", "end": "23:59"} for d in range(7)]
CONTACT_READ = "volunteer_contact:read"


@contextmanager
def volunteers_service(stack, **env: str) -> Iterator[str]:
    """The service's base URL while it runs; `env` adds or overrides variables (VOLUNTEERS_PUBLIC_URL, ...).

    No broker: the pages and the lookup need none, and the events these tests cause stay in the outbox, as those
    of every test that uses the use cases directly do; published here, they would reach the other services'
    consumers in tests that count what those consumers have left to read (test_consumer_health)."""
    port = free_port()
    environ = {
        **stack.service_env("volunteers"),
        "VOLUNTEERS_HTTP_PORT": str(port),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "PSEUDONYM_KEY": PSEUDONYM_KEY,
        **env,
    }
    with serving(["volunteers", "serve"], port, environ, stack.logs / f"volunteers-{port}.log") as url:
        yield url


async def make_context(stack) -> Context:
    """A Context on the volunteers database with the service process's pseudonym key, the areas loaded."""
    pool = await db.create_pool(stack.service_dsn("volunteers"), "volunteers", max_size=6)
    events, _ = area_file.load(area_file.DEFAULT_FILE)
    async with pool.acquire() as con:
        for e in events:
            await on_area_upserted(con, e, CloudEvent(type="gov.area.upserted.v1", source="tests", subject=e.id))
    settings = load_settings(
        "volunteers",
        {"VOLUNTEERS_DATABASE_URL": stack.service_dsn("volunteers"), "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap},
    )
    return Context(pool=pool, config=vconfig.configure(settings, {}), pseudonym_key=PSEUDONYM_KEY)


def service_token(stack, sub: str = "svc:notifications-test", roles=("service",), permissions=(CONTACT_READ,)) -> str:
    return mint(key=stack.state["jwt_secret"], sub=sub, roles=list(roles), areas=[], permissions=list(permissions))


async def register(ctx: Context, grid: str, name: str, skills=("publicity",), phone: str | None = None):
    async with ctx.pool.acquire() as con, con.transaction():
        return await registry.register_volunteer(
            con,
            ctx,
            NewVolunteer(
                name=name,
                phone=phone,
                roles=["volunteer"],
                home_grid=grid,
                skills=list(skills),
                availability=ALL_WEEK,
                max_concurrent=20,
                account_sub=f"vol-{uuid.uuid4().hex[:10]}",
            ),
        )


def tomorrow_window(hour: int = 10) -> tuple[datetime, datetime]:
    """An hour tomorrow in China Standard Time: inside every availability window whenever the test runs."""
    day = datetime.now(LOCAL_TZ).date() + timedelta(days=1)
    start = datetime.combine(day, clock(hour, 0), LOCAL_TZ)
    return start, start + timedelta(hours=1)


def new_task(grid: str, title: str, **kw) -> NewTask:
    start, end = tomorrow_window()
    return NewTask(
        task_type=kw.pop("task_type", "epidemic_publicity"),
        title=title,
        grid_id=grid,
        window_start=start,
        window_end=end,
        required_skills=kw.pop("required_skills", ["publicity"]),
        **kw,
    )


async def retire(ctx: Context, grids: list[str], volunteer_ids) -> None:
    """Leave nothing behind for the later tests that dispatch on the same database: the grids' open tasks are
    cancelled (their pending offers, expired ones included, withdrawn) and the volunteers made inactive."""
    staff = Principal(sub="tests-cleanup", roles=["town_admin"], areas=["changping"])
    for task_id in await ctx.pool.fetch(
        "select id from tasks where grid_id = any($1::text[]) and status in ('open', 'offered', 'assigned')", grids
    ):
        await service.cancel_task(ctx, task_id["id"], "测试结束", staff)
    await ctx.pool.execute("update volunteers set active = false where id = any($1::uuid[])", list(volunteer_ids))

"""One sender per channel: claims its due deliveries (SKIP LOCKED, with a lease), resolves where they go, sends
them within the channel's own rate limit and concurrency, and records each outcome. Each channel has its own
loop, bucket and backoff, so a failing SMS gateway never holds up WeCom, e-mail or the in-app inbox.

A send succeeds at most once per delivery row: the row is leased while it is sent and marked sent in the same
statement that checks the lease is still ours. A process that dies between the provider's acceptance and that
mark leaves the row leased; after the lease it is sent again (at-least-once towards the provider). The
delivery id goes along as the provider's idempotency key (SMS OutId, e-mail Message-ID) so a provider that
de-duplicates drops the copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from datetime import timedelta

import asyncpg
from prometheus_client import Counter, Gauge, Histogram

from notifications import addressing, queries
from notifications.addressing import Target
from notifications.channels.base import Channel, DeliveryFailure, Message, PermanentFailure, TransientFailure
from notifications.config import ChannelLimits
from notifications.contacts import VolunteerContacts
from notifications.context import Context, Row
from notifications.domain.kinds import Kind
from notifications.domain.messages import render
from notifications.ratelimit import TokenBucket

log = logging.getLogger(__name__)

SENT = Counter("gov_notifications_total", "Deliveries by channel and outcome", ["channel", "outcome"])
LATENCY = Histogram(
    "gov_notification_delivery_seconds",
    "From the fact (event time) to the message accepted by the channel, for deliveries not held by quiet hours",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
QUEUED = Gauge("gov_notifications_queued", "Deliveries waiting to be sent (due or held)", ["channel"])
LEASE = timedelta(seconds=60)
MAX_BACKOFF_S = 3600.0
_LINK_TOKEN = re.compile(r"(/a/)[A-Za-z0-9_-]{8,}")


def backoff(limits: ChannelLimits, attempt: int) -> timedelta:
    """Exponential from the channel's first backoff, capped at an hour, with ±20 % jitter."""
    seconds = min(MAX_BACKOFF_S, limits.backoff_s * 2 ** (attempt - 1))
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))


def masked(text: str) -> str:
    """The text as the delivery log keeps it: an answer link is a credential until used."""
    return _LINK_TOKEN.sub(r"\1…", text)


class ChannelSender:
    def __init__(
        self, name: str, channel: Channel | None, limits: ChannelLimits, ctx: Context, contacts: VolunteerContacts
    ):
        self.name, self.channel, self.limits, self.ctx, self.contacts = name, channel, limits, ctx, contacts
        self.bucket = TokenBucket(limits.rate_per_s, burst=max(1.0, min(limits.rate_per_s, limits.concurrency)))
        self.slots = asyncio.Semaphore(limits.concurrency)
        self.wake = asyncio.Event()

    async def run(self) -> None:
        poll = self.ctx.config.sender_poll_s
        while True:
            try:
                n = await self.round()
            except asyncio.CancelledError:
                raise
            except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as e:
                log.warning("%s sender: database out of reach (%s); retrying", self.name, type(e).__name__)
                n = 0
            except Exception:
                log.exception("%s sender round failed", self.name)
                n = 0
            if n == 0:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), poll)

    async def round(self) -> int:
        """Claim and send one batch; the number claimed."""
        now = self.ctx.clock.now()
        async with self.ctx.pool.acquire() as con:
            await con.execute(queries.RELEASE_EXPIRED_LEASES, self.name, now)
            rows = await con.fetch(queries.CLAIM_DUE, self.name, now, self.limits.concurrency * 8, LEASE)
            if not rows:
                return 0
            # no transaction around it: the volunteers' lookup is an HTTP call
            targets = await addressing.resolve(con, rows, self.contacts)
        await asyncio.gather(*(self._deliver(row, targets[row["id"]]) for row in rows))
        return len(rows)

    async def _deliver(self, row: Row, target: Target | DeliveryFailure) -> None:
        async with self.slots:
            if isinstance(target, DeliveryFailure):
                await self._failed(row, target)
                return
            if target.skip:
                await self._final(row, "skipped", target.skip, target.display)
                return
            now = self.ctx.clock.now()
            if row["expires_at"] is not None and row["expires_at"] <= now:
                await self._final(row, "skipped", "expired before it could be sent", target.display)
                return
            facts = row["facts"]
            rendered = render(Kind(row["kind"]), facts, self.name, target.link)
            message = Message(
                delivery_id=str(row["id"]),
                kind=row["kind"],
                title=rendered.title,
                text=rendered.text,
                markdown=rendered.markdown,
                link=target.link,
                urgent=row["urgent"],
            )
            try:
                provider_id = None
                if self.channel is not None:  # the in-app inbox is this service's own table
                    await self.bucket.acquire()
                    assert target.address is not None
                    provider_id = await self.channel.send(message, target.address)
            except DeliveryFailure as e:
                await self._failed(row, e, target.display)
                return
            except Exception as e:  # a bug in a channel must not stop the others: logged, retried like a transient
                log.exception("%s channel raised", self.name)
                await self._failed(row, TransientFailure(f"unexpected {type(e).__name__}"), target.display)
                return
            await self._sent(row, target, masked(message.text), provider_id)

    async def _sent(self, row: Row, target: Target, text: str, provider_id: str | None) -> None:
        now = self.ctx.clock.now()
        async with self.ctx.pool.acquire() as con, con.transaction():
            await con.execute(queries.MARK_SENT, row["id"], now, target.display, text, provider_id, target.inbox_sub)
            await con.execute(queries.INSERT_ATTEMPT, row["id"], row["attempts"], now, "sent", None)
            if target.inbox_sub:
                await con.execute(queries.NOTIFY_INBOX, target.inbox_sub)
        SENT.labels(self.name, "sent").inc()
        if not row["held"]:
            LATENCY.labels(self.name).observe(max(0.0, (now - row["occurred_at"]).total_seconds()))

    async def _failed(self, row: Row, failure: DeliveryFailure, display: str | None = None) -> None:
        if isinstance(failure, PermanentFailure) or row["attempts"] >= self.limits.max_attempts:
            why = failure.reason if isinstance(failure, PermanentFailure) else f"gave up: {failure.reason}"
            await self._final(row, "failed", why, display)
            log.warning("%s delivery %s failed: %s", self.name, row["id"], why)
            return
        now = self.ctx.clock.now()
        async with self.ctx.pool.acquire() as con, con.transaction():
            await con.execute(
                queries.MARK_RETRY, row["id"], now + backoff(self.limits, row["attempts"]), failure.reason
            )
            await con.execute(queries.INSERT_ATTEMPT, row["id"], row["attempts"], now, "retry", failure.reason)
        SENT.labels(self.name, "retry").inc()

    async def _final(self, row: Row, status: str, reason: str, display: str | None) -> None:
        now = self.ctx.clock.now()
        async with self.ctx.pool.acquire() as con, con.transaction():
            await con.execute(queries.MARK_FINAL, row["id"], status, reason, display or None)
            await con.execute(queries.INSERT_ATTEMPT, row["id"], row["attempts"], now, status, reason)
        SENT.labels(self.name, status).inc()


class Senders:
    """Every channel's sender, and the LISTEN connection that wakes them when deliveries become due."""

    def __init__(self, ctx: Context, senders: list[ChannelSender]):
        self.ctx, self.senders = ctx, senders
        self._tasks: list[asyncio.Task[None]] = []
        self._listener: asyncpg.Connection | None = None

    def wake_all(self, *_: object) -> None:
        for s in self.senders:
            s.wake.set()

    async def start(self, dsn: str, schema: str) -> None:
        self._tasks = [asyncio.create_task(s.run(), name=f"sender {s.name}") for s in self.senders]
        try:
            self._listener = await asyncpg.connect(dsn, server_settings={"search_path": schema})
            await self._listener.add_listener("notifications_due", self.wake_all)
        except (OSError, asyncpg.PostgresError) as e:  # polling still sends, only later
            log.warning("no LISTEN connection (%s); senders poll every %.1fs", e, self.ctx.config.sender_poll_s)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()

    async def measure_queues(self) -> None:
        async with self.ctx.pool.acquire() as con:
            depth = {r["channel"]: r["n"] for r in await con.fetch(queries.QUEUE_DEPTH)}
        for s in self.senders:
            QUEUED.labels(s.name).set(depth.get(s.name, 0))

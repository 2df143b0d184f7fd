"""The use case between a Trigger and the deliveries table: look up who the audience is (directory, roster,
robots, preferences), let the domain plan one delivery per (recipient, channel), and store them in the caller's
transaction. The unique (source_id, recipient, channel) makes a redelivered event or a second replica a no-op."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from gov_contracts.vocabulary import LOCAL_TZ
from govkit.db import Connection
from notifications import queries
from notifications.context import Context, Row
from notifications.domain.kinds import Kind
from notifications.domain.quiet import QuietHours
from notifications.domain.routing import Audience, Recipient, plan
from notifications.domain.triggers import Labels, Trigger


async def labels(con: Connection, ctx: Context, area_ids: Iterable[str]) -> Labels:
    """Chinese place names for these areas (a grid's name says its village: 孔家畈村第3网格), category names,
    what to bring."""
    names = {r["id"]: r["name"] for r in await con.fetch(queries.AREA_NAMES, sorted(set(area_ids)))}

    def place(area_id: str) -> str:
        return names.get(area_id, area_id)

    cfg = ctx.config
    return Labels(
        place=place,
        category=lambda code: cfg.category_names.get(code, code),
        bring=lambda task_type: ctx.rules.what_to_bring.get(task_type, ""),
    )


def _quiet(row: Row) -> QuietHours | None:
    if row["quiet_start"] is None:
        return None
    return QuietHours(row["quiet_start"], row["quiet_end"])


def staff_recipient(row: Row) -> Recipient:
    available = {"in_app"} | ({"sms"} if row["has_phone"] else set()) | ({"email"} if row["has_email"] else set())
    prefs = row["channels"] or {}
    return Recipient(
        key=f"staff:{row['sub']}",
        kind="staff",
        available=frozenset(available),
        quiet=_quiet(row),
        preferences={k: tuple(v) for k, v in prefs.items()},
    )


async def recipients(con: Connection, audience: Audience, now: datetime) -> list[Recipient]:
    rows: list[Row] = []
    for at in audience.staff:
        rows += await con.fetch(queries.STAFF_AT, at.area_id, list(at.roles))
    if audience.unit:
        rows += await con.fetch(queries.STAFF_OF_UNIT, audience.unit)
    if audience.subs:
        rows += await con.fetch(queries.STAFF_BY_SUBS, list(audience.subs))
    if audience.on_duty_area:
        today = now.astimezone(LOCAL_TZ).date()
        rows += await con.fetch(queries.ON_DUTY, today, audience.on_duty_area)
    out = [staff_recipient(r) for r in rows]
    if audience.volunteer_ref:
        # reachable on SMS and in-app: the volunteers service says at send time whether a phone and an account exist
        out.append(Recipient(f"volunteer:{audience.volunteer_ref}", "volunteer", frozenset({"sms", "in_app"})))
    if audience.robots_area:
        for r in await con.fetch(queries.ROBOTS_OF, audience.robots_area):
            out.append(Recipient(f"robot:{r['id']}", "robot", frozenset({r["kind"]})))
    return out


async def store(con: Connection, ctx: Context, trigger: Trigger) -> int:
    """Plan and insert the trigger's deliveries; the number planned (a redelivery inserts none of them again)."""
    now = ctx.clock.now()
    rules = ctx.rules
    found = await recipients(con, trigger.audience, now)
    defaults = {Kind(k): v for k, v in rules.defaults.items()}
    quiet = rules.quiet_hours.rule() if rules.quiet_hours else None
    planned = plan(trigger.kind, trigger.urgent, now, found, defaults, quiet, trigger.audience.exclude)
    if not planned:
        return 0
    n = len(planned)
    facts = trigger.facts  # the pool encodes jsonb (govkit.db)
    await con.execute(
        queries.INSERT_DELIVERIES,
        [uuid.uuid4() for _ in planned],
        [trigger.source_id] * n,
        [trigger.kind.value] * n,
        [p.recipient for p in planned],
        [p.channel for p in planned],
        [trigger.urgent] * n,
        [facts] * n,
        [uuid.UUID(trigger.case_id) if trigger.case_id else None] * n,
        [uuid.UUID(trigger.task_id) if trigger.task_id else None] * n,
        [trigger.area_id] * n,
        [trigger.occurred_at] * n,
        [trigger.expires_at] * n,
        [p.due_at for p in planned],
        [p.held for p in planned],
    )
    if any(not p.held for p in planned):
        await con.execute(queries.NOTIFY_DUE)  # delivered at commit: the senders of every replica look at once
    return n

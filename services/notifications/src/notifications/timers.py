"""The two sweeps that make triggers from time passing: offers about to expire unanswered, and accept or resolve
deadlines within their lead time. Rows are claimed SKIP LOCKED in the same transaction as the deliveries, so each
reminder is planned once whatever the number of replicas."""

from __future__ import annotations

from datetime import timedelta

from notifications import planner, queries
from notifications.context import Context
from notifications.domain import triggers

BATCH = 200


async def offer_reminders(ctx: Context) -> int:
    done = 0
    async with ctx.pool.acquire() as con, con.transaction():
        now = ctx.clock.now()
        for row in await con.fetch(queries.CLAIM_REMINDERS, now, BATCH):
            task = await con.fetchrow(queries.GET_TASK, row["task_id"])
            if task is None:
                continue
            labels = await planner.labels(con, ctx, [task["grid_id"]])
            facts = {
                "task": triggers.TASK_TYPE_LABEL.get(task["task_type"], task["task_type"]),
                "place": labels.place(task["grid_id"]),
                "grid_id": task["grid_id"],
            }
            trigger = triggers.offer_reminder(
                str(row["task_id"]), row["volunteer_ref"], facts, task["urgent"], row["expires_at"], now
            )
            done += await planner.store(con, ctx, trigger)
    return done


async def deadlines(ctx: Context) -> int:
    done = 0
    lead = ctx.rules.deadline_lead_minutes
    async with ctx.pool.acquire() as con, con.transaction():
        now = ctx.clock.now()
        for which, query in (("accept", queries.CLAIM_ACCEPT_DEADLINES), ("resolve", queries.CLAIM_RESOLVE_DEADLINES)):
            for case in await con.fetch(query, now, timedelta(minutes=lead[which]), BATCH):
                labels = await planner.labels(con, ctx, [case["grid_id"]])
                facts = {
                    "number": case["number"],
                    "category": labels.category(case["category"]),
                    "severity": case["severity"],
                    "place": labels.place(case["grid_id"]),
                    "level": case["level"],
                }
                due = case[f"{which}_due"]
                trigger = triggers.deadline_near(
                    str(case["case_id"]), facts, case["grid_id"], case["level"], which, due, now
                )
                done += await planner.store(con, ctx, trigger)
    return done


async def sweep(ctx: Context) -> None:
    await offer_reminders(ctx)
    await deadlines(ctx)

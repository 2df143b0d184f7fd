"""The notifications service's use cases against the real database with an injected clock: quiet hours at 23:00
and 03:00 Asia/Shanghai, the release at 07:00, one delivery per (trigger, recipient, channel) however often a
trigger is stored, offer reminders and approaching deadlines each planned once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from gov_contracts import CloudEvent, cases, tasks
from gov_contracts.areas import AreaKind, AreaUpserted
from gov_contracts.vocabulary import LOCAL_TZ
from govkit import areas, db
from govkit.settings import load
from notifications import config, handlers, planner, timers
from notifications.config import ChannelLimits
from notifications.contacts import VolunteerContacts
from notifications.context import Context
from notifications.domain import triggers
from notifications.sender import ChannelSender

GRID = "changping.baishui.g06"
VILLAGE = "changping.baishui"


@dataclass
class Clock:
    at: datetime

    def now(self) -> datetime:
        return self.at


def local(d: int, h: int, m: int = 0) -> datetime:
    return datetime(2026, 12, d, h, m, tzinfo=LOCAL_TZ).astimezone(UTC)


@pytest.fixture
async def ctx(stack):
    env = stack.service_env("notifications")
    settings = load("notifications", env)
    cfg = config.configure(settings, {k: v for k, v in env.items() if k.startswith("NOTIFICATIONS_")})
    pool = await db.create_pool(stack.service_dsn("notifications"), "notifications", max_size=4)
    async with pool.acquire() as con:
        # the town as published from the area file (with its shape) stays: it is only added when not there yet
        town = (
            []
            if await con.fetchval("select 1 from areas where id = 'changping'")
            else [("changping", AreaKind.town, "长坪镇", None)]
        )
        for area_id, kind, name, parent in (
            *town,
            (VILLAGE, AreaKind.village, "白水村", "changping"),
            (GRID, AreaKind.grid, "白水村第6网格", VILLAGE),
        ):
            event = AreaUpserted(id=area_id, kind=kind, name=name, parent_id=parent, tree_version="t")
            await areas.on_area_upserted(con, event, CloudEvent(type="gov.area.upserted.v1", source="test"))
        await con.execute("delete from roster where area_id = 'changping'")
        await con.execute(
            "insert into staff (sub, name, role, area_id, phone) values "
            "('bs-duty', '白水值班员', 'town_admin', 'changping', '13511112222'),"
            "('bs-va', '白水村干部', 'village_admin', $1, null) on conflict (sub) do nothing",
            VILLAGE,
        )
    yield Context(pool=pool, config=cfg, clock=Clock(local(1, 23)))
    async with pool.acquire() as con:  # the services' e2e tests compare each copy of the tree with the area file
        await con.execute("delete from areas where id = $1 or id like $1 || '.%'", VILLAGE)
    await pool.close()


def case(cls, **extra):
    base = dict(
        case_id=str(uuid.uuid4()),
        number="CP-2026-009001",
        category="dispute.land",
        severity="medium",
        grid_id=GRID,
        status="reported",
        level="grid",
        occurred_at=datetime.now(UTC),
        actor="gm-bs6",
    )
    return cls(**{**base, **extra})


def envelope(event_type: str) -> CloudEvent:
    return CloudEvent(type=event_type, source="test")


async def deliveries(ctx, source_id):
    async with ctx.pool.acquire() as con:
        return await con.fetch("select * from deliveries where source_id = $1 order by recipient, channel", source_id)


async def test_critical_at_three_in_the_morning_goes_out_at_once(ctx):
    ctx.clock.at = local(2, 3)
    async with ctx.pool.acquire() as con:
        await con.execute("insert into roster (day, area_id, sub) values ('2026-12-02', 'changping', 'bs-duty')")
        env = envelope("gov.case.reported.v2")
        event = case(
            cases.CaseReportedV2, category="hazard.geologic", title="t", source="grid_patrol", reporter_ref="r"
        )
        await handlers.NotificationHandlers(ctx).on_case(con, event, env)
    rows = await deliveries(ctx, env.id)
    # the default rules send critical cases by SMS, in-app and e-mail: this person has no e-mail address
    staff = [(r["recipient"], r["channel"]) for r in rows if r["recipient"].startswith("staff:")]
    assert staff == [("staff:bs-duty", "in_app"), ("staff:bs-duty", "sms")]
    assert all(r["due_at"] == local(2, 3) and not r["held"] and r["urgent"] for r in rows)


async def test_non_urgent_at_eleven_at_night_waits_until_seven(ctx):
    ctx.clock.at = local(1, 23)
    env = envelope("gov.case.escalated.v1")
    event = case(cases.CaseEscalated, level="village", from_level="grid", automatic=False, status="accepted")
    async with ctx.pool.acquire() as con:
        await handlers.NotificationHandlers(ctx).on_case(con, event, env)
    (row,) = await deliveries(ctx, env.id)
    assert (row["recipient"], row["channel"], row["held"]) == ("staff:bs-va", "in_app", True)
    assert row["due_at"] == local(2, 7)

    no_volunteers = VolunteerContacts(httpx.AsyncClient(), "", "", None, "test")  # no volunteer is involved
    limits = ChannelLimits(rate_per_s=100, concurrency=4, max_attempts=3, backoff_s=1)
    sender = ChannelSender("in_app", None, limits, ctx, no_volunteers)
    ctx.clock.at = local(2, 6, 59)
    await sender.round()
    assert (await deliveries(ctx, env.id))[0]["status"] == "queued"
    ctx.clock.at = local(2, 7)
    while await sender.round():
        pass
    (row,) = await deliveries(ctx, env.id)
    assert (row["status"], row["inbox_sub"], row["sent_at"]) == ("sent", "bs-va", local(2, 7))
    assert "已由网格上报至村(社区)" in row["text"]


async def test_a_trigger_stored_again_adds_no_delivery(ctx):
    ctx.clock.at = local(3, 10)
    env = envelope("gov.case.escalated.v1")
    event = case(cases.CaseEscalated, level="village", from_level="grid", automatic=True, status="accepted")
    async with ctx.pool.acquire() as con:
        labels = await planner.labels(con, ctx, [GRID])
        trigger = triggers.case_escalated(env.id, event, labels)
        first = await planner.store(con, ctx, trigger)
        await planner.store(con, ctx, trigger)
    assert first == 1 and len(await deliveries(ctx, env.id)) == 1


async def test_an_unanswered_offer_is_reminded_once_before_it_expires(ctx):
    t0 = local(4, 9)
    ctx.clock.at = t0
    task_id, answered_task = str(uuid.uuid4()), str(uuid.uuid4())
    h = handlers.NotificationHandlers(ctx)
    async with ctx.pool.acquire() as con:
        for tid in (task_id, answered_task):
            base: dict[str, Any] = dict(task_id=tid, task_type="meal_delivery", grid_id=GRID, occurred_at=t0)
            await h.on_task_created(
                con,
                tasks.TaskCreated(
                    **base, status="open", window_start=t0 + timedelta(hours=2), window_end=t0 + timedelta(hours=3)
                ),
                envelope("gov.task.created.v1"),
            )
            await h.on_task_offered(
                con,
                tasks.TaskOffered(
                    **base, status="offered", volunteer_ref="vref-1", expires_at=t0 + timedelta(minutes=15)
                ),
                envelope("gov.task.offered.v1"),
            )
        await h.on_offer_answered(
            con,
            tasks.TaskAssigned(
                task_id=answered_task,
                task_type="meal_delivery",
                grid_id=GRID,
                status="assigned",
                occurred_at=t0,
                volunteer_ref="vref-1",
            ),
            envelope("gov.task.assigned.v1"),
        )
    ctx.clock.at = t0 + timedelta(minutes=9)
    assert await timers.offer_reminders(ctx) == 0
    ctx.clock.at = t0 + timedelta(minutes=10)
    assert await timers.offer_reminders(ctx) == 2  # SMS and in-app to the volunteer of the unanswered offer
    assert await timers.offer_reminders(ctx) == 0
    async with ctx.pool.acquire() as con:
        rows = await con.fetch(
            "select recipient, task_id, facts->>'expires' as expires from deliveries "
            "where kind = 'offer_reminder' and task_id = any($1::uuid[])",
            [uuid.UUID(task_id), uuid.UUID(answered_task)],
        )
    assert {(r["recipient"], str(r["task_id"]), r["expires"]) for r in rows} == {("volunteer:vref-1", task_id, "09:15")}


async def test_an_approaching_deadline_is_announced_once_per_due_time(ctx):
    ctx.clock.at = local(5, 8)
    h = handlers.NotificationHandlers(ctx)
    event = case(
        cases.CaseAccepted, status="accepted", level="village", occurred_at=local(5, 7), resolve_due=local(5, 11)
    )
    async with ctx.pool.acquire() as con:
        await h.on_case(con, event, envelope("gov.case.accepted.v1"))
    assert await timers.deadlines(ctx) >= 1
    assert await timers.deadlines(ctx) == 0
    source = f"deadline:{event.case_id}:resolve:{local(5, 11).isoformat()}"
    (row,) = await deliveries(ctx, source)
    assert row["recipient"] == "staff:bs-va" and row["kind"] == "deadline_near"
    # the deadline moves (an extension): the new due time is announced again
    later = case(
        cases.CaseStarted,
        case_id=event.case_id,
        status="in_progress",
        level="village",
        occurred_at=local(5, 8),
        resolve_due=local(5, 11, 30),
    )
    async with ctx.pool.acquire() as con:
        await h.on_case(con, later, envelope("gov.case.started.v1"))
    assert await timers.deadlines(ctx) >= 1
    assert len(await deliveries(ctx, f"deadline:{event.case_id}:resolve:{local(5, 11, 30).isoformat()}")) == 1


async def test_pairing_overdue_weekly_report_and_unfilled_task_reach_their_people(ctx):
    from gov_contracts import reports
    from gov_contracts.volunteers import PairingVisitOverdue

    ctx.clock.at = local(6, 10)
    h = handlers.NotificationHandlers(ctx)
    async with ctx.pool.acquire() as con:
        await con.execute(
            "insert into staff (sub, name, role, area_id) values ('bs-leader', '镇长', 'leader', 'changping'),"
            "('bs-gm6', '白水六网格员', 'grid_manager', $1) on conflict (sub) do nothing",
            GRID,
        )
        overdue = envelope("gov.pairing.visit_overdue.v1")
        await h.on_pairing_overdue(
            con,
            PairingVisitOverdue(
                pairing_id=str(uuid.uuid4()),
                volunteer_ref="vref-9",
                grid_id=GRID,
                due_on=local(4, 0).date(),
                days_overdue=2,
                occurred_at=local(6, 9),
            ),
            overdue,
        )
        weekly = envelope("gov.report.weekly_published.v1")
        await h.on_weekly_report(
            con,
            reports.WeeklyReportPublished(
                area_id="changping",
                area_kind="town",
                week="2026-W49",
                new=5,
                closed=4,
                open_at_end=3,
                overdue=1,
                closure_rate=0.5,
                on_time_rate=1.0,
                grids_by_risk={},
                red_grids=[],
                published_at=local(6, 9),
            ),
            weekly,
        )
        unfilled = envelope("gov.task.unfilled.v1")
        await h.on_task_ended(
            con,
            tasks.TaskUnfilled(
                task_id=str(uuid.uuid4()), task_type="patrol", grid_id=GRID, status="unfilled", occurred_at=local(6, 9)
            ),
            unfilled,
        )
    assert [(r["recipient"], r["kind"]) for r in await deliveries(ctx, overdue.id)] == [
        ("volunteer:vref-9", "pairing_overdue"),
        ("volunteer:vref-9", "pairing_overdue"),
    ]
    leader = [r for r in await deliveries(ctx, weekly.id) if r["recipient"] == "staff:bs-leader"]
    assert leader and leader[0]["facts"]["link"].endswith("weekly.html?area=changping&week=2026-W49")
    assert {r["recipient"] for r in await deliveries(ctx, unfilled.id)} == {"staff:bs-gm6"}

"""The case operations of issue 14 through the notifications service's handlers against the real database, with an
injected clock: 督办 reaches the unit the case is dispatched to, a 延期 request the level above, a decision the
handling unit the copy knows, a 退单 the dispatching level, each once per event; a suspended case gets no deadline
reminder, and once resumed the reminder follows its moved deadline, once; through Kafka, the service's own
subscription does the same with a redelivered record."""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta

import httpx

from gov_contracts import CloudEvent, cases, topics
from gov_contracts.registry import event_type_for
from govkit.consumer import EventConsumer
from govkit.kafka import Producer
from notifications import handlers, timers
from notifications.app import SPEC
from notifications.config import ChannelLimits
from notifications.contacts import VolunteerContacts
from notifications.sender import ChannelSender
from tests.integration import test_notification_planning as planning

from .kafka_helpers import eventually, publish_raw, running

GRID, VILLAGE, local = planning.GRID, planning.VILLAGE, planning.local
ctx = planning.ctx  # the service's context on the session's database, the 白水村 areas and staff, a settable clock
DEPT = "dept.bs-justice"


async def add_staff(ctx) -> None:
    async with ctx.pool.acquire() as con:
        await con.execute(
            "insert into staff (sub, name, role, area_id, unit) values "
            "('bs-gm6', '白水六网格员', 'grid_manager', $1, null),"
            "('bs-sf', '白水司法所干部', 'department', 'changping', $2) on conflict (sub) do nothing",
            GRID,
            DEPT,
        )


def event(cls, case_id: str, at, **extra):
    base = dict(
        case_id=case_id,
        number="CP-2026-009101",
        category="dispute.land",
        severity="medium",
        grid_id=GRID,
        status="dispatched",
        level="village",
        occurred_at=at,
        actor="bs-va",
        resolve_due=local(20, 18),
    )
    return cls(**{**base, **extra})


async def handle(ctx, ev: cases.CaseFacts, env: CloudEvent | None = None) -> CloudEvent:
    env = env or CloudEvent(type="gov.case.test.v1", source="test")
    async with ctx.pool.acquire() as con, con.transaction():
        await handlers.NotificationHandlers(ctx).on_case(con, ev, env)
    return env


async def sent_to(ctx, source_id: str) -> list[tuple[str, str, str]]:
    async with ctx.pool.acquire() as con:
        rows = await con.fetch(
            "select recipient, channel, kind from deliveries where source_id = $1 order by recipient, channel",
            source_id,
        )
    return [(r["recipient"], r["channel"], r["kind"]) for r in rows]


async def test_supervision_reaches_the_unit_the_case_is_dispatched_to_once(ctx):
    await add_staff(ctx)
    ctx.clock.at = local(10, 23)
    case_id = str(uuid.uuid4())
    await handle(ctx, event(cases.CaseDispatched, case_id, local(10, 9), level="grid", unit_level="grid", unit_id=GRID))
    supervised = event(
        cases.CaseSupervised,
        case_id,
        local(10, 22),
        level="grid",
        supervising_level="town",
        reason="群众多次反映，请加快调处",
        supervise_due=local(12, 17),
        assigned_unit=GRID,
        actor="bs-duty",
    )
    env = await handle(ctx, supervised)
    await handle(ctx, supervised, env)  # the same event again (a redelivery): nothing new
    assert await sent_to(ctx, env.id) == [("staff:bs-gm6", "in_app", "case_supervised")]
    async with ctx.pool.acquire() as con:
        row = await con.fetchrow("select * from deliveries where source_id = $1", env.id)
    assert row["held"] and row["due_at"] == local(11, 7) and not row["urgent"]  # like an escalation: not at night

    no_volunteers = VolunteerContacts(httpx.AsyncClient(), "", "", None, "test")
    limits = ChannelLimits(rate_per_s=100, concurrency=4, max_attempts=3, backoff_s=1)
    sender = ChannelSender("in_app", None, limits, ctx, no_volunteers)
    ctx.clock.at = local(11, 7)
    while await sender.round():
        pass
    async with ctx.pool.acquire() as con:
        row = await con.fetchrow("select * from deliveries where source_id = $1", env.id)
    assert (row["status"], row["inbox_sub"]) == ("sent", "bs-gm6")
    assert row["text"].startswith("CP-2026-009101（")
    assert "列为镇督办事项：群众多次反映，请加快调处。请于12-12 17:00前报告办理情况" in row["text"]

    # a case not dispatched: the level holding it
    held = str(uuid.uuid4())
    await handle(ctx, event(cases.CaseAccepted, held, local(11, 8), status="accepted"))
    env = await handle(
        ctx,
        event(cases.CaseSupervised, held, local(11, 9), status="accepted", supervising_level="town", reason="督办"),
    )
    assert await sent_to(ctx, env.id) == [("staff:bs-va", "in_app", "case_supervised")]


async def test_an_extension_request_reaches_the_level_above_and_the_decision_the_handling_unit(ctx):
    await add_staff(ctx)
    ctx.clock.at = local(13, 10)
    case_id = str(uuid.uuid4())
    await handle(ctx, event(cases.CaseDispatched, case_id, local(13, 9), level="grid", unit_level="grid", unit_id=GRID))
    asked = event(
        cases.CaseExtensionRequested,
        case_id,
        local(13, 10),
        level="grid",
        actor="bs-gm6",
        requested_due=local(25, 18),
        extensions=0,
        reason="等待土地确权材料",
    )
    env = await handle(ctx, asked)
    await handle(ctx, asked, env)
    # a grid's case: the village decides; the town is not bothered
    assert await sent_to(ctx, env.id) == [("staff:bs-va", "in_app", "approval_requested")]
    async with ctx.pool.acquire() as con:
        facts = await con.fetchval("select facts from deliveries where source_id = $1", env.id)
    assert (facts["op"], facts["until"], facts["reason"]) == ("延期", "12-25 18:00", "等待土地确权材料")

    # a village's case: the town decides (its town_admin bs-duty among them)
    village_case = str(uuid.uuid4())
    env = await handle(
        ctx,
        event(cases.CaseSuspensionRequested, village_case, local(13, 11), status="in_progress", until=local(28, 9)),
    )
    assert ("staff:bs-duty", "in_app", "approval_requested") in await sent_to(ctx, env.id)
    assert not [r for r in await sent_to(ctx, env.id) if r[0] in ("staff:bs-va", "staff:bs-gm6")]

    decided = event(
        cases.CaseExtensionDecided,
        case_id,
        local(13, 12),
        level="grid",
        actor="bs-va",
        approved=True,
        requested_due=local(25, 18),
        previous_due=local(20, 18),
        extensions=1,
        resolve_due=local(25, 18),
    )
    env = await handle(ctx, decided)
    await handle(ctx, decided, env)
    # the grid holds it and is the unit dispatched to: its manager, once
    assert await sent_to(ctx, env.id) == [("staff:bs-gm6", "in_app", "approval_decided")]


async def test_a_decision_on_a_department_case_reaches_the_department_and_its_assignee(ctx):
    await add_staff(ctx)
    ctx.clock.at = local(14, 10)
    case_id = str(uuid.uuid4())
    await handle(
        ctx,
        event(cases.CaseDispatched, case_id, local(14, 9), unit_level="town", unit_id=DEPT, assignee="bs-sf-clerk"),
    )
    env = await handle(
        ctx,
        event(cases.CaseSuspensionDecided, case_id, local(14, 10), status="suspended", approved=True, actor="bs-duty"),
    )
    assert {r[0] for r in await sent_to(ctx, env.id)} == {"staff:bs-va", "staff:bs-sf", "staff:bs-sf-clerk"}
    # escalated to the town, the case is no longer the department's: a decision goes to the town only
    await handle(
        ctx,
        event(
            cases.CaseEscalated,
            case_id,
            local(14, 11),
            level="town",
            status="accepted",
            from_level="village",
            automatic=False,
        ),
    )
    env = await handle(
        ctx,
        event(cases.CaseSuspensionDecided, case_id, local(14, 12), level="town", status="accepted", approved=False),
    )
    recipients = {r[0] for r in await sent_to(ctx, env.id)}
    assert "staff:bs-duty" in recipients and not recipients & {"staff:bs-va", "staff:bs-sf", "staff:bs-sf-clerk"}


async def test_a_returned_case_reaches_the_dispatching_level_and_forgets_the_unit(ctx):
    await add_staff(ctx)
    ctx.clock.at = local(15, 10)
    case_id = str(uuid.uuid4())
    await handle(ctx, event(cases.CaseDispatched, case_id, local(15, 9), unit_level="town", unit_id=DEPT))
    returned = event(
        cases.CaseReturned,
        case_id,
        local(15, 10),
        status="accepted",
        actor="bs-sf",
        unit_id=DEPT,
        returns=1,
        reason="不属司法所职责",
    )
    env = await handle(ctx, returned)
    await handle(ctx, returned, env)
    assert await sent_to(ctx, env.id) == [("staff:bs-va", "in_app", "case_returned")]
    async with ctx.pool.acquire() as con:
        facts = await con.fetchval("select facts from deliveries where source_id = $1", env.id)
        unit = await con.fetchrow("select unit_id, assignee from case_copy where case_id = $1", uuid.UUID(case_id))
    assert (facts["unit"], facts["reason"], facts["returns"]) == (DEPT, "不属司法所职责", "1")
    assert (unit["unit_id"], unit["assignee"]) == (None, None)
    # a decision after the return goes to the dispatching level only: the department is no longer the unit
    env = await handle(
        ctx,
        event(
            cases.CaseExtensionDecided,
            case_id,
            local(15, 11),
            status="accepted",
            approved=False,
            requested_due=local(25, 18),
            previous_due=local(20, 18),
            extensions=0,
        ),
    )
    assert {r[0] for r in await sent_to(ctx, env.id)} == {"staff:bs-va"}


async def test_a_suspended_case_gets_no_deadline_reminder_and_after_resuming_one_at_its_moved_deadline(ctx):
    ctx.clock.at = local(16, 8)
    case_id = str(uuid.uuid4())
    due = local(16, 11)
    await handle(ctx, event(cases.CaseStarted, case_id, local(16, 7), status="in_progress", resolve_due=due))
    await handle(
        ctx,
        event(
            cases.CaseSuspensionDecided,
            case_id,
            local(16, 7, 30),
            status="suspended",
            approved=True,
            resolve_due=due,
            actor="bs-duty",
        ),
    )
    old = f"deadline:{case_id}:resolve:{due.isoformat()}"
    for hour in (8, 10, 11):  # within the lead time, then at the due time itself: the clock stands still
        ctx.clock.at = local(16, hour)
        await timers.deadlines(ctx)
    assert await sent_to(ctx, old) == []

    suspended = timedelta(days=2)
    moved = due + suspended
    await handle(
        ctx,
        event(
            cases.CaseResumed,
            case_id,
            local(18, 7),
            status="in_progress",
            resolve_due=moved,
            suspended_at=local(16, 7, 30).astimezone(UTC),
            suspended_seconds=int(suspended.total_seconds()),
        ),
    )
    new = f"deadline:{case_id}:resolve:{moved.isoformat()}"
    ctx.clock.at = local(18, 6, 59)  # more than the lead (240 minutes) before the moved deadline
    await timers.deadlines(ctx)
    assert await sent_to(ctx, new) == []
    ctx.clock.at = local(18, 8)
    await timers.deadlines(ctx)
    await timers.deadlines(ctx)
    assert await sent_to(ctx, new) == [("staff:bs-va", "in_app", "deadline_near")]
    assert await sent_to(ctx, old) == []


async def test_through_kafka_the_services_subscription_tells_each_once(stack, ctx):
    await add_staff(ctx)
    ctx.clock.at = local(17, 10)
    kinds = (cases.CaseSupervised, cases.CaseExtensionRequested, cases.CaseReturned)
    for cls in kinds:  # the service subscribes to them, as one batch handler with the other case events
        assert event_type_for(cls).name in SPEC.batch_handler_factories
    case_id = str(uuid.uuid4())
    reg = handlers.registry(ctx)
    batch = reg.batch_handlers()[event_type_for(cases.CaseSupervised).name]

    async def this_case_only(con, items):  # the topic holds other tests' cases too
        await batch(con, [(e, env) for e, env in items if e.case_id == case_id])

    async def one(con, event, env):
        await this_case_only(con, [(event, env)])

    names = [event_type_for(cls).name for cls in cases.FACT_EVENTS]
    producer = Producer(stack.bootstrap, "test-notification-operations")
    consumer = EventConsumer(
        service="notifications",
        group_id=f"test-notif-ops-{uuid.uuid4().hex[:8]}",
        topics=[topics.CASES],
        pool=ctx.pool,
        producer=producer,
        handlers=dict.fromkeys(names, one),
        batch_handlers=dict.fromkeys(names, this_case_only),
        max_attempts=2,
    )
    facts = [
        event(cases.CaseDispatched, case_id, local(17, 9), unit_level="village", unit_id=DEPT),
        event(
            cases.CaseSupervised,
            case_id,
            local(17, 10),
            supervising_level="town",
            reason="请三日内化解",
            assigned_unit=DEPT,
            actor="bs-duty",
        ),
        event(
            cases.CaseExtensionRequested,
            case_id,
            local(17, 11),
            actor="bs-sf",
            requested_due=local(27, 18),
            extensions=0,
        ),
        event(cases.CaseReturned, case_id, local(17, 12), status="accepted", actor="bs-sf", unit_id=DEPT, returns=1),
    ]
    envelopes = [CloudEvent(type=event_type_for(type(f)).name, source="tests", subject=case_id) for f in facts]
    try:
        async with running(stack.bootstrap, consumer):
            for f, env in [*zip(facts, envelopes, strict=True), (facts[1], envelopes[1])]:  # the 督办 twice
                await publish_raw(
                    stack.bootstrap,
                    topics.CASES,
                    f.model_dump_json().encode(),
                    key=case_id.encode(),
                    headers=env.headers(),
                )

            async def all_applied() -> bool:
                n = await ctx.pool.fetchval(
                    "select count(*) from inbox where consumer = $1 and event_id = any($2::text[])",
                    consumer.group_id,
                    [env.id for env in envelopes],
                )
                return n == len(envelopes)

            await eventually(all_applied, timeout=40)
    finally:
        await producer.stop()
    supervised, requested, returned = envelopes[1:]
    assert await sent_to(ctx, supervised.id) == [("staff:bs-sf", "in_app", "case_supervised")]
    # a village's case: the town decides
    assert ("staff:bs-duty", "in_app", "approval_requested") in await sent_to(ctx, requested.id)
    assert await sent_to(ctx, returned.id) == [("staff:bs-va", "in_app", "case_returned")]

"""The cases use cases against the real database: numbering, duplicates, merge,
idempotency, the deadline sweep across replicas, personal data kept out of events."""

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from shapely.geometry import Point, shape

from cases import queries, service
from cases.config import DEFAULT_POLICY
from cases.domain import policy as policy_mod
from cases.domain.model import Action
from cases.grid_locator import GridLocator
from gov_contracts import CloudEvent
from gov_contracts.cases import CaseReportedV2
from gov_contracts.errors import DomainError, InvalidInput
from gov_contracts.tasks import TaskAssigned
from govctl import areas as area_file
from govkit.areas import on_area_upserted
from govkit.auth import Principal
from govkit.problems import from_domain

GRID = "changping.kongjiafan.g03"
GM = Principal(sub="gm-3", roles=["grid_manager"], areas=[GRID])
VA = Principal(sub="va-1", roles=["village_admin"], areas=["changping.kongjiafan"])
VA2 = Principal(sub="va-2", roles=["village_admin"], areas=["changping.kongjiafan"])
TA = Principal(sub="ta-1", roles=["town_admin"], areas=["changping"])


@pytest.fixture
async def ctx(cases_pool):
    events, _ = area_file.load(area_file.DEFAULT_FILE)
    async with cases_pool.acquire() as con:
        for e in events:
            await on_area_upserted(con, e, CloudEvent(type="gov.area.upserted.v1", source="tests", subject=e.id))
    return service.Context(
        pool=cases_pool, policy=policy_mod.load(DEFAULT_POLICY), pseudonym_key="k" * 40, number_prefix="CP"
    )


def land(
    title="孔家畈村三组与四组山林边界纠纷",
    description="三组村民反映四组在争议山林内砍伐树木，请求调处",
    grid=GRID,
    **kw,
):
    return service.NewCase(
        category=kw.pop("category", "dispute.land"),
        title=title,
        description=description,
        grid_id=grid,
        severity=kw.pop("severity", "medium"),
        source="grid_patrol",
        **kw,
    )


async def outbox_events(pool, case_id):
    rows = await pool.fetch("select event_type, payload from outbox where key = $1 order by id", str(case_id))
    return [(r["event_type"], json.loads(bytes(r["payload"]))) for r in rows]


async def test_case_numbers_are_unique_under_concurrent_creation(ctx):
    results = await asyncio.gather(
        *(
            service.create_case(ctx, land(title=f"纠纷{i}", description=f"描述{i}号"), principal=GM, reporter_sub=None)
            for i in range(40)
        )
    )
    numbers = [row["number"] for row, _ in results]
    assert len(set(numbers)) == 40
    year = datetime.now(UTC).year
    assert all(re.fullmatch(rf"CP-{year}-\d{{6}}", n) for n in numbers)
    # from the year's sequence: nothing else created cases meanwhile, so the 40 are consecutive
    seqs = sorted(int(n.rsplit("-", 1)[1]) for n in numbers)
    assert seqs == list(range(seqs[0], seqs[0] + 40))
    assert await ctx.pool.fetchval("select to_regclass('case_number_cp_' || $1::text)", str(year)) is not None


async def test_a_years_first_numbers_make_its_sequence_once_under_concurrency(cases_pool):
    """next_case_number (V004) makes a year's sequence on first use; sessions racing for it share one."""
    prefix, year = "ZQ", 2099  # a prefix and a year nothing else numbers with
    try:
        numbers = await asyncio.gather(
            *(cases_pool.fetchval("select next_case_number($1, $2)", prefix, year) for _ in range(10))
        )
        assert sorted(numbers) == [f"ZQ-2099-{i:06d}" for i in range(1, 11)]
        assert await cases_pool.fetchval("select next_case_number($1, $2)", prefix, 2098) == "ZQ-2098-000001"
    finally:
        await cases_pool.execute("drop sequence if exists case_number_zq_2099, case_number_zq_2098")


async def test_the_migration_moves_each_counter_into_its_sequence(cases_con):
    """V004 run again in a transaction that is rolled back: the counters of case_numbers become sequences that
    continue after the last number given, and a counter still at 0 starts at 1."""
    sql = (Path(service.__file__).resolve().parents[2] / "migrations" / "V004__case_number_sequences.sql").read_text()
    tr = cases_con.transaction()
    await tr.start()
    try:
        await cases_con.execute("drop function next_case_number(text, int)")
        await cases_con.execute(
            "create table case_numbers (prefix text, year int, last int, primary key (prefix, year));"
            "insert into case_numbers values ('ZM', 2024, 4127), ('ZM', 2025, 0)"
        )
        await cases_con.execute(sql)
        assert await cases_con.fetchval("select to_regclass('case_numbers')") is None
        assert await cases_con.fetchval("select next_case_number('ZM', 2024)") == "ZM-2024-004128"
        assert await cases_con.fetchval("select next_case_number('ZM', 2025)") == "ZM-2025-000001"
    finally:
        await tr.rollback()
    assert await cases_con.fetchval("select to_regclass('case_number_zm_2024')") is None


async def test_similar_report_in_same_grid_is_flagged_and_merge_raises_the_report_count(ctx, cases_pool):
    first, _ = await service.create_case(ctx, land(), principal=GM, reporter_sub=None)
    second, _ = await service.create_case(
        ctx,
        land(title="孔家畈村三组和四组山林边界纠纷", description="村民再次反映四组砍伐争议山林树木"),
        principal=GM,
        reporter_sub=None,
    )
    assert first["id"] in second["duplicate_candidates"]
    other_grid, _ = await service.create_case(
        ctx,
        land(grid="changping.kongjiafan.g04"),
        principal=GM.model_copy(update={"areas": ["changping.kongjiafan.g04"]}),
        reporter_sub=None,
    )
    assert other_grid["duplicate_candidates"] == []
    unrelated, _ = await service.create_case(
        ctx, land(title="路灯不亮", description="村口路灯坏了一个月"), principal=GM, reporter_sub=None
    )
    assert first["id"] not in unrelated["duplicate_candidates"]

    merged = await service.act(
        ctx, second["id"], Action.merge, service.ActionInput(into=first["number"], reason="同一纠纷"), principal=GM
    )
    assert merged["status"] == "merged" and merged["merged_into"] == first["id"]
    target = await cases_pool.fetchrow("select report_count from cases where id = $1", first["id"])
    assert target["report_count"] == 2
    types = [t for t, _ in await outbox_events(cases_pool, first["id"])]
    assert types[-1] == "gov.case.report_count_raised.v1"
    assert [t for t, _ in await outbox_events(cases_pool, second["id"])][-1] == "gov.case.merged.v1"


async def test_idempotency_key_replays_and_refuses_a_different_body(ctx, cases_pool):
    key = f"key-{uuid.uuid4()}"
    rows = await asyncio.gather(
        *(service.create_case(ctx, land(), principal=GM, reporter_sub=None, idempotency_key=key) for _ in range(5))
    )
    assert len({r["id"] for r, _ in rows}) == 1
    assert sorted(created for _, created in rows) == [False, False, False, False, True]
    with pytest.raises(DomainError) as e:
        await service.create_case(ctx, land(title="别的事情"), principal=GM, reporter_sub=None, idempotency_key=key)
    assert from_domain(e.value).status == 422 and "Idempotency-Key" in e.value.detail


async def test_the_reported_event_and_transition_carry_what_the_create_statement_set(ctx, cases_pool):
    """CREATE_CASE fills the number, the times and the duplicates into the event from the stored case."""
    first, _ = await service.create_case(
        ctx, land(title="山林纠纷甲", description="甲组反映"), principal=GM, reporter_sub=None
    )
    row, _ = await service.create_case(
        ctx, land(title="山林纠纷甲", description="甲组反映"), principal=GM, reporter_sub=None
    )
    assert first["id"] in row["duplicate_candidates"]
    ((etype, payload),) = await outbox_events(cases_pool, row["id"])
    event = CaseReportedV2.model_validate(payload)
    assert etype == "gov.case.reported.v2" and event.case_id == str(row["id"]) and event.number == row["number"]
    assert event.occurred_at == row["created_at"] == row["updated_at"] and event.accept_due == row["accept_due"]
    assert event.duplicate_candidates == [str(d) for d in row["duplicate_candidates"]]
    assert (event.status, event.level, event.actor, event.grid_id) == ("reported", "grid", GM.sub, GRID)
    tr = await cases_pool.fetchrow("select * from case_transitions where case_id = $1", row["id"])
    assert (tr["action"], tr["to_status"], tr["to_level"], tr["actor"], tr["at"]) == (
        "report",
        "reported",
        "grid",
        GM.sub,
        row["created_at"],
    )
    assert tr["data"] == {"duplicate_candidates": event.duplicate_candidates}
    reporter = await cases_pool.fetchrow("select * from case_reporters where case_id = $1", row["id"])
    assert reporter is not None and reporter["parties"] == []


async def test_events_carry_no_personal_data(ctx, cases_pool):
    row, _ = await service.create_case(
        ctx,
        land(
            reporter_name="李某某",
            reporter_phone="13812341234",
            parties=[{"name": "王某", "phone": "13900001111"}],
            address="孔家畈村三组后山",
        ),
        principal=GM,
        reporter_sub=None,
    )
    ((etype, payload),) = await outbox_events(cases_pool, row["id"])
    raw = json.dumps(payload, ensure_ascii=False)
    assert etype == "gov.case.reported.v2"
    for secret in ("李某某", "13812341234", "王某", "13900001111", "后山"):
        assert secret not in raw
    assert "reporter_phone_masked" not in payload
    assert payload["reporter_ref"].startswith("person_") and len(payload["party_refs"]) == 1
    # the same phone gives the same reference: repeat reporters are visible without their identity
    again, _ = await service.create_case(
        ctx,
        land(title="另一件事", description="同一个人再次反映", reporter_phone="138 1234 1234"),
        principal=GM,
        reporter_sub=None,
    )
    assert again["reporter_ref"] == payload["reporter_ref"]


async def test_deadline_sweep_fires_once_across_replicas(ctx, cases_pool):
    ids = []
    for i in range(12):
        row, _ = await service.create_case(
            ctx, land(title=f"超期{i}", description=f"超期测试{i}"), principal=GM, reporter_sub=None
        )
        ids.append(row["id"])
    await cases_pool.execute(
        "update cases set due_at = now() - interval '1 minute', "
        "accept_due = now() - interval '1 minute' where id = any($1::uuid[])",
        ids,
    )
    # three replicas sweep at once, each on its own connections
    counts = await asyncio.gather(*(service.sweep_deadlines(ctx) for _ in range(3)))
    assert sum(counts) == 12
    rows = await cases_pool.fetch(
        "select escalations, level, status, overdue, due_at > now() as future from cases where id = any($1::uuid[])",
        ids,
    )
    assert all(
        r["escalations"] == 1 and r["level"] == "village" and r["status"] == "reported" and r["overdue"] and r["future"]
        for r in rows
    )
    for cid in ids:
        types = [t for t, _ in await outbox_events(cases_pool, cid)]
        assert types.count("gov.case.overdue.v1") == 1 and types.count("gov.case.escalated.v1") == 1
    # a second round finds nothing due: the escalation gave the village a fresh deadline
    assert await service.sweep_deadlines(ctx) == 0
    assert all(
        r["escalations"] == 1
        for r in await cases_pool.fetch("select escalations from cases where id = any($1::uuid[])", ids)
    )


async def test_at_county_level_the_case_is_marked_overdue_once_and_not_escalated(ctx, cases_pool):
    row, _ = await service.create_case(
        ctx, land(title="县级超期", description="县级超期测试"), principal=GM, reporter_sub=None
    )
    await cases_pool.execute(
        "update cases set level = 'county', due_at = now() - interval '1 minute' where id = $1", row["id"]
    )
    await service.sweep_deadlines(ctx)
    await service.sweep_deadlines(ctx)
    after = await cases_pool.fetchrow("select level, overdue, due_at, escalations from cases where id = $1", row["id"])
    assert (after["level"], after["overdue"], after["due_at"], after["escalations"]) == ("county", True, None, 0)
    types = [t for t, _ in await outbox_events(cases_pool, row["id"])]
    assert types.count("gov.case.overdue.v1") == 1 and "gov.case.escalated.v1" not in types


async def test_transitions_are_append_only(ctx, cases_pool):
    row, _ = await service.create_case(ctx, land(title="只增", description="只增不改"), principal=GM, reporter_sub=None)
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await cases_pool.execute("update case_transitions set actor = 'x' where case_id = $1", row["id"])
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await cases_pool.execute("delete from case_transitions where case_id = $1", row["id"])


async def test_scopes_levels_and_the_four_eyes_rule(ctx):
    row, _ = await service.create_case(ctx, land(title="权限", description="权限测试"), principal=GM, reporter_sub=None)
    stranger = Principal(sub="gm-9", roles=["grid_manager"], areas=["changping.zhongguping.g01"])
    with pytest.raises(DomainError) as e:
        await service.act(ctx, row["id"], Action.accept, service.ActionInput(), principal=stranger)
    assert from_domain(e.value).status == 404
    await service.act(ctx, row["id"], Action.escalate, service.ActionInput(reason="需村里处理"), principal=GM)
    with pytest.raises(DomainError) as e:
        await service.act(ctx, row["id"], Action.accept, service.ActionInput(), principal=GM)
    assert from_domain(e.value).status == 403 and "village level" in e.value.detail
    await service.act(ctx, row["id"], Action.accept, service.ActionInput(), principal=VA)
    await service.act(
        ctx,
        row["id"],
        Action.dispatch,
        service.ActionInput(unit_level="village", unit_id="changping.kongjiafan"),
        principal=VA,
    )
    await service.act(ctx, row["id"], Action.start, service.ActionInput(), principal=VA)
    await service.act(ctx, row["id"], Action.resolve, service.ActionInput(resolution="已调解"), principal=VA)
    with pytest.raises(DomainError) as e:
        await service.act(ctx, row["id"], Action.verify, service.ActionInput(), principal=VA)
    assert from_domain(e.value).status == 403 and "verifier" in e.value.detail
    verified = await service.act(ctx, row["id"], Action.verify, service.ActionInput(), principal=VA2)
    assert verified["status"] == "verified"


async def test_dispatch_respects_the_category_level(ctx):
    row, _ = await service.create_case(ctx, land(title="派遣", description="派遣测试"), principal=GM, reporter_sub=None)
    await service.act(ctx, row["id"], Action.accept, service.ActionInput(), principal=TA)
    with pytest.raises(DomainError) as e:
        await service.act(
            ctx, row["id"], Action.dispatch, service.ActionInput(unit_level="grid", unit_id=GRID), principal=TA
        )
    assert from_domain(e.value).status == 422 and "village level or above" in e.value.detail
    with pytest.raises(DomainError) as e:
        await service.act(
            ctx,
            row["id"],
            Action.dispatch,
            service.ActionInput(unit_level="village", unit_id="changping.zhongguping"),
            principal=TA,
        )
    assert "body.unit_id" in e.value.detail
    out = await service.act(
        ctx, row["id"], Action.dispatch, service.ActionInput(unit_level="town", unit_id="dept.justice"), principal=TA
    )
    assert (out["level"], out["assigned_unit"]) == ("town", "dept.justice")


async def test_task_progress_lands_on_the_case_timeline(ctx, cases_pool):
    row, _ = await service.create_case(
        ctx, land(title="任务", description="任务时间线"), principal=GM, reporter_sub=None
    )
    ev = TaskAssigned(
        task_id="t-1",
        task_type="dispute_mediation",
        grid_id=GRID,
        status="assigned",
        case_id=str(row["id"]),
        occurred_at=datetime.now(UTC),
        volunteer_ref="person_x",
    )
    env = CloudEvent(type="gov.task.assigned.v1", source="volunteers")
    async with cases_pool.acquire() as con:
        await service.on_task_event(con, ev, env)
        await service.on_task_event(con, ev, env)  # the same event twice: once on the timeline
        await service.on_task_event(
            con,
            ev.model_copy(update={"case_id": str(uuid.uuid4())}),
            CloudEvent(type="gov.task.assigned.v1", source="volunteers"),
        )
        timeline = await con.fetch(queries.TIMELINE, row["id"])
    tasks = [t for t in timeline if t["kind"] == "task"]
    assert len(tasks) == 1 and tasks[0]["what"] == "gov.task.assigned.v1" and tasks[0]["to_status"] == "assigned"


class _FixedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


async def test_a_petition_reported_before_national_day_is_due_in_working_days(ctx, cases_pool):
    """Monday 28 September 2026, 10:00 in Changping: 15 working days skip 国庆 (1-7 October) and count the 调休
    Saturday 10 October, so acceptance is due Friday 23 October, 10:00; the case's times are the clock's."""
    from dataclasses import replace

    at = datetime(2026, 9, 28, 2, 0, tzinfo=UTC)  # 10:00 in Changping
    fixed = replace(ctx, clock=_FixedClock(at))
    ids = []
    try:
        row, _ = await service.create_case(
            fixed,
            land(category="petition", title="信访：低保评定", description="村民来访反映低保评定不公"),
            principal=GM,
            reporter_sub=None,
        )
        ids.append(row["id"])
        # hours stay hours: a land dispute at the same instant is due 24 h later
        land_row, _ = await service.create_case(
            fixed, land(title="山林纠纷乙", description="乙组反映"), principal=GM, reporter_sub=None
        )
        ids.append(land_row["id"])
        assert row["created_at"] == row["updated_at"] == at
        assert row["accept_due"] == row["due_at"] == datetime(2026, 10, 23, 2, 0, tzinfo=UTC)
        assert row["number"].startswith("CP-2026-")
        (_, payload), *_ = await outbox_events(cases_pool, row["id"])  # a running sweeper may add more
        assert CaseReportedV2.model_validate(payload).accept_due == datetime(2026, 10, 23, 2, 0, tzinfo=UTC)
        assert land_row["accept_due"] == datetime(2026, 9, 29, 2, 0, tzinfo=UTC)
    finally:
        # these deadlines are past: stop their clocks so that no sweep elsewhere counts them
        await cases_pool.execute("update cases set due_at = null where id = any($1::uuid[])", ids)


def _shape_of(grid_id: str):
    events, _ = area_file.load(area_file.DEFAULT_FILE)
    [event] = [e for e in events if e.id == grid_id]
    assert event.geometry is not None
    return event, shape(event.geometry.model_dump(mode="json"))


async def test_a_case_with_a_point_and_no_grid_is_placed_in_the_grid_holding_it(ctx, cases_pool):
    _, g03 = _shape_of(GRID)
    inside = g03.representative_point()
    row, created = await service.create_case(
        ctx, land(grid=None, lat=inside.y, lon=inside.x), principal=VA, reporter_sub=None
    )
    assert created and row["grid_id"] == GRID
    [(_, reported)] = await outbox_events(cases_pool, row["id"])
    assert reported["grid_id"] == GRID
    # a grid manager of g03 may report there by coordinates alone (the scope is checked on the placed grid)
    row, _ = await service.create_case(
        ctx, land(title="另一件事情", grid=None, lat=inside.y, lon=inside.x), principal=GM, reporter_sub=None
    )
    assert row["grid_id"] == GRID


async def test_a_point_in_no_grid_or_away_from_the_named_grid_is_refused_naming_the_field(ctx):
    _, g03 = _shape_of(GRID)
    for new in (
        land(grid=None, lat=39.9, lon=116.4),  # Beijing: no grid of Changping holds it
        land(lat=39.9, lon=116.4),  # g03 named, the point far away
        land(grid=None),  # neither
    ):
        with pytest.raises(DomainError) as e:
            await service.create_case(ctx, new, principal=VA, reporter_sub=None)
        assert from_domain(e.value).status == 422
        assert isinstance(e.value, InvalidInput)
        assert e.value.field == ("body.grid_id" if new.lat is None else "body.lat"), e.value.detail
    # just outside g03's edge, within the 30 m tolerance: accepted in g03
    near = g03.exterior.interpolate(0.5, normalized=True)  # a point of g03's boundary
    step = 0.00005  # about 5 m
    candidates = [Point(near.x + dx, near.y + dy) for dx in (-step, 0, step) for dy in (-step, 0, step)]
    outside = next(p for p in candidates if not g03.covers(p))
    row, _ = await service.create_case(ctx, land(lat=outside.y, lon=outside.x), principal=VA, reporter_sub=None)
    assert row["grid_id"] == GRID


async def test_the_locator_follows_the_area_copy(ctx, cases_pool):
    event, g03 = _shape_of(GRID)
    inside = g03.representative_point()
    locator = GridLocator(cases_pool, check_every_s=0)
    assert (await locator.index()).grid_at(inside.x, inside.y) == GRID
    shapeless = event.model_copy(update={"geometry": None})
    source = CloudEvent(type="gov.area.upserted.v1", source="tests", subject=GRID)
    try:
        async with cases_pool.acquire() as con:
            await on_area_upserted(con, shapeless, source)
        assert (await locator.index()).grid_at(inside.x, inside.y) is None
    finally:
        async with cases_pool.acquire() as con:
            await on_area_upserted(con, event, source)
    assert (await locator.index()).grid_at(inside.x, inside.y) == GRID

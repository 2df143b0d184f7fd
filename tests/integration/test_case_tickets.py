"""External tickets (12345 工单) against the real database: the same ticket is one case however it arrives, and
the call-back's rules."""

import asyncio
import uuid

import pytest

from cases import service
from cases.domain.model import Action
from gov_contracts.errors import Conflict, IllegalAction
from govkit.auth import Principal

from .test_cases_service import GM, GRID, VA, VA2, ctx, land, outbox_events  # noqa: F401  (ctx: the fixture)

HOTLINE = Principal(sub="hotline-12345", roles=["hotline"], areas=[])


def ticket(external_id: str, **kw) -> service.NewCase:
    return land(
        title=kw.pop("title", "12345转办：三组山林边界纠纷"),
        external_source=kw.pop("external_source", "12345"),
        external_id=external_id,
        reporter_name="张某",
        reporter_phone="13900002222",
        **kw,
    )


async def test_ten_intakes_of_one_ticket_at_once_make_one_case_and_one_event(ctx):  # noqa: F811
    external_id = f"GD-{uuid.uuid4().hex[:10]}"
    results = await asyncio.gather(
        *(
            service.intake_ticket(ctx, ticket(external_id, description=f"第{i}次转办，内容略有不同"), principal=HOTLINE)
            for i in range(10)
        )
    )
    ids = {row["id"] for row, _ in results}
    assert len(ids) == 1
    assert [created for _, created in results].count(True) == 1
    (case_id,) = ids
    events = await outbox_events(ctx.pool, case_id)
    assert [t for t, _ in events] == ["gov.case.reported.v2"]
    assert (events[0][1]["external_source"], events[0][1]["external_id"]) == ("12345", external_id)
    again, created = await service.intake_ticket(ctx, ticket(external_id, title="标题也改了"), principal=HOTLINE)
    assert (again["id"], created) == (case_id, False)
    # another system's ticket with the same id is another case
    other, created = await service.intake_ticket(
        ctx, ticket(external_id, external_source="wangge-app"), principal=HOTLINE
    )
    assert created and other["id"] != case_id


async def test_the_call_back_follows_the_resolution_once_and_only_for_tickets(ctx):  # noqa: F811
    row, _ = await service.intake_ticket(ctx, ticket(f"GD-{uuid.uuid4().hex[:10]}"), principal=HOTLINE)
    number = row["number"]
    with pytest.raises(IllegalAction):
        await service.record_callback(ctx, number, "satisfied", None, HOTLINE)
    await service.act(ctx, number, Action.accept, service.ActionInput(), principal=VA)
    unit = service.ActionInput(unit_level="village", unit_id="changping.kongjiafan")
    await service.act(ctx, number, Action.dispatch, unit, principal=VA)
    await service.act(ctx, number, Action.start, service.ActionInput(), principal=VA)
    await service.act(ctx, number, Action.resolve, service.ActionInput(resolution="已调处"), principal=VA)
    first = await service.record_callback(ctx, number, "unreachable", "电话无人接听", HOTLINE)
    assert first["callback_result"] == "unreachable"
    second = await service.record_callback(ctx, number, "basically_satisfied", None, HOTLINE)
    assert second["callback_result"] == "basically_satisfied" and second["callback_at"] >= first["callback_at"]
    with pytest.raises(Conflict, match="was recorded"):
        await service.record_callback(ctx, number, "unsatisfied", None, HOTLINE)
    events = await outbox_events(ctx.pool, row["id"])
    assert [p["result"] for t, p in events if t == "gov.case.callback_recorded.v1"] == [
        "unreachable",
        "basically_satisfied",
    ]

    plain, _ = await service.create_case(ctx, land(title="网格员巡查发现的纠纷"), principal=GM, reporter_sub=None)
    with pytest.raises(Conflict, match="did not come as a ticket"):
        await service.record_callback(ctx, plain["number"], "satisfied", None, VA2)

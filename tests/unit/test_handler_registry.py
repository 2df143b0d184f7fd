"""govkit.handlers: handlers keyed by event class, turned into the consumer's {type name: handler} map."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from gov_contracts import REGISTRY, CloudEvent
from gov_contracts.cases import CaseAccepted, CaseFacts, CaseReported, CaseReportedV2
from gov_contracts.tasks import TaskCreated
from govkit.handlers import HandlerRegistry

FACTS = dict(
    case_id="00000000-0000-0000-0000-000000000001",
    number="CP-1",
    category="other",
    severity="low",
    grid_id="changping.kongjiafan.g03",
    status="accepted",
    level="grid",
    occurred_at=datetime(2026, 1, 5, tzinfo=UTC),
    actor="t",
)


def test_each_class_maps_to_the_type_names_of_its_model_and_both_versions_of_a_fact_to_one_handler():
    registry = HandlerRegistry()
    seen: list[tuple[str, str]] = []

    @registry.handles(CaseReported, CaseReportedV2)
    async def on_reported(con: object, event: CaseReported | CaseReportedV2, envelope: CloudEvent) -> None:
        seen.append((type(event).__name__, envelope.type))

    @registry.handles(CaseAccepted)
    async def on_accepted(con: object, event: CaseAccepted, envelope: CloudEvent) -> None:
        seen.append((type(event).__name__, envelope.type))

    handlers = registry.handlers()
    assert handlers == {
        "gov.case.reported.v1": on_reported,
        "gov.case.reported.v2": on_reported,
        "gov.case.accepted.v1": on_accepted,
    }
    assert registry.handled() == {CaseReported, CaseReportedV2, CaseAccepted}
    env = CloudEvent(type="gov.case.accepted.v1", source="cases")
    asyncio.run(handlers[env.type](None, REGISTRY[env.type].model(**FACTS), env))  # type: ignore[arg-type]
    assert seen == [("CaseAccepted", "gov.case.accepted.v1")]
    assert on_accepted.__name__ == "on_accepted"  # the decorator gives the function back unchanged


def test_a_handler_is_found_for_its_exact_class_only():
    registry = HandlerRegistry()

    @registry.handles(CaseAccepted)
    async def on_accepted(con: object, event: CaseFacts, envelope: CloudEvent) -> None: ...

    assert set(registry.handlers()) == {"gov.case.accepted.v1"}  # not every CaseFacts subclass


def test_mistakes_fail_when_the_handler_is_registered():
    registry = HandlerRegistry()

    with pytest.raises(TypeError, match="not an event type of the contract catalogue"):
        registry.handles(CaseFacts)
    with pytest.raises(TypeError, match="at least one event class"):
        registry.handles()
    with pytest.raises(TypeError, match="does not accept it"):

        @registry.handles(TaskCreated)
        async def wrong(con: object, event: CaseAccepted, envelope: CloudEvent) -> None: ...

    with pytest.raises(TypeError, match="annotate the event parameter"):

        @registry.handles(CaseAccepted)
        async def untyped(con, event, envelope) -> None: ...

    with pytest.raises(TypeError, match=r"must take \(connection, event, envelope\)"):

        @registry.handles(CaseAccepted)
        async def two(con: object, event: CaseAccepted) -> None: ...

    @registry.handles(CaseAccepted)
    async def first(con: object, event: CaseAccepted, envelope: CloudEvent) -> None: ...

    with pytest.raises(TypeError, match="CaseAccepted already has a handler"):

        @registry.handles(CaseAccepted)
        async def second(con: object, event: CaseAccepted, envelope: CloudEvent) -> None: ...


def test_a_catalogue_can_be_given():
    registry = HandlerRegistry({"x.accepted.v9": REGISTRY["gov.case.accepted.v1"]})

    @registry.handles(CaseAccepted)
    async def on_accepted(con: object, event: CaseAccepted, envelope: CloudEvent) -> None: ...

    assert registry.handlers() == {"x.accepted.v9": on_accepted}
    with pytest.raises(TypeError, match="not an event type"):
        registry.handles(CaseReported)


def test_a_batch_handler_is_each_type_names_batch_and_its_one_event_handler():
    registry = HandlerRegistry()
    runs: list[list[str]] = []

    @registry.handles_batch(CaseReported, CaseReportedV2)
    async def on_reported(con: object, items: list[tuple[CaseReported | CaseReportedV2, CloudEvent]]) -> None:
        runs.append([envelope.type for _, envelope in items])

    assert registry.batch_handlers() == {"gov.case.reported.v1": on_reported, "gov.case.reported.v2": on_reported}
    assert registry.handled() == {CaseReported, CaseReportedV2}
    one = registry.handlers()["gov.case.reported.v2"]
    env = CloudEvent(type="gov.case.reported.v2", source="cases")
    event = REGISTRY[env.type].model(
        **{**FACTS, "status": "reported", "title": "t", "source": "app", "reporter_ref": "r"}
    )
    asyncio.run(one(None, event, env))  # type: ignore[arg-type]
    assert runs == [["gov.case.reported.v2"]]
    with pytest.raises(TypeError, match="already has a handler"):

        @registry.handles(CaseReported)
        async def again(con: object, event: CaseReported, envelope: CloudEvent) -> None: ...

    with pytest.raises(TypeError, match=r"\(connection, items\)"):
        registry.handles_batch(CaseAccepted)(lambda con, event, envelope: None)

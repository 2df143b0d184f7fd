"""Event handlers keyed by event class, not by type-name strings.

A service collects one typed handler per event class (eventsourcing's
`@policy.register(Event)`) and hands the consumer the {type name: handler}
map it takes (`ServiceSpec.handlers`):

    projection = HandlerRegistry()

    @projection.handles(CaseReported, CaseReportedV2)      # both versions of one fact
    async def on_case_reported(con: asyncpg.Connection, event: CaseReported | CaseReportedV2,
                               envelope: CloudEvent) -> None: ...

    SPEC = ServiceSpec(..., handlers=projection.handlers())

A projection that gains from applying many events in a few statements
registers a batch handler instead, which the consumer calls once for each
run of consecutive events of its classes within a batch of records:

    @projection.handles_batch(CaseReported, CaseReportedV2)
    async def on_cases_reported(con: asyncpg.Connection,
                                items: Sequence[tuple[CaseReported | CaseReportedV2, CloudEvent]]) -> None: ...

It is also every one of its type names' handler (called with one item), so
per-event paths (a batch retried record by record, a rebuild) apply the same
rules.

A class is handled by the handler registered for exactly that class (no
lookup along the class hierarchy: a new event type is handled only once
someone says how). Mistakes fail at import: a class that is not in the
contract catalogue, a class registered twice, or a handler whose event
parameter is not annotated with a type covering every class it handles.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from gov_contracts import REGISTRY, CloudEvent, EventType
from gov_contracts.base import EventModel
from govkit.consumer import BatchHandler, Handler
from govkit.db import Connection

AnyHandler = TypeVar("AnyHandler", bound=Callable[..., Any])


class HandlerRegistry:
    """{event class: handler}, turned into the consumer's {type name: handler}."""

    def __init__(self, catalogue: Mapping[str, EventType] = REGISTRY) -> None:
        self._names: dict[type[EventModel], list[str]] = {}
        for name, event_type in catalogue.items():
            self._names.setdefault(event_type.model, []).append(name)
        self._by_class: dict[type[EventModel], Handler] = {}
        self._batches: dict[type[EventModel], BatchHandler] = {}

    def handles(self, *event_classes: type[EventModel]) -> Callable[[AnyHandler], AnyHandler]:
        """Decorator: the function handles events of these classes (its event parameter's type covers them)."""
        if not event_classes:
            raise TypeError("handles() needs at least one event class")
        for cls in event_classes:
            if cls not in self._names:
                raise TypeError(f"{cls.__name__} is not an event type of the contract catalogue")

        def register(handler: AnyHandler) -> AnyHandler:
            accepted = _event_parameter_types(handler)
            for cls in event_classes:
                if not any(issubclass(cls, t) for t in accepted):
                    raise TypeError(
                        f"{handler.__qualname__} is registered for {cls.__name__} "
                        f"but its event parameter does not accept it"
                    )
                if cls in self._by_class:
                    raise TypeError(f"{cls.__name__} already has a handler: {self._by_class[cls].__qualname__}")
                # the consumer passes each handler only instances of the model of its type name
                self._by_class[cls] = cast(Handler, handler)
            return handler

        return register

    def handles_batch(self, *event_classes: type[EventModel]) -> Callable[[AnyHandler], AnyHandler]:
        """Decorator: the function applies a run of events of these classes, given as (event, envelope) pairs."""
        if not event_classes:
            raise TypeError("handles_batch() needs at least one event class")

        def register(batch: AnyHandler) -> AnyHandler:
            if len(inspect.signature(batch).parameters) != 2:
                raise TypeError(f"{batch.__qualname__} must take (connection, items)")
            batch_handler = cast(BatchHandler, batch)

            async def one(con: Connection, event: EventModel, envelope: CloudEvent) -> None:
                await batch_handler(con, [(event, envelope)])

            one.__qualname__ = one.__name__ = batch.__name__
            one.__annotations__ = {"event": _union(event_classes)}
            self.handles(*event_classes)(one)
            for cls in event_classes:
                self._batches[cls] = batch_handler
            return batch

        return register

    def batch_handlers(self) -> dict[str, BatchHandler]:
        """{type name: batch handler} for the classes registered with handles_batch."""
        return {name: batch for cls, batch in self._batches.items() for name in self._names[cls]}

    def handled(self) -> frozenset[type[EventModel]]:
        return frozenset(self._by_class)

    def handlers(self) -> dict[str, Handler]:
        """{type name: handler} for every type name whose model has a handler, as the consumer takes it."""
        return {name: handler for cls, handler in self._by_class.items() for name in self._names[cls]}


def _union(classes: tuple[type[EventModel], ...]) -> Any:
    union: Any = classes[0]
    for cls in classes[1:]:
        union = union | cls
    return union


def _event_parameter_types(handler: Callable[..., Any]) -> tuple[type, ...]:
    """The classes the handler's second parameter (the event) is annotated with; a union gives each member."""
    params = list(inspect.signature(handler).parameters.values())
    if len(params) != 3:
        raise TypeError(f"{handler.__qualname__} must take (connection, event, envelope)")
    hint = typing.get_type_hints(handler).get(params[1].name)
    if hint is None:
        raise TypeError(f"{handler.__qualname__}: annotate the event parameter {params[1].name!r} with its class")
    members = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    return tuple(m for m in members if isinstance(m, type))

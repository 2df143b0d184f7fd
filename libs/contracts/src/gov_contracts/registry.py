"""The catalogue of event types: type name -> (model, topic, producer).

A type name is never reused for a different shape: a breaking change gets a
new type with the next version suffix (`.v2`) and the old one keeps flowing
until its subscribers have moved.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Type

from gov_contracts import topics
from gov_contracts.areas import AreaUpserted
from gov_contracts.base import EventModel


@dataclass(frozen=True)
class EventType:
    name: str
    model: Type[EventModel]
    topic: str
    producer: str  # the service (or operator tool) that owns the contract


def _types(*items: EventType) -> dict[str, EventType]:
    out: dict[str, EventType] = {}
    for item in items:
        if item.name in out:
            raise ValueError(f"event type {item.name} registered twice")
        out[item.name] = item
    return out


REGISTRY: dict[str, EventType] = _types(
    EventType("gov.area.upserted.v1", AreaUpserted, topics.AREAS, "govctl"),
)

_BY_MODEL = {et.model: et for et in REGISTRY.values()}


def event_type_for(model: type[EventModel]) -> EventType:
    return _BY_MODEL[model]


def model_for(type_name: str) -> Type[EventModel]:
    return REGISTRY[type_name].model

"""Event contracts of the Changping governance services.

Outside subscribers import this package (it needs only pydantic): topic names,
one pydantic model per event type, and the CloudEvents envelope.
"""

from gov_contracts.envelope import SPECVERSION, CloudEvent
from gov_contracts.registry import REGISTRY, EventType, event_type_for, model_for

__all__ = ["CloudEvent", "SPECVERSION", "EventType", "REGISTRY", "event_type_for", "model_for"]

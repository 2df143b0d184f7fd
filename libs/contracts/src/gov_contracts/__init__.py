"""Event contracts of the Changping governance services.

Outside subscribers import this package (it needs only pydantic): topic names,
one pydantic model per event type, and the CloudEvents envelope.
"""

from gov_contracts.envelope import SPECVERSION, CloudEvent
from gov_contracts.registry import REGISTRY, EventType, event_type_for, model_for

# the distribution's version, written only here (libs/contracts/pyproject.toml reads it): the minor goes up with
# new event types, fields or labels; the major only with a breaking change (docs/events.md, "Compatibility")
__version__ = "1.0.0"

__all__ = ["__version__", "CloudEvent", "SPECVERSION", "EventType", "REGISTRY", "event_type_for", "model_for"]

from pydantic import BaseModel, ConfigDict


class EventModel(BaseModel):
    """Base of every event payload.

    Unknown fields are ignored on read so that producers may add optional
    fields without breaking subscribers (see docs/events.md, compatibility).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

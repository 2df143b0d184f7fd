"""Dependencies of the volunteers routes: the service context and path/body ids."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from gov_contracts.errors import InvalidInput
from volunteers.context import Context


def service_context(request: Request) -> Context:
    return request.app.state.volunteers


ServiceContext = Annotated[Context, Depends(service_context)]
"""A route parameter typed `ctx: ServiceContext` is the service's pool, configuration and keys."""


def parse_uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput(field, "not a UUID") from None

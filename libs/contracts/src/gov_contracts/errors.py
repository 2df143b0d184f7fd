"""Why a use case refuses: the rejections every service's domain raises.

Pure Python, no web or database types, so a domain module can raise them and
both edges can decide what they mean: the HTTP edge maps each class to one
problem+json status in one place (govkit.problems), a Kafka consumer records a
rejected event or dead-letters it as `rejected` instead of retrying it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class DomainError(Exception):
    """Base of every rejection; `title` is the short problem title, `detail` says why."""

    title = "Request refused"

    def __init__(self, detail: str, **extra: Any):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(DomainError):
    """No such object, or none the caller may know of (404, never a hint that it exists)."""

    title = "Not found"


class Forbidden(DomainError):
    """The caller is known but may not do this (403)."""

    title = "Forbidden"


class InvalidInput(DomainError):
    """A value is wrong in a way only the domain can tell (422); `field` names it as the edge
    knows it, e.g. `body.grid_id` or `query.area`."""

    title = "Invalid request"

    def __init__(self, field: str, message: str, **extra: Any):
        super().__init__(f"{field}: {message}", **extra)
        self.field, self.message = field, message


class IllegalAction(DomainError):
    """The object's state does not allow the action (409), with what it does allow."""

    title = "Action not allowed in this state"

    def __init__(
        self, detail: str, *, status: str, action: str | None = None, allowed: Sequence[str] = (), **extra: Any
    ):
        super().__init__(detail, **extra)
        self.status, self.action, self.allowed = status, action, list(allowed)


class Conflict(DomainError):
    """The request contradicts what is already recorded (409), e.g. a second rating."""

    title = "Conflict"

    def __init__(self, detail: str, *, title: str | None = None, **extra: Any):
        super().__init__(detail, **extra)
        if title:
            self.title = title

"""Dependencies of the notifications routes: the service context, the inbox hub, CSV bodies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from govkit.problems import Problem
from notifications import imports
from notifications.context import Context
from notifications.inbox import InboxHub


def service_context(request: Request) -> Context:
    return request.app.state.notifications


def inbox_hub(request: Request) -> InboxHub:
    return request.app.state.inbox_hub


ServiceContext = Annotated[Context, Depends(service_context)]
Hub = Annotated[InboxHub, Depends(inbox_hub)]


async def csv_body(request: Request) -> bytes:
    """A text/csv body (UTF-8 or GBK), refused with 413 past the limit before it is read whole."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "text/csv":
        raise Problem(415, "Unsupported media type", f"send Content-Type: text/csv, not {media or 'nothing'}")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > imports.MAX_BYTES:
        raise Problem(413, "Payload too large", f"body: {declared} bytes; at most {imports.MAX_BYTES} (2 MiB)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > imports.MAX_BYTES:
            raise Problem(413, "Payload too large", f"body: more than {imports.MAX_BYTES} bytes (2 MiB)")
        chunks.append(chunk)
    return b"".join(chunks)


CsvBody = Annotated[bytes, Depends(csv_body)]

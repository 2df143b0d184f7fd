"""Typed dependencies of the cases routes (as full-stack-fastapi-template's api/deps.py):
`cases: Cases` is the service's context; `principal: CurrentPrincipal` (govkit.auth) the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from cases.service import Context


async def cases_context(request: Request) -> Context:
    # async: FastAPI runs a plain `def` dependency in a worker thread, a hop on every request for an attribute read
    return request.app.state.cases


Cases = Annotated[Context, Depends(cases_context)]

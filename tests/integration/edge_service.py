"""The cases service with one more route that fails on purpose, served by
uvicorn like the real one (`python -m tests.integration.edge_service`): the
HTTP edge test proves on it what a client gets from an unexpected exception."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter

from cases.app import SPEC
from govkit import service

failing = APIRouter()


@failing.get("/test/unexpected")
async def unexpected():
    raise RuntimeError("induced by the HTTP edge test")


if __name__ == "__main__":
    service.main(dataclasses.replace(SPEC, routers=[*SPEC.routers, failing]), ["serve"])

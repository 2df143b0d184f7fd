"""The copies this service keeps for evidence: cases (id, number, category, grid, village, status) and the
reporting service's latest livelihood-demand analysis per village."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from gov_contracts import CloudEvent, cases
from gov_contracts.reports import LivelihoodDemandPublished
from gov_contracts.vocabulary import area_at_depth
from govkit.db import Connection
from govkit.handlers import HandlerRegistry
from livelihood import queries

copies = HandlerRegistry()


@copies.handles_batch(*cases.FACT_EVENTS)
async def on_cases(con: Connection, items: Sequence[tuple[cases.CaseFacts, CloudEvent]]) -> None:
    """A run of case events in one pipelined statement, in order."""
    await con.executemany(
        queries.UPSERT_CASE,
        [
            (
                uuid.UUID(event.case_id),
                event.number,
                event.category,
                event.grid_id,
                area_at_depth(event.grid_id, 2),
                event.status,
                event.occurred_at,
            )
            for event, _ in items
        ],
    )


async def on_case(con: Connection, event: cases.CaseFacts, env: CloudEvent) -> None:
    await on_cases(con, [(event, env)])


@copies.handles(LivelihoodDemandPublished)
async def on_demand(con: Connection, event: LivelihoodDemandPublished, env: CloudEvent) -> None:
    themes = [t.model_dump() for t in event.themes]
    await con.execute(queries.UPSERT_DEMAND, event.village_id, event.week, event.weeks, themes, event.published_at)

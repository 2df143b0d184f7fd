"""The livelihood service's copies for evidence, against the real database: cases by village, and the newest
demand analysis per village (an older week never replaces a newer one)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from gov_contracts import CloudEvent, cases
from gov_contracts.reports import DemandTheme, LivelihoodDemandPublished
from govkit import db
from livelihood import handlers


def demand(week: str, cases_n: int) -> LivelihoodDemandPublished:
    theme = DemandTheme(theme="饮水", cases=cases_n, grids=4, trend="rising", case_ids=[])
    return LivelihoodDemandPublished(
        village_id="changping.qinghe", week=week, weeks=12, themes=[theme], published_at=datetime.now(UTC)
    )


async def test_cases_and_the_newest_demand_are_kept(stack):
    con = await db.connect(stack.service_dsn("livelihood"), "livelihood")
    try:
        case_id = str(uuid.uuid4())
        base: dict[str, Any] = dict(
            case_id=case_id,
            number="CP-2026-700001",
            category="livelihood.request",
            severity="low",
            grid_id="changping.qinghe.g02",
            level="grid",
            occurred_at=datetime.now(UTC),
            actor="gm",
        )
        env = CloudEvent(type="gov.case.reported.v2", source="test")
        await handlers.on_case(
            con, cases.CaseReportedV2(**base, status="reported", title="t", source="hotline", reporter_ref="r"), env
        )
        await handlers.on_case(con, cases.CaseAccepted(**base, status="accepted"), env)
        row = await con.fetchrow("select village_id, status from case_copy where case_id = $1", uuid.UUID(case_id))
        assert row is not None
        assert (row["village_id"], row["status"]) == ("changping.qinghe", "accepted")

        denv = CloudEvent(type="gov.report.livelihood_demand.v1", source="test")
        await handlers.on_demand(con, demand("2026-W49", 37), denv)
        await handlers.on_demand(con, demand("2026-W47", 5), denv)  # late and older: ignored
        kept = await con.fetchrow("select week, themes from demand where village_id = 'changping.qinghe'")
        assert kept is not None
        assert kept["week"] == "2026-W49" and kept["themes"][0]["cases"] == 37
    finally:
        await con.close()

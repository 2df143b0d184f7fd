"""Report events, produced by the reporting service on gov.reports.v1 (key = area id)."""

from datetime import datetime

from pydantic import Field

from gov_contracts.base import EventModel


class WeeklyReportPublished(EventModel):
    area_id: str = Field(examples=["changping.kongjiafan"])
    area_kind: str
    week: str = Field(examples=["2026-W48"], description="ISO week")
    new: int
    closed: int
    open_at_end: int
    overdue: int
    closure_rate: float | None = Field(description="null when nothing was open or new")
    on_time_rate: float | None
    grids_by_risk: dict[str, int] = Field(description="number of grids per risk level green/yellow/orange/red")
    red_grids: list[str]
    published_at: datetime

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
    share_url: str | None = Field(
        default=None,
        description="a signed link that opens this report's HTML without a bearer token, until share_expires_at",
    )
    share_expires_at: datetime | None = Field(default=None, description="after it share_url answers 410")


class DemandTheme(EventModel):
    theme: str = Field(examples=["饮水"])
    cases: int = Field(description="livelihood requests of the theme in the window")
    grids: int = Field(description="grids they came from")
    trend: str = Field(description="rising, falling or flat: the later half of the window against the earlier")
    case_ids: list[str] = Field(default_factory=list, description="at most 50, newest first")


class LivelihoodDemandPublished(EventModel):
    """The reporting service's livelihood-demand analysis of one village over the last `weeks` weeks."""

    village_id: str = Field(examples=["changping.kongjiafan"])
    week: str = Field(examples=["2026-W48"], description="ISO week the window ends with")
    weeks: int
    themes: list[DemandTheme]
    published_at: datetime

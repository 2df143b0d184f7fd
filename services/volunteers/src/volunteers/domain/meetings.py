"""Publicity for a villagers' meeting (会议宣传), pure: what task a meeting notice of the livelihood service
(gov.livelihood.meeting_noticed.v1) makes, if any. No I/O: the use case (volunteers.service) loads the
village's grids and the database's clock, calls `publicity_task` and creates what it returns.

The rule (docs/volunteers.md, "From meeting notices"):

* one task per meeting (origin `meeting`, origin_ref = the meeting id), type `meeting_publicity`, headcount 2;
* in the village's first grid: the lowest id (text order) among the grids whose parent is the village;
  a village without grids in the area copy is refused (InvalidInput, dead-lettered `rejected`);
* window 08:00–12:00 China Standard Time on the day after the notice (after the later of the notice and
  the moment the event is handled, so a late or re-driven notice never makes a window in the past), ending
  at the meeting's start at the latest;
* no task when the meeting sits less than a day after that moment (already past included), or when the
  window would leave less than an hour before the meeting.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from gov_contracts.errors import InvalidInput
from gov_contracts.vocabulary import LOCAL_TZ
from volunteers.domain.tasks import NewTask

MEETING_PUBLICITY = "meeting_publicity"
ORIGIN = "meeting"
MEETING_LABEL = {"villagers_meeting": "村民会议", "representatives_meeting": "村民代表会议"}
WINDOW = (time(8, 0), time(12, 0))  # China Standard Time, on the day after the notice
MIN_LEAD = timedelta(days=1)  # a meeting sitting sooner gets no publicity task
MIN_WINDOW = timedelta(hours=1)  # a window cut shorter than this by the meeting's start is not worth offering
HEADCOUNT = 2


@dataclass(frozen=True)
class MeetingNotice:
    meeting_id: str
    village_id: str
    kind: str  # villagers_meeting or representatives_meeting
    starts_at: datetime
    place: str
    noticed_at: datetime  # the event's occurred_at


def publicity_window(starts_at: datetime, noticed_at: datetime, now: datetime) -> tuple[datetime, datetime] | None:
    """08:00–12:00 local on the day after the later of the notice and `now`, ending by the meeting's start;
    None when the meeting sits less than a day after that moment or the window would be under an hour."""
    ref = max(noticed_at, now)
    if starts_at - ref < MIN_LEAD:
        return None
    day = ref.astimezone(LOCAL_TZ).date() + timedelta(days=1)
    start = datetime.combine(day, WINDOW[0], LOCAL_TZ)
    end = min(datetime.combine(day, WINDOW[1], LOCAL_TZ), starts_at)
    if end - start < MIN_WINDOW:
        return None
    return start, end


def first_grid(village_id: str, grids: Iterable[str]) -> str:
    """The lowest id of the village's grids; InvalidInput when the area copy holds none."""
    chosen = min(grids, default=None)
    if chosen is None:
        raise InvalidInput("village_id", f"{village_id} has no grid in this service's area copy")
    return chosen


def publicity_title(kind: str, starts_at: datetime, place: str) -> str:
    """E.g. 村民代表会议宣传：12月8日 孔家畈村村委会议室 (the meeting's local date)."""
    d = starts_at.astimezone(LOCAL_TZ).date()
    return f"{MEETING_LABEL.get(kind, '会议')}宣传：{d.month}月{d.day}日 {place}".strip()


def publicity_task(notice: MeetingNotice, now: datetime, grids: Iterable[str]) -> NewTask | None:
    """The publicity task a meeting notice makes, or None when the meeting is too near or past. The timing is
    decided first: a notice of a past meeting makes nothing even for a village the area copy lacks."""
    window = publicity_window(notice.starts_at, notice.noticed_at, now)
    if window is None:
        return None
    return NewTask(
        task_type=MEETING_PUBLICITY,
        title=publicity_title(notice.kind, notice.starts_at, notice.place),
        grid_id=first_grid(notice.village_id, grids),
        window_start=window[0],
        window_end=window[1],
        headcount=HEADCOUNT,
        origin=ORIGIN,
        origin_ref=notice.meeting_id,
    )

"""The publicity rule of a meeting notice (volunteers.domain.meetings), pure: the window, the grid, the title,
and when no task is made."""

from __future__ import annotations

from datetime import datetime

import pytest

from gov_contracts.errors import InvalidInput
from gov_contracts.vocabulary import LOCAL_TZ
from volunteers import config as vconfig
from volunteers.domain import meetings
from volunteers.domain.dispatch import ROLE_FIT, role_fit


def local(day: str, hhmm: str = "00:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=LOCAL_TZ)


def notice(**kw) -> meetings.MeetingNotice:
    return meetings.MeetingNotice(
        **{
            "meeting_id": "m-1",
            "village_id": "changping.kongjiafan",
            "kind": "representatives_meeting",
            "starts_at": local("2026-12-08", "19:00"),
            "place": "孔家畈村村委会议室",
            "noticed_at": local("2026-12-01", "15:30"),
            **kw,
        }
    )


GRIDS = ["changping.kongjiafan.g03", "changping.kongjiafan.g01", "changping.kongjiafan.g02"]


def test_a_notice_makes_one_publicity_task_the_next_morning_in_the_first_grid():
    new = meetings.publicity_task(notice(), local("2026-12-01", "15:31"), GRIDS)
    assert new is not None
    assert new.task_type == "meeting_publicity" and new.headcount == 2 and not new.urgent
    assert (new.origin, new.origin_ref) == ("meeting", "m-1")
    assert new.grid_id == "changping.kongjiafan.g01"
    assert (new.window_start, new.window_end) == (local("2026-12-02", "08:00"), local("2026-12-02", "12:00"))
    assert new.title == "村民代表会议宣传：12月8日 孔家畈村村委会议室"
    assert new.required_skills is None  # the type's default: publicity (config/dispatch.yaml)


@pytest.mark.parametrize(
    ("kind", "label"),
    [("villagers_meeting", "村民会议"), ("representatives_meeting", "村民代表会议"), ("something_new", "会议")],
)
def test_the_title_names_the_kind_and_the_meetings_local_date(kind, label):
    # 01:30 on the 8th in Shanghai is still the 7th in UTC: the title's date is the local one
    starts = local("2026-12-08", "01:30")
    assert meetings.publicity_title(kind, starts, "村委会") == f"{label}宣传：12月8日 村委会"


@pytest.mark.parametrize(
    ("noticed", "now", "starts", "window"),
    [
        # the day after the notice, 08:00-12:00 local, wherever in the day the notice came
        (("2026-12-01", "00:05"), ("2026-12-01", "00:06"), ("2026-12-08", "19:00"), ("2026-12-02", "08:00", "12:00")),
        (("2026-12-01", "23:59"), ("2026-12-01", "23:59"), ("2026-12-08", "19:00"), ("2026-12-02", "08:00", "12:00")),
        # handled late (a backlog, a re-driven dead letter): the day after the handling, never a past window
        (("2026-12-01", "10:00"), ("2026-12-04", "09:00"), ("2026-12-08", "19:00"), ("2026-12-05", "08:00", "12:00")),
        # a notice stamped ahead of the clock (the livelihood service's clock): the day after the notice
        (("2026-12-03", "10:00"), ("2026-12-01", "09:00"), ("2026-12-08", "19:00"), ("2026-12-04", "08:00", "12:00")),
        # the meeting sits the next morning, a day and more ahead: the window ends when it starts
        (("2026-12-01", "09:00"), ("2026-12-01", "09:00"), ("2026-12-02", "10:30"), ("2026-12-02", "08:00", "10:30")),
    ],
)
def test_the_window(noticed, now, starts, window):
    got = meetings.publicity_window(local(*starts), local(*noticed), local(*now))
    day, start, end = window
    assert got == (local(day, start), local(day, end))
    assert got[1] <= local(*starts)


@pytest.mark.parametrize(
    ("now", "starts"),
    [
        (("2026-12-09", "08:00"), ("2026-12-08", "19:00")),  # already past
        (("2026-12-08", "19:00"), ("2026-12-08", "19:00")),  # sitting now
        (("2026-12-07", "19:00:01"), ("2026-12-08", "19:00")),  # less than a day left
        (("2026-12-01", "00:30"), ("2026-12-02", "01:00")),  # a day left, but the meeting sits before 08:00
        (("2026-12-01", "08:30"), ("2026-12-02", "08:45")),  # under an hour of window before it sits
    ],
)
def test_no_task_when_the_meeting_is_past_or_too_near(now, starts):
    n = notice(noticed_at=local("2026-12-01", "00:00"), starts_at=local(*starts))
    assert meetings.publicity_window(n.starts_at, n.noticed_at, local(*now)) is None
    # decided before the grid: a past meeting of a village the area copy lacks is no error
    assert meetings.publicity_task(n, local(*now), []) is None


def test_exactly_a_day_ahead_still_gets_its_task():
    now = local("2026-12-01", "12:00")
    got = meetings.publicity_window(local("2026-12-02", "12:00"), now, now)
    assert got == (local("2026-12-02", "08:00"), local("2026-12-02", "12:00"))


def test_the_first_grid_is_the_lowest_id_and_a_village_without_grids_is_refused():
    assert meetings.first_grid("changping.x", ["changping.x.g2", "changping.x.g10", "changping.x.g1"]) == (
        "changping.x.g1"
    )
    assert meetings.first_grid("changping.x", iter(["changping.x.g07"])) == "changping.x.g07"
    with pytest.raises(InvalidInput) as e:
        meetings.publicity_task(notice(village_id="changping.nowhere"), local("2026-12-01", "16:00"), [])
    assert e.value.field == "village_id" and "changping.nowhere" in e.value.message


def test_the_task_type_is_configured_and_fits_publicity_roles():
    assert ROLE_FIT["meeting_publicity"] == ("party_member", "civility_supervisor", "volunteer")
    assert role_fit(("volunteer", "party_member"), "meeting_publicity") == 0
    assert role_fit(("sanitation_worker",), "meeting_publicity") == 3
    rules = vconfig.load_dispatch(vconfig.DEFAULT_FILE)
    assert rules.default_skills["meeting_publicity"] == ["publicity"]
    assert "meeting_publicity" in vconfig.TASK_TYPES


def test_a_dispatch_file_without_the_self_made_types_is_refused(tmp_path):
    raw = vconfig.DEFAULT_FILE.read_text(encoding="utf-8")
    path = tmp_path / "dispatch.yaml"
    path.write_text(raw.replace("  meeting_publicity: [publicity]", "  # none"), encoding="utf-8")
    with pytest.raises(vconfig.ConfigError, match="default_skills: needs 'meeting_publicity'"):
        vconfig.load_dispatch(path)

"""Working days (cases.domain.workdays): China's holidays and 调休 working weekends, local days, the fallback for a
year chinese-calendar does not know, and how add_working_days counts."""

import logging
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cases.config import DEFAULT_WORKDAYS, configure
from cases.domain.workdays import LOCAL_TZ, WorkCalendar, WorkdaysError, load
from govkit.settings import ConfigError
from govkit.settings import load as load_settings

CAL = WorkCalendar()


def local(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LOCAL_TZ)


def test_national_day_2026_and_its_working_weekends():
    # 国庆 2026: 1-7 October rest; Sunday 20 September and Saturday 10 October are worked (调休)
    assert not any(CAL.is_working_day(date(2026, 10, d)) for d in range(1, 8))
    assert CAL.is_working_day(date(2026, 9, 20))  # Sunday
    assert CAL.is_working_day(date(2026, 10, 10))  # Saturday
    assert not CAL.is_working_day(date(2026, 10, 11))  # an ordinary Sunday
    assert CAL.is_working_day(date(2026, 10, 8))
    # 中秋 2026 falls on Friday 25 September: 25-27 September rest
    assert not any(CAL.is_working_day(date(2026, 9, d)) for d in (25, 26, 27))


def test_spring_festival_2026_and_its_working_saturdays():
    # 春节 2026: 15-23 February rest; Saturdays 14 and 28 February are worked (调休)
    assert not any(CAL.is_working_day(date(2026, 2, d)) for d in range(15, 24))
    assert CAL.is_working_day(date(2026, 2, 14))
    assert CAL.is_working_day(date(2026, 2, 28))
    assert CAL.is_working_day(date(2026, 2, 24))


def test_working_days_across_national_day():
    # Wednesday 30 September 2026, 15:20: three working days later is Saturday 10 October (8, 9, 10), same time
    assert CAL.add_working_days(local(2026, 9, 30, 15, 20), 3) == local(2026, 10, 10, 15, 20)
    assert CAL.add_working_days(local(2026, 9, 30, 15, 20), 4) == local(2026, 10, 12, 15, 20)
    # before the holiday: Thursday 24 September, one working day later skips 中秋 (25-27) and lands on the 28th
    assert CAL.add_working_days(local(2026, 9, 24, 11, 0), 1) == local(2026, 9, 28, 11, 0)
    # 19 September (Saturday) is rest: the clock starts 09:00 on Sunday 20 September, worked
    assert CAL.add_working_days(local(2026, 9, 19, 18, 0), 0) == local(2026, 9, 20, 9, 0)
    assert CAL.add_working_days(local(2026, 9, 19, 18, 0), 1) == local(2026, 9, 21, 9, 0)


def test_working_days_across_spring_festival():
    # Friday 13 February 2026, 10:00: 1 → Saturday 14 (worked), 2 → Tuesday 24 (after the holiday)
    assert CAL.add_working_days(local(2026, 2, 13, 10, 0), 1) == local(2026, 2, 14, 10, 0)
    assert CAL.add_working_days(local(2026, 2, 13, 10, 0), 2) == local(2026, 2, 24, 10, 0)
    # a report on 除夕 (16 February, rest) starts the clock at 09:00 on Tuesday 24 February; the working days after
    # it: 25, 26, 27, 28 (Saturday, worked), then Monday 2 March
    assert CAL.add_working_days(local(2026, 2, 16, 20, 0), 0) == local(2026, 2, 24, 9, 0)
    assert CAL.add_working_days(local(2026, 2, 16, 20, 0), 4) == local(2026, 2, 28, 9, 0)
    assert CAL.add_working_days(local(2026, 2, 16, 20, 0), 5) == local(2026, 3, 2, 9, 0)


def test_a_petition_reported_before_national_day():
    # 15 working days from Monday 28 September 2026, 10:00: 29, 30 Sep; 8, 9, 10, 12-16, 19-23 Oct
    assert CAL.add_working_days(local(2026, 9, 28, 10, 0), 15) == local(2026, 10, 23, 10, 0)


def test_the_clock_starts_at_nine_on_a_working_day_and_keeps_the_local_time():
    assert CAL.add_working_days(local(2026, 11, 30, 7, 0), 1) == local(2026, 12, 1, 9, 0)
    # given in UTC: 2026-11-30 23:30 UTC is Tuesday 1 December 07:30 in Changping
    assert CAL.add_working_days(datetime(2026, 11, 30, 23, 30, tzinfo=UTC), 1) == local(2026, 12, 2, 9, 0)
    assert CAL.add_working_days(datetime(2026, 12, 1, 3, 0, tzinfo=UTC), 2) == local(2026, 12, 3, 11, 0)
    with pytest.raises(ValueError):
        CAL.add_working_days(datetime(2026, 12, 1, 3, 0), 1)
    with pytest.raises(ValueError):
        CAL.add_working_days(local(2026, 12, 1, 3, 0), -1)


def test_local_override_file(tmp_path):
    f = tmp_path / "w.yaml"
    # Monday 14 December 2026 a local rest day; Saturday 12 December a local working day
    f.write_text("rest: [2026-12-14]\nwork: ['2026-12-12']\n")
    cal = load(f)
    assert not cal.is_working_day(date(2026, 12, 14))
    assert cal.is_working_day(date(2026, 12, 12))
    assert cal.is_working_day(date(2026, 12, 15)) and not cal.is_working_day(date(2026, 12, 13))
    # Friday 11 December 10:00: 1 → Saturday 12, 2 → Tuesday 15 (Sunday and the local Monday off skipped)
    assert cal.add_working_days(local(2026, 12, 11, 10, 0), 1) == local(2026, 12, 12, 10, 0)
    assert cal.add_working_days(local(2026, 12, 11, 10, 0), 2) == local(2026, 12, 15, 10, 0)
    # without the file the 14th is worked
    assert CAL.add_working_days(local(2026, 12, 11, 10, 0), 1) == local(2026, 12, 14, 10, 0)


def test_the_shipped_override_file_loads():
    assert isinstance(load(DEFAULT_WORKDAYS), WorkCalendar)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("rest: ['2026-13-01']\n", "rest[0]: '2026-13-01' is not a date"),
        ("rest: [2026-13-01]\n", "not valid YAML: month must be in 1..12"),
        ("work: 2026-12-12\n", "work: expected a list of dates"),
        ("holidays: []\n", "holidays: unknown key"),
        ("rest: [2026-12-12]\nwork: [2026-12-12]\n", "rest[0]: 2026-12-12 is marked both work and rest"),
        ("- 2026-12-12\n", "expected a mapping"),
        ("rest: [\n", "not valid YAML"),
    ],
)
def test_a_bad_override_file_names_the_entry(tmp_path, text, expected):
    f = tmp_path / "w.yaml"
    f.write_text(text)
    with pytest.raises(WorkdaysError) as e:
        load(f)
    assert expected in str(e.value) and "\n" not in str(e.value)


def test_a_bad_override_file_stops_the_service(tmp_path):
    f = tmp_path / "w.yaml"
    f.write_text("rest: [soon]\n")
    s = load_settings(
        "cases", {"CASES_DATABASE_URL": "postgresql://c:p@h:5432/gov", "KAFKA_BOOTSTRAP_SERVERS": "h:9092"}
    )
    with pytest.raises(ConfigError) as e:
        configure(s, {"CASES_WORKDAYS_FILE": str(f)})
    assert str(e.value).startswith("config error: CASES_WORKDAYS_FILE: workdays") and "rest[0]" in str(e.value)


def test_a_year_the_package_does_not_know_is_monday_to_friday_with_one_warning(tmp_path, caplog):
    f = tmp_path / "w.yaml"
    f.write_text("rest: [2027-01-01]\nwork: [2027-01-09]\n")
    cal = load(f)
    with caplog.at_level(logging.WARNING, logger="cases.domain.workdays"):
        assert not cal.is_working_day(date(2027, 1, 1))  # Friday, a local rest day
        assert cal.is_working_day(date(2027, 1, 4))  # Monday
        assert not cal.is_working_day(date(2027, 1, 3))  # Sunday
        assert cal.is_working_day(date(2027, 1, 9))  # Saturday, a local working day
        # Thursday 31 December 2026 (known) 10:00; 1 → Monday 4 January 2027
        assert cal.add_working_days(local(2026, 12, 31, 10, 0), 1) == local(2027, 1, 4, 10, 0)
    warnings = [r for r in caplog.records if "2027" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


STARTS = st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2027, 2, 1), timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(STARTS, st.integers(0, 70))
def test_never_on_a_rest_day_and_rising_with_n(start, n):
    due = CAL.add_working_days(start, n)
    nxt = CAL.add_working_days(start, n + 1)
    assert CAL.is_working_day(due.astimezone(LOCAL_TZ).date())
    assert due >= start and nxt > due
    assert nxt.astimezone(LOCAL_TZ).time() == due.astimezone(LOCAL_TZ).time()


@settings(max_examples=300, deadline=None)
@given(STARTS, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20)), st.integers(0, 70))
def test_a_later_start_never_gives_an_earlier_deadline(start, later_by, n):
    assert CAL.add_working_days(start + later_by, n) >= CAL.add_working_days(start, n)

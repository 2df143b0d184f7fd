"""Working days: China's official holidays and 调休 working weekends, and local days, for deadlines counted in
working days (工作日).

A day is a working day as the `chinese-calendar` package says (the State Council's yearly schedule), unless the
local override file (CASES_WORKDAYS_FILE) marks it `work` or `rest`. For a year the package does not know yet,
Monday to Friday are working days (plus the override file) and one warning per such year is logged.

`WorkCalendar.add_working_days(start, n)` is the deadline n working days after `start`, in Asia/Shanghai time:

- the clock starts at `start`, but not before 09:00 (OFFICE_OPENS) of a working day: a start on a rest day
  counts from 09:00 of the next working day, a start before 09:00 on a working day from 09:00 that day;
- the deadline is that same local clock time on the n-th working day after the day the clock starts on (the
  start day itself is not counted, as with 期间 in Chinese law); n = 0 is the clock's start.

So it never falls on a rest day, rises with n, and never falls for a later start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import yaml

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
OFFICE_OPENS = time(9, 0)

log = logging.getLogger(__name__)


class WorkdaysError(Exception):
    pass


def _official(d: date) -> bool:
    """The package's answer; NotImplementedError for a year it does not know."""
    answer: bool = chinese_calendar.is_workday(d)
    return answer


class WorkCalendar:
    """Which days are working days: the official schedule, overridden by local days (True: work, False: rest)."""

    def __init__(self, overrides: Mapping[date, bool] | None = None, *, official: Callable[[date], bool] = _official):
        self.overrides: dict[date, bool] = dict(overrides or {})
        self._official = official
        self._warned: set[int] = set()

    def is_working_day(self, d: date) -> bool:
        if d in self.overrides:
            return self.overrides[d]
        try:
            return self._official(d)
        except NotImplementedError:
            if d.year not in self._warned:
                self._warned.add(d.year)
                log.warning(
                    "chinese-calendar does not know %d: Monday to Friday count as working days there, "
                    "with the local override file",
                    d.year,
                )
            return d.weekday() < 5

    def next_working_day(self, d: date) -> date:
        """The first working day after `d`."""
        d += timedelta(days=1)
        while not self.is_working_day(d):
            d += timedelta(days=1)
        return d

    def clock_start(self, start: datetime) -> datetime:
        """When a working-day clock started at `start` starts counting (local time): see the module's doc."""
        local = start.astimezone(LOCAL_TZ)
        day = local.date()
        if not self.is_working_day(day):
            return datetime.combine(self.next_working_day(day), OFFICE_OPENS, LOCAL_TZ)
        if local.time() < OFFICE_OPENS:
            return datetime.combine(day, OFFICE_OPENS, LOCAL_TZ)
        return local

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """The deadline n working days after `start` (an aware datetime), in Asia/Shanghai time."""
        if start.tzinfo is None:
            raise ValueError("add_working_days: start must be timezone-aware")
        if n < 0:
            raise ValueError("add_working_days: n must be 0 or more")
        begin = self.clock_start(start)
        day = begin.date()
        for _ in range(n):
            day = self.next_working_day(day)
        return datetime.combine(day, begin.time(), LOCAL_TZ)


def _day(value: object, where: str) -> date:
    if isinstance(value, datetime):
        raise WorkdaysError(f"{where}: {value!r} is not a date (YYYY-MM-DD)")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise WorkdaysError(f"{where}: {value!r} is not a date (YYYY-MM-DD)")


def load(path: Path) -> WorkCalendar:
    """The calendar with the local days of an override file: `work:` and `rest:` lists of dates (both optional)."""
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise WorkdaysError(f"workdays {path}: cannot read: {e.strerror}") from None
    except (yaml.YAMLError, ValueError) as e:  # ValueError: a date such as 2026-13-01
        raise WorkdaysError(f"workdays {path}: not valid YAML: {str(e).splitlines()[0]}") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise WorkdaysError(f"workdays {path}: expected a mapping with 'work:' and 'rest:' lists of dates")
    unknown = sorted(str(k) for k in doc if k not in ("work", "rest"))
    if unknown:
        raise WorkdaysError(f"workdays {path}: {unknown[0]}: unknown key; use work and rest")
    overrides: dict[date, bool] = {}
    for key, working in (("work", True), ("rest", False)):
        days = doc.get(key) or []
        if not isinstance(days, list):
            raise WorkdaysError(f"workdays {path}: {key}: expected a list of dates")
        for i, raw in enumerate(days):
            d = _day(raw, f"workdays {path}: {key}[{i}]")
            if d in overrides and overrides[d] is not working:
                raise WorkdaysError(f"workdays {path}: {key}[{i}]: {d} is marked both work and rest")
            overrides[d] = working
    return WorkCalendar(overrides)

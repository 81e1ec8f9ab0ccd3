"""Working-time arithmetic for handling deadlines, pure and deterministic for replay.

A working day runs 09:00-17:00 China Standard Time (UTC+08:00; Asia/Shanghai has had no
daylight saving since 1991, so a fixed offset is exact and needs no tz database).
Which days are working days, by data source, in order of preference:

0. the policy's own schedule for that year (`calendar.years`: the State Council's yearly
   notice as the district enters it, holidays and make-up working days; a year may be marked
   provisional until the notice is out);
1. `chinese-calendar` (2004-2026 in 1.11.0): public holidays *and* make-up working days (调休);
2. `holidays` China (1950-2100): public holidays only, no make-up days;
3. weekends only.

Only 0 (unless provisional) and 1 are confirmed schedules; `unconfirmed_years` names the
years that lack one, for `/ready` and the logs.

Every computed deadline carries a label naming the sources used, so the audit shows which
data decided it. Mode "continuous" counts every second (used by short-duration test policies).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Literal

import chinese_calendar
import holidays
from pydantic import Field, model_validator

from domain.model import Frozen

CHINESE_CALENDAR_LABEL = f"chinese-calendar {chinese_calendar.__version__}"
HOLIDAYS_LABEL = f"holidays {holidays.__version__} CN (no make-up days)"
WEEKENDS_LABEL = "weekends only"
CONTINUOUS_LABEL = "continuous (every hour counts)"
_SOURCE_ORDER = (CHINESE_CALENDAR_LABEL, HOLIDAYS_LABEL, WEEKENDS_LABEL)
_MAX_DAYS = 3660


class YearSchedule(Frozen):
    """One year's official schedule (国务院办公厅 《关于…年部分节假日安排的通知》): the days
    off and the make-up working days (weekend days that are worked, 调休上班)."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = Field(default=frozenset(), description="make-up working days")
    provisional: bool = Field(default=False, description="not yet the published notice")
    source: str = ""

    def label(self, year: int) -> str:
        return f"policy calendar {year}" + (" (provisional)" if self.provisional else "")


class WorkingCalendar(Frozen):
    """When the handling clock runs: working days between `day_start` and `day_end`."""

    mode: Literal["working_days", "continuous"] = "working_days"
    day_start: time = time(9, 0)
    day_end: time = time(17, 0)
    utc_offset_hours: int = 8
    years: dict[int, YearSchedule] = Field(
        default_factory=dict, description="the official schedule per year, before any library"
    )

    @model_validator(mode="after")
    def _dates_in_their_year(self) -> WorkingCalendar:
        for year, schedule in self.years.items():
            stray = sorted(d for d in schedule.holidays | schedule.workdays if d.year != year)
            if stray:
                raise ValueError(f"calendar.years.{year}: {stray[0]} is not in {year}")
            both = sorted(schedule.holidays & schedule.workdays)
            if both:
                raise ValueError(
                    f"calendar.years.{year}: {both[0]} is both a holiday and a make-up working day"
                )
        return self

    @property
    def tz(self) -> timezone:
        return timezone(timedelta(hours=self.utc_offset_hours))


DEFAULT_CALENDAR = WorkingCalendar()


@lru_cache(maxsize=256)
def _cn_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.China(years=year).keys())


def day_kind(day: date, calendar: WorkingCalendar = DEFAULT_CALENDAR) -> tuple[bool, str]:
    """Is `day` a working day, and which data source said so."""
    schedule = calendar.years.get(day.year)
    if schedule is not None:
        if day in schedule.workdays:
            return True, schedule.label(day.year)
        return day.weekday() < 5 and day not in schedule.holidays, schedule.label(day.year)
    try:
        return bool(chinese_calendar.is_workday(day)), CHINESE_CALENDAR_LABEL
    except NotImplementedError:
        pass
    if holidays.China.start_year <= day.year <= holidays.China.end_year:
        return day.weekday() < 5 and day not in _cn_holidays(day.year), HOLIDAYS_LABEL
    return day.weekday() < 5, WEEKENDS_LABEL


def _label(sources: set[str]) -> str:
    own = sorted(s for s in sources if s not in _SOURCE_ORDER)  # the policy's years
    return " + ".join([*own, *(s for s in _SOURCE_ORDER if s in sources)]) or WEEKENDS_LABEL


def confirmed(year: int, calendar: WorkingCalendar = DEFAULT_CALENDAR) -> bool:
    """Whether `year` has a confirmed schedule: the policy's (not provisional) or
    chinese-calendar's (which carries the published notices, make-up days included)."""
    schedule = calendar.years.get(year)
    if schedule is not None:
        return not schedule.provisional
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def unconfirmed_ahead(year: int, calendar: WorkingCalendar = DEFAULT_CALENDAR) -> list[str]:
    """`unconfirmed_years` for the years deadlines set in `year` can reach: it and the next."""
    return unconfirmed_years([year, year + 1], calendar)


def unconfirmed_years(years: list[int], calendar: WorkingCalendar = DEFAULT_CALENDAR) -> list[str]:
    """For each of `years` without a confirmed schedule, what deadlines in it rest on."""
    found = []
    for year in years:
        if confirmed(year, calendar):
            continue
        schedule = calendar.years.get(year)
        found.append(
            f"{year}: {schedule.label(year)}"
            if schedule is not None
            else f"{year}: {HOLIDAYS_LABEL}"
        )
    return found


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("working-time arithmetic needs timezone-aware datetimes")


def add_working_time(
    start: datetime, duration: timedelta, calendar: WorkingCalendar = DEFAULT_CALENDAR
) -> tuple[datetime, str]:
    """The moment `duration` of working time after `start`, and the calendar label used."""
    _require_aware(start)
    if calendar.mode == "continuous":
        return start + duration, CONTINUOUS_LABEL
    remaining, sources = duration, set[str]()
    cursor = start.astimezone(calendar.tz)
    for _ in range(_MAX_DAYS):
        day = cursor.date()
        working, source = day_kind(day, calendar)
        sources.add(source)
        opens = datetime.combine(day, calendar.day_start, calendar.tz)
        closes = datetime.combine(day, calendar.day_end, calendar.tz)
        begin = max(cursor, opens)
        if working and begin < closes:
            if remaining <= closes - begin:
                return (begin + remaining).astimezone(start.tzinfo), _label(sources)
            remaining -= closes - begin
        cursor = datetime.combine(day + timedelta(days=1), calendar.day_start, calendar.tz)
    raise ValueError("working-time duration too long for the calendar")


def add_working_hours(
    start: datetime, hours: float, calendar: WorkingCalendar = DEFAULT_CALENDAR
) -> tuple[datetime, str]:
    """`add_working_time` with the duration given in (possibly fractional) hours."""
    return add_working_time(start, timedelta(hours=hours), calendar)


def working_time_between(
    start: datetime, end: datetime, calendar: WorkingCalendar = DEFAULT_CALENDAR
) -> timedelta:
    """How much working time lies between two moments (zero if `end` is not later)."""
    _require_aware(start)
    _require_aware(end)
    if end <= start:
        return timedelta(0)
    if calendar.mode == "continuous":
        return end - start
    total, cursor = timedelta(0), start.astimezone(calendar.tz)
    while cursor < end:
        day = cursor.date()
        opens = datetime.combine(day, calendar.day_start, calendar.tz)
        closes = datetime.combine(day, calendar.day_end, calendar.tz)
        begin, finish = max(cursor, opens), min(closes, end)
        if day_kind(day, calendar)[0] and begin < finish:
            total += finish - begin
        cursor = datetime.combine(day + timedelta(days=1), calendar.day_start, calendar.tz)
    return total


def checkpoints(
    start: datetime,
    duration: timedelta,
    percents: list[int],
    calendar: WorkingCalendar = DEFAULT_CALENDAR,
) -> dict[int, datetime]:
    """When each percentage of a working-time budget starting at `start` is used up."""
    return {p: add_working_time(start, duration * p / 100, calendar)[0] for p in percents}

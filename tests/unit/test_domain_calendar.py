from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from domain.calendar import (
    CHINESE_CALENDAR_LABEL,
    CONTINUOUS_LABEL,
    HOLIDAYS_LABEL,
    WEEKENDS_LABEL,
    WorkingCalendar,
    add_working_hours,
    checkpoints,
    day_kind,
    working_time_between,
)

CST = timezone(timedelta(hours=8))


def at(y: int, m: int, d: int, h: int = 9, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=CST)


def test_national_day_2026_is_not_a_working_day_according_to_chinese_calendar():
    assert day_kind(date(2026, 10, 1)) == (False, CHINESE_CALENDAR_LABEL)


def test_a_make_up_saturday_in_2026_is_a_working_day():
    assert date(2026, 10, 10).weekday() == 5
    assert day_kind(date(2026, 10, 10)) == (True, CHINESE_CALENDAR_LABEL)


def test_deadline_accepted_before_national_day_skips_the_whole_holiday():
    due, label = add_working_hours(at(2026, 9, 30, 16), 2)
    assert due == at(2026, 10, 8, 10)
    assert label == CHINESE_CALENDAR_LABEL


def test_deadline_counts_the_make_up_saturday_as_working_time():
    due, _ = add_working_hours(at(2026, 10, 9, 16), 2)
    assert due == at(2026, 10, 10, 10)


def test_2027_falls_back_to_holidays_without_make_up_days_and_says_so():
    assert day_kind(date(2027, 10, 1)) == (False, HOLIDAYS_LABEL)
    due, label = add_working_hours(at(2027, 1, 1, 10), 2)
    assert due == at(2027, 1, 4, 11)
    assert label == HOLIDAYS_LABEL


def test_years_beyond_the_holidays_data_fall_back_to_weekends_only():
    assert day_kind(date(2101, 1, 3)) == (True, WEEKENDS_LABEL)
    assert add_working_hours(at(2101, 1, 3, 16), 1)[1] == WEEKENDS_LABEL


def test_a_deadline_spanning_two_data_sources_names_both():
    _, label = add_working_hours(at(2026, 12, 31, 16), 2)
    assert label == f"{CHINESE_CALENDAR_LABEL} + {HOLIDAYS_LABEL}"


def test_deadlines_skip_the_weekend():
    friday_4pm = at(2026, 6, 5, 16)
    assert add_working_hours(friday_4pm, 2)[0] == at(2026, 6, 8, 10)


def test_work_starts_at_nine_when_accepted_in_the_evening():
    assert add_working_hours(at(2026, 6, 1, 20), 1)[0] == at(2026, 6, 2, 10)


def test_a_full_working_day_of_eight_hours_ends_at_five():
    assert add_working_hours(at(2026, 6, 1, 9), 8)[0] == at(2026, 6, 1, 17)


def test_the_result_keeps_the_timezone_of_the_start():
    start = at(2026, 6, 1, 10).astimezone(UTC)
    due, _ = add_working_hours(start, 1)
    assert due.tzinfo == UTC
    assert due == at(2026, 6, 1, 11)


def test_working_time_between_counts_only_working_hours():
    assert working_time_between(at(2026, 9, 30, 16), at(2026, 10, 9, 10)) == timedelta(hours=10)
    assert working_time_between(at(2026, 6, 2), at(2026, 6, 1)) == timedelta(0)


def test_continuous_calendar_counts_every_second():
    continuous = WorkingCalendar(mode="continuous")
    due, label = add_working_hours(at(2026, 10, 1, 23), 2, continuous)
    assert (due, label) == (at(2026, 10, 2, 1), CONTINUOUS_LABEL)


def test_warning_checkpoints_fall_at_half_and_three_quarters_of_working_time():
    points = checkpoints(at(2026, 6, 5, 13), timedelta(hours=8), [50, 75])
    assert points == {50: at(2026, 6, 5, 17), 75: at(2026, 6, 8, 11)}


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        add_working_hours(datetime(2026, 6, 1, 10), 1)


def test_the_same_inputs_always_give_the_same_deadline():
    results = {add_working_hours(at(2026, 9, 30, 15, 30), 12) for _ in range(3)}
    assert len(results) == 1

"""Urgency as the regulations set it (issue 19, items 2 and 3): the four levels of the 12345
hotline draft standard as policy data — 紧急 2 h and 较急 24 h on calendar hours (24 × 7),
一般 7 and 非紧急 15 working days — and the working calendar's yearly schedule as data."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from pydantic import ValidationError

from domain.calendar import (
    CONTINUOUS_LABEL,
    WorkingCalendar,
    add_working_time,
    day_kind,
    unconfirmed_years,
)
from domain.commands import Accept, Classify, DeadlineBreached
from domain.model import Category, Tier, Urgency
from domain.policy import Policy
from tests.unit.domain_kit import CST, DISPATCHER, MONDAY_10AM, POLICY, Story, staff, submission

GRID = staff("grid-dongting-1")
FRIDAY_7PM = datetime(2026, 6, 5, 19, 0, tzinfo=CST)


def without_table(policy: Policy = POLICY) -> Policy:
    """The demo policy with no category table: the levels alone set the deadlines."""
    return policy.model_copy(update={"sla": policy.sla.model_copy(update={"handling": {}})})


def classified(story: Story, urgency: Urgency) -> Story:
    story.submit(submission("有件事想反映一下", requester_id=f"res-{urgency}"))
    story.run(Classify(category=Category.DAILY_LIFE, tier=Tier.GRID, urgency=urgency), DISPATCHER)
    return story


@pytest.mark.parametrize(
    "urgency, due, rule",
    [
        (Urgency.URGENT, datetime(2026, 6, 1, 12, 0, tzinfo=CST), "sla.levels.urgent"),
        (Urgency.PRESSING, datetime(2026, 6, 2, 10, 0, tzinfo=CST), "sla.levels.pressing"),
        # 7 working days from Monday 1 June 10:00: Wednesday 10 June 10:00
        (Urgency.NORMAL, datetime(2026, 6, 10, 10, 0, tzinfo=CST), "sla.levels.normal"),
        # 15 working days, the Dragon Boat Festival (Friday 19 June 2026) not counted
        (Urgency.LOW, datetime(2026, 6, 23, 10, 0, tzinfo=CST), "sla.levels.low"),
    ],
)
def test_each_level_sets_its_limit_on_its_clock(urgency: Urgency, due: datetime, rule: str) -> None:
    story = classified(Story(without_table()), urgency)
    story.run(Accept(), GRID)
    accepted = story.last("DemandAccepted")
    assert (accepted.due_at, accepted.rule_id) == (due, rule)
    calendar_hours = urgency in (Urgency.URGENT, Urgency.PRESSING)
    assert (accepted.calendar == CONTINUOUS_LABEL) is calendar_hours


def test_an_urgent_need_reported_on_a_friday_evening_is_due_that_night() -> None:
    story = Story(now=FRIDAY_7PM)
    story.submit(submission("楼道漏水很严重，紧急！", requester_id="res-friday"))
    assigned = story.last("DemandAssigned")
    assert story.state.urgency == Urgency.URGENT
    assert assigned.accept_due_at == FRIDAY_7PM + timedelta(hours=2)  # not Monday 11:00
    story.later(minutes=10).run(Accept(), staff(assigned.unit_id))
    accepted = story.last("DemandAccepted")
    # the table's 4 working hours are capped by the urgent level's 2 calendar hours
    assert accepted.rule_id == "sla.levels.urgent"
    assert accepted.due_at == datetime(2026, 6, 5, 21, 10, tzinfo=CST)
    assert accepted.warn_at == {
        50: datetime(2026, 6, 5, 20, 10, tzinfo=CST),
        75: datetime(2026, 6, 5, 20, 40, tzinfo=CST),
    }
    # a breach that night goes up the ladder that night, on the same clock
    story.at(accepted.due_at).run(DeadlineBreached(due_at=accepted.due_at))
    escalated = story.last("HandlingEscalated")
    assert escalated.due_at == datetime(2026, 6, 5, 23, 10, tzinfo=CST)


def test_a_normal_need_on_friday_evening_waits_for_monday() -> None:
    story = Story(now=FRIDAY_7PM)
    story.submit(submission("楼下路灯不亮", requester_id="res-lamp"))
    assert story.state.urgency == Urgency.NORMAL
    assigned = story.last("DemandAssigned")
    assert assigned.accept_due_at == datetime(2026, 6, 8, 11, 0, tzinfo=CST)


def test_a_policy_without_levels_keeps_working_time_for_urgent_needs() -> None:
    """Needs pinned to a policy from before the levels replay as they ran."""
    old = POLICY.model_copy(update={"sla": POLICY.sla.model_copy(update={"levels": {}})})
    story = Story(old, now=FRIDAY_7PM)
    story.submit(submission("楼道漏水很严重，紧急！", requester_id="res-old"))
    assert story.last("DemandAssigned").accept_due_at == datetime(2026, 6, 8, 11, 0, tzinfo=CST)


def test_the_policy_schedule_comes_before_the_libraries() -> None:
    calendar = WorkingCalendar(
        years={
            2027: {
                "holidays": [date(2027, 10, 1), date(2027, 10, 4)],
                "workdays": [date(2027, 9, 26)],  # a Sunday worked in exchange
                "source": "test notice",
            }
        }
    )
    label = "policy calendar 2027"
    assert day_kind(date(2027, 9, 26), calendar) == (True, label)
    assert day_kind(date(2027, 10, 4), calendar) == (False, label)  # a Monday off
    assert day_kind(date(2027, 10, 5), calendar) == (True, label)
    friday = datetime(2027, 9, 24, 16, 0, tzinfo=CST)
    due, used = add_working_time(friday, timedelta(hours=2), calendar)
    assert due == datetime(2027, 9, 26, 10, 0, tzinfo=CST)  # the make-up Sunday counts
    assert used == label


def test_years_without_a_confirmed_schedule_are_named() -> None:
    assert unconfirmed_years([2026, 2027], POLICY.calendar) == [
        "2027: policy calendar 2027 (provisional)"
    ]
    assert unconfirmed_years([2026, 2030]) == ["2030: holidays 0.108 CN (no make-up days)"]
    deadline, used = add_working_time(
        datetime(2026, 12, 31, 16, 0, tzinfo=CST), timedelta(hours=8), POLICY.calendar
    )
    assert deadline == datetime(2027, 1, 4, 16, 0, tzinfo=CST)  # 1 January off, then a weekend
    assert "policy calendar 2027 (provisional)" in used and "chinese-calendar" in used


def test_a_schedule_date_outside_its_year_or_both_off_and_worked_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"calendar.years.2027: 2026-12-31 is not in 2027"):
        WorkingCalendar(years={2027: {"holidays": [date(2026, 12, 31)]}})
    with pytest.raises(ValidationError, match="both a holiday and a make-up working day"):
        WorkingCalendar(
            years={2027: {"holidays": [date(2027, 2, 6)], "workdays": [date(2027, 2, 6)]}}
        )


def test_the_demo_policy_holds_the_four_levels() -> None:
    levels = POLICY.sla.levels
    assert set(levels) == set(Urgency)
    assert levels[Urgency.URGENT].budget(POLICY.calendar) == timedelta(hours=2)
    assert levels[Urgency.PRESSING].budget(POLICY.calendar) == timedelta(hours=24)
    assert levels[Urgency.NORMAL].budget(POLICY.calendar) == timedelta(hours=7 * 8)
    assert levels[Urgency.LOW].budget(POLICY.calendar) == timedelta(hours=15 * 8)
    assert MONDAY_10AM.weekday() == 0

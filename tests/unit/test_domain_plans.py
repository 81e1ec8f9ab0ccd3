"""Service plans' calendar and decisions (domain/plans.py), pure."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from domain.calendar import WorkingCalendar
from domain.commands import Submission
from domain.errors import InvalidCommand, NotPermitted
from domain.model import Actor, Channel, Location, Requester, RequesterKind, Role
from domain.plans import (
    CreatePlan,
    EndPlan,
    PausePlan,
    PlanSpec,
    PlanState,
    Recurrence,
    ResumePlan,
    Tick,
    decide_plan,
    evolve_plan,
    occurrence_submission,
    occurs_on,
)

LAST_TUESDAY = Recurrence(kind="monthly", weekday=2, week=-1)
SUPERVISOR = Actor(id="sup", role=Role.SUPERVISOR)
HEALTH = Actor(id="h", role=Role.STAFF, unit="dept-health")
CAL = WorkingCalendar()


def spec(rule: Recurrence = LAST_TUESDAY, skip: bool = True) -> PlanSpec:
    return PlanSpec(
        external_id="huading-health",
        title="华鼎餐饮每月上门健康证体检",
        unit="dept-health",
        template=Submission(
            channel=Channel.JOINT_MEETING,
            external_id="template",
            title="员工健康证上门体检",
            requester=Requester(requester_id="ent-huading", kind=RequesterKind.ENTERPRISE),
            location=Location(street="street-hanzheng", community="community-xinhua"),
        ),
        recurrence=rule,
        skip_non_working_days=skip,
    )


def test_the_last_tuesday_of_each_month() -> None:
    tuesdays = [date(2026, 12, d) for d in (1, 8, 15, 22, 29)]
    assert [occurs_on(LAST_TUESDAY, d) for d in tuesdays] == [False] * 4 + [True]
    assert occurs_on(LAST_TUESDAY, date(2027, 2, 23))  # February 2027 has four Tuesdays
    assert not occurs_on(LAST_TUESDAY, date(2026, 12, 30))  # a Wednesday
    second = Recurrence(kind="monthly", weekday=2, week=2)
    assert occurs_on(second, date(2026, 12, 8)) and not occurs_on(second, date(2026, 12, 15))
    assert occurs_on(Recurrence(kind="monthly", day_of_month=15), date(2027, 3, 15))


@pytest.mark.parametrize(
    "bad",
    [
        {"kind": "monthly", "day_of_month": 31, "months": [2]},  # no 31st of February
        {"kind": "monthly", "day_of_month": 31, "months": [1, 4]},  # April has 30 days
        {"kind": "monthly"},
        {"kind": "monthly", "day_of_month": 3, "weekday": 2, "week": 1},
        {"kind": "weekly"},
        {"kind": "interval"},
        {"kind": "interval", "every_days": 0},
    ],
)
def test_impossible_recurrences_are_refused(bad) -> None:
    with pytest.raises(ValidationError):
        Recurrence.model_validate(bad)


def created(skip: bool = True) -> PlanState:
    state = PlanState()
    for e in decide_plan(
        state, CreatePlan(spec=spec(skip=skip)), SUPERVISOR, plan="plan-1", need_id="", calendar=CAL
    ):
        state = evolve_plan(state, e)
    return state


def tick(state: PlanState, at: datetime, need: str = "need-x") -> list[str]:
    events = decide_plan(
        state,
        Tick(scheduled_at=at),
        Actor(id="system", role=Role.SYSTEM),
        plan="plan-1",
        need_id=need,
        calendar=CAL,
    )
    return [e.type for e in events]


def test_ticks_become_occurrences_skips_or_nothing() -> None:
    state = created()
    last_tuesday = datetime(2026, 12, 29, 1, tzinfo=UTC)  # 09:00 in Shanghai
    assert tick(state, datetime(2026, 12, 22, 1, tzinfo=UTC)) == []  # not the last one
    assert tick(state, last_tuesday) == ["OccurrenceStarted"]
    paused = evolve_plan(
        state,
        decide_plan(
            state, PausePlan(reason="停诊"), SUPERVISOR, plan="plan-1", need_id="", calendar=CAL
        )[0],
    )
    assert tick(paused, last_tuesday) == ["OccurrenceSkipped"]
    skipped = evolve_plan(
        paused,
        decide_plan(
            paused,
            Tick(scheduled_at=last_tuesday),
            Actor(id="system", role=Role.SYSTEM),
            plan="plan-1",
            need_id="need-x",
            calendar=CAL,
        )[0],
    )
    assert tick(skipped, last_tuesday) == [] and skipped.skipped == 1  # the same tick again
    national_day = datetime(2027, 10, 5, 1, tzinfo=UTC)  # a Tuesday of the National Day week
    every_tuesday = state.model_copy(update={"spec": spec(Recurrence(kind="weekly", weekday=2))})
    assert tick(every_tuesday, national_day) == ["OccurrenceSkipped"]
    kept = every_tuesday.model_copy(
        update={"spec": spec(Recurrence(kind="weekly", weekday=2), skip=False)}
    )
    assert tick(kept, national_day) == ["OccurrenceStarted"]


def test_who_manages_a_plan_and_what_an_ended_plan_refuses() -> None:
    state = created()
    with pytest.raises(NotPermitted):
        decide_plan(
            state,
            PausePlan(reason="x"),
            Actor(id="s", role=Role.STAFF, unit="grid-dongting-1"),
            plan="p",
            need_id="",
            calendar=CAL,
        )
    ended = evolve_plan(
        state,
        decide_plan(state, EndPlan(reason="到期"), HEALTH, plan="p", need_id="", calendar=CAL)[0],
    )
    with pytest.raises(InvalidCommand):
        decide_plan(ended, ResumePlan(), SUPERVISOR, plan="p", need_id="", calendar=CAL)
    assert tick(ended, datetime(2026, 12, 29, 1, tzinfo=UTC)) == []


def test_an_occurrence_is_its_own_need_linked_to_the_plan() -> None:
    one = occurrence_submission("plan-1", spec(), datetime(2026, 12, 29, 1, tzinfo=UTC))
    two = occurrence_submission("plan-1", spec(), datetime(2027, 1, 26, 1, tzinfo=UTC))
    assert one.external_id != two.external_id and one.details["plan_id"] == "plan-1"

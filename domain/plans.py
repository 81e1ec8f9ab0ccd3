"""定期服务: a service plan that turns one need into a recurring service, as pure rules.

"On-site health-certificate examinations for Huading catering, the last Tuesday of every
month, by the health department." A plan holds what each occurrence's need says (a
submission template), when occurrences fall (a recurrence), and whether an occurrence on a
non-working day is skipped. Each occurrence becomes a need of its own, with its own deadline
and its own evaluation, linked to the plan by its external id (`<plan id>-<time>`) and its
`details.plan_id`.

The plan's clock is a Temporal Schedule (workflows/plan.py): it fires on the recurrence's
days (for "the last Tuesday", every Tuesday: `occurs_on` keeps the last one), and the plan's
workflow decides each tick (`decide_plan`): paused, ended, not a day of the plan, a
non-working day, or an occurrence.
"""

from __future__ import annotations

import calendar as months
import hashlib
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, model_validator

from domain.calendar import WorkingCalendar, day_kind
from domain.commands import Submission
from domain.errors import InvalidCommand, NotPermitted
from domain.events import DomainEvent
from domain.model import Actor, Frozen, Role

PLAN_DETAIL = "plan_id"
"""The detail that links an occurrence's need to its plan (shown on the need). What keeps
intake from judging an occurrence a repeat is the start's `occurrence_of`, which only the
plan's workflow sets (workflows/plan.py), not this detail, which any submitter could write."""
Weekday = Annotated[int, Field(ge=1, le=7, description="1 = Monday … 7 = Sunday")]


class Recurrence(Frozen):
    """When occurrences fall, in Asia/Shanghai: one of
    - `monthly` on `day_of_month` (1–31), or on the `week`-th (1–4, or -1: the last)
      `weekday` of the month; `months` limits it to some months (none: every month);
    - `weekly` on `weekday`;
    - `every_days` days, or (tests, demos) `every_seconds` seconds, from the plan's start.
    A day that some chosen month lacks (the 31st of February) is refused."""

    kind: Literal["monthly", "weekly", "interval"]
    day_of_month: int | None = Field(default=None, ge=1, le=31)
    weekday: Weekday | None = None
    week: Literal[1, 2, 3, 4, -1] | None = None
    months: list[Annotated[int, Field(ge=1, le=12)]] = Field(default_factory=list)
    every_days: int | None = Field(default=None, ge=1, le=366)
    every_seconds: int | None = Field(default=None, ge=1)
    hour: int = Field(default=9, ge=0, le=23, description="local hour an occurrence starts")

    @model_validator(mode="after")
    def _possible(self) -> Recurrence:
        if self.kind == "monthly":
            by_day, by_weekday = self.day_of_month is not None, self.weekday is not None
            if by_day == by_weekday:
                raise ValueError("monthly: give either day_of_month or weekday with week")
            if by_weekday and self.week is None:
                raise ValueError("monthly by weekday: week (1-4, or -1 for the last) is needed")
            if by_day:
                assert self.day_of_month is not None
                for month in self.months or range(1, 13):
                    longest = 29 if month == 2 else months.monthrange(2001, month)[1]
                    if self.day_of_month > longest:
                        raise ValueError(
                            f"day_of_month: month {month} has no day {self.day_of_month}"
                        )
        elif self.kind == "weekly":
            if self.weekday is None:
                raise ValueError("weekly: weekday is needed")
        elif (self.every_days is None) == (self.every_seconds is None):
            raise ValueError("interval: give every_days or every_seconds (at least 1)")
        return self


WEEKDAYS = "一二三四五六日"


def recurrence_words(rule: Recurrence) -> str:
    """The recurrence as a person says it: 每月最后一个周二, 每月 15 日, 每周三, 每 30 天."""
    months_part = "、".join(f"{m}月" for m in rule.months)
    prefix = months_part + "的" if months_part else ""
    if rule.kind == "interval":
        if rule.every_seconds:
            return f"每 {rule.every_seconds} 秒"
        return f"每 {rule.every_days} 天"
    if rule.kind == "weekly":
        return f"每周{WEEKDAYS[(rule.weekday or 1) - 1]}"
    if rule.day_of_month is not None:
        return f"{prefix or '每月'} {rule.day_of_month} 日"
    nth = "最后一个" if rule.week == -1 else f"第{'一二三四'[(rule.week or 1) - 1]}个"
    return f"{prefix or '每月'}{nth}周{WEEKDAYS[(rule.weekday or 1) - 1]}"


def occurs_on(rule: Recurrence, day: date) -> bool:
    """Whether `day` (local) is a day of the plan; intervals: every day the schedule fires."""
    if rule.months and day.month not in rule.months:
        return False
    if rule.kind == "interval":
        return True
    if rule.kind == "weekly":
        return day.isoweekday() == rule.weekday
    if rule.day_of_month is not None:
        return day.day == rule.day_of_month
    if day.isoweekday() != rule.weekday:
        return False
    if rule.week == -1:
        return day.day + 7 > months.monthrange(day.year, day.month)[1]
    return (day.day - 1) // 7 + 1 == rule.week


class PlanStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    ENDED = "ended"


class PlanSpec(Frozen):
    """What a supervisor or the assigned unit sets up."""

    external_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")
    title: str = Field(min_length=1, max_length=200)
    unit: str = Field(min_length=1, max_length=64, description="the unit that serves it")
    template: Submission = Field(description="what every occurrence's need says")
    recurrence: Recurrence
    skip_non_working_days: bool = True
    from_need: str | None = Field(default=None, description="the need it grew out of")


# --- events --------------------------------------------------------------------------------
class PlanEvent(DomainEvent):
    """A plan's event, in its own registry (PLAN_EVENT_TYPES), on the stream `plan-<hex>`."""


class PlanCreated(PlanEvent):
    type: Literal["PlanCreated"] = "PlanCreated"
    spec: PlanSpec


class PlanPaused(PlanEvent):
    type: Literal["PlanPaused"] = "PlanPaused"
    reason: str = Field(min_length=1, max_length=2000)


class PlanResumed(PlanEvent):
    type: Literal["PlanResumed"] = "PlanResumed"


class PlanChanged(PlanEvent):
    type: Literal["PlanChanged"] = "PlanChanged"
    spec: PlanSpec
    reason: str = Field(min_length=1, max_length=2000)


class PlanEnded(PlanEvent):
    type: Literal["PlanEnded"] = "PlanEnded"
    reason: str = Field(min_length=1, max_length=2000)


class OccurrenceStarted(PlanEvent):
    type: Literal["OccurrenceStarted"] = "OccurrenceStarted"
    need_id: str
    scheduled_at: datetime


class OccurrenceSkipped(PlanEvent):
    type: Literal["OccurrenceSkipped"] = "OccurrenceSkipped"
    scheduled_at: datetime
    reason: Literal["paused", "non_working_day"]
    need_id: str = Field(default="", description="the need it would have been")


AnyPlanEvent = Annotated[
    PlanCreated
    | PlanPaused
    | PlanResumed
    | PlanChanged
    | PlanEnded
    | OccurrenceStarted
    | OccurrenceSkipped,
    Field(discriminator="type"),
]
PLAN_EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyPlanEvent)
PLAN_EVENT_TYPES: dict[str, type[PlanEvent]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        PlanCreated,
        PlanPaused,
        PlanResumed,
        PlanChanged,
        PlanEnded,
        OccurrenceStarted,
        OccurrenceSkipped,
    )
}


# --- commands ------------------------------------------------------------------------------
class PlanCommand(Frozen):
    type: str


class CreatePlan(PlanCommand):
    type: Literal["CreatePlan"] = "CreatePlan"
    spec: PlanSpec


class PausePlan(PlanCommand):
    type: Literal["PausePlan"] = "PausePlan"
    reason: str = Field(min_length=1, max_length=2000)


class ResumePlan(PlanCommand):
    type: Literal["ResumePlan"] = "ResumePlan"


class ChangePlan(PlanCommand):
    type: Literal["ChangePlan"] = "ChangePlan"
    spec: PlanSpec
    reason: str = Field(min_length=1, max_length=2000)


class EndPlan(PlanCommand):
    type: Literal["EndPlan"] = "EndPlan"
    reason: str = Field(min_length=1, max_length=2000)


class Tick(PlanCommand):
    """The plan's schedule fired for `scheduled_at`."""

    type: Literal["Tick"] = "Tick"
    scheduled_at: datetime


AnyPlanCommand = Annotated[
    CreatePlan | PausePlan | ResumePlan | ChangePlan | EndPlan | Tick, Field(discriminator="type")
]


class PlanState(Frozen):
    version: int = 0
    status: PlanStatus | None = None
    spec: PlanSpec | None = None
    owner: str | None = Field(default=None, description="the unit that serves it")
    occurrences: list[str] = Field(default_factory=list, description="need ids, in order")
    skipped: int = 0
    skipped_ids: list[str] = Field(default_factory=list, description="the needs not started")


def occurrence_id(plan_id: str, scheduled_at: datetime) -> str:
    """The external id of the occurrence's need: the plan and the moment, to the second."""
    return f"{plan_id}-{scheduled_at.strftime('%Y%m%dT%H%M%S')}"


def plan_id(external_id: str, submitter: str) -> str:
    digest = hashlib.sha256(f"{submitter}\x1f{external_id}".encode()).hexdigest()[:16]
    return f"plan-{digest}"


def occurrence_submission(plan: str, spec: PlanSpec, scheduled_at: datetime) -> Submission:
    return spec.template.model_copy(
        update={
            "external_id": occurrence_id(plan, scheduled_at),
            "details": spec.template.details | {PLAN_DETAIL: plan},
        }
    )


def _may_manage(state: PlanState, actor: Actor) -> bool:
    """Supervisors and admins; the serving unit's staff for their own plans."""
    if actor.role in (Role.SUPERVISOR, Role.ADMIN):
        return True
    return actor.role == Role.STAFF and actor.unit is not None and actor.unit == state.owner


def decide_plan(
    state: PlanState,
    command: PlanCommand,
    actor: Actor,
    *,
    plan: str,
    need_id: str,
    calendar: WorkingCalendar,
) -> list[PlanEvent]:
    """What the command records. `need_id` is the id the occurrence's need would take."""
    match command:
        case CreatePlan(spec=spec):
            if state.status is not None:
                return []
            if not (_may_manage(state.model_copy(update={"owner": spec.unit}), actor)):
                raise NotPermitted("CreatePlan", actor.role.value)
            return [PlanCreated(spec=spec)]
        case Tick(scheduled_at=at):
            if state.status == PlanStatus.ENDED or state.spec is None:
                return []
            local = at.astimezone(calendar.tz).date()
            if not occurs_on(state.spec.recurrence, local):
                return []
            if need_id in state.occurrences or need_id in state.skipped_ids:
                return []  # the same tick again
            if state.status == PlanStatus.PAUSED:
                return [OccurrenceSkipped(scheduled_at=at, reason="paused", need_id=need_id)]
            if state.spec.skip_non_working_days and not day_kind(local, calendar)[0]:
                return [
                    OccurrenceSkipped(scheduled_at=at, reason="non_working_day", need_id=need_id)
                ]
            return [OccurrenceStarted(need_id=need_id, scheduled_at=at)]
    if not _may_manage(state, actor):
        raise NotPermitted(command.type, actor.role.value)
    if state.status == PlanStatus.ENDED:
        raise InvalidCommand("status", "the plan has ended")
    match command:
        case PausePlan(reason=reason):
            return [] if state.status == PlanStatus.PAUSED else [PlanPaused(reason=reason)]
        case ResumePlan():
            return [PlanResumed()] if state.status == PlanStatus.PAUSED else []
        case ChangePlan(spec=spec, reason=reason):
            return [PlanChanged(spec=spec, reason=reason)]
        case EndPlan(reason=reason):
            return [PlanEnded(reason=reason)]
    raise InvalidCommand("type", f"{command.type} is not a plan command")


def evolve_plan(state: PlanState, event: PlanEvent) -> PlanState:
    update: dict[str, Any] = {"version": state.version + 1}
    match event:
        case PlanCreated(spec=spec):
            update |= {"status": PlanStatus.ACTIVE, "spec": spec, "owner": spec.unit}
        case PlanChanged(spec=spec):
            update |= {"spec": spec, "owner": spec.unit}
        case PlanPaused():
            update["status"] = PlanStatus.PAUSED
        case PlanResumed():
            update["status"] = PlanStatus.ACTIVE
        case PlanEnded():
            update["status"] = PlanStatus.ENDED
        case OccurrenceStarted(need_id=need):
            update["occurrences"] = [*state.occurrences, need]
        case OccurrenceSkipped(need_id=need):
            update["skipped"] = state.skipped + 1
            update["skipped_ids"] = [*state.skipped_ids, need][-100:]
    return state.model_copy(update=update)


def interval_of(rule: Recurrence) -> timedelta | None:
    """The schedule's period for an interval plan (the others are calendar days)."""
    if rule.kind != "interval":
        return None
    if rule.every_seconds:
        return timedelta(seconds=rule.every_seconds)
    return timedelta(days=rule.every_days or 1)

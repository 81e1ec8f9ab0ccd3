"""Time limits (限时办理): acceptance limit, handling deadlines, warnings, escalation ladder.

The handling deadline comes from the policy table category × tier × urgency, counted from
acceptance on the need's clock; warnings fall at 50% and 75% of that time. The clock is the
working calendar, unless the urgency's level (`sla.levels`) runs on calendar hours: an
emergency reported on a Friday evening is due that night, not on Monday. A level's limit
also caps every deadline its needs get (the table's, the default, an escalation's). A breached
deadline (or acceptance limit) moves the need one rung up the ladder - grid → community →
street → district supervision office - with a fresh deadline, until the top, where the breach
is only recorded. While information is awaited the clock stops; the wait is added back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from domain import events as ev
from domain.calendar import WorkingCalendar, working_time_between
from domain.context import DecisionContext
from domain.model import BREACH_RECORDED
from domain.policy import Policy, Unit
from domain.state import NeedState

Cause = Literal["deadline_breached", "acceptance_timeout", "reopen_limit"]


def need_calendar(state: NeedState, ctx: DecisionContext) -> WorkingCalendar:
    """The clock the need's deadlines run on: calendar hours for an urgency whose level says
    so (a continuous calendar), else the working calendar."""
    calendar = ctx.working_calendar
    level = ctx.policy.sla.levels.get(state.urgency) if state.urgency else None
    if level is not None and level.clock == "calendar" and calendar.mode != "continuous":
        return calendar.model_copy(update={"mode": "continuous"})
    return calendar


def _capped(
    budget: timedelta, rule_id: str, state: NeedState, policy: Policy
) -> tuple[timedelta, str]:
    level = policy.sla.levels.get(state.urgency) if state.urgency else None
    cap = level.budget(policy.calendar) if level is not None else None
    if cap is not None and cap < budget:
        return cap, f"sla.levels.{state.urgency}"
    return budget, rule_id


def handling_budget(state: NeedState, policy: Policy) -> tuple[timedelta, str]:
    """Time allowed for handling (on the need's clock), and the SLA rule id that set it: the
    table's entry, else the urgency level's limit, else the default; never beyond the
    level's limit."""
    by_tier = policy.sla.handling.get(state.category) if state.category else None
    by_urgency = by_tier.get(state.tier) if by_tier and state.tier else None
    if by_urgency and state.urgency in by_urgency:
        rule_id = f"sla.handling.{state.category}.{state.tier}.{state.urgency}"
        return _capped(by_urgency[state.urgency], rule_id, state, policy)
    level = policy.sla.levels.get(state.urgency) if state.urgency else None
    limit = level.budget(policy.calendar) if level is not None else None
    if limit is not None:
        return limit, f"sla.levels.{state.urgency}"
    return policy.sla.default_handling, "sla.handling.default"


class Clock:
    """A deadline with its warning points, computed from `start` on the need's clock."""

    def __init__(
        self,
        ctx: DecisionContext,
        budget: timedelta,
        start: datetime,
        calendar: WorkingCalendar | None = None,
    ) -> None:
        self.due_at, self.calendar = ctx.after_working(budget, start, calendar)
        self.warn_at = ctx.warn_points(budget, start, calendar)


def escalation_budget(state: NeedState, policy: Policy) -> tuple[timedelta, str]:
    """The time a unit gets after an escalation (a need's or a sub-task's), capped by the
    need's urgency level."""
    return _capped(policy.sla.escalation, "sla.escalation", state, policy)


def next_rung(state: NeedState, policy: Policy) -> Unit | None:
    """The unit one level above the current assignee, or None at the top of the ladder."""
    return policy.parent_of(state.assigned_unit) if state.assigned_unit else None


def escalated(state: NeedState, ctx: DecisionContext, cause: Cause) -> ev.HandlingEscalated | None:
    """One rung up with a fresh escalation deadline; None when there is no rung above."""
    target = next_rung(state, ctx.policy)
    if target is None or state.assigned_unit is None:
        return None
    budget, _ = escalation_budget(state, ctx.policy)
    clock = Clock(ctx, budget, ctx.now, need_calendar(state, ctx))
    return ev.HandlingEscalated(
        rule_id="sla.escalation.ladder",
        policy_version=ctx.version,
        from_unit=state.assigned_unit,
        to_unit=target.id,
        to_kind=target.kind,
        cause=cause,
        due_at=clock.due_at,
        calendar=clock.calendar,
        warn_at=clock.warn_at,
    )


def escalate_or_record(
    state: NeedState, ctx: DecisionContext, cause: Cause, due_at: datetime
) -> list[ev.DomainEvent]:
    """Escalate; at the top of the ladder record the breach once (threshold 100)."""
    step = escalated(state, ctx, cause)
    if step:
        return [step]
    return [ev.DeadlineWarningIssued(threshold_percent=BREACH_RECORDED, due_at=due_at)]


def resumed(state: NeedState, ctx: DecisionContext) -> ev.HandlingClockResumed:
    """The deadline and pending warnings move by the working time spent waiting."""
    pending = state.pending_information
    assert pending is not None and pending.paused_at is not None and state.due_at is not None
    clock = need_calendar(state, ctx)
    waited = working_time_between(pending.paused_at, ctx.now, clock)
    due_at, calendar = ctx.after_working(waited, state.due_at, clock)
    warn_at = {
        percent: ctx.after_working(waited, when, clock)[0]
        for percent, when in state.warn_at.items()
        if percent not in state.warnings_issued
    }
    return ev.HandlingClockResumed(
        paused_at=pending.paused_at, due_at=due_at, calendar=calendar, warn_at=warn_at
    )

"""Time limits (限时办理): acceptance limit, handling deadlines, warnings, escalation ladder.

The handling deadline comes from the policy table category × tier × urgency, counted in
working time from acceptance; warnings fall at 50% and 75% of that working time. A breached
deadline (or acceptance limit) moves the need one rung up the ladder - grid → community →
street → district supervision office - with a fresh deadline, until the top, where the breach
is only recorded. While information is awaited the clock stops; the wait is added back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from domain import events as ev
from domain.calendar import working_time_between
from domain.context import DecisionContext
from domain.deadlines import BREACH_RECORDED
from domain.policy import Policy, Unit
from domain.state import DemandState

Cause = Literal["deadline_breached", "acceptance_timeout", "reopen_limit"]


def handling_budget(state: DemandState, policy: Policy) -> tuple[timedelta, str]:
    """Working time allowed for handling, and the SLA rule id that set it."""
    by_tier = policy.sla.handling.get(state.category) if state.category else None
    by_urgency = by_tier.get(state.tier) if by_tier and state.tier else None
    if by_urgency and state.urgency in by_urgency:
        rule_id = f"sla.handling.{state.category}.{state.tier}.{state.urgency}"
        return by_urgency[state.urgency], rule_id
    return policy.sla.default_handling, "sla.handling.default"


class Clock:
    """A handling deadline with its warning points, computed from `start`."""

    def __init__(self, ctx: DecisionContext, budget: timedelta, start: datetime) -> None:
        self.due_at, self.calendar = ctx.after_working(budget, start)
        self.warn_at = ctx.warn_points(budget, start)


def next_rung(state: DemandState, policy: Policy) -> Unit | None:
    """The unit one level above the current assignee, or None at the top of the ladder."""
    return policy.parent_of(state.assigned_unit) if state.assigned_unit else None


def escalated(
    state: DemandState, ctx: DecisionContext, cause: Cause
) -> ev.HandlingEscalated | None:
    """One rung up with a fresh escalation deadline; None when there is no rung above."""
    target = next_rung(state, ctx.policy)
    if target is None or state.assigned_unit is None:
        return None
    clock = Clock(ctx, ctx.policy.sla.escalation, ctx.now)
    return ev.HandlingEscalated(
        rule_id="sla.escalation.ladder", policy_version=ctx.version,
        from_unit=state.assigned_unit, to_unit=target.id, to_kind=target.kind, cause=cause,
        due_at=clock.due_at, calendar=clock.calendar, warn_at=clock.warn_at,
    )


def escalate_or_record(
    state: DemandState, ctx: DecisionContext, cause: Cause, due_at: datetime
) -> list[ev.DomainEvent]:
    """Escalate; at the top of the ladder record the breach once (threshold 100)."""
    step = escalated(state, ctx, cause)
    if step:
        return [step]
    return [ev.DeadlineWarningIssued(threshold_percent=BREACH_RECORDED, due_at=due_at)]


def resumed(state: DemandState, ctx: DecisionContext) -> ev.HandlingClockResumed:
    """The deadline and pending warnings move by the working time spent waiting."""
    pending = state.pending_information
    assert pending is not None and pending.paused_at is not None and state.due_at is not None
    waited = working_time_between(pending.paused_at, ctx.now, ctx.working_calendar)
    due_at, calendar = ctx.after_working(waited, state.due_at)
    warn_at = {
        percent: ctx.after_working(waited, when)[0]
        for percent, when in state.warn_at.items()
        if percent not in state.warnings_issued
    }
    return ev.HandlingClockResumed(
        paused_at=pending.paused_at, due_at=due_at, calendar=calendar, warn_at=warn_at
    )

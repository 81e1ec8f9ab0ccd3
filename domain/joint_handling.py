"""联合办理 (joint handling): the rules. The model, the one reading of the events and the
timers are in domain/assists.py (see its docstring for the design and why it is state of
the need's workflow)."""

from __future__ import annotations

from datetime import timedelta

from domain import events as ev
from domain.assists import MAX_ASSISTS, Assist, assisting_units, open_assists
from domain.assists import find as _find
from domain.calendar import working_time_between
from domain.commands import (
    AcceptAssist,
    AssistDue,
    AssistWarningDue,
    DeclineAssist,
    ReleaseAssist,
    ReportAssist,
    RequestAssist,
)
from domain.context import DecisionContext
from domain.errors import AssistConflict, InvalidCommand, NotYourUnit
from domain.guards import require_assignee, timer_is_current
from domain.model import BREACH_RECORDED, Role
from domain.sla import escalation_budget, need_calendar
from domain.state import NeedState

Events = list[ev.DomainEvent]


def request(state: NeedState, command: RequestAssist, ctx: DecisionContext) -> Events:
    """The lead asks a unit that exists, is not itself, and has no open sub-task on this need
    yet. The deadline: `hours` of working time (else the policy's `sla.assist`), never after
    the lead's deadline; `hours` that would end after it are refused, the default is cut to
    it. A lead already past its deadline gives the full time (there is nothing to cut to)."""
    require_assignee(state, "RequestAssist", ctx)
    lead = state.assigned_unit
    assert lead is not None
    if ctx.policy.unit(command.unit_id) is None:
        raise InvalidCommand("unit_id", "no such unit")
    if command.unit_id == lead:
        raise InvalidCommand("unit_id", "is the lead unit itself: ask another unit")
    if command.unit_id in assisting_units(state):
        raise InvalidCommand("unit_id", "already has an open sub-task on this need")
    if len(state.assists) >= MAX_ASSISTS:
        raise InvalidCommand("unit_id", f"a need takes at most {MAX_ASSISTS} sub-tasks")
    calendar = need_calendar(state, ctx)
    wanted = timedelta(hours=command.hours) if command.hours else ctx.policy.sla.assist
    due_at, label = ctx.after_working(wanted, calendar=calendar)
    limit = state.due_at if state.due_at is not None and state.due_at > ctx.now else None
    if limit is not None and due_at > limit:
        if command.hours:
            raise InvalidCommand(
                "hours", "the sub-task would end after the lead's own deadline: ask for less"
            )
        due_at = limit
    budget = working_time_between(ctx.now, due_at, calendar)
    return [
        ev.AssistRequested(
            assist_id=f"assist-{len(state.assists) + 1}",
            unit_id=command.unit_id,
            lead_unit=lead,
            task=command.task,
            due_at=due_at,
            calendar=label,
            warn_at=ctx.warn_points(budget, calendar=calendar) if budget else {},
        )
    ]


def accept(state: NeedState, command: AcceptAssist, ctx: DecisionContext) -> Events:
    assist = _addressed(state, command.assist_id, "AcceptAssist", ctx)
    if assist.status != "requested":
        raise AssistConflict("assist_id", f"{assist.assist_id} is accepted already")
    return [ev.AssistAccepted(assist_id=assist.assist_id, unit_id=assist.unit_id)]


def report(state: NeedState, command: ReportAssist, ctx: DecisionContext) -> Events:
    """The assisting unit reports back (having accepted it first or not: reporting is doing)."""
    assist = _addressed(state, command.assist_id, "ReportAssist", ctx)
    return [
        ev.AssistReported(
            assist_id=assist.assist_id,
            unit_id=assist.unit_id,
            result=command.result,
            in_time=ctx.now <= assist.due_at,
        )
    ]


def decline(state: NeedState, command: DeclineAssist, ctx: DecisionContext) -> Events:
    assist = _addressed(state, command.assist_id, "DeclineAssist", ctx)
    return [
        ev.AssistDeclined(assist_id=assist.assist_id, unit_id=assist.unit_id, reason=command.reason)
    ]


def release(state: NeedState, command: ReleaseAssist, ctx: DecisionContext) -> Events:
    """A supervisor over the need frees the lead from waiting for a sub-task (the API checks
    that the need lies in the supervisor's scope)."""
    assist = _open(state, command.assist_id)
    return [
        ev.AssistReleased(assist_id=assist.assist_id, unit_id=assist.unit_id, reason=command.reason)
    ]


def release_all(state: NeedState, reason: str) -> Events:
    """Every open sub-task released (a co-building project completed the need)."""
    return [
        ev.AssistReleased(assist_id=a.assist_id, unit_id=a.unit_id, reason=reason)
        for a in open_assists(state)
    ]


def require_none_open(state: NeedState, field: str) -> None:
    """The lead completes only when no sub-task is open."""
    waiting = open_assists(state)
    if waiting:
        ids = ", ".join(f"{a.assist_id} ({a.unit_id})" for a in waiting)
        raise AssistConflict(
            field,
            f"sub-tasks still open: {ids}; each must report back, decline, "
            "or be released by a supervisor",
        )


def warning_due(state: NeedState, command: AssistWarningDue, ctx: DecisionContext) -> Events:
    assist = _find(state, command.assist_id)
    if assist is None or not assist.open or command.percent in assist.warnings_issued:
        return []
    if not timer_is_current(assist.warn_at.get(command.percent), command.due_at, ctx.now):
        return []
    return [
        ev.AssistWarningIssued(
            assist_id=assist.assist_id,
            unit_id=assist.unit_id,
            threshold_percent=command.percent,
            due_at=assist.due_at,
        )
    ]


def deadline_passed(state: NeedState, command: AssistDue, ctx: DecisionContext) -> Events:
    """One rung up the assisting unit's ladder with the escalation time (the urgency's cap
    applies, as to the need's own escalations); at the top, recorded once."""
    assist = _find(state, command.assist_id)
    if assist is None or not assist.open or BREACH_RECORDED in assist.warnings_issued:
        return []
    if not timer_is_current(assist.due_at, command.due_at, ctx.now):
        return []
    above = ctx.policy.parent_of(assist.unit_id)
    if above is None:
        return [
            ev.AssistWarningIssued(
                assist_id=assist.assist_id,
                unit_id=assist.unit_id,
                threshold_percent=BREACH_RECORDED,
                due_at=assist.due_at,
            )
        ]
    budget, _ = escalation_budget(state, ctx.policy)
    calendar = need_calendar(state, ctx)
    due_at, label = ctx.after_working(budget, calendar=calendar)
    return [
        ev.AssistEscalated(
            rule_id="sla.escalation.ladder",
            policy_version=ctx.version,
            assist_id=assist.assist_id,
            from_unit=assist.unit_id,
            to_unit=above.id,
            due_at=due_at,
            calendar=label,
            warn_at=ctx.warn_points(budget, calendar=calendar),
        )
    ]


def _open(state: NeedState, assist_id: str) -> Assist:
    assist = _find(state, assist_id)
    if assist is None:
        raise InvalidCommand("assist_id", "no such sub-task on this need")
    if not assist.open:
        raise AssistConflict(
            "assist_id", f"{assist.assist_id} is {assist.status} already: nothing left to do"
        )
    return assist


def _addressed(state: NeedState, assist_id: str, command: str, ctx: DecisionContext) -> Assist:
    """An open sub-task, and the actor is staff of the unit it is addressed to now."""
    assist = _open(state, assist_id)
    if ctx.actor.role not in (Role.ADMIN, Role.SYSTEM) and ctx.actor.unit != assist.unit_id:
        raise NotYourUnit(command, assist.unit_id, ctx.actor.unit)
    return assist

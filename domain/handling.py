"""Time-limited handling: acceptance, timers, reminders, progress, extensions, completion.

Only the assignee accepts, notes progress, asks for more time and completes; the level above
it (its parent unit) decides an extension; supervisors and requesters may urge (催办).
"""

from __future__ import annotations

from datetime import timedelta

from domain import events as ev
from domain.calendar import working_time_between
from domain.commands import (
    Accept,
    AcceptanceTimeout,
    Complete,
    CompleteByProject,
    DeadlineBreached,
    DecideExtension,
    ExtensionDecisionDue,
    NoteProgress,
    Remind,
    RequestExtension,
    WarningDue,
)
from domain.context import DecisionContext
from domain.deadlines import waiting_for_dispatcher
from domain.errors import InvalidCommand, NotYourUnit
from domain.evaluation import evaluation_requested
from domain.guards import require_assignee, timer_is_current
from domain.joint_handling import release_all, require_none_open
from domain.lists import project_summary
from domain.model import Role, Stage
from domain.sla import Clock, escalate_or_record, handling_budget, need_calendar, next_rung
from domain.state import NeedState

Events = list[ev.DomainEvent]


def accept(state: NeedState, command: Accept, ctx: DecisionContext) -> Events:
    """The assignee takes the need; the handling deadline starts now, in working time."""
    if state.assigned_unit is None:
        raise InvalidCommand("unit_id", "the need is waiting for dispatch")
    require_assignee(state, "Accept", ctx)
    budget, rule_id = handling_budget(state, ctx.policy)
    clock = Clock(ctx, budget, ctx.now, need_calendar(state, ctx))
    return [
        ev.DemandAccepted(
            rule_id=rule_id,
            policy_version=ctx.version,
            unit_id=state.assigned_unit,
            due_at=clock.due_at,
            calendar=clock.calendar,
            warn_at=clock.warn_at,
        )
    ]


def acceptance_timeout(
    state: NeedState, command: AcceptanceTimeout, ctx: DecisionContext
) -> Events:
    """Not accepted in time: one rung up the ladder (recorded only at the top)."""
    if state.stage != Stage.ASSIGNMENT:
        return []
    if not timer_is_current(state.accept_due_at, command.due_at, ctx.now):
        return []
    return escalate_or_record(state, ctx, "acceptance_timeout", command.due_at)


def warning_due(state: NeedState, command: WarningDue, ctx: DecisionContext) -> Events:
    """50% / 75% of the handling time (or of a dispatcher's wait) is used: warn whoever must
    act, once per threshold."""
    if state.due_at is None or (
        state.stage != Stage.HANDLING and not waiting_for_dispatcher(state)
    ):
        return []
    if state.pending_information:
        return []
    if command.percent in state.warnings_issued:
        return []
    if not timer_is_current(state.warn_at.get(command.percent), command.due_at, ctx.now):
        return []
    return [ev.DeadlineWarningIssued(threshold_percent=command.percent, due_at=state.due_at)]


def deadline_breached(state: NeedState, command: DeadlineBreached, ctx: DecisionContext) -> Events:
    """The handling deadline passed: escalate one rung with a new deadline."""
    if state.stage != Stage.HANDLING or state.pending_information:
        return []
    if not timer_is_current(state.due_at, command.due_at, ctx.now):
        return []
    return escalate_or_record(state, ctx, "deadline_breached", command.due_at)


def remind(state: NeedState, command: Remind, ctx: DecisionContext) -> Events:
    """催办: a supervisor, a dispatcher or the requester urges the assignee on."""
    return [ev.ReminderSent(note=command.note)]


def note_progress(state: NeedState, command: NoteProgress, ctx: DecisionContext) -> Events:
    require_assignee(state, "NoteProgress", ctx)
    return [ev.ProgressNoted(note=command.note)]


def request_extension(state: NeedState, command: RequestExtension, ctx: DecisionContext) -> Events:
    """The assignee asks for more working hours; the unit above decides (the top decides
    for itself). One request at a time, at most `max_extensions` granted."""
    require_assignee(state, "RequestExtension", ctx)
    if state.pending_extension:
        raise InvalidCommand("extra_hours", "an extension request is already pending")
    if state.extension_count >= ctx.policy.sla.max_extensions:
        raise InvalidCommand("extra_hours", "the extension limit is reached")
    above = next_rung(state, ctx.policy)
    approver = above.id if above else state.assigned_unit
    assert approver is not None
    wait = ctx.policy.sla.extension_decision
    return [
        ev.ExtensionRequested(
            extra_hours=command.extra_hours,
            reason=command.reason,
            approver_unit=approver,
            decide_by=ctx.after_working(wait)[0] if wait else None,
        )
    ]


def extension_decision_due(
    state: NeedState, command: ExtensionDecisionDue, ctx: DecisionContext
) -> Events:
    """Nobody decided in time: the request goes one rung above its approver; at the top it
    lapses (refused), and the unit works on to its current deadline."""
    pending = state.pending_extension
    if pending is None or pending.decide_by is None:
        return []
    if not timer_is_current(pending.decide_by, command.due_at, ctx.now):
        return []
    above = ctx.policy.parent_of(pending.approver_unit)
    wait = ctx.policy.sla.extension_decision
    if above is None or wait is None:
        return [ev.ExtensionRefused(reason="no decision in time", lapsed=True)]
    return [
        ev.ExtensionDecisionEscalated(
            from_unit=pending.approver_unit, to_unit=above.id, decide_by=ctx.after_working(wait)[0]
        )
    ]


def decide_extension(state: NeedState, command: DecideExtension, ctx: DecisionContext) -> Events:
    """The approver grants extra working hours on top of the current deadline (or of now, if
    it already passed), or refuses. Warnings restart over the time now left."""
    pending = state.pending_extension
    if pending is None or state.due_at is None:
        raise InvalidCommand("approve", "no extension request is pending")
    if ctx.actor.role not in (Role.ADMIN, Role.SYSTEM) and ctx.actor.unit != pending.approver_unit:
        raise NotYourUnit("DecideExtension", pending.approver_unit, ctx.actor.unit)
    if not command.approve:
        return [ev.ExtensionRefused(reason=command.reason or "refused")]
    extra = timedelta(hours=pending.extra_hours)
    clock = need_calendar(state, ctx)
    due_at, calendar = ctx.after_working(extra, max(ctx.now, state.due_at), clock)
    left = working_time_between(ctx.now, due_at, clock)
    return [
        ev.ExtensionApproved(
            due_at=due_at,
            calendar=calendar,
            warn_at=ctx.warn_points(left, calendar=clock),
            reason=command.reason,
        )
    ]


def complete(state: NeedState, command: Complete, ctx: DecisionContext) -> Events:
    """The assignee reports what was done; evaluation starts at once."""
    require_assignee(state, "Complete", ctx)
    if state.pending_information:
        raise InvalidCommand("result_summary", "information is still awaited")
    require_none_open(state, "result_summary")  # 联合办理: every sub-task answered first
    assert state.assigned_unit is not None
    in_time = state.due_at is None or ctx.now <= state.due_at
    done = ev.HandlingCompleted(
        unit_id=state.assigned_unit,
        result_summary=command.result_summary,
        service_mode=command.service_mode,
        in_time=in_time,
    )
    return [done, evaluation_requested(state, ctx)]


def complete_by_project(
    state: NeedState, command: CompleteByProject, ctx: DecisionContext
) -> Events:
    """A co-building project that covers the need is done (项目清单): the need is completed in
    the project's name and evaluation starts, as when its unit completes it. A need its unit
    had not accepted yet is completed without an acceptance (none is recorded: the unit did
    not take it on); `in_time` then measures against the acceptance deadline. Refused while
    the requester's information is awaited, as a completion is. Open sub-tasks of joint
    handling (联合办理) are released in the project's name first: the project did the work."""
    if state.assigned_unit is None:
        raise InvalidCommand("project_id", "the need has no assigned unit")
    if state.pending_information:
        raise InvalidCommand("project_id", "information is still awaited")
    deadline = state.due_at if state.stage == Stage.HANDLING else state.accept_due_at
    done = ev.HandlingCompleted(
        unit_id=state.assigned_unit,
        result_summary=project_summary(
            command.project_id, command.project_name, command.result_summary
        ),
        service_mode=command.service_mode,
        in_time=deadline is None or ctx.now <= deadline,
        project_id=command.project_id,
    )
    released = release_all(state, f"completed by co-building project {command.project_id}")
    return [*released, done, evaluation_requested(state, ctx)]

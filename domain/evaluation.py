"""Full evaluation (服务过程全评价): every linked requester rates the service; for enterprise
needs the policy adds reviewers such as the community committee and the park's audit.

When every reviewer has answered, or the window ends: any 'unsatisfied' reopens handling
with the same unit (after `max_reopenings` it escalates one rung instead; at the top it closes
unsatisfied); otherwise the need closes resolved. Reviewers who never answered are recorded
as 'no response' and never counted as satisfied; if nobody answered, the outcome is
no_response with `satisfied` unknown.
"""

from __future__ import annotations

from domain import events as ev
from domain.commands import CloseEvaluationWindow, Evaluate, RecordCallback
from domain.context import DecisionContext
from domain.errors import InvalidCommand, NotYourUnit
from domain.guards import timer_is_current
from domain.model import Outcome, Rating, Role, Stage
from domain.policy import Policy
from domain.sla import Clock, escalated, handling_budget, need_calendar
from domain.state import NeedState, evolve

Events = list[ev.DomainEvent]


def is_enterprise_need(state: NeedState, policy: Policy) -> bool:
    settings = policy.evaluation
    by_kind = bool(state.requester_kinds() & set(settings.enterprise_kinds))
    return by_kind or state.category in settings.enterprise_categories


def reviewers_for(state: NeedState, policy: Policy) -> list[ev.Reviewer]:
    """Every linked requester, plus the policy's reviewers for enterprise needs."""
    found = [ev.Reviewer(reviewer_id=r.requester_id, role="requester") for r in state.requesters]
    if not is_enterprise_need(state, policy):
        return found
    community = state.location.community if state.location else None
    for rule in policy.evaluation.enterprise_reviewers:
        reviewer_id = community if rule.unit == "@community" else rule.unit
        if reviewer_id and all(r.reviewer_id != reviewer_id for r in found):
            found.append(ev.Reviewer(reviewer_id=reviewer_id, role=rule.role))
    return found


def evaluation_requested(state: NeedState, ctx: DecisionContext) -> ev.EvaluationRequested:
    """Ask the reviewers; the window is wall-clock time from completion."""
    enterprise = is_enterprise_need(state, ctx.policy)
    return ev.EvaluationRequested(
        rule_id="evaluation.enterprise" if enterprise else "evaluation.requesters",
        policy_version=ctx.version,
        reviewers=reviewers_for(state, ctx.policy),
        due_at=ctx.now + ctx.policy.evaluation.window,
    )


def _may_rate_for(reviewer_id: str, ctx: DecisionContext) -> bool:
    if ctx.actor.role in (Role.ADMIN, Role.SYSTEM):
        return True
    return reviewer_id in (ctx.actor.id, ctx.actor.unit)


def _not_rated_yet(state: NeedState, reviewer_id: str) -> None:
    if all(r.reviewer_id != reviewer_id for r in state.reviewers):
        raise InvalidCommand("reviewer_id", "this reviewer was not asked to evaluate the need")
    if reviewer_id in state.ratings:
        raise InvalidCommand("reviewer_id", "this reviewer has already evaluated")


def evaluate(state: NeedState, command: Evaluate, ctx: DecisionContext) -> Events:
    """A reviewer rates once; the last answer concludes the evaluation."""
    _not_rated_yet(state, command.reviewer_id)
    if not _may_rate_for(command.reviewer_id, ctx):
        raise NotYourUnit("Evaluate", command.reviewer_id, ctx.actor.unit)
    rated = ev.EvaluationSubmitted(
        reviewer_id=command.reviewer_id, rating=command.rating, comment=command.comment
    )
    return _rated(state, rated, ctx)


def record_callback(state: NeedState, command: RecordCallback, ctx: DecisionContext) -> Events:
    """回访: a requester's rating taken by phone counts as that requester's evaluation. Only
    requesters are called (a reviewing unit rates for itself), and never by the unit whose
    work is rated."""
    _not_rated_yet(state, command.reviewer_id)
    called = next(r for r in state.reviewers if r.reviewer_id == command.reviewer_id)
    if called.role != "requester":
        raise InvalidCommand(
            "reviewer_id", "only a requester is called back; a reviewing unit rates for itself"
        )
    if ctx.actor.unit is not None and ctx.actor.unit == state.assigned_unit:
        raise InvalidCommand(
            "reviewer_id", "the unit that handled the need cannot record its own rating"
        )
    rated = ev.EvaluationSubmitted(
        reviewer_id=command.reviewer_id,
        rating=command.rating,
        comment=command.comment,
        via="phone_callback",
    )
    return _rated(state, rated, ctx)


def _rated(state: NeedState, rated: ev.EvaluationSubmitted, ctx: DecisionContext) -> Events:
    after = evolve(state, rated)
    if len(after.ratings) < len(after.reviewers):
        return [rated]
    return [rated, *conclude(after, ctx)]


def close_window(state: NeedState, command: CloseEvaluationWindow, ctx: DecisionContext) -> Events:
    """The window ended: record who did not answer, then conclude on the answers received."""
    if state.stage != Stage.EVALUATION:
        return []
    if not timer_is_current(state.evaluation_due_at, command.due_at, ctx.now):
        return []
    missing = [r.reviewer_id for r in state.reviewers if r.reviewer_id not in state.ratings]
    closed = ev.EvaluationWindowClosed(missing_reviewers=missing)
    return [closed, *conclude(evolve(state, closed), ctx)]


def conclude(state: NeedState, ctx: DecisionContext) -> Events:
    ratings = list(state.ratings.values())
    if Rating.UNSATISFIED in ratings:
        return reopen_or_escalate(state, ctx)
    if ratings:
        return [ev.DemandClosed(outcome=Outcome.RESOLVED, satisfied=True)]
    return [ev.DemandClosed(outcome=Outcome.NO_RESPONSE, satisfied=None)]


def reopen_or_escalate(state: NeedState, ctx: DecisionContext) -> Events:
    """Reopen with the same unit and a fresh deadline; past the limit, one rung up."""
    unsatisfied = sum(1 for r in state.ratings.values() if r == Rating.UNSATISFIED)
    if state.reopen_count < ctx.policy.evaluation.max_reopenings:
        budget, _ = handling_budget(state, ctx.policy)
        clock = Clock(ctx, budget, ctx.now, need_calendar(state, ctx))
        return [
            ev.DemandReopened(
                reason=f"rated unsatisfied by {unsatisfied} reviewer(s)",
                reopen_count=state.reopen_count + 1,
                due_at=clock.due_at,
                calendar=clock.calendar,
                warn_at=clock.warn_at,
            )
        ]
    step = escalated(state, ctx, "reopen_limit")
    if step:
        return [step]
    return [ev.DemandClosed(outcome=Outcome.RESOLVED, satisfied=False)]

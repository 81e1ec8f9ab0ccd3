"""`decide(state, command, ctx) -> events`: the single entry point of the domain.

A dispatch table sends each command to its stage's rule function. After the command's own
events, the automatic steps run until the need waits for someone: collection complete →
classification → routing. `decide` never mutates: the workflow appends the events, then
folds them with `evolve`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain import collection, evaluation, handling, joint_handling, repeats, routing, supervision
from domain import commands as cmd
from domain.actions import permit, require_stage
from domain.classification import classification_step, classify_by_hand, reclassify
from domain.context import DecisionContext
from domain.errors import InvalidCommand, WrongStage
from domain.events import DomainEvent
from domain.guards import OPEN_STAGES
from domain.model import Stage
from domain.state import NeedState, fold

Handler = Callable[[NeedState, Any, DecisionContext], list[DomainEvent]]

TIMER_COMMANDS = (
    cmd.ExpireInformationRequest,
    cmd.AcceptanceTimeout,
    cmd.WarningDue,
    cmd.DeadlineBreached,
    cmd.CloseEvaluationWindow,
    cmd.SupervisionDue,
    cmd.DispatchOverdue,
    cmd.ExtensionDecisionDue,
    cmd.AssistWarningDue,
    cmd.AssistDue,
)
OPEN = tuple(s.value for s in OPEN_STAGES)

HANDLERS: dict[type[cmd.Command], Handler] = {
    cmd.Submit: collection.submit,
    cmd.ProvideInformation: collection.provide_information,
    cmd.RequestInformation: collection.request_information,
    cmd.ExpireInformationRequest: collection.expire_information,
    cmd.LinkReport: collection.link_report,
    cmd.ResolvePossibleRepeat: repeats.resolve_possible_repeat,
    cmd.UnlinkReport: repeats.unlink_report,
    cmd.Classify: classify_by_hand,
    cmd.Reclassify: reclassify,
    cmd.Assign: routing.assign,
    cmd.Return: routing.return_need,
    cmd.Reassign: routing.reassign,
    cmd.Adjudicate: routing.adjudicate,
    cmd.DispatchOverdue: routing.dispatch_overdue,
    cmd.Accept: handling.accept,
    cmd.AcceptanceTimeout: handling.acceptance_timeout,
    cmd.WarningDue: handling.warning_due,
    cmd.DeadlineBreached: handling.deadline_breached,
    cmd.Remind: handling.remind,
    cmd.NoteProgress: handling.note_progress,
    cmd.RequestExtension: handling.request_extension,
    cmd.DecideExtension: handling.decide_extension,
    cmd.ExtensionDecisionDue: handling.extension_decision_due,
    cmd.Complete: handling.complete,
    cmd.CompleteByProject: handling.complete_by_project,
    cmd.Supervise: supervision.supervise,
    cmd.ReplySupervision: supervision.reply,
    cmd.SupervisionDue: supervision.reply_due,
    cmd.RequestAssist: joint_handling.request,
    cmd.AcceptAssist: joint_handling.accept,
    cmd.ReportAssist: joint_handling.report,
    cmd.DeclineAssist: joint_handling.decline,
    cmd.ReleaseAssist: joint_handling.release,
    cmd.AssistWarningDue: joint_handling.warning_due,
    cmd.AssistDue: joint_handling.deadline_passed,
    cmd.Evaluate: evaluation.evaluate,
    cmd.RecordCallback: evaluation.record_callback,
    cmd.CloseEvaluationWindow: evaluation.close_window,
}


def decide(state: NeedState, command: cmd.Command, ctx: DecisionContext) -> list[DomainEvent]:
    """The events `command` causes in `state`, including the automatic steps that follow.

    Raises a `DomainError` (WrongStage, NotYourUnit, NotPermitted, InvalidCommand) when the
    command breaks a rule; timer commands that are stale or early yield no events.
    """
    own, automatic = decide_split(state, command, ctx)
    return own + automatic


def decide_split(
    state: NeedState, command: cmd.Command, ctx: DecisionContext
) -> tuple[list[DomainEvent], list[DomainEvent]]:
    """`decide`, keeping apart the command's own events and those the automatic steps
    (collection check, classification, routing) added: the audit names the system, not
    the caller, as the actor of the latter."""
    handler = HANDLERS.get(type(command))
    if handler is None:
        raise InvalidCommand("type", f"unknown command {type(command).__name__}")
    permit(command, ctx.actor)  # the one table of who may do what (domain/actions.py)
    if state.stage == Stage.CLOSED:
        if isinstance(command, TIMER_COMMANDS):
            return [], []
        raise WrongStage(type(command).__name__, Stage.CLOSED.value, OPEN)
    require_stage(command, state.stage)  # where it applies: the same table
    events = handler(state, command, ctx)
    return (events, advance(fold(events, state), ctx)) if events else ([], [])


AUTOMATIC_STEPS = (collection.collection_step, classification_step, routing.routing_step)


def advance(state: NeedState, ctx: DecisionContext) -> list[DomainEvent]:
    """Run the automatic steps until none has anything to do."""
    produced: list[DomainEvent] = []
    progressed = True
    while progressed:
        progressed = False
        for step in AUTOMATIC_STEPS:
            new = step(state, ctx)
            if new:
                produced += new
                state = fold(new, state)
                progressed = True
    return produced

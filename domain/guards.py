"""Checks shared by the stage rules: stage, unit, timers."""

from __future__ import annotations

from datetime import datetime

from domain.context import DecisionContext
from domain.errors import NotYourUnit, WrongStage
from domain.model import Role, Stage
from domain.state import NeedState

OPEN_STAGES = (
    Stage.COLLECTION,
    Stage.CLASSIFICATION,
    Stage.ASSIGNMENT,
    Stage.HANDLING,
    Stage.EVALUATION,
)


def require_stage(state: NeedState, command: str, *stages: Stage) -> None:
    """The command applies only in `stages`."""
    if state.stage not in stages:
        stage = state.stage.value if state.stage else None
        raise WrongStage(command, stage, tuple(s.value for s in stages))


def require_assignee(state: NeedState, command: str, ctx: DecisionContext) -> None:
    """Only the unit that owns the need (or an admin, or the system) acts for it."""
    if state.assigned_unit is None:
        raise NotYourUnit(command, None, ctx.actor.unit)
    if ctx.actor.role in (Role.ADMIN, Role.SYSTEM):
        return
    if ctx.actor.unit != state.assigned_unit:
        raise NotYourUnit(command, state.assigned_unit, ctx.actor.unit)


def timer_is_current(scheduled: datetime | None, fired_for: datetime, now: datetime) -> bool:
    """A timer counts only if it still matches the deadline in force and that deadline came:
    stale or early timers are ignored, which keeps replays and moved deadlines harmless."""
    return scheduled is not None and scheduled == fired_for and now >= scheduled

"""What the workflow should sleep until: the earliest pending deadline of a need."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from domain.assists import timers as assist_timers
from domain.commands import (
    AcceptanceTimeout,
    CloseEvaluationWindow,
    DeadlineBreached,
    DispatchOverdue,
    ExpireInformationRequest,
    ExtensionDecisionDue,
    SupervisionDue,
    TimerCommand,
    WarningDue,
)
from domain.model import BREACH_RECORDED, Stage

if TYPE_CHECKING:
    from domain.state import NeedState

BREACHES = frozenset({"deadline_breached", "acceptance_timeout"})
"""Escalation causes that are a breached deadline (not `reopen_limit`)."""


def overdue_after(
    overdue: bool, event_type: str, cause: str | None = None, threshold: int | None = None
) -> bool:
    """Whether the need is overdue after an event of `event_type` (with its escalation `cause`
    or warning `threshold`): from a breached deadline (an escalation for a breach, or a breach
    recorded at the top of the ladder) until the need is accepted anew, completed or closed.
    The one rule: the state (domain.state.evolve), hence the `DemandOverdue` search attribute
    and the workflow's query, and the summary row (store.fold) all apply it."""
    if event_type == "HandlingEscalated":
        return overdue or cause in BREACHES
    if event_type == "DeadlineWarningIssued":
        return overdue or (threshold or 0) >= BREACH_RECORDED
    if event_type in ("DemandAccepted", "HandlingCompleted", "DemandClosed"):
        return False
    return overdue


def supervision_answerer(ordered: str | None, holder: str | None) -> str | None:
    """Who must reply to an open 督办 order: the unit ordered, and once the need changes hands
    (reassigned, escalated), whoever holds it; while nobody holds it (returned, waiting for a
    dispatcher) the last holder. `ordered` is None when no order is open. The state
    (domain.state.evolve) and the summary row (store.fold) both apply it."""
    return holder if ordered is not None and holder is not None else ordered


def next_deadline(state: NeedState) -> tuple[datetime, TimerCommand] | None:
    """The earliest timer the need waits for, with the command to send when it fires.

    While information is pending the handling clock is stopped: only the request's own
    expiry counts. A closed need waits for nothing.
    """
    candidates = _candidates(state) + _supervision(state) + _assists(state)
    return min(candidates, key=lambda c: c[0]) if candidates else None


def _supervision(state: NeedState) -> list[tuple[datetime, TimerCommand]]:
    """A supervision order's reply deadline runs whatever else the need waits for."""
    pending = state.pending_supervision
    if state.stage in (None, Stage.CLOSED) or pending is None or pending.missed:
        return []
    return [(pending.reply_due_at, SupervisionDue(due_at=pending.reply_due_at))]


def _assists(state: NeedState) -> list[tuple[datetime, TimerCommand]]:
    """Sub-tasks of joint handling run on their own deadlines while the need is open."""
    if state.stage in (None, Stage.CLOSED):
        return []
    return assist_timers(state)


def _candidates(state: NeedState) -> list[tuple[datetime, TimerCommand]]:
    if state.stage in (None, Stage.CLOSED):
        return []
    if state.pending_information:
        due = state.pending_information.due_at
        return [(due, ExpireInformationRequest(due_at=due))]
    if state.stage == Stage.ASSIGNMENT and state.accept_due_at:
        if BREACH_RECORDED in state.warnings_issued:
            return []
        return [(state.accept_due_at, AcceptanceTimeout(due_at=state.accept_due_at))]
    if waiting_for_dispatcher(state) and state.due_at:
        return [*_warnings(state), (state.due_at, DispatchOverdue(due_at=state.due_at))]
    if state.stage == Stage.HANDLING:
        return _handling_candidates(state)
    if state.stage == Stage.EVALUATION and state.evaluation_due_at:
        due = state.evaluation_due_at
        return [(due, CloseEvaluationWindow(due_at=due))]
    return []


def waiting_for_dispatcher(state: NeedState) -> bool:
    """To be classified by hand, or classified with nobody owning it (after a return)."""
    if state.stage == Stage.CLASSIFICATION:
        return state.awaiting_dispatcher is not None
    return state.stage == Stage.ASSIGNMENT and state.assigned_unit is None


def _warnings(state: NeedState) -> list[tuple[datetime, TimerCommand]]:
    return [
        (when, WarningDue(percent=percent, due_at=when))
        for percent, when in sorted(state.warn_at.items())
        if percent not in state.warnings_issued
    ]


def _handling_candidates(state: NeedState) -> list[tuple[datetime, TimerCommand]]:
    found = _warnings(state)
    pending = state.pending_extension
    if pending is not None and pending.decide_by is not None:
        found.append((pending.decide_by, ExtensionDecisionDue(due_at=pending.decide_by)))
    if state.due_at and BREACH_RECORDED not in state.warnings_issued:
        found.append((state.due_at, DeadlineBreached(due_at=state.due_at)))
    return found

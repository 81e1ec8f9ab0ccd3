"""联合办理 (joint handling): the lead unit asks other units to assist with sub-tasks.

The unit that holds a need in handling (the lead) asks another unit for a sub-task, with a
deadline of its own that ends no later than the lead's. The assisting unit accepts it,
reports back, or declines with a reason (the sub-task is then back with the lead, who may do
it or ask another unit). A sub-task's deadline warns at the policy's percentages and, when it
passes, moves the sub-task one rung up the *assisting* unit's ladder with the escalation
time, as a need's deadline does; at the top the breach is recorded once. The lead completes
only when every sub-task has been reported, declined, or released by a supervisor over the
need; a co-building project's completion releases the open ones in its name.

Why state inside the need's workflow rather than child workflows: the lead's completion
guard must see every sub-task at the moment it decides, every step is an event on the need's
own stream (one writer, one hash chain, one timeline), and a sub-task's timers are simply
more deadlines of the need (domain.deadlines.next_deadline). A child workflow per sub-task
would need a second writer of the need's stream, or a second stream whose state the lead
could only learn by messages that may arrive late.

This module holds the sub-tasks' model and `record`, the one reading of their events: the
need's state (domain.state) and the store's sub-task rows (store/assists.py) both apply it.
The rules are in domain/joint_handling.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from domain import events as ev
from domain.commands import AssistDue, AssistWarningDue, TimerCommand
from domain.model import BREACH_RECORDED, Frozen

if TYPE_CHECKING:
    from domain.state import NeedState

AssistStatus = Literal["requested", "accepted", "reported", "declined", "released"]
OPEN: frozenset[str] = frozenset({"requested", "accepted"})
MAX_ASSISTS = 20
"""Sub-tasks one need may have had in all: bounds the state a workflow carries."""


class Assist(Frozen):
    """One sub-task of a need's joint handling."""

    assist_id: str  # assist-<n>: the need's n-th request
    asked_unit: str  # the unit the lead asked
    unit_id: str  # who must do it now: the unit asked, or a rung above it after a breach
    lead_unit: str  # the unit that asked
    task: str
    status: AssistStatus = "requested"
    due_at: datetime
    calendar: str = ""
    warn_at: dict[int, datetime] = Field(default_factory=dict)
    warnings_issued: frozenset[int] = frozenset()
    escalations: int = 0
    overdue: bool = Field(default=False, description="its deadline passed; until it closes")
    answer: str | None = Field(default=None, description="the report, or why declined/released")
    in_time: bool | None = None

    @property
    def open(self) -> bool:
        return self.status in OPEN


_Update = Callable[["Assist"], dict[str, Any]]


def record(assists: tuple[Assist, ...], event: ev.DomainEvent) -> tuple[Assist, ...]:
    """The sub-tasks after one event; events of other kinds leave them as they are."""
    if isinstance(event, ev.AssistRequested):
        added = Assist(
            assist_id=event.assist_id,
            asked_unit=event.unit_id,
            unit_id=event.unit_id,
            lead_unit=event.lead_unit,
            task=event.task,
            due_at=event.due_at,
            calendar=event.calendar,
            warn_at=dict(event.warn_at),
        )
        return (*assists, added)
    change = _change(event)
    if change is None:
        return assists
    assist_id, update = change
    return tuple(a.model_copy(update=update(a)) if a.assist_id == assist_id else a for a in assists)


def _change(event: ev.DomainEvent) -> tuple[str, _Update] | None:
    closed: dict[str, Any] = {"overdue": False}
    if isinstance(event, ev.AssistAccepted):
        return event.assist_id, lambda a: {"status": "accepted"}
    if isinstance(event, ev.AssistReported):
        done = closed | {"status": "reported", "answer": event.result, "in_time": event.in_time}
        return event.assist_id, lambda a: done
    if isinstance(event, ev.AssistDeclined):
        return event.assist_id, lambda a: closed | {"status": "declined", "answer": event.reason}
    if isinstance(event, ev.AssistReleased):
        return event.assist_id, lambda a: closed | {"status": "released", "answer": event.reason}
    if isinstance(event, ev.AssistWarningIssued):
        percent = event.threshold_percent
        return event.assist_id, lambda a: {
            "warnings_issued": a.warnings_issued | {percent},
            "overdue": a.overdue or percent >= BREACH_RECORDED,
        }
    if isinstance(event, ev.AssistEscalated):
        return event.assist_id, lambda a: {
            "unit_id": event.to_unit,
            "due_at": event.due_at,
            "calendar": event.calendar,
            "warn_at": dict(event.warn_at),
            "warnings_issued": frozenset(),
            "escalations": a.escalations + 1,
            "overdue": True,
        }
    return None


def open_assists(state: NeedState) -> list[Assist]:
    return [a for a in state.assists if a.open]


def assisting_units(state: NeedState) -> set[str]:
    """The units an open sub-task of the need is addressed to now."""
    return {a.unit_id for a in open_assists(state)}


def timers(state: NeedState) -> list[tuple[datetime, TimerCommand]]:
    """What the open sub-tasks wait for: their warnings and deadlines (a breach recorded at
    the top waits for nothing more)."""
    found: list[tuple[datetime, TimerCommand]] = []
    for a in open_assists(state):
        if BREACH_RECORDED in a.warnings_issued:
            continue
        found += [
            (when, AssistWarningDue(assist_id=a.assist_id, percent=p, due_at=when))
            for p, when in sorted(a.warn_at.items())
            if p not in a.warnings_issued
        ]
        found.append((a.due_at, AssistDue(assist_id=a.assist_id, due_at=a.due_at)))
    return found


def find(state: NeedState, assist_id: str) -> Assist | None:
    return next((a for a in state.assists if a.assist_id == assist_id), None)

"""The state of one need, folded from its events. `evolve` never decides: it only records.

Personal data stays in the events: the state keeps requester ids and kinds, and the
location without its address.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import Field

from domain import events as ev
from domain.assists import Assist
from domain.deadlines import next_deadline, overdue_after, supervision_answerer
from domain.model import (
    BREACH_RECORDED,
    Category,
    Channel,
    Frozen,
    Location,
    Outcome,
    Rating,
    RequesterKind,
    Stage,
    Tier,
    UnitKind,
    Urgency,
)
from domain.transitions import (
    EVOLVERS,
    LinkedRequester,
    PendingExtension,
    PendingInformation,
    PendingSupervision,
)

__all__ = [
    "BREACH_RECORDED",
    "STAGE_TRANSITIONS",
    "LinkedRequester",
    "NeedState",
    "PendingExtension",
    "PendingInformation",
    "PendingSupervision",
    "evolve",
    "fold",
    "next_deadline",
]

STAGE_TRANSITIONS: dict[Stage | None, frozenset[Stage]] = {
    None: frozenset({Stage.COLLECTION}),
    Stage.COLLECTION: frozenset({Stage.COLLECTION, Stage.CLASSIFICATION, Stage.CLOSED}),
    Stage.CLASSIFICATION: frozenset({Stage.CLASSIFICATION, Stage.ASSIGNMENT}),
    # assignment -> evaluation: a project completes a need its unit had not accepted
    Stage.ASSIGNMENT: frozenset({Stage.ASSIGNMENT, Stage.HANDLING, Stage.EVALUATION}),
    Stage.HANDLING: frozenset({Stage.HANDLING, Stage.ASSIGNMENT, Stage.EVALUATION, Stage.CLOSED}),
    Stage.EVALUATION: frozenset({Stage.EVALUATION, Stage.HANDLING, Stage.CLOSED}),
    Stage.CLOSED: frozenset(),
}
"""The stage moves one event can make; closed is terminal."""


class NeedState(Frozen):
    version: int = 0
    stage: Stage | None = None
    policy_version: str | None = None
    channel: Channel | None = None
    requesters: tuple[LinkedRequester, ...] = ()
    linked_reports: tuple[str, ...] = ()
    linked_requesters: dict[str, str] = Field(
        default_factory=dict, description="linked report -> its requester id"
    )
    clock_from: datetime | None = Field(
        default=None, description="a split need: its first acceptance deadline counts from here"
    )
    location: Location | None = None
    text: str = ""
    title: str = ""
    address_given: bool = False
    address_names_place: bool = False  # the address says where (address_names_a_place)
    has_coordinates: bool = False
    known_fields: frozenset[str] = frozenset()
    category_hint: Category | None = None
    route_to: str | None = Field(
        default=None, description="a plan's occurrence: the unit routing gives it"
    )
    category: Category | None = None
    tier: Tier | None = None
    urgency: Urgency | None = None
    classification_rule: str | None = None
    awaiting_dispatcher: str | None = None
    handed_to_grid: bool = False
    pending_information: PendingInformation | None = None
    assigned_unit: str | None = None
    assigned_kind: UnitKind | None = None
    accept_due_at: datetime | None = None
    due_at: datetime | None = None
    due_calendar: str | None = None
    warn_at: dict[int, datetime] = Field(default_factory=dict)
    warnings_issued: frozenset[int] = frozenset()
    return_count: int = 0
    returned_by: tuple[str, ...] = ()
    awaiting_adjudication: bool = False
    adjudicated_unit: str | None = Field(
        default=None, description="the unit a ruling made responsible: it cannot return it"
    )
    escalation_count: int = 0
    reopen_count: int = 0
    extension_count: int = 0
    reminder_count: int = 0
    progress_count: int = 0
    pending_extension: PendingExtension | None = None
    pending_supervision: PendingSupervision | None = None
    supervision_count: int = 0
    assists: tuple[Assist, ...] = Field(
        default=(), description="联合办理: the sub-tasks other units were asked for"
    )
    completed_in_time: bool | None = None
    reviewers: tuple[ev.Reviewer, ...] = ()
    evaluation_due_at: datetime | None = None
    ratings: dict[str, Rating] = Field(default_factory=dict)
    no_response: tuple[str, ...] = ()
    merged_into: str | None = None
    possible_repeat_of: str | None = None
    outcome: Outcome | None = None
    satisfied: bool | None = None
    overdue: bool = Field(
        default=False,
        description="a deadline was breached and the need "
        "has not been accepted anew, completed or closed since "
        "(domain.deadlines.overdue_after)",
    )

    def requester_kinds(self) -> set[RequesterKind]:
        return {r.kind for r in self.requesters}


def evolve(state: NeedState, event: ev.DomainEvent) -> NeedState:
    """Record one event: the new state, never a decision."""
    update = EVOLVERS[event.type](state, event)
    overdue = overdue_after(
        state.overdue,
        event.type,
        cause=event.cause if isinstance(event, ev.HandlingEscalated) else None,
        threshold=event.threshold_percent if isinstance(event, ev.DeadlineWarningIssued) else None,
    )
    after = state.model_copy(update=update | {"version": state.version + 1, "overdue": overdue})
    pending = after.pending_supervision
    if pending is not None:
        answerer = supervision_answerer(pending.unit_id, after.assigned_unit)
        if answerer != pending.unit_id:
            after = after.model_copy(
                update={"pending_supervision": pending.model_copy(update={"unit_id": answerer})}
            )
    return after


def fold(events: Iterable[ev.DomainEvent], state: NeedState | None = None) -> NeedState:
    """The state after all `events`, from the empty state or from `state`."""
    current = state or NeedState()
    for event in events:
        current = evolve(current, event)
    return current

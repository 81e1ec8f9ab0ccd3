"""The audit vocabulary: every event a need can go through, in one file.

Rules for this file:
- names are past tense, in the domain's words;
- `type` is a stable string stored in the database: never rename one, add a new type instead;
- a breaking payload change bumps `SCHEMA_VERSION` of that class and registers an upcaster
  (store/upcasting.py) from the old shape;
- payloads hold no envelope data (event id, version, actor, time): `EventEnvelope` carries that.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from domain.model import (
    Actor,
    Category,
    Channel,
    Frozen,
    Location,
    Outcome,
    Rating,
    Requester,
    ServiceMode,
    Tier,
    UnitKind,
    Urgency,
)

ShortText = Annotated[str, Field(min_length=1, max_length=2000)]
# The default stays beside each field (`= Field(default_factory=dict)`), where type checkers
# see that the field may be left out.
WarnAt = Annotated[dict[int, datetime], Field(description="warning percent -> when it falls due")]


class DomainEvent(Frozen):
    SCHEMA_VERSION: ClassVar[int] = 1
    type: str


class RuleApplied(DomainEvent):
    """Mixin fields for events decided by a policy rule: the audit shows why."""

    rule_id: str
    policy_version: str


# --- 1. full collection -------------------------------------------------------------------


class DemandSubmitted(DomainEvent):
    """A need arrived through one of the channels; the stream starts here."""

    type: Literal["DemandSubmitted"] = "DemandSubmitted"
    channel: Channel
    external_id: str
    requester: Requester
    location: Location
    title: ShortText
    description: str = Field(default="", max_length=10000)
    details: dict[str, str] = Field(default_factory=dict)
    policy_version: str
    category_hint: Category | None = None
    route_to: str | None = Field(
        default=None,
        description="a service plan's occurrence: the unit the plan names serves it "
        "(routing gives it that unit instead of the rules' one)",
    )


class InformationRequested(RuleApplied):
    """The record lacks fields its category needs; the handling clock stops until answered."""

    type: Literal["InformationRequested"] = "InformationRequested"
    missing_fields: list[str]
    ask: Literal["requester", "grid_worker"]
    due_at: datetime
    paused_at: datetime | None = Field(
        default=None, description="set when a running handling clock stopped for the answer"
    )


class InformationProvided(DomainEvent):
    """The requester (or the grid worker on their behalf) supplied missing fields."""

    type: Literal["InformationProvided"] = "InformationProvided"
    fields: dict[str, str]

    def place(self) -> dict[str, str]:
        """The need's place this answer moves it to: its community, grid and building, where
        given (one reading for the state, the summary row and the API's detail)."""
        return {
            k: self.fields[k].strip()
            for k in ("community", "grid", "building")
            if self.fields.get(k, "").strip()
        }


class InformationRequestExpired(RuleApplied):
    """No answer within the limit: the policy closes the need or hands it to the grid worker."""

    type: Literal["InformationRequestExpired"] = "InformationRequestExpired"
    missing_fields: list[str]
    action: Literal["close", "hand_to_grid"]


class ReportLinked(DomainEvent):
    """Another report of the same need (same category, place, window) joined this one."""

    type: Literal["ReportLinked"] = "ReportLinked"
    linked_stream_id: str
    channel: Channel
    requester: Requester


class DemandMerged(RuleApplied):
    """This report repeats an open need and is handled there; this stream ends. `score` is
    the repeat rule's score (domain/repeats.py); a dispatcher's link has rule_id 'manual'."""

    type: Literal["DemandMerged"] = "DemandMerged"
    into_stream_id: str
    score: float | None = None


class ReportUnlinked(DomainEvent):
    """A supervisor split a merged report back out of this need (it goes on as its own need,
    `split_stream_id`); its requester is no longer one of this need's reviewers."""

    type: Literal["ReportUnlinked"] = "ReportUnlinked"
    linked_stream_id: str
    split_stream_id: str
    reason: ShortText


class DemandSplit(DomainEvent):
    """This need is a report that had been merged into `primary_stream_id` (its stream
    `merged_stream_id` stays closed as merged), split back out by a supervisor. Its
    acceptance deadline counts from the report's own submission time."""

    type: Literal["DemandSplit"] = "DemandSplit"
    merged_stream_id: str
    primary_stream_id: str
    submitted_at: datetime
    # The supervisor who split it and why (the envelope's actor is the report's submitter,
    # whose need this is); absent on needs split before 2026-12-07.
    split_by: str | None = None
    reason: ShortText | None = None


class PossibleRepeatFlagged(RuleApplied):
    """The report may repeat an open need, but not surely: it goes on as its own need and a
    dispatcher of `dispatcher_unit` links it to `of_stream_id` or dismisses the doubt."""

    type: Literal["PossibleRepeatFlagged"] = "PossibleRepeatFlagged"
    of_stream_id: str
    score: float
    dispatcher_unit: str


class PossibleRepeatResolved(DomainEvent):
    """A dispatcher settled a possible repeat: linked (the need merges into the other) or
    dismissed (they are different needs)."""

    type: Literal["PossibleRepeatResolved"] = "PossibleRepeatResolved"
    of_stream_id: str
    decision: Literal["linked", "dismissed"]


# --- 2. tiered classification --------------------------------------------------------------


class ClassificationRequested(DomainEvent):
    """No rule matched, or too weakly: the community's dispatcher must classify by hand."""

    type: Literal["ClassificationRequested"] = "ClassificationRequested"
    dispatcher_unit: str
    reason: Literal["no_rule", "low_confidence"]
    confidence: float = 0.0
    best_guess: str | None = Field(default=None, description="the weakly matched rule")
    matched_terms: list[str] = Field(default_factory=list)
    due_at: datetime | None = Field(
        default=None, description="the dispatcher must act by then (policy `sla.dispatch`)"
    )
    warn_at: dict[int, datetime] = Field(default_factory=dict)


class DemandClassified(RuleApplied):
    """Category, tier and urgency were set, by a rule or by a dispatcher (rule_id 'manual')."""

    type: Literal["DemandClassified"] = "DemandClassified"
    category: Category
    tier: Tier
    urgency: Urgency
    confidence: float
    manual: bool = False
    matched_terms: list[str] = Field(
        default_factory=list, description="the report's words that named the item"
    )
    note: str = Field(default="", max_length=2000, description="a dispatcher's reason")


class DemandReclassified(DomainEvent):
    """Staff changed the classification; the previous one is kept for the audit."""

    type: Literal["DemandReclassified"] = "DemandReclassified"
    category: Category
    tier: Tier
    urgency: Urgency
    previous_category: Category | None = Field(
        default=None, description="None: the need reached a unit unclassified"
    )
    previous_tier: Tier | None = None
    reason: ShortText


# --- 3. assignment -------------------------------------------------------------------------


class DemandAssigned(RuleApplied):
    """One accountable unit owns the need now and must accept it by `accept_due_at`."""

    type: Literal["DemandAssigned"] = "DemandAssigned"
    unit_id: str
    unit_kind: UnitKind
    accept_due_at: datetime
    reason: Literal[
        "routing",
        "first_receiver",
        "return_limit",
        "reassigned",
        "handed_to_grid",
        "dispatch_timeout",
        "adjudicated",
    ]
    note: str = Field(
        default="", max_length=2000, description="the reason a person gave for a manual assignment"
    )


class DemandReturned(DomainEvent):
    """The assignee sent it back to dispatch (退单) with a reason."""

    type: Literal["DemandReturned"] = "DemandReturned"
    unit_id: str
    reason: ShortText
    return_count: int
    due_at: datetime | None = Field(
        default=None,
        description="below the return limit: a dispatcher must give it an owner "
        "by then (policy `sla.dispatch`)",
    )
    warn_at: dict[int, datetime] = Field(default_factory=dict)


class AdjudicationRequested(DomainEvent):
    """Returned as often as the policy allows: the level above must rule which unit is
    responsible (policy `routing.adjudication`), by `due_at` (`sla.dispatch`) or the first
    receiver takes it."""

    type: Literal["AdjudicationRequested"] = "AdjudicationRequested"
    return_count: int
    due_at: datetime | None = None
    warn_at: dict[int, datetime] = Field(default_factory=dict)


class NeedAdjudicated(DomainEvent):
    """裁定: a supervisor ruled which unit is responsible, with the reason. Binding: that unit
    cannot return the need again."""

    type: Literal["NeedAdjudicated"] = "NeedAdjudicated"
    unit_id: str
    unit_kind: UnitKind
    reason: ShortText


# --- 4. time-limited handling --------------------------------------------------------------


class DemandAccepted(RuleApplied):
    """The assignee took it on; the handling deadline is counted in working time."""

    type: Literal["DemandAccepted"] = "DemandAccepted"
    unit_id: str
    due_at: datetime
    calendar: str = Field(description="which calendar data computed due_at")
    warn_at: WarnAt = Field(default_factory=dict)


class DeadlineWarningIssued(DomainEvent):
    """50% or 75% of the handling (or acceptance) time has passed."""

    type: Literal["DeadlineWarningIssued"] = "DeadlineWarningIssued"
    threshold_percent: int
    due_at: datetime


class HandlingEscalated(RuleApplied):
    """A deadline passed (or reopenings ran out): one level up the ladder, with a new deadline."""

    type: Literal["HandlingEscalated"] = "HandlingEscalated"
    from_unit: str
    to_unit: str
    to_kind: UnitKind
    cause: Literal["deadline_breached", "acceptance_timeout", "reopen_limit"]
    due_at: datetime
    calendar: str = ""
    warn_at: WarnAt = Field(default_factory=dict)


class ReminderSent(DomainEvent):
    """A supervisor urged the assignee on (催办)."""

    type: Literal["ReminderSent"] = "ReminderSent"
    note: str = Field(default="", max_length=2000)


class ProgressNoted(DomainEvent):
    type: Literal["ProgressNoted"] = "ProgressNoted"
    note: ShortText


class SupervisionOrdered(DomainEvent):
    """督办: a supervisor orders the assigned unit to report in writing by `reply_due_at`."""

    type: Literal["SupervisionOrdered"] = "SupervisionOrdered"
    note: ShortText
    unit_id: str
    reply_due_at: datetime
    order_count: int = Field(ge=1, description="the need's supervision orders so far")


class SupervisionReplied(DomainEvent):
    """The unit's written reply to a supervision order."""

    type: Literal["SupervisionReplied"] = "SupervisionReplied"
    reply: ShortText
    in_time: bool


class SupervisionReplyMissed(DomainEvent):
    """The reply deadline passed with no reply: the order goes up to the unit above the one
    ordered (it answers for the reply now); the order stays open until a reply comes."""

    type: Literal["SupervisionReplyMissed"] = "SupervisionReplyMissed"
    reply_due_at: datetime
    escalated_to: str | None = None


class ExtensionRequested(DomainEvent):
    """The assignee asked for more working hours; the level above decides."""

    type: Literal["ExtensionRequested"] = "ExtensionRequested"
    extra_hours: int = Field(gt=0, le=24 * 30)
    reason: ShortText
    approver_unit: str
    decide_by: datetime | None = Field(
        default=None, description="the approver must decide by then (`sla.extension_decision`)"
    )


class ExtensionDecisionEscalated(DomainEvent):
    """The approver did not decide in time: the request goes to the unit above it."""

    type: Literal["ExtensionDecisionEscalated"] = "ExtensionDecisionEscalated"
    from_unit: str
    to_unit: str
    decide_by: datetime


class ExtensionApproved(DomainEvent):
    type: Literal["ExtensionApproved"] = "ExtensionApproved"
    due_at: datetime
    calendar: str
    warn_at: WarnAt = Field(default_factory=dict)
    reason: str = Field(default="", max_length=2000, description="the approver's reason")


class ExtensionRefused(DomainEvent):
    type: Literal["ExtensionRefused"] = "ExtensionRefused"
    reason: ShortText
    lapsed: bool = Field(default=False, description="nobody decided in time, up to the top")


class HandlingClockResumed(DomainEvent):
    """The information arrived (or its request expired): the handling clock runs again and
    the deadline moves by the working time spent waiting."""

    type: Literal["HandlingClockResumed"] = "HandlingClockResumed"
    paused_at: datetime
    due_at: datetime
    calendar: str
    warn_at: WarnAt = Field(default_factory=dict)


class HandlingCompleted(DomainEvent):
    """The assignee finished and says what was done."""

    type: Literal["HandlingCompleted"] = "HandlingCompleted"
    unit_id: str
    result_summary: ShortText
    service_mode: ServiceMode
    in_time: bool
    project_id: str | None = Field(
        default=None,
        description="set: completed by this co-building project (项目清单), not by the unit",
    )


# --- joint handling (联合办理): sub-tasks the lead asks other units to do (domain/assists.py)


class AssistRequested(DomainEvent):
    """The lead unit asked another unit to assist with a sub-task, due by `due_at` (never
    after the lead's own deadline when it was asked)."""

    type: Literal["AssistRequested"] = "AssistRequested"
    assist_id: str
    unit_id: str
    lead_unit: str
    task: ShortText
    due_at: datetime
    calendar: str = ""
    warn_at: WarnAt = Field(default_factory=dict)


class AssistAccepted(DomainEvent):
    """The assisting unit took the sub-task on."""

    type: Literal["AssistAccepted"] = "AssistAccepted"
    assist_id: str
    unit_id: str


class AssistReported(DomainEvent):
    """The assisting unit reported back what it did: the sub-task is done."""

    type: Literal["AssistReported"] = "AssistReported"
    assist_id: str
    unit_id: str
    result: ShortText
    in_time: bool


class AssistDeclined(DomainEvent):
    """The assisting unit declined, with a reason: the sub-task is back with the lead."""

    type: Literal["AssistDeclined"] = "AssistDeclined"
    assist_id: str
    unit_id: str
    reason: ShortText


class AssistReleased(DomainEvent):
    """A supervisor released the sub-task: the lead no longer waits for it."""

    type: Literal["AssistReleased"] = "AssistReleased"
    assist_id: str
    unit_id: str
    reason: ShortText


class AssistWarningIssued(DomainEvent):
    """50 % or 75 % of a sub-task's time has passed; 100: its deadline passed at the top of
    the ladder (recorded once, nothing above to send it to)."""

    type: Literal["AssistWarningIssued"] = "AssistWarningIssued"
    assist_id: str
    unit_id: str
    threshold_percent: int
    due_at: datetime


class AssistEscalated(RuleApplied):
    """A sub-task's deadline passed: it goes one rung up the assisting unit's ladder, with a
    new deadline."""

    type: Literal["AssistEscalated"] = "AssistEscalated"
    assist_id: str
    from_unit: str
    to_unit: str
    due_at: datetime
    calendar: str = ""
    warn_at: WarnAt = Field(default_factory=dict)


ASSIST_EVENTS: tuple[type[DomainEvent], ...] = (
    AssistRequested,
    AssistAccepted,
    AssistReported,
    AssistDeclined,
    AssistReleased,
    AssistWarningIssued,
    AssistEscalated,
)
"""The events of a sub-task (domain/assists.py reads them into the need's `assists`)."""


R = TypeVar("R")


def registrar(
    table: dict[str, R],
) -> Callable[..., Callable[[R], R]]:
    """A decorator that files a reading of one or more event types in `table` under their
    type names: how `evolve` (domain/transitions.py) and the summary fold (store/fold.py)
    keep one function per event type."""

    def on(*event_types: type[DomainEvent]) -> Callable[[R], R]:
        def register(fn: R) -> R:
            for event_type in event_types:
                table[event_type.model_fields["type"].default] = fn
            return fn

        return register

    return on


# --- 5. full evaluation --------------------------------------------------------------------


class Reviewer(Frozen):
    reviewer_id: str
    role: Literal["requester", "community_committee", "park_audit", "organisation"]


class EvaluationRequested(RuleApplied):
    """Every linked requester, and the reviewers the policy names, are asked to rate it."""

    type: Literal["EvaluationRequested"] = "EvaluationRequested"
    reviewers: list[Reviewer]
    due_at: datetime


class EvaluationSubmitted(DomainEvent):
    type: Literal["EvaluationSubmitted"] = "EvaluationSubmitted"
    reviewer_id: str
    rating: Rating
    comment: str = Field(default="", max_length=2000)
    via: Literal["direct", "phone_callback"] = Field(
        default="direct",
        description="direct: the reviewer (or its integrator) rated; "
        "phone_callback: 回访, taken by phone and recorded by the event's actor",
    )


class EvaluationWindowClosed(DomainEvent):
    """The window ended; reviewers who did not answer are recorded as 'no response'."""

    type: Literal["EvaluationWindowClosed"] = "EvaluationWindowClosed"
    missing_reviewers: list[str]


class DemandReopened(DomainEvent):
    """A reviewer was unsatisfied: handling starts again with the same unit."""

    type: Literal["DemandReopened"] = "DemandReopened"
    reason: str = Field(default="", max_length=2000)
    reopen_count: int
    due_at: datetime | None = None
    calendar: str = ""
    warn_at: WarnAt = Field(default_factory=dict)


class DemandClosed(DomainEvent):
    """The need's lifecycle ended. `satisfied` is None when nobody answered."""

    type: Literal["DemandClosed"] = "DemandClosed"
    outcome: Outcome
    satisfied: bool | None = None


AnyEvent = Annotated[
    DemandSubmitted
    | InformationRequested
    | InformationProvided
    | InformationRequestExpired
    | ReportLinked
    | DemandMerged
    | PossibleRepeatFlagged
    | PossibleRepeatResolved
    | ReportUnlinked
    | DemandSplit
    | ClassificationRequested
    | DemandClassified
    | DemandReclassified
    | DemandAssigned
    | DemandReturned
    | AdjudicationRequested
    | NeedAdjudicated
    | DemandAccepted
    | DeadlineWarningIssued
    | HandlingEscalated
    | ReminderSent
    | ProgressNoted
    | SupervisionOrdered
    | SupervisionReplied
    | SupervisionReplyMissed
    | ExtensionRequested
    | ExtensionDecisionEscalated
    | ExtensionApproved
    | ExtensionRefused
    | HandlingClockResumed
    | HandlingCompleted
    | AssistRequested
    | AssistAccepted
    | AssistReported
    | AssistDeclined
    | AssistReleased
    | AssistWarningIssued
    | AssistEscalated
    | EvaluationRequested
    | EvaluationSubmitted
    | EvaluationWindowClosed
    | DemandReopened
    | DemandClosed,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)

EVENT_TYPES: dict[str, type[DomainEvent]] = {
    cls.model_fields["type"].default: cls for cls in get_args(get_args(AnyEvent)[0])
}


# Fixed forever: changing it would give the events of running needs other ids on a retry.
EVENT_ID_NAMESPACE = uuid.UUID("5b0c3f0e-8d1a-4c2e-9a57-3d4f2b1e6c90")


class EventEnvelope(Frozen):
    """One event as the store keeps it: the payload plus who, when, where in the stream.

    The workflow names each event after its place (`id_for(stream, version)`), so a retried
    append carries the same ids and is recognised as already stored, and a different batch
    at an occupied version is a conflict on content. Ids drawn from the workflow's random
    sequence were not safe: a task attempt lost with the server could store a batch whose ids
    the next attempt then drew again for a later version (an event id used twice).
    """

    event_id: str = Field(min_length=1, max_length=64)
    stream_id: str
    version: int = Field(ge=1)
    type: str
    schema_version: int = 1
    payload: dict[str, Any]
    actor: Actor
    occurred_at: datetime

    def event(self) -> AnyEvent:
        return EVENT_ADAPTER.validate_python(self.payload | {"type": self.type})

    @staticmethod
    def id_for(stream_id: str, version: int) -> str:
        """The id of the event at `version` of `stream_id`: unique, and the same on every try."""
        return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{stream_id}/{version}"))

    @classmethod
    def wrap(
        cls,
        event: DomainEvent,
        *,
        event_id: str,
        stream_id: str,
        version: int,
        actor: Actor,
        occurred_at: datetime,
    ) -> EventEnvelope:
        return cls(
            event_id=event_id,
            stream_id=stream_id,
            version=version,
            type=event.type,
            schema_version=event.SCHEMA_VERSION,
            payload=event.model_dump(mode="json", exclude={"type"}),
            actor=actor,
            occurred_at=occurred_at,
        )


class AppendResult(BaseModel):
    """Where a batch sits in its stream once stored; `duplicate` marks an idempotent retry
    (the store's answer to an append, and the append activity's result)."""

    model_config = ConfigDict(frozen=True)

    stream_id: str
    first_version: int
    last_version: int
    duplicate: bool = False

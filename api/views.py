"""Response models: what each endpoint answers. No personal data unless allowed (see access)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from domain import events as ev
from domain.events import EventEnvelope
from domain.model import Actor, Location, Requester
from workflows.messages import Snapshot


class NeedItem(BaseModel):
    """One need in a listing (from the need_summary projection; no personal data)."""

    id: str
    stage: str
    channel: str | None = None
    title: str | None = None
    category: str | None = None
    tier: str | None = None
    urgency: str | None = None
    assigned_unit: str | None = None
    task: str | None = None
    due_at: datetime | None = None
    overdue: bool = False
    submitted_at: datetime | None = None
    updated_at: datetime | None = None
    closed_at: datetime | None = None
    outcome: str | None = None
    satisfied: bool | None = None
    street: str | None = None
    community: str | None = None
    grid: str | None = None
    reminders: int = Field(default=0, description="催办 received so far")
    reminded_at: datetime | None = Field(
        default=None,
        description="the latest 催办 its current holder has not yet answered by "
        "completing the need or handing it on",
    )
    supervisions: int = Field(default=0, description="督办 orders so far")
    supervision_unit: str | None = Field(
        default=None, description="the open 督办 order: the unit ordered"
    )
    supervision_due_at: datetime | None = Field(
        default=None, description="the open 督办 order's reply deadline (none once replied)"
    )

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> NeedItem:
        fields: dict[str, Any] = {k: row.get(k) for k in cls.model_fields if k != "id"}
        return cls(id=row["stream_id"], **fields)


class NeedPage(BaseModel):
    items: list[NeedItem]
    limit: int
    offset: int
    next: str | None = None


class TimelineItem(BaseModel):
    version: int
    type: str
    occurred_at: datetime
    actor: Actor
    detail: dict[str, Any] | None = None

    @classmethod
    def of(cls, envelope: EventEnvelope) -> TimelineItem:
        return cls(
            version=envelope.version,
            type=envelope.type,
            occurred_at=envelope.occurred_at,
            actor=envelope.actor,
            detail=timeline_detail(envelope.event()),
        )


# What the timeline shows of each event beyond its type: the rule's reasons and what the
# people acting wrote for the record (reasons, notes, the result), never the requester's
# personal data (no requester, location, report text, answers or evaluation comments).
_DETAIL_FIELDS: dict[type[ev.DomainEvent], tuple[str, ...]] = {
    ev.DemandClassified: ("rule_id", "confidence", "matched_terms", "manual", "note"),
    ev.ClassificationRequested: (
        "reason",
        "confidence",
        "best_guess",
        "matched_terms",
        "dispatcher_unit",
        "due_at",
    ),
    ev.DemandMerged: ("into_stream_id", "rule_id", "score"),
    ev.PossibleRepeatFlagged: ("of_stream_id", "rule_id", "score", "dispatcher_unit"),
    ev.PossibleRepeatResolved: ("of_stream_id", "decision"),
    ev.ReportLinked: ("linked_stream_id",),
    ev.ReportUnlinked: ("linked_stream_id", "split_stream_id", "reason"),
    ev.DemandSplit: ("merged_stream_id", "primary_stream_id", "submitted_at", "split_by", "reason"),
    ev.InformationRequested: ("rule_id", "missing_fields", "due_at"),
    ev.DemandAssigned: ("rule_id", "unit_id", "reason", "note"),
    ev.DemandReclassified: (
        "category",
        "tier",
        "urgency",
        "previous_category",
        "previous_tier",
        "reason",
    ),
    ev.DemandReturned: ("unit_id", "reason", "return_count", "due_at"),
    ev.AdjudicationRequested: ("return_count", "due_at"),
    ev.NeedAdjudicated: ("unit_id", "reason"),
    ev.DemandAccepted: ("unit_id", "due_at"),
    ev.DeadlineWarningIssued: ("threshold_percent", "due_at"),
    ev.HandlingEscalated: ("from_unit", "to_unit", "cause", "due_at"),
    ev.ReminderSent: ("note",),
    ev.ProgressNoted: ("note",),
    ev.SupervisionOrdered: ("note", "unit_id", "reply_due_at", "order_count"),
    ev.SupervisionReplied: ("reply", "in_time"),
    ev.SupervisionReplyMissed: ("reply_due_at", "escalated_to"),
    ev.ExtensionRequested: ("extra_hours", "reason", "approver_unit", "decide_by"),
    ev.ExtensionDecisionEscalated: ("from_unit", "to_unit", "decide_by"),
    ev.ExtensionApproved: ("due_at", "reason"),
    ev.ExtensionRefused: ("reason", "lapsed"),
    ev.HandlingCompleted: ("unit_id", "result_summary", "service_mode", "in_time"),
    ev.AssistRequested: ("assist_id", "unit_id", "task", "due_at"),
    ev.AssistAccepted: ("assist_id", "unit_id"),
    ev.AssistReported: ("assist_id", "unit_id", "result", "in_time"),
    ev.AssistDeclined: ("assist_id", "unit_id", "reason"),
    ev.AssistReleased: ("assist_id", "unit_id", "reason"),
    ev.AssistWarningIssued: ("assist_id", "unit_id", "threshold_percent", "due_at"),
    ev.AssistEscalated: ("assist_id", "from_unit", "to_unit", "due_at"),
    ev.EvaluationRequested: ("due_at",),
    ev.EvaluationSubmitted: ("rating", "via"),
    ev.DemandReopened: ("reason", "reopen_count", "due_at"),
    ev.DemandClosed: ("outcome", "satisfied"),
}


def timeline_detail(event: ev.DomainEvent) -> dict[str, Any] | None:
    fields = _DETAIL_FIELDS.get(type(event))
    return event.model_dump(mode="json", include=set(fields)) if fields else None


class JoinedNeed(BaseModel):
    """The open need a merged report joined: where its requester's need is handled."""

    id: str
    stage: str
    outcome: str | None = None


class PendingInformationView(BaseModel):
    missing_fields: list[str]
    ask: str
    due_at: datetime


class LiveView(BaseModel):
    """From the workflow's query: what the projection does not hold."""

    version: int
    accept_due_at: datetime | None = None
    due_at: datetime | None = None
    classification_rule: str | None = None
    pending_information: PendingInformationView | None = None
    pending_extension_hours: int | None = None
    extension_approver: str | None = None
    reviewers: list[str] = []
    rated: list[str] = []
    overdue: bool = False
    supervision_reply_due_at: datetime | None = Field(
        default=None, description="督办: a supervision order waits for the unit's reply by then"
    )
    supervision_reply_missed: bool = False
    supervision_orders: int = 0

    @classmethod
    def from_snapshot(cls, snap: Snapshot) -> LiveView:
        s = snap.state
        pending = s.pending_information
        return cls(
            version=snap.version,
            accept_due_at=s.accept_due_at,
            due_at=s.due_at,
            classification_rule=s.classification_rule,
            overdue=snap.overdue,
            pending_information=PendingInformationView(
                missing_fields=list(pending.missing_fields),
                ask=pending.ask,
                due_at=pending.due_at,
            )
            if pending
            else None,
            pending_extension_hours=s.pending_extension.extra_hours
            if s.pending_extension
            else None,
            extension_approver=s.pending_extension.approver_unit if s.pending_extension else None,
            reviewers=[r.reviewer_id for r in s.reviewers],
            rated=sorted(s.ratings),
            supervision_reply_due_at=s.pending_supervision.reply_due_at
            if s.pending_supervision
            else None,
            supervision_reply_missed=bool(s.pending_supervision and s.pending_supervision.missed),
            supervision_orders=s.supervision_count,
        )


class AssistView(BaseModel):
    """A sub-task of joint handling (联合办理), from the projection."""

    assist_id: str
    unit_id: str = Field(
        description="who must do it now (a rung above the unit asked after a breach)"
    )
    asked_unit: str
    lead_unit: str = Field(description="the lead unit that asked")
    task: str
    status: Literal["requested", "accepted", "reported", "declined", "released"]
    due_at: datetime
    overdue: bool = False
    escalations: int = 0
    answer: str | None = Field(
        default=None, description="the report, or why it was declined or released"
    )
    in_time: bool | None = None
    requested_at: datetime
    closed_at: datetime | None = None


class NeedDetail(NeedItem):
    personal_data: Literal["masked", "unmasked"]
    requester: Requester | None = None
    location: Location | None = None
    live: LiveView | None = None
    joined: JoinedNeed | None = None
    split_into: JoinedNeed | None = Field(
        default=None, description="a merged report split back out: the need it goes on as"
    )
    possible_repeat_of: str | None = None
    assists: list[AssistView] = Field(
        default=[], description="联合办理: the sub-tasks other units were asked for"
    )
    timeline: list[TimelineItem] = []
    links: dict[str, str] = {}

    @classmethod
    def build(
        cls,
        row: dict[str, Any],
        events: list[EventEnvelope],
        snap: Snapshot | None,
        unmasked: bool,
        joined: JoinedNeed | None = None,
        assists: list[dict[str, Any]] | None = None,
        split_into: JoinedNeed | None = None,
    ) -> NeedDetail:
        item = NeedItem.from_row(row).model_dump()
        first = events[0].payload if events and events[0].type == "DemandSubmitted" else {}
        requester = Requester.model_validate(first["requester"]) if first else None
        location = Location.model_validate(first["location"]) if first else None
        for answer in (e.event() for e in events if e.type == "InformationProvided"):
            if isinstance(answer, ev.InformationProvided) and location is not None:
                location = location.model_copy(update=answer.place())  # a report asked where
        if not unmasked:
            requester = requester.masked() if requester else None
            location = location.masked() if location else None
        return cls(
            **item,
            personal_data="unmasked" if unmasked else "masked",
            requester=requester,
            location=location,
            live=LiveView.from_snapshot(snap) if snap else None,
            joined=joined,
            split_into=split_into,
            possible_repeat_of=snap.state.possible_repeat_of if snap else None,
            assists=[AssistView.model_validate(a) for a in assists or ()],
            timeline=[TimelineItem.of(e) for e in events],
            links=need_links(row["stream_id"]),
        )


def need_links(need_id: str) -> dict[str, str]:
    return {
        "self": f"/needs/{need_id}",
        "information": f"/needs/{need_id}/information",
        "evaluation": f"/needs/{need_id}/evaluation",
    }


class Accepted(BaseModel):
    id: str
    status: Literal["accepted"] = "accepted"
    links: dict[str, str]


class ActionOut(BaseModel):
    id: str
    version: int
    stage: str
    events: list[str]


class UnmergeOut(ActionOut):
    """The need the report had joined, as the action left it (`id`), and the need the report
    goes on as (`split_id`, also the `Location`)."""

    split_id: str

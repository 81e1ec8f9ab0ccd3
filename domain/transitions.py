"""How each event changes a need's state: one small recorder per event type.

Used by `domain.state.evolve`; the recorders return the fields that change and never decide.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from domain import events as ev
from domain.assists import record
from domain.model import Frozen, RequesterKind, Stage
from domain.text import address_names_a_place, coordinates, is_placeholder

if TYPE_CHECKING:
    from domain.state import NeedState


class LinkedRequester(Frozen):
    requester_id: str
    kind: RequesterKind


class PendingInformation(Frozen):
    missing_fields: tuple[str, ...]
    ask: Literal["requester", "grid_worker"]
    due_at: datetime
    paused_at: datetime | None = None


class PendingExtension(Frozen):
    extra_hours: int
    approver_unit: str
    decide_by: datetime | None = None


class PendingSupervision(Frozen):
    """A supervision order (督办) waiting for the unit's written reply."""

    unit_id: str  # who must reply: the unit ordered, then whoever holds the need
    # (domain.deadlines.supervision_answerer)
    reply_due_at: datetime
    missed: bool = False
    escalated_to: str | None = None


Update = dict[str, Any]
EVOLVERS: dict[str, Callable[..., Update]] = {}
_on = ev.registrar(EVOLVERS)


def _clock(due_at: datetime | None, calendar: str, warn_at: dict[int, datetime]) -> Update:
    return {
        "due_at": due_at,
        "due_calendar": calendar,
        "warn_at": dict(warn_at),
        "warnings_issued": frozenset(),
    }


def _add_requester(state: NeedState, requester_id: str, kind: RequesterKind) -> Update:
    if any(r.requester_id == requester_id for r in state.requesters):
        return {}
    return {
        "requesters": (*state.requesters, LinkedRequester(requester_id=requester_id, kind=kind))
    }


@_on(ev.DemandSubmitted)
def _submitted(state: NeedState, e: ev.DemandSubmitted) -> Update:
    text = " ".join([e.title, e.description, *e.details.values()])
    return {
        "stage": Stage.COLLECTION,
        "policy_version": e.policy_version,
        "channel": e.channel,
        "location": e.location.model_copy(update={"address": None}),
        "text": text,
        "title": e.title,
        "address_given": not is_placeholder(e.location.address),
        "address_names_place": address_names_a_place(e.location.address),
        "has_coordinates": coordinates(e.details) != (None, None),
        "known_fields": frozenset(k for k, v in e.details.items() if v.strip()),
        "category_hint": e.category_hint,
        "route_to": e.route_to,
    } | _add_requester(state, e.requester.requester_id, e.requester.kind)


@_on(ev.InformationRequested)
def _info_requested(state: NeedState, e: ev.InformationRequested) -> Update:
    pending = PendingInformation(
        missing_fields=tuple(e.missing_fields), ask=e.ask, due_at=e.due_at, paused_at=e.paused_at
    )
    return {"pending_information": pending}


@_on(ev.InformationProvided)
def _info_provided(state: NeedState, e: ev.InformationProvided) -> Update:
    given = {k for k, v in e.fields.items() if v.strip()}
    update: Update = {
        "known_fields": state.known_fields | given,
        "text": " ".join([state.text, *e.fields.values()]),
    }
    place = e.place()
    if given & {"community", "grid", "building", "address"}:
        given.add("location")  # any of these answers a request for the need's place
        update["known_fields"] = update["known_fields"] | {"location"}
    if place and state.location is not None:
        update["location"] = state.location.model_copy(update=place)
    pending = state.pending_information
    if pending:
        left = tuple(f for f in pending.missing_fields if f not in given)
        update["pending_information"] = (
            pending.model_copy(update={"missing_fields": left}) if left else None
        )
    return update


@_on(ev.InformationRequestExpired)
def _info_expired(state: NeedState, e: ev.InformationRequestExpired) -> Update:
    in_collection = state.pending_information is None or state.pending_information.paused_at is None
    handed = state.handed_to_grid or (e.action == "hand_to_grid" and in_collection)
    return {"pending_information": None, "handed_to_grid": handed}


@_on(ev.HandlingClockResumed)
def _clock_resumed(state: NeedState, e: ev.HandlingClockResumed) -> Update:
    return {"pending_information": None} | _clock(e.due_at, e.calendar, e.warn_at)


@_on(ev.ReportLinked)
def _linked(state: NeedState, e: ev.ReportLinked) -> Update:
    return {
        "linked_reports": (*state.linked_reports, e.linked_stream_id),
        "linked_requesters": state.linked_requesters
        | {e.linked_stream_id: e.requester.requester_id},
    } | _add_requester(state, e.requester.requester_id, e.requester.kind)


@_on(ev.ReportUnlinked)
def _unlinked(state: NeedState, e: ev.ReportUnlinked) -> Update:
    """The report's requester leaves the reviewers unless they are also the need's own
    requester or the requester of another linked report."""
    links = {k: v for k, v in state.linked_requesters.items() if k != e.linked_stream_id}
    leaving = state.linked_requesters.get(e.linked_stream_id)
    own = state.requesters[0].requester_id if state.requesters else None
    keep = leaving is None or leaving == own or leaving in links.values()
    requesters = (
        state.requesters
        if keep
        else tuple(r for r in state.requesters if r.requester_id != leaving)
    )
    return {
        "linked_reports": tuple(r for r in state.linked_reports if r != e.linked_stream_id),
        "linked_requesters": links,
        "requesters": requesters,
    }


@_on(ev.DemandSplit)
def _split(state: NeedState, e: ev.DemandSplit) -> Update:
    return {"clock_from": e.submitted_at}


@_on(ev.DemandMerged)
def _merged(state: NeedState, e: ev.DemandMerged) -> Update:
    return {"merged_into": e.into_stream_id}


@_on(ev.PossibleRepeatFlagged)
def _possible_repeat(state: NeedState, e: ev.PossibleRepeatFlagged) -> Update:
    return {"possible_repeat_of": e.of_stream_id}


@_on(ev.PossibleRepeatResolved)
def _repeat_resolved(state: NeedState, e: ev.PossibleRepeatResolved) -> Update:
    return {"possible_repeat_of": None}


@_on(ev.ClassificationRequested)
def _classification_requested(state: NeedState, e: ev.ClassificationRequested) -> Update:
    return {"stage": Stage.CLASSIFICATION, "awaiting_dispatcher": e.dispatcher_unit} | _clock(
        e.due_at, "", e.warn_at
    )


@_on(ev.DemandClassified)
def _classified(state: NeedState, e: ev.DemandClassified) -> Update:
    return {
        "stage": Stage.CLASSIFICATION,
        "category": e.category,
        "tier": e.tier,
        "urgency": e.urgency,
        "classification_rule": e.rule_id,
        "awaiting_dispatcher": None,
    } | _clock(None, "", {})


@_on(ev.DemandReclassified)
def _reclassified(state: NeedState, e: ev.DemandReclassified) -> Update:
    return {
        "category": e.category,
        "tier": e.tier,
        "urgency": e.urgency,
        "classification_rule": "manual",
    }


@_on(ev.DemandAssigned)
def _assigned(state: NeedState, e: ev.DemandAssigned) -> Update:
    return {
        "stage": Stage.ASSIGNMENT,
        "assigned_unit": e.unit_id,
        "assigned_kind": e.unit_kind,
        "accept_due_at": e.accept_due_at,
        "pending_extension": None,
        "pending_information": None,
        "awaiting_dispatcher": None,
        "awaiting_adjudication": False,
    } | _clock(None, "", {})


@_on(ev.DemandReturned)
def _returned(state: NeedState, e: ev.DemandReturned) -> Update:
    return {
        "stage": Stage.ASSIGNMENT,
        "assigned_unit": None,
        "assigned_kind": None,
        "accept_due_at": None,
        "return_count": e.return_count,
        "returned_by": (*state.returned_by, e.unit_id),
        "pending_extension": None,
        "pending_information": None,
    } | _clock(e.due_at, "", e.warn_at)


@_on(ev.AdjudicationRequested)
def _adjudication_requested(state: NeedState, e: ev.AdjudicationRequested) -> Update:
    return {"awaiting_adjudication": True} | _clock(e.due_at, "", e.warn_at)


@_on(ev.NeedAdjudicated)
def _adjudicated(state: NeedState, e: ev.NeedAdjudicated) -> Update:
    return {"awaiting_adjudication": False, "adjudicated_unit": e.unit_id}


@_on(ev.DemandAccepted)
def _accepted(state: NeedState, e: ev.DemandAccepted) -> Update:
    return {"stage": Stage.HANDLING, "accept_due_at": None} | _clock(
        e.due_at, e.calendar, e.warn_at
    )


@_on(ev.DeadlineWarningIssued)
def _warned(state: NeedState, e: ev.DeadlineWarningIssued) -> Update:
    return {"warnings_issued": state.warnings_issued | {e.threshold_percent}}


@_on(ev.HandlingEscalated)
def _escalated(state: NeedState, e: ev.HandlingEscalated) -> Update:
    return {
        "stage": Stage.HANDLING,
        "assigned_unit": e.to_unit,
        "assigned_kind": e.to_kind,
        "accept_due_at": None,
        "escalation_count": state.escalation_count + 1,
        "pending_extension": None,
        "ratings": {},
        "reviewers": (),
        "no_response": (),
        "evaluation_due_at": None,
        "completed_in_time": None,
    } | _clock(e.due_at, e.calendar, e.warn_at)


@_on(ev.ReminderSent)
def _reminded(state: NeedState, e: ev.ReminderSent) -> Update:
    return {"reminder_count": state.reminder_count + 1}


@_on(ev.SupervisionOrdered)
def _supervised(state: NeedState, e: ev.SupervisionOrdered) -> Update:
    return {
        "supervision_count": e.order_count,
        "pending_supervision": PendingSupervision(unit_id=e.unit_id, reply_due_at=e.reply_due_at),
    }


@_on(ev.SupervisionReplied)
def _supervision_replied(state: NeedState, e: ev.SupervisionReplied) -> Update:
    return {"pending_supervision": None}


@_on(ev.SupervisionReplyMissed)
def _supervision_missed(state: NeedState, e: ev.SupervisionReplyMissed) -> Update:
    pending = state.pending_supervision
    if pending is None:
        return {}
    return {
        "pending_supervision": pending.model_copy(
            update={"missed": True, "escalated_to": e.escalated_to}
        )
    }


@_on(ev.ProgressNoted)
def _progress(state: NeedState, e: ev.ProgressNoted) -> Update:
    return {"progress_count": state.progress_count + 1}


@_on(ev.ExtensionRequested)
def _extension_requested(state: NeedState, e: ev.ExtensionRequested) -> Update:
    return {
        "pending_extension": PendingExtension(
            extra_hours=e.extra_hours, approver_unit=e.approver_unit, decide_by=e.decide_by
        )
    }


@_on(ev.ExtensionDecisionEscalated)
def _extension_decision_escalated(state: NeedState, e: ev.ExtensionDecisionEscalated) -> Update:
    pending = state.pending_extension
    if pending is None:
        return {}
    return {
        "pending_extension": pending.model_copy(
            update={"approver_unit": e.to_unit, "decide_by": e.decide_by}
        )
    }


@_on(ev.ExtensionApproved)
def _extension_approved(state: NeedState, e: ev.ExtensionApproved) -> Update:
    return {"pending_extension": None, "extension_count": state.extension_count + 1} | _clock(
        e.due_at, e.calendar, e.warn_at
    )


@_on(ev.ExtensionRefused)
def _extension_refused(state: NeedState, e: ev.ExtensionRefused) -> Update:
    return {"pending_extension": None}


@_on(ev.HandlingCompleted)
def _completed(state: NeedState, e: ev.HandlingCompleted) -> Update:
    return {"stage": Stage.EVALUATION, "completed_in_time": e.in_time, "pending_extension": None}


@_on(ev.EvaluationRequested)
def _evaluation_requested(state: NeedState, e: ev.EvaluationRequested) -> Update:
    return {
        "reviewers": tuple(e.reviewers),
        "evaluation_due_at": e.due_at,
        "ratings": {},
        "no_response": (),
    }


@_on(ev.EvaluationSubmitted)
def _evaluated(state: NeedState, e: ev.EvaluationSubmitted) -> Update:
    return {"ratings": state.ratings | {e.reviewer_id: e.rating}}


@_on(ev.EvaluationWindowClosed)
def _window_closed(state: NeedState, e: ev.EvaluationWindowClosed) -> Update:
    return {"no_response": tuple(e.missing_reviewers), "evaluation_due_at": None}


@_on(ev.DemandReopened)
def _reopened(state: NeedState, e: ev.DemandReopened) -> Update:
    return {
        "stage": Stage.HANDLING,
        "reopen_count": e.reopen_count,
        "ratings": {},
        "reviewers": (),
        "no_response": (),
        "evaluation_due_at": None,
        "completed_in_time": None,
    } | _clock(e.due_at, e.calendar, e.warn_at)


@_on(ev.DemandClosed)
def _closed(state: NeedState, e: ev.DemandClosed) -> Update:
    return {
        "stage": Stage.CLOSED,
        "outcome": e.outcome,
        "satisfied": e.satisfied,
        "pending_information": None,
        "pending_extension": None,
        "accept_due_at": None,
        "evaluation_due_at": None,
    }


def _assists(state: NeedState, e: ev.DomainEvent) -> Update:
    return {"assists": record(state.assists, e)}


_on(*ev.ASSIST_EVENTS)(_assists)


_missing = set(ev.EVENT_TYPES) - set(EVOLVERS)
assert not _missing, f"evolve lacks recorders for {_missing}"

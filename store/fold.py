"""The projection rules, in one place: how events change a need's summary row and its unit's
monthly counters. Pure code (no I/O): the append path folds the batch it is about to write onto
the need's row as of `expected_version` and sends the result, so PostgreSQL only stores it;
rebuild folds every stream from its first event with the same function.

A row is a dict keyed by the `need_summary` columns. Credits are counter increments keyed by
(unit, month), months being Asia/Shanghai calendar months (the district reports by local month).

Rules, per event type, read from the typed events (`RULES` names every event type of
domain.events, a test holds it complete; `_unchanged` marks the types that only move
`last_version`, and `overdue`):
- Submitted -> stage collection, the descriptive columns (the requester's name, phone and
  address masked); an information request leaves the stage as it is (as the state does: a
  need in handling stays in handling, its clock paused);
- ClassificationRequested -> classification, due when the dispatcher must have acted (if the
  policy sets `sla.dispatch`); Classified -> classification, no due time (the dispatcher's
  deadline is met); Reclassified changes the category only;
- Assigned -> assignment, task `accept` due at the acceptance deadline; credit `assigned`;
- AdjudicationRequested -> due when a supervisor must have ruled (the need has no owner);
- Returned -> back to dispatch (no assignee, no task, due when a dispatcher must have given
  it an owner); credit `returns` to the returning unit;
- Accepted -> handling, task `handle`; credit `accepted`, and `accepted_in_time` unless an
  acceptance deadline was set and passed;
- every event -> `overdue` by domain.deadlines.overdue_after, the rule the need's state
  applies (a breached deadline, escalated or recorded at the top of the ladder, until the
  need is accepted anew, completed or closed);
- HandlingEscalated -> handling (task `handle`) by the unit above, with its deadline; a
  breach (`deadline_breached`, `acceptance_timeout`) credits `overdue` to the unit that
  breached (a breach recorded at the top of the ladder, DeadlineWarningIssued at 100 %,
  marks the need overdue but credits no counter: `overdue` counts needs escalated away on a
  breach, the share of needs leaving a unit's hands that revision 0010's rates divide);
- ExtensionApproved and HandlingClockResumed (the information arrived; the deadline moved by
  the working time spent waiting) -> the new deadline; HandlingCompleted -> evaluation (a
  need completed by a project before it was accepted keeps no due time), credit
  `completed` (+ `completed_in_time`);
- EvaluationSubmitted / EvaluationWindowClosed / Reopened credit the need's assigned unit
  (`satisfied` counts satisfied and basically satisfied; no response is never satisfied);
- Reopened -> handling, task `handle`, due at the reopening's deadline (none in events
  written before reopenings carried one);
- Closed / Merged -> closed, no task; ReportUnlinked takes one from `linked_reports`;
- ReminderSent (催办) -> `reminders` + 1 and `reminded_at` (the inbox flag, cleared when the
  need changes hands or is completed, closed or merged); credit `reminded` to the holder;
- SupervisionOrdered (督办) -> `supervisions` + 1, the open order's unit and reply deadline;
  credit `supervised` to that unit; the order's unit follows the need when it changes hands
  (domain.deadlines.supervision_answerer, after every event); SupervisionReplied clears the
  open order; SupervisionReplyMissed credits `supervision_missed` to the unit that had to
  reply (revision 0012
  moved older rows and months to this rule).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from domain import events as ev
from domain.deadlines import BREACHES, overdue_after, supervision_answerer
from domain.events import EventEnvelope
from domain.model import Rating, mask_phone, mask_text
from store.columns import STAT_COUNTERS, SUMMARY_COLUMNS

REPORTING_ZONE = ZoneInfo("Asia/Shanghai")

Row = dict[str, Any]
Credits = dict[tuple[str, date], dict[str, int]]


def empty_row(stream_id: str) -> Row:
    """A need's row before its first event."""
    row: Row = dict.fromkeys(SUMMARY_COLUMNS)
    row.update(
        stream_id=stream_id,
        stage="collection",
        overdue=False,
        escalations=0,
        returns=0,
        reopenings=0,
        extensions=0,
        linked_reports=0,
        reminders=0,
        supervisions=0,
    )
    return row


def fold(
    prior: Row | None,
    stream_id: str,
    events: Iterable[EventEnvelope],
    typed: Sequence[ev.DomainEvent] | None = None,
) -> tuple[Row, Credits]:
    """The row after `events` (a copy; `prior` is not changed) and the credits they earn.

    Each rule reads the typed event (`EventEnvelope.event()`, the shape `evolve` reads);
    `typed`, when the caller validated the batch already (the append path), saves parsing
    it twice."""
    row = dict(prior) if prior is not None else empty_row(stream_id)
    credits: Credits = {}
    envelopes = list(events)
    readings = typed if typed is not None else [envelope.event() for envelope in envelopes]
    for envelope, event in zip(envelopes, readings, strict=True):
        RULES[event.type](_Step(row, credits, envelope.occurred_at), event)
        row["overdue"] = overdue_after(
            row["overdue"],
            event.type,
            cause=event.cause if isinstance(event, ev.HandlingEscalated) else None,
            threshold=event.threshold_percent
            if isinstance(event, ev.DeadlineWarningIssued)
            else None,
        )
        row["supervision_unit"] = supervision_answerer(
            row["supervision_unit"], row["assigned_unit"]
        )
        row["last_version"] = envelope.version
    return row, {key: counts for key, counts in credits.items() if any(counts.values())}


def month_of(moment: datetime) -> date:
    """First day of the reporting month of `moment` (naive times are UTC)."""
    return _utc(moment).astimezone(REPORTING_ZONE).date().replace(day=1)


def add_credits(total: Credits, more: Credits) -> None:
    for key, counts in more.items():
        into = total.setdefault(key, dict.fromkeys(STAT_COUNTERS, 0))
        for counter, n in counts.items():
            into[counter] += n


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _time(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


class _Step:
    """One event applied to the row: the rule functions below read the typed event and `at`,
    change `row` and call `credit`."""

    __slots__ = ("at", "credits", "row")

    def __init__(self, row: Row, credits: Credits, occurred_at: datetime) -> None:
        self.row, self.credits, self.at = row, credits, _utc(occurred_at)

    def credit(self, unit: str | None, counter: str, n: int = 1) -> None:
        """Counters of an unknown unit (an evaluation before any assignment) are dropped."""
        if unit is None:
            return
        key = (unit, month_of(self.at))
        counts = self.credits.get(key)
        if counts is None:
            counts = self.credits[key] = dict.fromkeys(STAT_COUNTERS, 0)
        counts[counter] += n


RULES: dict[str, Callable[..., None]] = {}
"""Event type -> its rule: every type of domain.events has one (tests/unit/test_store_fold.py)."""
_on = ev.registrar(RULES)


@_on(ev.DemandSubmitted)
def _submitted(s: _Step, e: ev.DemandSubmitted) -> None:
    requester, place = e.requester, e.location
    s.row.update(
        stage="collection",
        channel=e.channel.value,
        external_id=e.external_id,
        title=e.title,
        submitted_at=s.at,
        requester_id=requester.requester_id,
        requester_kind=requester.kind.value,
        requester_name=mask_text(requester.name),
        requester_phone=mask_phone(requester.phone),
        organisation=requester.organisation,
        street=place.street,
        community=place.community,
        grid=place.grid,
        building=place.building,
        address=mask_text(place.address),
    )


@_on(ev.InformationProvided)
def _informed(s: _Step, e: ev.InformationProvided) -> None:
    """An answer that gives the need's place (a report asked where) moves its row there, as
    it moves the need's state (domain/transitions.py): community, grid, building."""
    s.row.update(e.place())


@_on(ev.ReportLinked)
def _linked(s: _Step, e: ev.ReportLinked) -> None:
    s.row["linked_reports"] += 1


@_on(ev.ReportUnlinked)
def _unlinked(s: _Step, e: ev.ReportUnlinked) -> None:
    s.row["linked_reports"] = max(0, s.row["linked_reports"] - 1)


@_on(ev.DemandMerged)
def _merged(s: _Step, e: ev.DemandMerged) -> None:
    s.row.update(stage="closed", closed_at=s.at, outcome="merged", task=None, reminded_at=None)


@_on(ev.DemandClassified)
def _classified(s: _Step, e: ev.DemandClassified) -> None:
    s.row.update(
        stage="classification",
        due_at=None,
        category=e.category.value,
        tier=e.tier.value,
        urgency=e.urgency.value,
    )


@_on(ev.DemandReclassified)
def _reclassified(s: _Step, e: ev.DemandReclassified) -> None:
    s.row.update(category=e.category.value, tier=e.tier.value, urgency=e.urgency.value)


@_on(ev.DemandAssigned)
def _assigned(s: _Step, e: ev.DemandAssigned) -> None:
    s.row.update(
        stage="assignment",
        assigned_unit=e.unit_id,
        unit_kind=e.unit_kind.value,
        task="accept",
        due_at=_time(e.accept_due_at),
        reminded_at=None,
    )
    s.credit(e.unit_id, "assigned")


@_on(ev.DemandReturned)
def _returned(s: _Step, e: ev.DemandReturned) -> None:
    s.row["returns"] += 1
    s.credit(e.unit_id, "returns")
    s.row.update(
        stage="assignment",
        assigned_unit=None,
        unit_kind=None,
        task=None,
        due_at=_time(e.due_at),
        reminded_at=None,
    )


@_on(ev.AdjudicationRequested)
def _adjudication_requested(s: _Step, e: ev.AdjudicationRequested) -> None:
    s.row["due_at"] = _time(e.due_at)


@_on(ev.ClassificationRequested)
def _classification_requested(s: _Step, e: ev.ClassificationRequested) -> None:
    s.row.update(stage="classification", due_at=_time(e.due_at))


@_on(ev.DemandAccepted)
def _accepted(s: _Step, e: ev.DemandAccepted) -> None:
    row = s.row
    s.credit(e.unit_id, "accepted")
    if row["task"] != "accept" or row["due_at"] is None or s.at <= row["due_at"]:
        s.credit(e.unit_id, "accepted_in_time")
    row.update(
        stage="handling",
        assigned_unit=e.unit_id,
        task="handle",
        due_at=_time(e.due_at),
        accepted_at=s.at,
    )


@_on(ev.HandlingEscalated)
def _escalated(s: _Step, e: ev.HandlingEscalated) -> None:
    row = s.row
    row["escalations"] += 1
    if e.cause in BREACHES:
        s.credit(e.from_unit, "overdue")
    row.update(
        assigned_unit=e.to_unit,
        unit_kind=e.to_kind.value,
        due_at=_time(e.due_at),
        reminded_at=None,
    )
    if row["stage"] != "closed":  # the unit above handles it at once, accepted or not
        row.update(stage="handling", task="handle")


@_on(ev.ExtensionApproved)
def _extended(s: _Step, e: ev.ExtensionApproved) -> None:
    s.row["extensions"] += 1
    s.row["due_at"] = _time(e.due_at)


@_on(ev.HandlingClockResumed)
def _clock_resumed(s: _Step, e: ev.HandlingClockResumed) -> None:
    s.row["due_at"] = _time(e.due_at)


@_on(ev.HandlingCompleted)
def _completed(s: _Step, e: ev.HandlingCompleted) -> None:
    if s.row["task"] == "accept":  # completed by a project before anyone accepted it
        s.row["due_at"] = None  # (the acceptance deadline ends with the task)
    s.row.update(stage="evaluation", task=None, completed_at=s.at, reminded_at=None)
    s.credit(e.unit_id, "completed")
    if e.in_time:
        s.credit(e.unit_id, "completed_in_time")


@_on(ev.EvaluationSubmitted)
def _evaluated(s: _Step, e: ev.EvaluationSubmitted) -> None:
    unit = s.row["assigned_unit"]
    s.credit(unit, "evaluations")
    s.credit(unit, "unsatisfied" if e.rating == Rating.UNSATISFIED else "satisfied")


@_on(ev.EvaluationWindowClosed)
def _window_closed(s: _Step, e: ev.EvaluationWindowClosed) -> None:
    missing = len(e.missing_reviewers)
    s.credit(s.row["assigned_unit"], "evaluations", missing)
    s.credit(s.row["assigned_unit"], "no_response", missing)


@_on(ev.DemandReopened)
def _reopened(s: _Step, e: ev.DemandReopened) -> None:
    s.row["reopenings"] += 1
    s.row.update(stage="handling", task="handle", due_at=_time(e.due_at))
    s.credit(s.row["assigned_unit"], "reopened")


@_on(ev.DemandClosed)
def _closed(s: _Step, e: ev.DemandClosed) -> None:
    s.row.update(
        stage="closed",
        closed_at=s.at,
        outcome=e.outcome.value,
        satisfied=e.satisfied,
        task=None,
        reminded_at=None,
    )


@_on(ev.ReminderSent)
def _reminded(s: _Step, e: ev.ReminderSent) -> None:
    s.row["reminders"] += 1
    s.row["reminded_at"] = s.at
    s.credit(s.row["assigned_unit"], "reminded")


@_on(ev.SupervisionOrdered)
def _supervised(s: _Step, e: ev.SupervisionOrdered) -> None:
    s.row["supervisions"] += 1
    s.row.update(supervision_unit=e.unit_id, supervision_due_at=_time(e.reply_due_at))
    s.credit(e.unit_id, "supervised")


@_on(ev.SupervisionReplied)
def _supervision_replied(s: _Step, e: ev.SupervisionReplied) -> None:
    s.row.update(supervision_unit=None, supervision_due_at=None)


@_on(ev.SupervisionReplyMissed)
def _supervision_missed(s: _Step, e: ev.SupervisionReplyMissed) -> None:
    s.credit(s.row["supervision_unit"], "supervision_missed")


@_on(
    # the need's row does not show these (their own tables and the timeline do)
    ev.InformationRequested,
    ev.InformationRequestExpired,
    ev.PossibleRepeatFlagged,
    ev.PossibleRepeatResolved,
    ev.DemandSplit,
    ev.NeedAdjudicated,
    ev.DeadlineWarningIssued,
    ev.ProgressNoted,
    ev.ExtensionRequested,
    ev.ExtensionDecisionEscalated,
    ev.ExtensionRefused,
    *ev.ASSIST_EVENTS,
    ev.EvaluationRequested,
)
def _unchanged(s: _Step, e: ev.DomainEvent) -> None:
    """The event changes no column but `last_version` (and `overdue`, by its one rule)."""

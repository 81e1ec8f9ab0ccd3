"""The projection rules, in one place: how events change a need's summary row and its unit's
monthly counters. Pure code (no I/O): the append path folds the batch it is about to write onto
the need's row as of `expected_version` and sends the result, so PostgreSQL only stores it;
rebuild folds every stream from its first event with the same function.

A row is a dict keyed by the `need_summary` columns. Credits are counter increments keyed by
(unit, month), months being Asia/Shanghai calendar months (the district reports by local month).

Rules, per event type (`RULES` names every event type of domain.events, a test holds it
complete; `_unchanged` marks the types that only move `last_version`, and `overdue`):
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

from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from domain.deadlines import BREACHES, overdue_after, supervision_answerer
from domain.events import EventEnvelope
from domain.model import mask_phone, mask_text
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


def fold(prior: Row | None, stream_id: str, events: Iterable[EventEnvelope]) -> tuple[Row, Credits]:
    """The row after `events` (a copy; `prior` is not changed) and the credits they earn."""
    row = dict(prior) if prior is not None else empty_row(stream_id)
    credits: Credits = {}
    for envelope in events:
        RULES[envelope.type](_Step(row, credits, envelope))
        p = envelope.payload
        row["overdue"] = overdue_after(
            row["overdue"], envelope.type, p.get("cause"), p.get("threshold_percent")
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


def _time(value: str | None) -> datetime | None:
    return None if value is None else _utc(datetime.fromisoformat(value))


class _Step:
    """One event applied to the row: the rule functions below read `p` and `at`, change `row`
    and call `credit`."""

    __slots__ = ("at", "credits", "p", "row")

    def __init__(self, row: Row, credits: Credits, envelope: EventEnvelope) -> None:
        self.row, self.credits = row, credits
        self.p, self.at = envelope.payload, _utc(envelope.occurred_at)

    def credit(self, unit: str | None, counter: str, n: int = 1) -> None:
        """Counters of an unknown unit (an evaluation before any assignment) are dropped."""
        if unit is None:
            return
        key = (unit, month_of(self.at))
        counts = self.credits.get(key)
        if counts is None:
            counts = self.credits[key] = dict.fromkeys(STAT_COUNTERS, 0)
        counts[counter] += n


def _submitted(s: _Step) -> None:
    p, requester, place = s.p, s.p.get("requester") or {}, s.p.get("location") or {}
    s.row.update(
        stage="collection",
        channel=p.get("channel"),
        external_id=p.get("external_id"),
        title=p.get("title"),
        submitted_at=s.at,
        requester_id=requester.get("requester_id"),
        requester_kind=requester.get("kind"),
        requester_name=mask_text(requester.get("name")),
        requester_phone=mask_phone(requester.get("phone")),
        organisation=requester.get("organisation"),
        street=place.get("street"),
        community=place.get("community"),
        grid=place.get("grid"),
        building=place.get("building"),
        address=mask_text(place.get("address")),
    )


def _stage(stage: str) -> Callable[[_Step], None]:
    def rule(s: _Step) -> None:
        s.row["stage"] = stage

    return rule


def _linked(s: _Step) -> None:
    s.row["linked_reports"] += 1


def _unlinked(s: _Step) -> None:
    s.row["linked_reports"] = max(0, s.row["linked_reports"] - 1)


def _merged(s: _Step) -> None:
    s.row.update(stage="closed", closed_at=s.at, outcome="merged", task=None, reminded_at=None)


def _classified(s: _Step) -> None:
    s.row.update(stage="classification", due_at=None)
    _reclassified(s)


def _reclassified(s: _Step) -> None:
    s.row.update(category=s.p.get("category"), tier=s.p.get("tier"), urgency=s.p.get("urgency"))


def _assigned(s: _Step) -> None:
    s.row.update(
        stage="assignment",
        assigned_unit=s.p.get("unit_id"),
        unit_kind=s.p.get("unit_kind"),
        task="accept",
        due_at=_time(s.p.get("accept_due_at")),
        reminded_at=None,
    )
    s.credit(s.row["assigned_unit"], "assigned")


def _returned(s: _Step) -> None:
    s.row["returns"] += 1
    s.credit(s.p.get("unit_id"), "returns")
    s.row.update(
        stage="assignment",
        assigned_unit=None,
        unit_kind=None,
        task=None,
        due_at=_time(s.p.get("due_at")),
        reminded_at=None,
    )


def _adjudication_requested(s: _Step) -> None:
    s.row["due_at"] = _time(s.p.get("due_at"))


def _classification_requested(s: _Step) -> None:
    s.row.update(stage="classification", due_at=_time(s.p.get("due_at")))


def _accepted(s: _Step) -> None:
    row = s.row
    unit = s.p.get("unit_id")
    s.credit(unit, "accepted")
    if row["task"] != "accept" or row["due_at"] is None or s.at <= row["due_at"]:
        s.credit(unit, "accepted_in_time")
    row.update(
        stage="handling",
        assigned_unit=unit,
        task="handle",
        due_at=_time(s.p.get("due_at")),
        accepted_at=s.at,
    )


def _escalated(s: _Step) -> None:
    row = s.row
    row["escalations"] += 1
    if s.p.get("cause") in BREACHES:
        s.credit(s.p.get("from_unit"), "overdue")
    row.update(
        assigned_unit=s.p.get("to_unit"),
        unit_kind=s.p.get("to_kind"),
        due_at=_time(s.p.get("due_at")),
        reminded_at=None,
    )
    if row["stage"] != "closed":  # the unit above handles it at once, accepted or not
        row.update(stage="handling", task="handle")


def _extended(s: _Step) -> None:
    s.row["extensions"] += 1
    _deadline_moved(s)


def _deadline_moved(s: _Step) -> None:
    s.row["due_at"] = _time(s.p.get("due_at"))


def _completed(s: _Step) -> None:
    if s.row["task"] == "accept":  # completed by a project before anyone accepted it
        s.row["due_at"] = None  # (the acceptance deadline ends with the task)
    s.row.update(stage="evaluation", task=None, completed_at=s.at, reminded_at=None)
    unit = s.p.get("unit_id")
    s.credit(unit, "completed")
    if s.p.get("in_time") is True:
        s.credit(unit, "completed_in_time")


def _evaluated(s: _Step) -> None:
    unit = s.row["assigned_unit"]
    s.credit(unit, "evaluations")
    s.credit(unit, "unsatisfied" if s.p.get("rating") == "unsatisfied" else "satisfied")


def _window_closed(s: _Step) -> None:
    missing = len(s.p.get("missing_reviewers") or ())
    s.credit(s.row["assigned_unit"], "evaluations", missing)
    s.credit(s.row["assigned_unit"], "no_response", missing)


def _reopened(s: _Step) -> None:
    s.row["reopenings"] += 1
    s.row.update(stage="handling", task="handle", due_at=_time(s.p.get("due_at")))
    s.credit(s.row["assigned_unit"], "reopened")


def _closed(s: _Step) -> None:
    s.row.update(
        stage="closed",
        closed_at=s.at,
        outcome=s.p.get("outcome"),
        satisfied=s.p.get("satisfied"),
        task=None,
        reminded_at=None,
    )


def _reminded(s: _Step) -> None:
    s.row["reminders"] += 1
    s.row["reminded_at"] = s.at
    s.credit(s.row["assigned_unit"], "reminded")


def _supervised(s: _Step) -> None:
    unit = s.p.get("unit_id")
    s.row["supervisions"] += 1
    s.row.update(supervision_unit=unit, supervision_due_at=_time(s.p.get("reply_due_at")))
    s.credit(unit, "supervised")


def _supervision_replied(s: _Step) -> None:
    s.row.update(supervision_unit=None, supervision_due_at=None)


def _supervision_missed(s: _Step) -> None:
    s.credit(s.row["supervision_unit"], "supervision_missed")


def _unchanged(s: _Step) -> None:
    """The event changes no column but `last_version` (and `overdue`, by its one rule)."""


RULES: dict[str, Callable[[_Step], None]] = {
    "DemandSubmitted": _submitted,
    "ReportLinked": _linked,
    "ReportUnlinked": _unlinked,
    "DemandMerged": _merged,
    "ClassificationRequested": _classification_requested,
    "AdjudicationRequested": _adjudication_requested,
    "DemandClassified": _classified,
    "DemandReclassified": _reclassified,
    "DemandAssigned": _assigned,
    "DemandReturned": _returned,
    "DemandAccepted": _accepted,
    "HandlingEscalated": _escalated,
    "ExtensionApproved": _extended,
    "HandlingCompleted": _completed,
    "EvaluationSubmitted": _evaluated,
    "EvaluationWindowClosed": _window_closed,
    "DemandReopened": _reopened,
    "DemandClosed": _closed,
    "ReminderSent": _reminded,
    "SupervisionOrdered": _supervised,
    "SupervisionReplied": _supervision_replied,
    "SupervisionReplyMissed": _supervision_missed,
    "HandlingClockResumed": _deadline_moved,
    # the need's row does not show these (their own tables and the timeline do)
    "InformationRequested": _unchanged,
    "InformationProvided": _unchanged,
    "InformationRequestExpired": _unchanged,
    "PossibleRepeatFlagged": _unchanged,
    "PossibleRepeatResolved": _unchanged,
    "DemandSplit": _unchanged,
    "NeedAdjudicated": _unchanged,
    "DeadlineWarningIssued": _unchanged,
    "ProgressNoted": _unchanged,
    "ExtensionRequested": _unchanged,
    "ExtensionDecisionEscalated": _unchanged,
    "ExtensionRefused": _unchanged,
    "AssistRequested": _unchanged,
    "AssistAccepted": _unchanged,
    "AssistReported": _unchanged,
    "AssistDeclined": _unchanged,
    "AssistReleased": _unchanged,
    "AssistWarningIssued": _unchanged,
    "AssistEscalated": _unchanged,
    "EvaluationRequested": _unchanged,
}

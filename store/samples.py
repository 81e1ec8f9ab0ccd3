"""Realistic event sequences for tests and the benchmark (no personal data of real people).

Each scenario is a list of domain events in the order a need could produce them; `envelopes`
wraps them with deterministic ids (`<stream>:<version>`), the way the workflow does.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import TypedDict

from domain import events as ev
from domain.events import DomainEvent, EventEnvelope
from domain.model import (
    Actor,
    Category,
    Channel,
    Location,
    Outcome,
    Rating,
    Requester,
    RequesterKind,
    Role,
    ServiceMode,
    Tier,
    UnitKind,
    Urgency,
)


class Rule(TypedDict):
    """The rule fields of a RuleApplied event (`**RULE`)."""

    rule_id: str
    policy_version: str


T0 = datetime(2026, 3, 31, 13, 30, tzinfo=UTC)  # v2 is 23:30 March 31 in Shanghai, v3 April
RULE: Rule = {"rule_id": "r1", "policy_version": "p1"}
STAFF = Actor(id="staff-1", role=Role.STAFF, unit="grid-7")


def new_stream_id(channel: str = "app") -> str:
    return f"need-{channel}-{secrets.token_hex(8)}"


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def submitted(n: int = 0) -> ev.DemandSubmitted:
    return ev.DemandSubmitted(
        channel=Channel.APP,
        external_id=f"ext-{n}",
        policy_version="p1",
        title="Broken street light",
        requester=Requester(
            requester_id=f"r-{n}", kind=RequesterKind.RESIDENT, name="张三丰", phone="13812345678"
        ),
        location=Location(street="S1", community="C1", grid="G1", address="1 Example Road"),
    )


def happy_path(unit: str = "grid-7") -> list[DomainEvent]:
    return [
        submitted(),
        ev.DemandClassified(
            category=Category.DAILY_LIFE,
            tier=Tier.GRID,
            urgency=Urgency.NORMAL,
            confidence=0.9,
            **RULE,
        ),
        ev.DemandAssigned(
            unit_id=unit, unit_kind=UnitKind.GRID, accept_due_at=at(4), reason="routing", **RULE
        ),
        ev.DemandAccepted(unit_id=unit, due_at=at(48), calendar="cn", **RULE),
        ev.ProgressNoted(note="on site tomorrow"),
        ev.HandlingCompleted(
            unit_id=unit, result_summary="fixed", service_mode=ServiceMode.ON_SITE, in_time=True
        ),
        ev.EvaluationRequested(
            reviewers=[ev.Reviewer(reviewer_id="r-0", role="requester")], due_at=at(120), **RULE
        ),
        ev.EvaluationSubmitted(reviewer_id="r-0", rating=Rating.BASICALLY_SATISFIED),
        ev.DemandClosed(outcome=Outcome.RESOLVED, satisfied=True),
    ]


def rough_path() -> list[DomainEvent]:
    """Manual classification, a return, two escalations, an extension, a reopening."""
    return [
        submitted(1),
        ev.ClassificationRequested(dispatcher_unit="community-3", reason="no_rule"),
        ev.DemandClassified(
            category=Category.CARE,
            tier=Tier.COMMUNITY,
            urgency=Urgency.URGENT,
            confidence=1.0,
            manual=True,
            rule_id="manual",
            policy_version="p1",
        ),
        ev.DemandAssigned(
            unit_id="community-3",
            unit_kind=UnitKind.COMMUNITY,
            accept_due_at=at(2),
            reason="routing",
            **RULE,
        ),
        ev.DemandReturned(unit_id="community-3", reason="not ours", return_count=1),
        ev.DemandAssigned(
            unit_id="street-1",
            unit_kind=UnitKind.STREET,
            accept_due_at=at(6),
            reason="reassigned",
            **RULE,
        ),
        ev.HandlingEscalated(
            from_unit="street-1",
            to_unit="dept-9",
            to_kind=UnitKind.DEPARTMENT,
            cause="acceptance_timeout",
            due_at=at(10),
            **RULE,
        ),
        ev.DemandAccepted(unit_id="dept-9", due_at=at(30), calendar="cn", **RULE),
        ev.ExtensionRequested(extra_hours=8, reason="parts", approver_unit="street-1"),
        ev.ExtensionApproved(due_at=at(38), calendar="cn"),
        ev.HandlingEscalated(
            from_unit="dept-9",
            to_unit="street-1",
            to_kind=UnitKind.STREET,
            cause="deadline_breached",
            due_at=at(60),
            **RULE,
        ),
        ev.HandlingCompleted(
            unit_id="street-1", result_summary="done", service_mode=ServiceMode.PROXY, in_time=False
        ),
        ev.EvaluationSubmitted(reviewer_id="r-1", rating=Rating.UNSATISFIED),
        ev.DemandReopened(reason="still broken", reopen_count=1),
        ev.HandlingCompleted(
            unit_id="street-1",
            result_summary="done again",
            service_mode=ServiceMode.ON_SITE,
            in_time=True,
        ),
        ev.EvaluationWindowClosed(missing_reviewers=["r-1", "committee"]),
        ev.DemandClosed(outcome=Outcome.NO_RESPONSE),
    ]


def urged_path() -> list[DomainEvent]:
    """催办 and 督办: a reminder to each holder, an order whose reply came late after it went
    up a rung, and a second order still open at the end."""
    return [
        submitted(3),
        ev.DemandClassified(
            category=Category.DAILY_LIFE,
            tier=Tier.GRID,
            urgency=Urgency.NORMAL,
            confidence=0.9,
            **RULE,
        ),
        ev.DemandAssigned(
            unit_id="grid-7", unit_kind=UnitKind.GRID, accept_due_at=at(6), reason="routing", **RULE
        ),
        ev.ReminderSent(note="please hurry"),
        ev.DemandAccepted(unit_id="grid-7", due_at=at(30), calendar="cn", **RULE),
        ev.SupervisionOrdered(
            note="report by tonight", unit_id="grid-7", reply_due_at=at(6.5), order_count=1
        ),
        ev.SupervisionReplyMissed(reply_due_at=at(6.5), escalated_to="community-3"),
        ev.SupervisionReplied(reply="parts ordered", in_time=False),
        ev.HandlingEscalated(
            from_unit="grid-7",
            to_unit="community-3",
            to_kind=UnitKind.COMMUNITY,
            cause="deadline_breached",
            due_at=at(40),
            **RULE,
        ),
        ev.ReminderSent(),
        ev.SupervisionOrdered(
            note="and now?", unit_id="community-3", reply_due_at=at(30), order_count=2
        ),
    ]


def breached_at_top_path() -> list[DomainEvent]:
    """A breach at the top of the ladder (recorded as the 100 % mark): overdue while open."""
    return [
        submitted(4),
        ev.DemandClassified(
            category=Category.DAILY_LIFE,
            tier=Tier.STREET,
            urgency=Urgency.NORMAL,
            confidence=0.9,
            **RULE,
        ),
        ev.DemandAssigned(
            unit_id="street-1",
            unit_kind=UnitKind.STREET,
            accept_due_at=at(6),
            reason="routing",
            **RULE,
        ),
        ev.DemandAccepted(unit_id="street-1", due_at=at(5), calendar="cn", **RULE),
        ev.DeadlineWarningIssued(threshold_percent=100, due_at=at(5)),
        ev.ProgressNoted(note="still waiting for parts"),
    ]


def closed_after_breach_path() -> list[DomainEvent]:
    """Escalated on a breach, then closed without completion: no longer overdue."""
    return [
        *happy_path()[:4],
        ev.HandlingEscalated(
            from_unit="grid-7",
            to_unit="community-3",
            to_kind=UnitKind.COMMUNITY,
            cause="deadline_breached",
            due_at=at(40),
            **RULE,
        ),
        ev.DemandClosed(outcome=Outcome.INCOMPLETE),
    ]


def information_in_handling_path() -> list[DomainEvent]:
    """An information request while the need is being handled: its stage stays handling."""
    return [
        *happy_path()[:4],
        ev.InformationRequested(
            missing_fields=["photo"], ask="requester", due_at=at(30), paused_at=at(5), **RULE
        ),
        ev.InformationProvided(fields={"photo": "p.jpg"}),
    ]


def resumed_in_handling_path() -> list[DomainEvent]:
    """An information request while handling, answered: the clock runs again and the
    deadline moves by the working time spent waiting."""
    return [
        *information_in_handling_path(),
        ev.HandlingClockResumed(paused_at=at(5), due_at=at(52), calendar="cn"),
    ]


def reopened_with_deadline_path() -> list[DomainEvent]:
    """Completed, found unsatisfactory and reopened with a deadline of its own."""
    return [
        *happy_path()[:7],
        ev.EvaluationSubmitted(reviewer_id="r-0", rating=Rating.UNSATISFIED),
        ev.DemandReopened(reason="still dark", reopen_count=1, due_at=at(90), calendar="cn"),
    ]


def completed_by_project_path() -> list[DomainEvent]:
    """Assigned, never accepted, completed by a co-building project: no due time is left."""
    return [
        *happy_path()[:3],
        ev.HandlingCompleted(
            unit_id="grid-7",
            result_summary="the project fixed it",
            service_mode=ServiceMode.ON_SITE,
            in_time=True,
            project_id="prj-1",
        ),
        happy_path()[6],
    ]


def supervised_across_hands_path() -> list[DomainEvent]:
    """督办 before acceptance; the acceptance deadline passes and the need goes up a rung;
    the new holder misses the reply: the order and the miss are the new holder's."""
    return [
        *happy_path()[:3],
        ev.SupervisionOrdered(
            note="why not accepted?", unit_id="grid-7", reply_due_at=at(8), order_count=1
        ),
        ev.HandlingEscalated(
            from_unit="grid-7",
            to_unit="community-3",
            to_kind=UnitKind.COMMUNITY,
            cause="acceptance_timeout",
            due_at=at(40),
            **RULE,
        ),
        ev.SupervisionReplyMissed(reply_due_at=at(8), escalated_to="street-1"),
    ]


def merged_path() -> list[DomainEvent]:
    return [
        submitted(2),
        ev.InformationRequested(
            missing_fields=["building"], ask="requester", due_at=at(24), **RULE
        ),
        ev.InformationProvided(fields={"building": "B2"}),
        ev.ReportLinked(
            linked_stream_id=new_stream_id(),
            channel=Channel.HOTLINE,
            requester=Requester(requester_id="r-9", kind=RequesterKind.RESIDENT),
        ),
        ev.DemandMerged(into_stream_id=new_stream_id(), **RULE),
    ]


def open_path(accepted: bool, unit: str = "grid-7", hours: float = 0) -> list[DomainEvent]:
    """A need still in `unit`'s inbox: waiting to be accepted, or being handled."""
    events = happy_path(unit)[: 4 if accepted else 3]
    if accepted:
        events[3] = ev.DemandAccepted(unit_id=unit, due_at=at(48 + hours), calendar="cn", **RULE)
    else:
        events[2] = ev.DemandAssigned(
            unit_id=unit,
            unit_kind=UnitKind.GRID,
            accept_due_at=at(4 + hours),
            reason="routing",
            **RULE,
        )
    return events


def envelopes(
    stream_id: str,
    events: list[DomainEvent],
    first_version: int = 1,
    actor: Actor = STAFF,
) -> list[EventEnvelope]:
    """Wrap events as the workflow does: ids `<stream>:<version>`, one hour apart."""
    return [
        EventEnvelope.wrap(
            e,
            event_id=f"{stream_id}:{v}",
            stream_id=stream_id,
            version=v,
            actor=actor,
            occurred_at=at(v),
        )
        for v, e in enumerate(events, start=first_version)
    ]

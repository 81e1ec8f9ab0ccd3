"""Shared helpers for the domain unit tests: the demo policy, actors, a clock and a story
driver that runs commands through `decide` and folds the events, as the workflow does."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from domain.commands import Command, Submission, Submit
from domain.context import DecisionContext
from domain.decider import decide
from domain.events import DomainEvent
from domain.model import Actor, Channel, Location, Requester, RequesterKind, Role, Stage
from domain.policy import Policy, load_policy
from domain.state import NeedState, fold

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
POLICY = load_policy((DEPLOY / "policy.yaml").read_bytes())
FAST_POLICY = load_policy((DEPLOY / "policy-fast.yaml").read_bytes())
CST = timezone(timedelta(hours=8))
MONDAY_10AM = datetime(2026, 6, 1, 10, 0, tzinfo=CST)

SYSTEM = Actor(id="system", role=Role.SYSTEM)
DISPATCHER = Actor(id="disp-1", role=Role.DISPATCHER, unit="community-dongting")
SUPERVISOR = Actor(id="sup-1", role=Role.SUPERVISOR, unit="supervision-district")
RESIDENT = Actor(id="res-1", role=Role.REQUESTER)


def staff(unit: str) -> Actor:
    return Actor(id=f"staff-{unit}", role=Role.STAFF, unit=unit)


def ctx(
    actor: Actor = SYSTEM, now: datetime = MONDAY_10AM, policy: Policy = POLICY
) -> DecisionContext:
    return DecisionContext(now=now, actor=actor, policy=policy)


DONGTING_GRID_1 = Location(
    street="street-hanzheng",
    community="community-dongting",
    grid="grid-dongting-1",
    building="b7",
    address="洞庭街 7 号 2 单元",
)


def submission(
    title: str,
    *,
    description: str = "",
    requester_id: str = "res-1",
    kind: RequesterKind = RequesterKind.RESIDENT,
    channel: Channel = Channel.APP,
    location: Location = DONGTING_GRID_1,
    details: dict[str, str] | None = None,
    external_id: str | None = None,
    **extra: object,
) -> Submission:
    return Submission(
        channel=channel,
        external_id=external_id or f"ext-{requester_id}-{title[:8]}",
        requester=Requester(requester_id=requester_id, kind=kind, name="张三", phone="13812345678"),
        location=location,
        title=title,
        description=description,
        details=details or {},
        **extra,
    )


def types(events: list[DomainEvent]) -> list[str]:
    return [e.type for e in events]


class Story:
    """Runs commands against one need like the workflow: decide, then fold."""

    def __init__(self, policy: Policy = POLICY, now: datetime = MONDAY_10AM) -> None:
        self.policy = policy
        self.now = now
        self.history: list[DomainEvent] = []
        self.moments: list[tuple[datetime, Actor]] = []  # when and by whom, per event
        self.state = NeedState()

    def at(self, now: datetime) -> Story:
        self.now = now
        return self

    def later(self, **delta: float) -> Story:
        self.now = self.now + timedelta(**delta)
        return self

    def run_submit(self, report: Submission) -> DomainEvent:
        """Submit `report` and return its DemandSubmitted event."""
        return self.run(Submit(submission=report))[0]

    def run(self, command: Command, actor: Actor = SYSTEM) -> list[DomainEvent]:
        events = decide(self.state, command, ctx(actor, self.now, self.policy))
        self.history += events
        self.moments += [(self.now, actor)] * len(events)
        self.state = fold(events, self.state)
        return events

    def submit(self, sub: Submission, actor: Actor = RESIDENT) -> list[DomainEvent]:
        return self.run(Submit(submission=sub), actor)

    def last(self, event_type: str) -> DomainEvent:
        return next(e for e in reversed(self.history) if e.type == event_type)


def summary_of(state: NeedState) -> dict[str, object]:
    """What the summary row must say of a need in `state`: each column as the typed state
    reads it (store.fold derives the row from the same events by their payloads)."""
    task = (
        "accept"
        if state.stage == Stage.ASSIGNMENT and state.assigned_unit
        else "handle"
        if state.stage == Stage.HANDLING
        else None
    )
    pending = state.pending_supervision
    # the due time of the task at hand: acceptance while an owner must accept, else the
    # state's one running deadline (a dispatcher's, the handling one, moved by extensions,
    # a resumed clock and a reopening)
    due = state.accept_due_at if task == "accept" else state.due_at
    return {
        "stage": state.stage.value if state.stage else None,
        "category": state.category.value if state.category else None,
        "tier": state.tier.value if state.tier else None,
        "urgency": state.urgency.value if state.urgency else None,
        "assigned_unit": state.assigned_unit,
        "task": task,
        "due_at": due,
        "overdue": state.overdue,
        "escalations": state.escalation_count,
        "returns": state.return_count,
        "reopenings": state.reopen_count,
        "extensions": state.extension_count,
        "linked_reports": len(state.linked_reports),
        "reminders": state.reminder_count,
        "supervisions": state.supervision_count,
        "supervision_unit": pending.unit_id if pending else None,
        "supervision_due_at": pending.reply_due_at if pending else None,
        "outcome": state.outcome.value if state.outcome else None,
        "satisfied": state.satisfied if state.stage == Stage.CLOSED else None,
    }

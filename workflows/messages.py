"""What goes in and out of a DemandWorkflow: one model per message.

Fields added later must have defaults, so running workflows keep decoding old payloads.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.commands import AnyCommand, Submission
    from domain.events import EventEnvelope
    from domain.model import Actor, Frozen
    from domain.policy import Policy
    from domain.state import DemandState


class Carried(Frozen):
    """What a continued-as-new run takes over from its predecessor."""

    state: DemandState
    version: int
    timeline: list[TimelineEntry]
    seen_submissions: list[str] = Field(default_factory=list)


class DemandStart(Frozen):
    """The workflow's input: the first submission, or the state carried over."""

    submission: Submission
    actor: Actor
    carried: Carried | None = None


class Action(Frozen):
    """A staff, supervisor or reviewer action, sent as the `act` update."""

    actor: Actor
    command: AnyCommand


class ActionResult(Frozen):
    version: int
    stage: str
    events: list[str] = Field(description="types of the events the action recorded")


class LinkedReport(Frozen):
    """Signal from a repeated report's workflow to the need it repeats."""

    stream_id: str
    submission: Submission
    actor: Actor


class TimelineEntry(Frozen):
    version: int
    type: str
    occurred_at: datetime
    actor_role: str
    actor_unit: str | None = None


class Snapshot(Frozen):
    """The query answer: the full current state and the timeline."""

    demand_id: str
    version: int
    state: DemandState
    timeline: list[TimelineEntry]
    policy_version: str


class PolicyRequest(Frozen):
    path: str | None = None


class LoadedPolicy(Frozen):
    policy: Policy


class DuplicateQuery(Frozen):
    stream_id: str
    category: str
    place_key: str
    since: datetime


class DuplicateAnswer(Frozen):
    primary_stream_id: str | None = None


class AppendBatch(Frozen):
    stream_id: str
    expected_version: int
    events: list[EventEnvelope]


Carried.model_rebuild()

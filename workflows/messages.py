"""What goes in and out of a NeedWorkflow and a WishWorkflow: one model per message.

Fields added later must have defaults, so running workflows keep decoding old payloads.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.calendar import WorkingCalendar
    from domain.collection import OpenNeedSummary, likely_category
    from domain.commands import AnyCommand, RepeatVerdict, SplitOrigin, Submission
    from domain.events import EventEnvelope
    from domain.model import Actor, Category, Frozen, Location
    from domain.plans import AnyPlanCommand, PlanSpec, PlanState, Recurrence
    from domain.policy import Policy
    from domain.state import NeedState
    from domain.wishes import AnyWishCommand, WishRules, WishState, WishSubmission


class Carried(Frozen):
    """What a continued-as-new run takes over from its predecessor."""

    state: NeedState
    policy: Policy
    timeline: list[TimelineEntry]
    overdue: bool = False


class RefusedPayload(Frozen):
    """A payload the worker could not open (not encrypted with a key it holds, or altered):
    the codec hands it over as this marker (workers.codec.refused_payload), and the workflow
    refuses it: a start fails at once, an update is rejected, a signal is dropped."""

    refused: str


class NeedStart(Frozen):
    """The workflow's input: the first submission, or the state carried over."""

    submission: Submission
    actor: Actor
    carried: Carried | None = None
    continue_after_events: int = Field(
        default=2_000, ge=50, description="history length that triggers continue-as-new"
    )
    split_from: SplitOrigin | None = Field(
        default=None, description="a merged report split back out (UnlinkReport)"
    )
    occurrence_of: str | None = Field(
        default=None,
        description="the service plan this need is an occurrence of (workflows/plan.py): "
        "never judged a repeat of the plan's earlier occurrences",
    )
    serving_unit: str | None = Field(
        default=None,
        description="a plan's occurrence: the plan's unit, which routing gives it",
    )
    started_by: int = Field(
        default=0,
        ge=0,
        description="the client generation that started the run (START_GENERATION): runs "
        "started by today's client take today's paths without a patch marker",
    )


# Bump when a workflow change may apply to new runs only; older runs keep their path, decided
# by `workflow.patched` (see NeedLifecycle._intake). 1: intake in one local activity.
START_GENERATION = 1


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
    state: NeedState
    timeline: list[TimelineEntry]
    overdue: bool = False
    policy_version: str


class PolicyRequest(Frozen):
    path: str | None = None


class LoadedPolicy(Frozen):
    policy: Policy


class DuplicateQuery(Frozen):
    """Open needs of `category` at `location` submitted since `since`, other than `stream_id`."""

    stream_id: str
    category: Category
    location: Location
    since: datetime

    @classmethod
    def for_submission(
        cls, stream_id: str, submission: Submission, policy: Policy, now: datetime
    ) -> DuplicateQuery | None:
        """Same category (as the rules classify it), same place, within the policy's window;
        None when the rules name no category (nothing to compare with)."""
        category = likely_category(submission, policy)
        if category is None:
            return None
        return cls(
            stream_id=stream_id,
            category=category,
            location=submission.location,
            since=now - policy.collection.duplicate_window,
        )


class DuplicateAnswer(Frozen):
    candidates: list[OpenNeedSummary] = Field(default_factory=list)


class IntakeRequest(Frozen):
    """What a new need asks before deciding its submission (one local activity)."""

    stream_id: str
    submission: Submission
    now: datetime
    judge: bool = Field(default=True, description="false: claim only, no repeat verdict")


class IntakeContext(Frozen):
    """The policy in force and the repeat rules' verdict (policies with `repeats`), or the
    open needs the submission may repeat, to be matched in the workflow (older policies)."""

    policy: Policy
    candidates: list[OpenNeedSummary] = Field(default_factory=list)
    verdict: RepeatVerdict | None = None


# Complete the models whose annotations name classes defined later in this module: an
# incomplete model builds its schema again for every new TypeAdapter, and the SDK's payload
# converter makes new adapters for every workflow run (~1 ms per need for NeedStart).
Carried.model_rebuild()
NeedStart.model_rebuild()


# --- the event-store activities (activities/store.py) ------------------------------------
class AppendRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    stream_id: str
    expected_version: int = Field(ge=0)
    events: list[EventEnvelope]


class ReadStreamRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    stream_id: str
    from_version: int = Field(default=1, ge=1)


class ReadStreamResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    events: list[EventEnvelope]


# --- micro-wishes (workflows/wish.py) ------------------------------------------------------
class WishStart(Frozen):
    """A wish to post: what the channel sent, who sent it, the rules it lives under."""

    submission: WishSubmission
    actor: Actor
    rules: WishRules


class WishAction(Frozen):
    command: AnyWishCommand
    actor: Actor


class WishSnapshot(Frozen):
    wish_id: str
    state: WishState
    timeline: list[TimelineEntry] = Field(default_factory=list)


# --- service plans (workflows/plan.py) -----------------------------------------------------
class PlanStart(Frozen):
    spec: PlanSpec
    actor: Actor
    calendar: WorkingCalendar = Field(description="the policy's calendar (non-working days)")
    carried: PlanState | None = Field(default=None, description="a continued run's state")


class PlanAction(Frozen):
    command: AnyPlanCommand
    actor: Actor


class PlanSnapshot(Frozen):
    plan_id: str
    state: PlanState


class PlanScheduleRequest(Frozen):
    plan_id: str
    recurrence: Recurrence
    paused: bool = False
    note: str = ""

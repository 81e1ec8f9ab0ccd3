"""Imperative commands: what someone (or a timer) asks a need to do.

Every command has a stable `type` literal so the workflow can carry `AnyCommand` through
signals and updates. Timer commands carry the `due_at` they were scheduled for: `decide`
ignores a timer whose deadline has moved or not yet come (it returns no events).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from domain.events import ShortText
from domain.model import (
    Category,
    Channel,
    Frozen,
    Location,
    Rating,
    Requester,
    ServiceMode,
    Tier,
    Urgency,
)


def need_id_for(channel: Channel | str, external_id: str, submitter: str | None = None) -> str:
    """Stream id of a need: the channel plus a hash of who submitted it and their external
    id, never personal data. Two integrators' equal external ids are two needs. (Needs
    submitted before the submitter counted were named without it: `submitter=None`.)"""
    key = external_id if submitter is None else f"{submitter}\x1f{external_id}"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return f"need-{Channel(channel).value}-{digest}"


class Submission(Frozen):
    """A need as it arrives from a channel."""

    channel: Channel
    external_id: str = Field(min_length=1, max_length=200)
    requester: Requester
    location: Location
    title: ShortText
    description: str = Field(default="", max_length=10000)
    details: dict[str, str] = Field(default_factory=dict)
    category_hint: Category | None = None


class RepeatVerdict(Frozen):
    """The intake's judgement of whether a submission repeats an open need (domain/repeats.py)."""

    kind: Literal["merge", "possible", "none"] = "none"
    of_stream_id: str | None = None
    score: float = 0.0
    rule_id: str = "collection.repeats"


class SplitOrigin(Frozen):
    """Where a need split back out of a merge comes from (see UnlinkReport)."""

    merged_stream_id: str
    primary_stream_id: str
    submitted_at: datetime = Field(description="when the report was first submitted")
    split_by: str | None = Field(default=None, description="the supervisor who split it")
    reason: str | None = Field(default=None, description="why, as the supervisor wrote it")


class Command(Frozen):
    type: str


# --- collection ----------------------------------------------------------------------------
class Submit(Command):
    """Start a need. `duplicate_of` names the open need this repeats (see collection.matches)."""

    type: Literal["Submit"] = "Submit"
    submission: Submission
    duplicate_of: str | None = None
    repeat: RepeatVerdict | None = Field(
        default=None, description="the repeat rules' verdict (policies with `repeats`)"
    )
    route_to: str | None = Field(
        default=None,
        description="a service plan's occurrence: the plan's unit (workflows/plan.py); "
        "never from an integrator",
    )
    split: SplitOrigin | None = Field(
        default=None, description="set: a merged report split back out as its own need"
    )


class ProvideInformation(Command):
    type: Literal["ProvideInformation"] = "ProvideInformation"
    fields: dict[str, str] = Field(min_length=1)


class RequestInformation(Command):
    """The assignee needs more from the requester during handling; the clock stops."""

    type: Literal["RequestInformation"] = "RequestInformation"
    missing_fields: list[str] = Field(min_length=1)


class ExpireInformationRequest(Command):
    type: Literal["ExpireInformationRequest"] = "ExpireInformationRequest"
    due_at: datetime


class LinkReport(Command):
    """Another report of the same need joins this one; its requester will evaluate too."""

    type: Literal["LinkReport"] = "LinkReport"
    linked_stream_id: str = Field(min_length=1)
    channel: Channel
    requester: Requester


class ResolvePossibleRepeat(Command):
    """A dispatcher links a possible repeat to the need it may repeat, or dismisses it."""

    type: Literal["ResolvePossibleRepeat"] = "ResolvePossibleRepeat"
    decision: Literal["link", "dismiss"]


class UnlinkReport(Command):
    """A supervisor splits a report merged into this need back out: it becomes a need of its
    own (the workflow starts it), and its requester no longer evaluates this one."""

    type: Literal["UnlinkReport"] = "UnlinkReport"
    linked_stream_id: str = Field(min_length=1, max_length=100)
    reason: ShortText


# --- classification ------------------------------------------------------------------------
class Classify(Command):
    """A dispatcher classifies by hand."""

    type: Literal["Classify"] = "Classify"
    category: Category
    tier: Tier
    urgency: Urgency = Urgency.NORMAL
    reason: str = Field(default="", max_length=2000, description="why this category and tier")


class Reclassify(Command):
    type: Literal["Reclassify"] = "Reclassify"
    category: Category
    tier: Tier
    urgency: Urgency = Urgency.NORMAL
    reason: ShortText


# --- assignment ----------------------------------------------------------------------------
class Assign(Command):
    """Dispatch to `unit_id`, or by the routing rules when it is None (route)."""

    type: Literal["Assign"] = "Assign"
    unit_id: str | None = None
    reason: str = Field(default="", max_length=2000, description="why this unit")


class Return(Command):
    """退单: the assignee sends the need back to dispatch."""

    type: Literal["Return"] = "Return"
    reason: ShortText


class Accept(Command):
    type: Literal["Accept"] = "Accept"


class Adjudicate(Command):
    """裁定: a supervisor rules which unit is responsible for a disputed or returned need;
    binding on that unit (it cannot return it again)."""

    type: Literal["Adjudicate"] = "Adjudicate"
    unit_id: str = Field(min_length=1, description="the unit responsible from now on")
    reason: ShortText = Field(description="why this unit")


class Reassign(Command):
    """A supervisor moves the need to another unit, which must accept it."""

    type: Literal["Reassign"] = "Reassign"
    unit_id: str = Field(min_length=1)
    reason: str = Field(default="", max_length=2000)


# --- handling ------------------------------------------------------------------------------
class AcceptanceTimeout(Command):
    type: Literal["AcceptanceTimeout"] = "AcceptanceTimeout"
    due_at: datetime


class WarningDue(Command):
    type: Literal["WarningDue"] = "WarningDue"
    percent: int = Field(gt=0, lt=100)
    due_at: datetime


class DeadlineBreached(Command):
    type: Literal["DeadlineBreached"] = "DeadlineBreached"
    due_at: datetime


class Remind(Command):
    """催办: urge the assignee on."""

    type: Literal["Remind"] = "Remind"
    note: str = Field(default="", max_length=2000)


class Supervise(Command):
    """督办: a supervision order with its own deadline; the unit must reply in writing."""

    type: Literal["Supervise"] = "Supervise"
    note: ShortText
    reply_hours: int | None = Field(
        default=None,
        gt=0,
        le=24 * 30,
        description="working hours the unit has to reply; none: the policy's sla.supervision_reply",
    )


class ReplySupervision(Command):
    type: Literal["ReplySupervision"] = "ReplySupervision"
    reply: ShortText


class SupervisionDue(Command):
    """Timer: the reply deadline of the pending supervision order came."""

    type: Literal["SupervisionDue"] = "SupervisionDue"
    due_at: datetime


class NoteProgress(Command):
    type: Literal["NoteProgress"] = "NoteProgress"
    note: ShortText


class RequestExtension(Command):
    type: Literal["RequestExtension"] = "RequestExtension"
    extra_hours: int = Field(gt=0, le=24 * 30)
    reason: ShortText


class DecideExtension(Command):
    type: Literal["DecideExtension"] = "DecideExtension"
    approve: bool
    reason: str = Field(default="", max_length=2000)


class Complete(Command):
    type: Literal["Complete"] = "Complete"
    result_summary: ShortText
    service_mode: ServiceMode


class CompleteByProject(Command):
    """A co-building project (项目清单) that covers this need is done: a supervisor completes
    the need in its name, whether or not its unit had accepted it (docs/domain.md)."""

    type: Literal["CompleteByProject"] = "CompleteByProject"
    project_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    project_name: str = Field(min_length=1, max_length=200)
    result_summary: ShortText
    service_mode: ServiceMode = ServiceMode.ON_SITE


# --- evaluation ----------------------------------------------------------------------------
class Evaluate(Command):
    type: Literal["Evaluate"] = "Evaluate"
    reviewer_id: str = Field(min_length=1)
    rating: Rating
    comment: str = Field(default="", max_length=2000)


class RecordCallback(Command):
    """回访: the dispatch centre phones a requester and records their rating and comment, as
    that requester's evaluation (the recording staff member is the event's actor)."""

    type: Literal["RecordCallback"] = "RecordCallback"
    reviewer_id: str = Field(min_length=1, description="the requester who was called")
    rating: Rating
    comment: str = Field(default="", max_length=2000, description="what they said")


class ExtensionDecisionDue(Command):
    """Timer: an extension request waited past `sla.extension_decision`."""

    type: Literal["ExtensionDecisionDue"] = "ExtensionDecisionDue"
    due_at: datetime


class DispatchOverdue(Command):
    """Timer: a need waited for a dispatcher past `sla.dispatch`."""

    type: Literal["DispatchOverdue"] = "DispatchOverdue"
    due_at: datetime


class CloseEvaluationWindow(Command):
    type: Literal["CloseEvaluationWindow"] = "CloseEvaluationWindow"
    due_at: datetime


# --- joint handling (联合办理) ---------------------------------------------------------------
AssistId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=32,
        pattern=r"^assist-[0-9]+$",
        description="the sub-task, as the inbox and the need name it (assist-1, ...)",
    ),
]


class RequestAssist(Command):
    """The lead unit asks another unit to assist with a sub-task."""

    type: Literal["RequestAssist"] = "RequestAssist"
    unit_id: str = Field(min_length=1, max_length=100, description="the unit asked to assist")
    task: ShortText = Field(description="what the assisting unit is asked to do")
    hours: int | None = Field(
        default=None,
        gt=0,
        le=24 * 30,
        description="working hours the assisting unit gets; unset: the policy's "
        "`sla.assist`, cut to the lead's deadline. Never beyond the lead's deadline",
    )


class AcceptAssist(Command):
    type: Literal["AcceptAssist"] = "AcceptAssist"
    assist_id: AssistId


class ReportAssist(Command):
    type: Literal["ReportAssist"] = "ReportAssist"
    assist_id: AssistId
    result: ShortText = Field(description="what the assisting unit did")


class DeclineAssist(Command):
    type: Literal["DeclineAssist"] = "DeclineAssist"
    assist_id: AssistId
    reason: ShortText = Field(description="why the unit cannot assist")


class ReleaseAssist(Command):
    type: Literal["ReleaseAssist"] = "ReleaseAssist"
    assist_id: AssistId
    reason: ShortText = Field(description="why the lead need not wait for it")


class AssistWarningDue(Command):
    """Timer: a share of a sub-task's time has passed."""

    type: Literal["AssistWarningDue"] = "AssistWarningDue"
    assist_id: str
    percent: int = Field(gt=0, lt=100)
    due_at: datetime


class AssistDue(Command):
    """Timer: a sub-task's deadline."""

    type: Literal["AssistDue"] = "AssistDue"
    assist_id: str
    due_at: datetime


TimerCommand = (
    ExpireInformationRequest
    | AcceptanceTimeout
    | WarningDue
    | DeadlineBreached
    | CloseEvaluationWindow
    | SupervisionDue
    | DispatchOverdue
    | ExtensionDecisionDue
    | AssistWarningDue
    | AssistDue
)

AnyCommand = Annotated[
    Submit
    | ProvideInformation
    | RequestInformation
    | ExpireInformationRequest
    | LinkReport
    | ResolvePossibleRepeat
    | UnlinkReport
    | Classify
    | Reclassify
    | Assign
    | Return
    | Adjudicate
    | Accept
    | Reassign
    | AcceptanceTimeout
    | WarningDue
    | DeadlineBreached
    | Remind
    | NoteProgress
    | RequestExtension
    | DecideExtension
    | Complete
    | CompleteByProject
    | Evaluate
    | RecordCallback
    | CloseEvaluationWindow
    | Supervise
    | ReplySupervision
    | SupervisionDue
    | DispatchOverdue
    | ExtensionDecisionDue
    | RequestAssist
    | AcceptAssist
    | ReportAssist
    | DeclineAssist
    | ReleaseAssist
    | AssistWarningDue
    | AssistDue,
    Field(discriminator="type"),
]

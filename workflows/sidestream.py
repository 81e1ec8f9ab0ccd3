"""How the workflows of streams that are not needs (WishWorkflow, PlanWorkflow) store what
they decided: the need's rules (workflows/lifecycle.py), in one place.

Each event is named after its place in the stream (`EventEnvelope.id_for`), so a retried
append carries the same ids and answers as the first time. A stream found ahead of the
workflow was written by an earlier attempt of one of the workflow's own tasks (its retry
decided at another moment, so the same ids carry other content): the stored events are the
truth, and the caller adopts them; they answer the command if they are its batch (same types,
same actors), else the caller decides it again on the caught-up state.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.events import AppendResult, DomainEvent, EventEnvelope
    from domain.model import Actor
    from workflows.messages import AppendRequest, ReadStreamRequest, ReadStreamResult

ACTIVITY_TIMEOUT = timedelta(seconds=30)
APPEND_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=["VersionConflict", "InvalidEvent"],
)


def envelopes_for(
    stream_id: str, base: int, events: list[DomainEvent], actor: Actor
) -> list[EventEnvelope]:
    now = workflow.now()
    return [
        EventEnvelope.wrap(
            e,
            event_id=EventEnvelope.id_for(stream_id, base + i + 1),
            stream_id=stream_id,
            version=base + i + 1,
            actor=actor,
            occurred_at=now,
        )
        for i, e in enumerate(events)
    ]


async def store(
    activity: str, stream_id: str, base: int, sent: list[EventEnvelope]
) -> list[EventEnvelope] | None:
    """None: `sent` is stored. Else the events stored beyond `base` by an earlier attempt,
    for the caller to adopt (a conflict with nothing beyond `base` is raised)."""
    try:
        await workflow.execute_local_activity(
            activity,
            AppendRequest(stream_id=stream_id, expected_version=base, events=sent),
            result_type=AppendResult,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=APPEND_RETRY,
        )
        return None
    except (ActivityError, ApplicationError) as err:
        cause = err.cause if isinstance(err, ActivityError) else err
        if not (isinstance(cause, ApplicationError) and cause.type == "VersionConflict"):
            raise
        read: ReadStreamResult = await workflow.execute_local_activity(
            "read_stream",
            ReadStreamRequest(stream_id=stream_id, from_version=base + 1),
            result_type=ReadStreamResult,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        if not read.events:
            raise  # a conflict with nothing stored beyond us: not ours to settle
        return read.events


def answers(stored: list[EventEnvelope], sent: list[EventEnvelope]) -> bool:
    """Whether the adopted events are an earlier try of the batch sent."""
    return [(e.type, e.actor) for e in stored[: len(sent)]] == [(e.type, e.actor) for e in sent]

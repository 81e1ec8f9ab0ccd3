"""Talking to DemandWorkflows from outside: how integrators, the API and the CLI reach them.

A Python integrator can use this directly with a Temporal client:

    codec = EncryptionCodec(Keyring.parse(keys), plaintext_readable=False)  # workers.codec
    client = await Client.connect("127.0.0.1:7233", data_converter=data_converter(codec))
    need_id = await submit_need(client, submission, actor, task_queue="demandflow")

(payloads are encrypted with the deployment's keys, docs/security.md; a client without them
writes payloads the workers cannot trust.)

Intake is signal-with-start on an id made from the channel, the submitter and its own
external id: a resent submission reaches the same workflow (which recognises it), never a
second need, and two integrators' equal external ids never meet.
"""

from __future__ import annotations

import contextlib

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from domain.commands import AnyCommand, Submission, need_id_for
from domain.model import Actor
from workflows.messages import (
    START_GENERATION,
    Action,
    ActionResult,
    LinkedReport,
    NeedStart,
    Snapshot,
)
from workflows.need import NeedWorkflow


async def submit_need(
    client: Client,
    submission: Submission,
    actor: Actor,
    *,
    task_queue: str,
    need_id: str | None = None,
) -> str:
    """Start the need's workflow, or reach the running one; returns the need's id (by
    default named after the channel, the submitting actor and the external id).

    A closed need is never started again under the same id (REJECT_DUPLICATE): resending a
    submission after its need closed answers with the same id and changes nothing.
    """
    need_id = need_id or need_id_for(submission.channel, submission.external_id, actor.id)
    with contextlib.suppress(WorkflowAlreadyStartedError):  # closed: same need, nothing new
        await client.start_workflow(
            NeedWorkflow.run,
            NeedStart(submission=submission, actor=actor, started_by=START_GENERATION),
            id=need_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            start_signal="report",
            start_signal_args=[LinkedReport(stream_id=need_id, submission=submission, actor=actor)],
        )
    return need_id


async def first_submission(client: Client, need_id: str) -> Submission | None:
    """The submission the need's workflow was started with (its history's first event), or
    None when Temporal cannot say now. Signal-with-start on a running need only signals it,
    and the need ignores its own submission sent again, so a caller that started a need whose
    first event is not stored yet reads here which submission won."""
    try:
        async for event in need_handle(client, need_id).fetch_history_events(page_size=1):
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            (start,) = await client.data_converter.decode(list(payloads), [NeedStart])
            return start.submission if isinstance(start, NeedStart) else None
    except Exception:  # noqa: BLE001 - best effort: Temporal away, a payload it cannot decode
        return None  # the caller's 202 stands
    return None


def need_handle(client: Client, need_id: str) -> WorkflowHandle[NeedWorkflow, Snapshot]:
    return client.get_workflow_handle_for(NeedWorkflow.run, need_id)


async def act(client: Client, need_id: str, actor: Actor, command: AnyCommand) -> ActionResult:
    """Send a staff/supervisor/reviewer action; a refusal raises WorkflowUpdateFailedError."""
    return await need_handle(client, need_id).execute_update(
        NeedWorkflow.act, Action(actor=actor, command=command)
    )


async def snapshot(client: Client, need_id: str) -> Snapshot:
    return await need_handle(client, need_id).query(NeedWorkflow.snapshot)

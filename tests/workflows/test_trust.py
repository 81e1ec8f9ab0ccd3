"""No forged actors or ids through Temporal: the worker opens only payloads sealed with a key
it holds, and a need runs only under the id its content names.

A worker with the product's refusing codec (workers.codec `refusing()`); a client with the
stock plaintext converter plays someone who reaches the Temporal frontend without the key.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from domain.commands import Accept, need_id_for
from domain.model import Stage
from store.eventstore import EventStore
from tests.fixtures.temporal import CODEC
from tests.workflows.conftest import FAST_POLICY, INTAKE
from tests.workflows.test_journeys import a_need, staff
from workers.worker import build_worker
from workflows import client as needs
from workflows.codec import data_converter
from workflows.messages import Action, NeedStart
from workflows.need import NeedWorkflow


@pytest.fixture
async def refusing(
    dev_env: WorkflowEnvironment, wf_store: EventStore
) -> AsyncIterator[tuple[Client, Client, str]]:
    """(the product's client, a keyless plaintext client, the task queue), with a worker
    whose codec refuses what it cannot open."""
    queue = f"trust-{uuid.uuid4().hex[:8]}"
    target = dev_env.client.service_client.config.target_host
    worker_client = await Client.connect(target, data_converter=data_converter(CODEC.refusing()))
    keyless = await Client.connect(target, data_converter=pydantic_data_converter)
    keyed = await Client.connect(target, data_converter=data_converter(CODEC))
    async with build_worker(worker_client, queue, wf_store, FAST_POLICY):
        yield keyed, keyless, queue


async def stored(store: EventStore, need_id: str) -> int:
    return await store.pool.fetchval("SELECT count(*) FROM events WHERE stream_id = $1", need_id)


async def test_a_start_without_the_key_fails_at_once_and_writes_nothing(refusing, wf_store) -> None:
    _, keyless, queue = refusing
    submission = a_need("路灯不亮")
    need_id = need_id_for(submission.channel, submission.external_id, INTAKE.id)
    handle = await keyless.start_workflow(
        NeedWorkflow.run,
        NeedStart(submission=submission, actor=INTAKE),
        id=need_id,
        task_queue=queue,
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(handle.result(), 30)
    # the keyless sender cannot read the (encrypted) message, but it sees the failure's type
    assert failed.value.cause.type == "RefusedPayload"
    assert await stored(wf_store, need_id) == 0


async def test_an_update_without_the_key_is_rejected_and_the_need_goes_on(refusing) -> None:
    keyed, keyless, queue = refusing
    submission = a_need("路灯不亮")
    need_id = await needs.submit_need(keyed, submission, INTAKE, task_queue=queue)
    grid = staff("grid-dongting-1")
    for _ in range(100):
        snap = await needs.need_handle(keyed, need_id).query(NeedWorkflow.snapshot)
        if snap.state.stage == Stage.ASSIGNMENT:
            break
        await asyncio.sleep(0.1)
    forged = keyless.get_workflow_handle_for(NeedWorkflow.run, need_id)
    with pytest.raises(WorkflowUpdateFailedError):
        await asyncio.wait_for(
            forged.execute_update(NeedWorkflow.act, Action(actor=grid, command=Accept())), 30
        )
    snap = await needs.need_handle(keyed, need_id).query(NeedWorkflow.snapshot)
    assert snap.state.stage == Stage.ASSIGNMENT  # nothing recorded, the task did not stall
    result = await needs.act(keyed, need_id, grid, Accept())
    assert result.stage == "handling"


async def test_a_start_under_an_id_its_content_does_not_name_is_refused(refusing, wf_store) -> None:
    keyed, _, queue = refusing
    submission = a_need("路灯不亮")
    wrong = need_id_for(submission.channel, f"someone-else-{uuid.uuid4().hex}", INTAKE.id)
    handle = await keyed.start_workflow(
        NeedWorkflow.run,
        NeedStart(submission=submission, actor=INTAKE),
        id=wrong,
        task_queue=queue,
    )
    with pytest.raises(WorkflowFailureError) as failed:
        await asyncio.wait_for(handle.result(), 30)
    assert failed.value.cause.type == "IdMismatch"
    assert "does not name this submission" in str(failed.value.cause)
    assert await stored(wf_store, wrong) == 0

"""Workflow tests: real Temporal servers, the real event store on embedded PostgreSQL, and
the short-duration policy (deploy/policy-fast.yaml) so deadlines fire within a test.

Set RECORD_HISTORIES=1 to write each finished scenario's history into tests/replay/histories/.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from domain.commands import AnyCommand, Submission
from domain.events import EventEnvelope
from domain.model import Actor, Role, Stage
from domain.state import NeedState, fold
from store.db import DEFAULT_APP_ROLE
from store.eventstore import EventStore
from tests.fixtures.temporal import CONVERTER
from workers.worker import build_worker
from workflows import client as needs
from workflows.messages import ActionResult, Snapshot
from workflows.need import NeedWorkflow

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
FAST_POLICY = DEPLOY / "policy-fast.yaml"
HISTORIES = Path(__file__).resolve().parents[1] / "replay" / "histories"
INTAKE = Actor(id="integrator-test", role=Role.INTEGRATOR)


@pytest.fixture(scope="session")
async def wf_store(embedded_database: str) -> AsyncIterator[EventStore]:
    store = await EventStore.open(embedded_database, DEFAULT_APP_ROLE, min_size=1, max_size=8)
    yield store
    await store.close()


class Needs:
    """A test's door to its needs: submit, act, query, wait, read the stored stream."""

    def __init__(self, client: Client, task_queue: str, store: EventStore) -> None:
        self.client, self.task_queue, self.store = client, task_queue, store

    async def submit(self, submission: Submission, actor: Actor = INTAKE) -> str:
        return await needs.submit_need(self.client, submission, actor, task_queue=self.task_queue)

    async def submit_assigned(self, submission: Submission) -> str:
        """Submit, then wait until the need is routed to a unit and awaits acceptance."""
        need_id = await self.submit(submission)
        await self.wait_for(need_id, lambda s: s.state.stage == Stage.ASSIGNMENT)
        return need_id

    async def act(self, need_id: str, actor: Actor, command: AnyCommand) -> ActionResult:
        return await needs.act(self.client, need_id, actor, command)

    async def snapshot(self, need_id: str) -> Snapshot:
        return await needs.snapshot(self.client, need_id)

    async def wait_for(
        self,
        need_id: str,
        check: Callable[[Snapshot], bool],
        *,
        timeout: float = 60,
        tick: Callable[[], Awaitable[None]] | None = None,
    ) -> Snapshot:
        """Poll the query until `check` holds; `tick` advances time on the skipping server."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                snap = await self.snapshot(need_id)
                if check(snap):
                    return snap
            except (RPCError, WorkflowQueryFailedError):  # not running its first task yet
                snap = None
            if loop.time() > deadline:
                raise AssertionError(f"condition not reached; last snapshot: {snap}")
            await (tick() if tick else asyncio.sleep(0.1))

    async def stored(self, need_id: str) -> list[EventEnvelope]:
        return await self.store.read_stream(need_id)

    async def folded(self, need_id: str) -> NeedState:
        return fold(e.event() for e in await self.stored(need_id))

    async def record_history(self, need_id: str, name: str) -> None:
        if os.environ.get("RECORD_HISTORIES") != "1":
            return
        history = await self.client.get_workflow_handle(need_id).fetch_history()
        HISTORIES.mkdir(parents=True, exist_ok=True)
        # The workflow id matters on replay (the workflow compares report ids with its own).
        record = {"workflow_id": need_id, "history": json.loads(history.to_json())}
        (HISTORIES / f"{name}.json").write_text(json.dumps(record, ensure_ascii=False, indent=1))


async def _running(env_client: Client, task_queue: str, store: EventStore) -> AsyncIterator[Needs]:
    worker = build_worker(env_client, task_queue, store, FAST_POLICY)
    async with worker:
        yield Needs(env_client, task_queue, store)


@pytest.fixture
async def dev_needs(
    dev_env: WorkflowEnvironment, task_queue: str, wf_store: EventStore
) -> AsyncIterator[Needs]:
    """Needs on the dev server: for update-heavy journeys."""
    async for n in _running(dev_env.client, task_queue, wf_store):
        yield n


@pytest.fixture
async def skipping_needs(
    skipping_env: WorkflowEnvironment, task_queue: str, wf_store: EventStore
) -> AsyncIterator[Needs]:
    """Needs on the time-skipping server: for timer paths."""
    # A plain client: env.client wraps calls in time-skipping locks, and after an update the
    # test server was seen not to skip time any more (real seconds passed on env.sleep).
    plain = await Client.connect(
        skipping_env.client.service_client.config.target_host, data_converter=CONVERTER
    )
    async for n in _running(plain, task_queue, wf_store):
        yield n


def handle(need_id: str, n: Needs):
    return n.client.get_workflow_handle_for(NeedWorkflow.run, need_id)

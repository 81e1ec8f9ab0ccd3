"""Sent twice, stored once: the same submission 20 times at once, the same action twice."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import WorkflowUpdateFailedError

from bench.journeys import INTEGRATOR, lamp_need, staff, wait_projected
from bench.stack import Stack
from domain.commands import Accept, NoteProgress
from store.db import connect
from tests.faults.checks import audit_problems
from workflows import client as needs
from workflows.messages import Action
from workflows.need import NeedWorkflow


async def test_same_submission_twenty_times_at_once_is_one_need(stack: Stack) -> None:
    assert stack.client is not None
    submission = lamp_need(f"dup-{uuid.uuid4().hex[:6]}", 0)
    ids = await asyncio.gather(
        *(
            needs.submit_need(stack.client, submission, INTEGRATOR, task_queue=stack.task_queue)
            for _ in range(20)
        )
    )
    assert len(set(ids)) == 1
    need_id = ids[0]
    conn = await connect(stack.pg.url, role=None)
    try:
        row = await wait_projected(conn, need_id, "assignment", timeout=60)  # type: ignore[arg-type]
        assert row["assigned_unit"] == "grid-dongting-1"
        await asyncio.sleep(1)  # let the 19 repeated start signals be processed too
        types = [
            r["type"]
            for r in await conn.fetch(
                "SELECT type FROM events WHERE stream_id = $1 ORDER BY version", need_id
            )
        ]
        assert types.count("DemandSubmitted") == 1
        assert "ReportLinked" not in types and "DemandMerged" not in types
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM need_summary WHERE external_id = $1", submission.external_id
            )
            == 1
        )
    finally:
        await conn.close()
    workflows = [w async for w in stack.client.list_workflows(f"WorkflowId = '{need_id}'")]
    assert len(workflows) == 1
    assert await audit_problems(stack.pg.url, [need_id]) == []


async def test_same_action_twice_records_one_event(stack: Stack) -> None:
    assert stack.client is not None
    submission = lamp_need(f"twice-{uuid.uuid4().hex[:6]}", 0)
    need_id = await needs.submit_need(
        stack.client, submission, INTEGRATOR, task_queue=stack.task_queue
    )
    conn = await connect(stack.pg.url, role=None)
    try:
        row = await wait_projected(conn, need_id, "assignment", timeout=60)  # type: ignore[arg-type]
        unit = staff(row["assigned_unit"])
        # the same Accept twice at once: one is recorded, the other refused (stage moved on)
        outcomes = await asyncio.gather(
            needs.act(stack.client, need_id, unit, Accept()),
            needs.act(stack.client, need_id, unit, Accept()),
            return_exceptions=True,
        )
        refused = [o for o in outcomes if isinstance(o, WorkflowUpdateFailedError)]
        done = [o for o in outcomes if not isinstance(o, BaseException)]
        assert len(done) == 1 and len(refused) == 1, outcomes
        # the same note resent by a client under the same update id: Temporal answers the
        # second call with the first result and the workflow records one event
        handle = needs.need_handle(stack.client, need_id)
        action = Action(actor=unit, command=NoteProgress(note="called the resident"))
        update_id = f"note-{uuid.uuid4().hex}"
        first = await handle.execute_update(NeedWorkflow.act, action, id=update_id)
        second = await handle.execute_update(NeedWorkflow.act, action, id=update_id)
        assert first == second
        types = [
            r["type"]
            for r in await conn.fetch(
                "SELECT type FROM events WHERE stream_id = $1 ORDER BY version", need_id
            )
        ]
        assert types.count("DemandAccepted") == 1
        assert types.count("ProgressNoted") == 1
    finally:
        await conn.close()
    assert await audit_problems(stack.pg.url, [need_id]) == []


pytestmark = pytest.mark.timeout(120)

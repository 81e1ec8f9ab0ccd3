"""Privacy canaries: unique fake names, phones and addresses go in; none may come out where
personal data does not belong — logs (structlog + stdlib, at the configured level), the
Temporal server's log, workflow ids, search attributes, and the messages of refused updates.

Journeys: a whole happy path, refused actions (wrong unit, wrong stage, a reviewer who is not
one), and invalid input sent to the workflow (an action that does not validate, a start whose
submission does not validate).
"""

from __future__ import annotations

import asyncio
import io
import logging
import random
import sys
import uuid

import psutil
import pytest
from temporalio.client import WorkflowUpdateFailedError

from bench.journeys import INTEGRATOR, lamp_need, requester_actor, staff, wait_projected
from bench.stack import FAST_POLICY, Postgres, TemporalDevServer
from domain.commands import Accept, Complete, Evaluate, NoteProgress
from domain.model import Rating, ServiceMode
from store.db import DEFAULT_APP_ROLE, connect
from store.eventstore import EventStore
from workers.logging import configure_logging
from workers.worker import build_worker
from workflows import client as needs

pytestmark = pytest.mark.timeout(180)


def canaries() -> dict[str, str]:
    return {"name": f"Canary-{uuid.uuid4().hex[:10]}", "phone": f"138{random.randrange(10**8):08d}",
            "address": f"Canaryroad {uuid.uuid4().hex[:10]}-7"}


def leaks(text: str, c: dict[str, str]) -> list[str]:
    found = [k for k, v in c.items() if v in text]
    if c["name"].split("-")[1] in text:
        found.append("name tag")
    return found


@pytest.fixture
async def captured_logs():
    """Everything in-process logs, through the product's own logging setup, into a buffer."""
    buffer = io.StringIO()
    saved_stderr, root = sys.stderr, logging.getLogger()
    saved = (root.handlers[:], root.level)
    sys.stderr = buffer
    try:
        configure_logging(json_logs=True, level="INFO")
    finally:
        sys.stderr = saved_stderr
    yield buffer
    root.handlers[:], level = saved
    root.setLevel(level)




@pytest.mark.parametrize("invalid_start", [
    False, True,
])
async def test_no_canary_leaves_through_logs_ids_attributes_or_errors(
    tmp_path, captured_logs, invalid_start: bool,
) -> None:
    pg = Postgres(tmp_path)
    pg.start()
    await pg.migrate()
    temporal = TemporalDevServer(tmp_path)
    temporal.start()
    surfaces: dict[str, str] = {}
    c = canaries()
    try:
        client = await temporal.connect()
        store = await EventStore.open(pg.url, DEFAULT_APP_ROLE, min_size=1, max_size=4)
        queue = f"privacy-{uuid.uuid4().hex[:8]}"
        conn = await connect(pg.url, role=None)
        errors: list[str] = []
        try:
            async with build_worker(client, queue, store, FAST_POLICY):
                sub = lamp_need(f"priv-{uuid.uuid4().hex[:6]}", 0, name=c["name"],
                                phone=c["phone"], address=c["address"],
                                title=f"路灯坏了 {c['name']} {c['phone']}")
                need_id = await needs.submit_need(client, sub, INTEGRATOR, task_queue=queue)
                row = await wait_projected(conn, need_id, "assignment", timeout=60)  # type: ignore[arg-type]
                unit = staff(row["assigned_unit"])

                async def refused(actor, command) -> None:
                    with pytest.raises(WorkflowUpdateFailedError) as info:
                        await needs.act(client, need_id, actor, command)
                    cause = info.value.cause
                    errors.append(f"{info.value} {cause} {getattr(cause, 'details', '')}")

                await refused(staff("dept-health"), Accept())  # wrong unit
                await refused(unit, Complete(result_summary=c["name"],
                                             service_mode=ServiceMode.ON_SITE))  # wrong stage
                await needs.act(client, need_id, unit, Accept())
                await needs.act(client, need_id, unit,
                                NoteProgress(note=f"called {c['name']} at {c['phone']}"))
                await needs.act(client, need_id, unit, Complete(
                    result_summary=f"fixed at {c['address']}", service_mode=ServiceMode.ON_SITE))
                rid = sub.requester.requester_id
                await refused(requester_actor("someone-else"),
                              Evaluate(reviewer_id="someone-else", rating=Rating.SATISFIED))
                # invalid input straight to the workflow: an action that does not validate
                handle = client.get_workflow_handle(need_id)
                with pytest.raises(Exception) as bad:
                    await asyncio.wait_for(handle.execute_update("act", {
                        "actor": unit.model_dump(mode="json"),
                        "command": {"type": "NoteProgress", "note": c["name"],
                                    "phone": c["phone"]}}), 20)
                errors.append(f"{bad.value} {getattr(bad.value, 'cause', '')}")
                await needs.act(client, need_id, requester_actor(rid),
                                Evaluate(reviewer_id=rid, rating=Rating.SATISFIED,
                                         comment=f"thanks, {c['name']}"))
                if invalid_start:
                    # a start whose submission does not validate (title too long), canaries inside
                    bad_id = f"need-app-{uuid.uuid4().hex[:16]}"
                    bad_sub = sub.model_dump(mode="json") | {"title": "x" * 5000 + c["address"]}
                    bad_handle = await client.start_workflow(
                        "DemandWorkflow", {"submission": bad_sub, "actor": INTEGRATOR.model_dump(mode="json")},
                        id=bad_id, task_queue=queue)
                    await asyncio.sleep(2)  # let the worker try (and fail) the first task
                    await bad_handle.terminate("privacy test")
                await needs.need_handle(client, need_id).result()
            async for wf in client.list_workflows():
                desc = await client.get_workflow_handle(wf.id).describe()
                surfaces[f"workflow {wf.id}"] = f"{wf.id} {wf.search_attributes} " \
                    f"{desc.typed_search_attributes}"
        finally:
            await conn.close()
            await store.close()
        surfaces["refused update errors"] = "\n".join(errors)
    finally:
        temporal.stop()
        pg_pid = pg.pid()
        pg.stop()
    assert temporal.pid() is None
    for _ in range(50):
        if pg_pid is None or not psutil.pid_exists(pg_pid):
            break
        await asyncio.sleep(0.1)
    assert pg_pid is None or not psutil.pid_exists(pg_pid), "PostgreSQL left running"
    for handler in logging.getLogger().handlers:
        handler.flush()
    surfaces["in-process logs (structlog + stdlib)"] = captured_logs.getvalue()
    surfaces["temporal server log"] = temporal.log_file.read_text(errors="replace")
    found = {where: leaks(text, c) for where, text in surfaces.items() if leaks(text, c)}
    lines = [line[:300] for text in surfaces.values() for line in text.splitlines()
             if leaks(line, c)]
    assert found == {}, f"canaries leaked: {found}; first lines: {lines[:3]}"

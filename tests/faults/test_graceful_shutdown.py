"""SIGTERM lets a worker finish what it has in flight: an append held up in PostgreSQL when
the signal arrives still completes (stored once), the worker then exits 0 by itself, and
another worker carries the need on. No task fails or times out because of it.

The append is held with a table lock taken as the owner (its summary-row write waits on
it), so it is certainly in flight at the signal: no race with the clock decides the test.
(Appends are local activities: the SDK finishes them with their workflow task on shutdown.)"""

from __future__ import annotations

import asyncio
import signal

import asyncpg
from temporalio.api.enums.v1 import EventType, TimeoutType

from bench.journeys import lamp_need, submit, summary_row
from bench.stack import Stack
from store.db import asyncpg_dsn
from tests.faults.conftest import wait_until


async def _append_waiting(owner: asyncpg.Connection) -> bool:
    """An append of the app role waits on the held lock (appends are local activities: the
    server does not list them as pending)."""
    return bool(
        await owner.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND pid <> pg_backend_pid()"
        )
    )


async def test_sigterm_lets_the_in_flight_append_finish(stack: Stack) -> None:
    assert stack.client is not None
    worker = stack.workers[0]
    assert worker.process is not None
    pool = await asyncpg.create_pool(asyncpg_dsn(stack.pg.url), min_size=1, max_size=2)

    async def assigned(need_id: str) -> bool:
        row = await summary_row(pool, need_id)
        return row is not None and row["stage"] == "assignment"

    warm = await submit(stack.client, lamp_need("term", 0), stack.task_queue)
    await wait_until(lambda: assigned(warm), timeout=120, tick=0.2)  # the worker is up
    owner = await asyncpg.connect(asyncpg_dsn(stack.pg.url))
    try:
        hold = owner.transaction()
        await hold.start()
        await owner.execute("LOCK TABLE need_summary IN EXCLUSIVE MODE")  # appends wait
        need_id = await submit(stack.client, lamp_need("term", 1), stack.task_queue)
        await wait_until(lambda: _append_waiting(owner), timeout=60, tick=0.2)

        worker.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(2)
        assert worker.process.poll() is None, "the worker left with an append in flight"
        await hold.commit()  # the held append goes through now
        exit_code = await asyncio.to_thread(worker.process.wait, 60)
        # the held append was stored once, by the worker that took the signal
        assert (
            await owner.fetchval(
                "SELECT count(*) FROM events WHERE stream_id = $1 AND type = 'DemandSubmitted'",
                need_id,
            )
            == 1
        )
    finally:
        await owner.close()

    assert exit_code == 0, worker.log()[-2000:]

    stack.start_worker()  # the need goes on elsewhere
    try:
        await wait_until(lambda: assigned(need_id), timeout=120, tick=0.2)
    finally:
        await pool.close()

    history = await stack.client.get_workflow_handle(need_id).fetch_history()
    troubles = {
        EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
        EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    }
    assert [EventType.Name(e.event_type) for e in history.events if e.event_type in troubles] == []
    start_to_close = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT
        and e.workflow_task_timed_out_event_attributes.timeout_type
        == TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE
    ]
    assert start_to_close == []

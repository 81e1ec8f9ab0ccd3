"""Kill a piece of the stack while needs are mid-flight, bring it back, and every need still
reaches closed with a whole audit trail and projections equal to the events' fold.

- the worker process: SIGKILL, then a new worker process;
- the Temporal dev server: SIGKILL, then started again on the same SQLite file and port;
- PostgreSQL: `pg_ctl stop -m immediate` during a burst of appends (workflow appends and
  direct appends retried with the same event ids), then started again.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from bench.journeys import drive_to_closed, lamp_need, submit
from bench.stack import Stack
from domain.model import Stage
from store import samples
from store.append import append
from store.db import DEFAULT_APP_ROLE, asyncpg_dsn, connect
from tests.faults.checks import audit_problems
from tests.faults.conftest import wait_until

NEEDS = 60


async def _progressed(pool: asyncpg.Pool, need_ids: list[str], at_least: int) -> bool:
    """At least `at_least` of the needs have been accepted (some staff action went through)."""
    n = await pool.fetchval(
        "SELECT count(*) FROM need_summary WHERE stream_id = ANY($1) "
        "AND stage IN ('handling', 'evaluation', 'closed')",
        need_ids,
    )
    return n >= at_least


async def _closed(pool: asyncpg.Pool, need_ids: list[str]) -> int:
    return await pool.fetchval(
        "SELECT count(*) FROM need_summary WHERE stream_id = ANY($1) AND stage = 'closed'", need_ids
    )


async def _load(stack: Stack, tag: str) -> tuple[list[str], list[asyncio.Task]]:
    assert stack.client is not None
    subs = [lamp_need(tag, i) for i in range(NEEDS)]
    sem = asyncio.Semaphore(20)

    async def one(sub) -> str:
        async with sem:
            return await submit(stack.client, sub, stack.task_queue)

    need_ids = await asyncio.gather(*(one(s) for s in subs))
    drivers = [
        asyncio.create_task(drive_to_closed(stack.client, nid, timeout=60)) for nid in need_ids
    ]
    return list(need_ids), drivers


async def _finish_and_check(stack: Stack, need_ids: list[str], drivers: list[asyncio.Task]) -> None:
    outcomes = await asyncio.gather(*drivers, return_exceptions=True)
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert not failed, f"{len(failed)} of {len(need_ids)} needs did not close; first: {failed[0]!r}"
    assert [s.state.stage for s in outcomes] == [Stage.CLOSED] * len(need_ids)
    assert await audit_problems(stack.pg.url, need_ids) == []


async def test_worker_killed_mid_flight_loses_nothing(stack: Stack) -> None:
    pool = await asyncpg.create_pool(asyncpg_dsn(stack.pg.url), min_size=1, max_size=2)
    try:
        need_ids, drivers = await _load(stack, f"wk-{uuid.uuid4().hex[:6]}")
        await wait_until(lambda: _progressed(pool, need_ids, 10), timeout=90, tick=0.05)
        stack.workers[0].kill()
        closed_at_kill = await _closed(pool, need_ids)
        await asyncio.sleep(2)
        stack.start_worker()
        await _finish_and_check(stack, need_ids, drivers)
        assert closed_at_kill < NEEDS, "the kill came after everything had finished"
    finally:
        await pool.close()


async def test_temporal_server_restarted_mid_flight_loses_nothing(stack: Stack) -> None:
    pool = await asyncpg.create_pool(asyncpg_dsn(stack.pg.url), min_size=1, max_size=2)
    try:
        need_ids, drivers = await _load(stack, f"ts-{uuid.uuid4().hex[:6]}")
        await wait_until(lambda: _progressed(pool, need_ids, 10), timeout=90, tick=0.05)
        old_pid = stack.temporal.pid()
        await stack.restart_temporal(kill=True)
        closed_at_kill = await _closed(pool, need_ids)
        assert stack.temporal.pid() != old_pid
        await _finish_and_check(stack, need_ids, drivers)
        assert closed_at_kill < NEEDS, "the restart came after everything had finished"
    finally:
        await pool.close()


async def _append_with_retries(
    url: str, stream_id: str, envelopes, stop: asyncio.Event, stop_after: float = 90
) -> tuple[int, int]:
    """Append one event at a time until `stop`; on any connection error retry the same
    envelope (same id, same expected version) on a fresh connection.
    Returns (events written, failed attempts)."""
    failures = written = 0
    conn = None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + stop_after
    for envelope in envelopes:
        if stop.is_set():
            break
        while True:
            try:
                if conn is None or conn.is_closed():
                    conn = await connect(url, role=DEFAULT_APP_ROLE, timeout=2)
                await append(conn, stream_id, envelope.version - 1, [envelope])
                break
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                failures += 1
                if loop.time() > deadline:
                    raise
                if conn is not None:
                    conn.terminate()
                conn = None
                await asyncio.sleep(0.05)
        written += 1
        await asyncio.sleep(0.01)
    if conn is not None:
        await conn.close()
    return written, failures


async def test_postgres_crash_during_appends_loses_and_doubles_nothing(stack: Stack) -> None:
    direct_streams = [samples.new_stream_id() for _ in range(12)]
    direct = {sid: samples.envelopes(sid, samples.happy_path() * 100) for sid in direct_streams}
    stop = asyncio.Event()
    pool = await asyncpg.create_pool(asyncpg_dsn(stack.pg.url), min_size=1, max_size=2)
    try:
        need_ids, drivers = await _load(stack, f"pg-{uuid.uuid4().hex[:6]}")
        appenders = [
            asyncio.create_task(_append_with_retries(stack.pg.url, sid, envs, stop))
            for sid, envs in direct.items()
        ]
        await wait_until(lambda: _progressed(pool, need_ids, 10), timeout=90, tick=0.05)
        written_before = await pool.fetchval("SELECT count(*) FROM events")
    finally:
        await pool.close()
    stack.pg.crash()
    await asyncio.sleep(1.5)
    stack.pg.restart()
    await asyncio.sleep(1)
    stop.set()
    outcomes = await asyncio.gather(*appenders)
    await _finish_and_check(stack, need_ids, drivers)
    assert sum(f for _, f in outcomes) > 0, "the crash did not hit any direct append"
    conn = await connect(stack.pg.url, role=None)
    try:
        for (sid, envs), (written, _) in zip(direct.items(), outcomes, strict=False):
            ids = [
                r["event_id"]
                for r in await conn.fetch(
                    "SELECT event_id FROM events WHERE stream_id = $1 ORDER BY version", sid
                )
            ]
            assert ids == [e.event_id for e in envs[:written]]
        assert written_before < await conn.fetchval("SELECT count(*) FROM events")
    finally:
        await conn.close()
    assert await audit_problems(stack.pg.url, need_ids) == []  # direct streams: rebuild check

"""A write whose commit acknowledgement is lost: the append committed, the client never heard.

A small asyncio proxy accepts TCP and relays to PostgreSQL's Unix socket. When armed, it lets
a `df_append` call through, waits for the server's whole answer (up to ReadyForQuery,
so the autocommit transaction has committed), throws that answer away and cuts the client's
connection. The caller retries with the same event ids: exactly one copy must exist.

1. direct: `store.append.append` on a connection through the proxy, retried by hand;
2. through Temporal: a worker whose store pool goes through the proxy; the append local
   activity fails and Temporal's retry sends the same batch again.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import psutil
import pytest

pytestmark = pytest.mark.timeout(90)
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: F401 (client converter)

from bench.journeys import lamp_need, submit, wait_projected
from bench.stack import FAST_POLICY, Postgres, TemporalDevServer
from store import samples
from store.append import append
from store.db import DEFAULT_APP_ROLE, asyncpg_dsn, connect
from store.eventstore import EventStore
from tests.faults.checks import audit_problems
from workers.worker import build_worker

READY_FOR_QUERY = b"Z\x00\x00\x00\x05"
MARKER = b"df_append("


class DropReplyProxy:
    """TCP → Unix-socket relay that can swallow the reply to the next `df_append` calls."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self.armed = 0
        self.dropped = 0
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_unix_connection(str(self.socket_path))
        drop = asyncio.Event()

        async def client_to_server() -> None:
            tail = b""
            while data := await client_r.read(65536):
                window = tail + data
                if self.armed > 0 and MARKER in window:
                    self.armed -= 1
                    drop.set()
                tail = window[-len(MARKER) :]
                server_w.write(data)
                await server_w.drain()

        async def server_to_client() -> None:
            # Typed messages (the client is told not to ask for SSL). After an armed call,
            # the describe answer ('1', 't', 'T') passes; from BindComplete ('2') on — the
            # execution's answer — everything is held until ReadyForQuery, then thrown away.
            buf, losing = b"", False
            while data := await server_r.read(65536):
                buf += data
                out = b""
                while len(buf) >= 5:
                    size = int.from_bytes(buf[1:5], "big")
                    if len(buf) < 1 + size:
                        break
                    message, buf = buf[: 1 + size], buf[1 + size :]
                    kind = message[:1]
                    if drop.is_set() and kind == b"2":
                        losing = True
                    if not losing:
                        out += message
                    elif kind == b"Z":  # committed and answered: lose the answer, cut the line
                        drop.clear()
                        self.dropped += 1
                        if out:
                            client_w.write(out)
                        client_w.transport.abort()
                        server_w.close()
                        return
                if out:
                    client_w.write(out)
                    await client_w.drain()

        tasks = [asyncio.create_task(client_to_server()), asyncio.create_task(server_to_client())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            client_w.transport.abort()
            server_w.close()


@pytest.fixture
async def proxied(tmp_path) -> tuple[Postgres, DropReplyProxy]:
    pg = Postgres(tmp_path)
    pg.start()
    await pg.migrate()
    assert pg.socket_dir is not None
    sockets = list(pg.socket_dir.glob(".s.PGSQL.*"))
    sockets = [s for s in sockets if not s.name.endswith(".lock")]
    proxy = DropReplyProxy(sockets[0])
    await proxy.start()
    try:
        yield pg, proxy
    finally:
        await proxy.close()
        pid = pg.pid()
        pg.stop()
        for _ in range(50):
            if pid is None or not psutil.pid_exists(pid):
                break
            await asyncio.sleep(0.1)
        assert pid is None or not psutil.pid_exists(pid), "PostgreSQL left running"


async def test_lost_commit_ack_then_retry_stores_one_copy(proxied) -> None:
    pg, proxy = proxied
    sid = samples.new_stream_id()
    envs = samples.envelopes(sid, samples.happy_path())
    dsn = asyncpg_dsn(proxy.url())
    conn = await asyncpg.connect(
        dsn, server_settings={"role": DEFAULT_APP_ROLE}, statement_cache_size=0, ssl=False
    )
    await append(conn, sid, 0, envs[:3])
    proxy.armed = 1
    with pytest.raises((asyncpg.InterfaceError, asyncpg.PostgresConnectionError, OSError)):
        await append(conn, sid, 3, envs[3:6])
    assert proxy.dropped == 1
    conn = await asyncpg.connect(
        dsn, server_settings={"role": DEFAULT_APP_ROLE}, statement_cache_size=0, ssl=False
    )
    retried = await append(conn, sid, 3, envs[3:6])
    assert retried.duplicate is True and retried.last_version == 6
    await append(conn, sid, 6, envs[6:])
    await conn.close()

    owner = await connect(pg.url, role=None)
    try:
        rows = await owner.fetch(
            "SELECT version, event_id FROM events WHERE stream_id = $1 ORDER BY version", sid
        )
        assert [(r["version"], r["event_id"]) for r in rows] == [
            (e.version, e.event_id) for e in envs
        ]
    finally:
        await owner.close()
    assert await audit_problems(pg.url, [sid]) == []


async def test_lost_commit_ack_inside_a_workflow_is_retried_by_temporal(proxied, tmp_path) -> None:
    pg, proxy = proxied
    temporal = TemporalDevServer(tmp_path)
    temporal.start()
    try:
        client = await temporal.connect()
        pool = await asyncpg.create_pool(
            asyncpg_dsn(proxy.url()),
            min_size=1,
            max_size=4,
            server_settings={"role": DEFAULT_APP_ROLE},
            statement_cache_size=0,
            ssl=False,
        )
        owner_pool = await asyncpg.create_pool(asyncpg_dsn(pg.url), min_size=1, max_size=2)
        store = EventStore(pool)
        queue = f"lost-ack-{uuid.uuid4().hex[:8]}"
        try:
            async with build_worker(client, queue, store, FAST_POLICY):
                need_ids = []
                for i in range(4):
                    proxy.armed = 1  # lose the answer to this need's first append
                    need_ids.append(
                        await submit(client, lamp_need(f"ack-{uuid.uuid4().hex[:6]}", i), queue)
                    )
                    await wait_projected(owner_pool, need_ids[-1], "assignment", timeout=60)
                assert proxy.dropped == 4
                counts = await owner_pool.fetch(
                    "SELECT stream_id, count(*) FILTER (WHERE type = 'DemandSubmitted') AS n "
                    "FROM events WHERE stream_id = ANY($1) GROUP BY 1",
                    need_ids,
                )
                assert sorted(r["n"] for r in counts) == [1, 1, 1, 1]
        finally:
            await pool.close()
            await owner_pool.close()
        assert await audit_problems(pg.url, need_ids) == []
    finally:
        temporal.stop()

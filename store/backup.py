"""The SQL of `demandflow backup` and `demandflow restore` (the processes: workers/cli/backup.py).

A backup reads the store in one exported snapshot: a read-only repeatable-read transaction
that holds ACCESS SHARE locks on events and stream_heads (no DDL on them until pg_dump has
taken its own locks), counts the streams and events it sees and hands pg_dump the snapshot's
id. A restore first asks whether the target holds anything CREATE DATABASE does not make.
Every function here runs on a connection the caller owns (the database owner's).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NamedTuple

import asyncpg

# Objects a database made by CREATE DATABASE does not have: relations and functions outside
# the system schemas, not counting those an extension brought.
USER_OBJECTS_SQL = r"""
SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype = 'e'))
     + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                          AND d.objid = p.oid AND d.deptype = 'e'))
"""
COUNTS_SQL = "SELECT count(DISTINCT stream_id) AS streams, count(*) AS events FROM events"
HAS_EVENT_STORE_SQL = (
    "SELECT to_regclass('events') IS NOT NULL AND to_regclass('stream_heads') IS NOT NULL"
)
# set_config(…, true) is SET LOCAL with the value as a parameter
LOCK_TIMEOUT_SQL = "SELECT set_config('lock_timeout', $1, true)"
LOCK_SQL = "LOCK TABLE events, stream_heads IN ACCESS SHARE MODE"


class Counts(NamedTuple):
    """How many streams and events the events table holds."""

    streams: int
    events: int


class Snapshot(NamedTuple):
    """An exported snapshot's id (pg_dump's --snapshot) and the counts it sees."""

    id: str
    streams: int
    events: int


async def server_major(conn: asyncpg.Connection) -> int:
    """The server's PostgreSQL major version (e.g. 18)."""
    return int(await conn.fetchval("SHOW server_version_num")) // 10000


async def has_event_store(conn: asyncpg.Connection) -> bool:
    """Whether the database has the events and stream_heads tables."""
    return bool(await conn.fetchval(HAS_EVENT_STORE_SQL))


async def user_objects(conn: asyncpg.Connection) -> int:
    """Tables, views, sequences and functions a new database (CREATE DATABASE) lacks."""
    return int(await conn.fetchval(USER_OBJECTS_SQL))


async def counts(conn: asyncpg.Connection) -> Counts:
    """The streams and events the events table holds."""
    row = await conn.fetchrow(COUNTS_SQL)
    assert row is not None
    return Counts(row["streams"], row["events"])


@asynccontextmanager
async def exported_snapshot(conn: asyncpg.Connection, lock_timeout: str) -> AsyncIterator[Snapshot]:
    """A read-only repeatable-read snapshot, store tables locked, exported while the block runs."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute(LOCK_TIMEOUT_SQL, lock_timeout)
        # no DDL on the store's tables between this snapshot and pg_dump's locks
        await conn.execute(LOCK_SQL)
        snapshot_id = await conn.fetchval("SELECT pg_export_snapshot()")
        seen = await counts(conn)
        yield Snapshot(snapshot_id, seen.streams, seen.events)

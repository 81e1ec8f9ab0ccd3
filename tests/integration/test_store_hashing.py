"""The digest and the chain are the same in SQL and Python, on every server version."""

from __future__ import annotations

import asyncpg
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from store import schema
from store.hashing import GENESIS, chain

GOLDEN_SQL = """SELECT df_event_digest('need-app-0123456789abcdef', 3, 'e-3', 'ProgressNoted', 1,
    '{"note": "ü \\"q\\"", "n": [1.50, 1e+16, -0.0, 0.00001]}'::jsonb, 'staff-1', 'staff',
    NULL, '2026-03-31T23:30:00.123456+08:00')"""
# Computed once on PostgreSQL 18; a different value on another server or release would mean
# stored chains no longer verify there.
GOLDEN = "b4b56dd0269a8a4c878277b58d14f516eeae5ffd71eb6de59190cc21537369fe"


async def test_the_digest_is_the_same_on_every_server(pool: asyncpg.Pool):
    async with pool.acquire() as conn:
        await conn.execute("SET TimeZone = 'America/Lima'")  # the session zone must not matter
        digest = await conn.fetchval(GOLDEN_SQL)
        await conn.execute("RESET TimeZone")
    assert digest.hex() == GOLDEN


async def test_the_sql_chain_step_is_the_python_one(pool: asyncpg.Pool):
    previous, digest = b"\x01" * 32, b"\x02" * 32
    assert bytes(await pool.fetchval("SELECT sha256($1::bytea || $2::bytea)", previous,
                                     digest)) == chain(previous, digest)
    assert bytes(await pool.fetchval("SELECT sha256(''::bytea || $1::bytea)", digest)) == chain(
        GENESIS, digest)


async def test_schema_metadata_matches_the_migrated_database(owner_url: str):
    engine = create_async_engine(owner_url)
    async with engine.connect() as conn:
        found = await conn.run_sync(lambda c: {
            t: {col["name"]: col["nullable"] for col in inspect(c).get_columns(t)}
            for t in schema.metadata.tables})
    await engine.dispose()
    expected = {name: {c.name: c.nullable for c in table.columns}
                for name, table in schema.metadata.tables.items()}
    assert found == expected

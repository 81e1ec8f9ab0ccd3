"""A database written under revision 0001 upgrades to head and carries on unchanged: chains
verify, appends continue the same chains, projections still equal a rebuild."""

from __future__ import annotations

import secrets

import asyncpg
from sqlalchemy.engine import make_url

from store import samples
from store.db import DEFAULT_APP_ROLE, asyncpg_dsn, connect, create_pool
from store.eventstore import EventStore
from store.migrate import current_revision, head_revision, upgrade_async

SUMMARY = "SELECT * FROM need_summary ORDER BY stream_id"
STATS = "SELECT * FROM unit_monthly_stats ORDER BY unit_id, month"


async def snapshot(conn: asyncpg.Connection) -> tuple[list, list]:
    rows = [{k: v for k, v in dict(r).items() if k != "updated_at"}
            for r in await conn.fetch(SUMMARY)]
    return rows, [dict(r) for r in await conn.fetch(STATS)]


async def test_a_0001_database_upgrades_and_keeps_its_chains(owner_url: str):
    name = f"demandflow_upgrade_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(asyncpg_dsn(owner_url))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(owner_url).set(database=name).render_as_string(hide_password=False)
    try:
        await upgrade_async(url, DEFAULT_APP_ROLE, revision="0001")
        assert await current_revision(url) == "0001"
        pool = await create_pool(url, DEFAULT_APP_ROLE, max_size=2)
        store = EventStore(pool)
        a, b = samples.new_stream_id(), samples.new_stream_id()
        rough = samples.envelopes(a, samples.rough_path())
        happy = samples.envelopes(b, samples.happy_path())
        await store.append(a, 0, rough[:8])
        for i in range(4):
            await store.append(b, i, [happy[i]])
        old_hashes = await pool.fetch("SELECT event_id, hash FROM events ORDER BY position")

        await upgrade_async(url, DEFAULT_APP_ROLE)
        assert await current_revision(url) == head_revision()
        assert (await store.append(a, 0, rough[:8])).duplicate  # retry check across revisions
        await store.append(a, 8, rough[8:])
        for i in range(4, len(happy)):
            await store.append(b, i, [happy[i]])
        report = await store.verify()
        assert report.ok and report.events == len(rough) + len(happy)
        assert await pool.fetch(
            "SELECT event_id, hash FROM events ORDER BY position LIMIT $1", len(old_hashes)
        ) == old_hashes
        owner = await connect(url, role=None)
        live = await snapshot(owner)
        assert await store.rebuild_projections() == 2
        assert await snapshot(owner) == live
        await owner.close()
        await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

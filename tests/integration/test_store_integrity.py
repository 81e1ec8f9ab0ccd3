"""Integrity: verify names the first broken link; the app role cannot rewrite history."""

from __future__ import annotations

import asyncpg
import pytest

from store import samples
from store.eventstore import EventStore
from store.verify import verify


async def two_streams(store: EventStore) -> tuple[str, str]:
    a, b = samples.new_stream_id(), samples.new_stream_id()
    await store.append(a, 0, samples.envelopes(a, samples.rough_path()))
    happy = samples.envelopes(b, samples.happy_path())
    await store.append(b, 0, happy[:4])
    await store.append(b, 4, happy[4:])
    return a, b


async def test_an_untouched_store_verifies(store: EventStore):
    await two_streams(store)
    report = await store.verify()
    assert report.ok and (report.streams, report.events) == (2, 26)


TAMPERING = {
    "update": (
        (
            'UPDATE events SET payload = payload || \'{"note": "edited"}\' '
            "WHERE stream_id = $1 AND version = 5"
        ),
        5,
        "hash does not match",
    ),
    "update_actor": (
        ("UPDATE events SET actor_unit = 'elsewhere' WHERE stream_id = $1 AND version = 2"),
        2,
        "hash does not match",
    ),
    "delete": (
        "DELETE FROM events WHERE stream_id = $1 AND version = 3",
        4,
        "expected version 3, found 4",
    ),
    "reorder": (
        (
            "UPDATE events SET version = 1000 WHERE stream_id = $1 AND version = 3;"
            "UPDATE events SET version = 3 WHERE stream_id = $1 AND version = 4;"
            "UPDATE events SET version = 4 WHERE stream_id = $1 AND version = 1000"
        ),
        3,
        "hash does not match",
    ),
    "cut_tail": (
        "DELETE FROM events WHERE stream_id = $1 AND version > 6",
        7,
        "head says version 9, events end at 6",
    ),
    "cut_all": ("DELETE FROM events WHERE stream_id = $1", 1, "head says version 9, no events"),
    "move": (
        "UPDATE events SET stream_id = $1 || 'x' WHERE stream_id = $1 AND version = 9",
        9,
        "head says version 9, events end at 8",
    ),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
async def test_tampering_as_owner_is_caught(
    store: EventStore, owner_conn: asyncpg.Connection, case: str
):
    _, target = await two_streams(store)
    sql, version, problem = TAMPERING[case]
    async with owner_conn.transaction():
        for statement in sql.split(";"):
            await owner_conn.execute(statement, target)
    report = await verify(owner_conn)
    broken = [b for b in report.broken if b.stream_id == target]
    assert broken, report
    assert (broken[0].version, problem in broken[0].problem) == (version, True), broken[0]
    assert all(b.stream_id.startswith(target) for b in report.broken)  # the other stream is fine


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE events SET payload = '{}' WHERE version = 1",
        "DELETE FROM events WHERE version = 1",
        "TRUNCATE events",
        "DELETE FROM stream_heads",
    ],
)
async def test_the_app_role_may_not_rewrite_history(store: EventStore, sql: str):
    await two_streams(store)
    async with store.pool.acquire() as conn:
        assert await conn.fetchval("SELECT current_user") == "demandflow_app"
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await conn.execute(sql)
    assert (await store.verify()).ok

"""The micro-wish streams: their append path and their two read models (`wish_pool`,
`wish_points`, revision 0014), and the queries the API asks of them.

A wish's events go into `events` with the same hash chain, head lock and idempotent retry as
a need's (df_retry_status answers whether a batch at an occupied version is the same batch
again), but not through df_append, which keeps the need's summary row. The pool row is
derived from the typed state (domain.wishes.evolve_wish over the stream), so the pool reads
each event exactly as the wish's workflow does; the ledger gets one row per WishConfirmed,
keyed by its event id, so a confirmation is credited once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import asyncpg

from domain.events import AppendResult, EventEnvelope
from domain.wishes import (
    WISH_EVENT_ADAPTER,
    WISH_EVENT_TYPES,
    WishConfirmed,
    WishState,
    evolve_wish,
)
from store.read import read_stream
from store.sidestreams import append_side, check_side_batch

WISH_STREAM = re.compile(r"^wish-[0-9a-f]{16}\Z")
POOL_COLUMNS = (
    "stream_id",
    "community",
    "kind",
    "title",
    "status",
    "claimant_id",
    "lapse_at",
    "pool_due_at",
    "escalated",
    "claims",
    "points",
    "posted_by",
    "posted_at",
    "fulfilled_at",
    "closed_at",
    "last_version",
)
_UPSERT = (
    f"INSERT INTO wish_pool ({', '.join(POOL_COLUMNS)}) "
    f"VALUES ({', '.join(f'${i + 1}' for i in range(len(POOL_COLUMNS)))}) "
    "ON CONFLICT (stream_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in POOL_COLUMNS[1:])
    + ", updated_at = now()"
)
_CREDIT = (
    "INSERT INTO wish_points (event_id, stream_id, claimant_id, community, kind, points, "
    "occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING"
)


def check_wish_batch(stream_id: str, expected: int, events: Sequence[EventEnvelope]) -> None:
    check_side_batch(stream_id, expected, events, WISH_STREAM, WISH_EVENT_TYPES, "wish")


def wish_state(history: Sequence[EventEnvelope]) -> WishState:
    """The wish's state after its events, as its workflow holds it."""
    state = WishState()
    for e in history:
        state = evolve_wish(
            state,
            WISH_EVENT_ADAPTER.validate_python(e.payload | {"type": e.type}),
            e.occurred_at,
            e.actor,
        )
    return state


def pool_row(stream_id: str, state: WishState) -> tuple[Any, ...]:
    values = state.model_dump() | {"stream_id": stream_id, "last_version": state.version}
    values["status"] = state.status.value if state.status else None
    values["kind"] = state.kind.value if state.kind else None
    return tuple(values[c] for c in POOL_COLUMNS)


async def append_wish(
    pool: asyncpg.Pool, stream_id: str, expected: int, events: Sequence[EventEnvelope]
) -> AppendResult:
    """All or nothing, idempotent on event ids, VersionConflict at an occupied version; the
    pool row and the ledger move in the same transaction."""
    check_wish_batch(stream_id, expected, events)
    async with pool.acquire() as conn, conn.transaction():
        result, history = await append_side(conn, stream_id, expected, events)
        if result.duplicate:
            return result
        state = wish_state([*history, *events])
        await conn.execute(_UPSERT, *pool_row(stream_id, state))
        for e in events:
            await _credit(conn, e, state)
    return result


async def _credit(conn: asyncpg.Connection, e: EventEnvelope, state: WishState) -> None:
    """A confirmation's points into the ledger, once (keyed by the event's id)."""
    if e.type != "WishConfirmed":
        return
    confirmed = WishConfirmed.model_validate(e.payload | {"type": e.type})
    kind = state.kind.value if state.kind else ""
    await conn.execute(
        _CREDIT,
        e.event_id,
        e.stream_id,
        confirmed.claimant_id,
        state.community,
        kind,
        confirmed.points,
        e.occurred_at,
    )


async def rebuild_wishes(conn: asyncpg.Connection) -> int:
    """Both read models again from the wish streams alone (inside the caller's transaction,
    under its lock on stream_heads); returns the wishes replayed."""
    await conn.execute("TRUNCATE wish_pool, wish_points")
    streams = await conn.fetch(
        "SELECT DISTINCT stream_id FROM events WHERE stream_id LIKE 'wish-%' ORDER BY 1"
    )
    for record in streams:
        history = await read_stream(conn, record["stream_id"])
        state = wish_state(history)
        await conn.execute(_UPSERT, *pool_row(record["stream_id"], state))
        for e in history:
            await _credit(conn, e, state)
    return len(streams)


# --- queries -------------------------------------------------------------------------------
async def pool(
    db: asyncpg.Pool,
    *,
    communities: Sequence[str] | None,
    status: str | None,
    claimant: str | None = None,
    posted_by: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Wishes newest first; `communities` None: every community."""
    rows = await db.fetch(
        f"SELECT {', '.join(POOL_COLUMNS)} FROM wish_pool "
        "WHERE ($1::text[] IS NULL OR community = ANY($1::text[])) "
        "AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR claimant_id = $3) "
        "AND ($5::text IS NULL OR posted_by = $5) "
        "ORDER BY posted_at DESC, stream_id LIMIT $4",
        None if communities is None else list(communities),
        status,
        claimant,
        limit,
        posted_by,
    )
    return [dict(r) for r in rows]


async def wish(db: asyncpg.Pool, stream_id: str) -> dict[str, Any] | None:
    row = await db.fetchrow(
        f"SELECT {', '.join(POOL_COLUMNS)} FROM wish_pool WHERE stream_id = $1", stream_id
    )
    return dict(row) if row is not None else None


async def ledger(db: asyncpg.Pool, claimant_id: str) -> list[dict[str, Any]]:
    """One claimant's credits, newest first."""
    rows = await db.fetch(
        "SELECT p.event_id, p.stream_id, p.community, p.kind, p.points, p.occurred_at, "
        "w.title FROM wish_points p JOIN wish_pool w USING (stream_id) "
        "WHERE p.claimant_id = $1 ORDER BY p.occurred_at DESC, p.event_id",
        claimant_id,
    )
    return [dict(r) for r in rows]


async def ranking(db: asyncpg.Pool, community: str) -> list[dict[str, Any]]:
    """Claimants by the points their confirmed wishes in `community` earned (equal points
    share a rank: 1, 2, 2, 4)."""
    rows = await db.fetch(
        "SELECT claimant_id, sum(points)::integer AS points, count(*)::integer AS wishes, "
        "rank() OVER (ORDER BY sum(points) DESC)::integer AS rank "
        "FROM wish_points WHERE community = $1 GROUP BY claimant_id "
        "ORDER BY rank, claimant_id",
        community,
    )
    return [dict(r) for r in rows]

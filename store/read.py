"""Readers: one stream in version order, or every stream in a gap-free global order.

The global order is (tx_id, position), and a reader only gets rows whose transaction id is
below the oldest transaction still running (`pg_snapshot_xmin(pg_current_snapshot())`).
Identity values are taken at insert but become visible at commit, so a plain "position >
last seen" reader can step over a row whose writer commits late. Under the horizon, every
row a later read can reveal has a tx_id at or above the horizon of this read, so it sorts
after everything already returned: nothing is skipped, nothing is returned twice.
"""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg
from pydantic import BaseModel, ConfigDict

from domain.events import EventEnvelope
from domain.model import Actor
from store.upcasting import upcast

COLUMNS = (
    "position, tx_id::text::bigint AS tx_id, stream_id, version, event_id, type, "
    "schema_version, payload::text AS payload, actor_id, actor_role, actor_unit, occurred_at, "
    "recorded_at, hash"
)
FIRST_SQL = f"SELECT {COLUMNS} FROM events WHERE stream_id = ANY($1::text[]) AND version = 1"
STREAM_SQL = f"SELECT {COLUMNS} FROM events WHERE stream_id = $1 AND version >= $2 ORDER BY version"
ALL_SQL = f"""
SELECT {COLUMNS} FROM events
WHERE (tx_id, position) > ($1::text::xid8, $2)
  AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY tx_id, position
LIMIT $3
"""


class Cursor(BaseModel):
    """A reader's place in the global order; `str()` gives a token for URLs ("tx:pos")."""

    model_config = ConfigDict(frozen=True)

    tx_id: int = 0
    position: int = 0

    def __str__(self) -> str:
        return f"{self.tx_id}:{self.position}"

    @classmethod
    def parse(cls, token: str) -> Cursor:
        tx_id, _, position = token.partition(":")
        return cls(tx_id=int(tx_id), position=int(position))


class RecordedEvent(BaseModel):
    """An event as read: the envelope (current payload shape) plus where it sits globally."""

    model_config = ConfigDict(frozen=True)

    envelope: EventEnvelope
    position: int
    tx_id: int
    recorded_at: datetime

    @property
    def cursor(self) -> Cursor:
        return Cursor(tx_id=self.tx_id, position=self.position)


def to_envelope(row: asyncpg.Record) -> EventEnvelope:
    """Build the envelope from a stored row, upcasting an old payload to the current shape."""
    version, payload = upcast(row["type"], row["schema_version"], json.loads(row["payload"]))
    return EventEnvelope(
        event_id=row["event_id"],
        stream_id=row["stream_id"],
        version=row["version"],
        type=row["type"],
        schema_version=version,
        payload=payload,
        actor=Actor(id=row["actor_id"], role=row["actor_role"], unit=row["actor_unit"]),
        occurred_at=row["occurred_at"],
    )


def to_recorded(row: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(
        envelope=to_envelope(row),
        position=row["position"],
        tx_id=row["tx_id"],
        recorded_at=row["recorded_at"],
    )


async def read_stream(
    conn: asyncpg.Connection | asyncpg.Pool, stream_id: str, from_version: int = 1
) -> list[EventEnvelope]:
    """The stream's events from `from_version` on, in version order (empty if unknown)."""
    rows = await conn.fetch(STREAM_SQL, stream_id, from_version)
    return [to_envelope(r) for r in rows]


async def first_events(
    conn: asyncpg.Connection | asyncpg.Pool, stream_ids: list[str]
) -> dict[str, EventEnvelope]:
    """The first event (the submission) of each of `stream_ids` that exists."""
    rows = await conn.fetch(FIRST_SQL, stream_ids)
    return {r["stream_id"]: to_envelope(r) for r in rows}


async def read_all(
    conn: asyncpg.Connection | asyncpg.Pool, after: Cursor | None = None, limit: int = 500
) -> list[RecordedEvent]:
    """Up to `limit` events after `after` in global order; pass the last one's cursor next."""
    after = after or Cursor()
    rows = await conn.fetch(ALL_SQL, str(after.tx_id), after.position, limit)
    return [to_recorded(r) for r in rows]

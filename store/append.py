"""The append path: validate in Python, then one `SELECT append_events(...)` round trip.

Contract of `append(stream_id, expected_version, events)`:
- all or nothing: the batch lands in one transaction with its hashes and projection updates;
- a retry of a stored batch (same event ids, same content, same versions) succeeds, stores
  nothing and answers as the first time, with `duplicate=True`;
- anything else at an occupied version raises VersionConflict: the writer must re-decide.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict

from domain.events import EventEnvelope
from store.errors import InvalidEvent, VersionConflict
from store.validation import check_batch

APPEND_SQL = "SELECT append_events($1, $2, $3::jsonb)"
_dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode


class AppendResult(BaseModel):
    """Where the batch now sits in its stream; `duplicate` marks an idempotent retry."""

    model_config = ConfigDict(frozen=True)

    stream_id: str
    first_version: int
    last_version: int
    duplicate: bool = False


def encode_event(envelope: EventEnvelope) -> dict[str, Any]:
    """One element of the append_events argument (no validation here)."""
    return {
        "event_id": envelope.event_id,
        "version": envelope.version,
        "type": envelope.type,
        "schema_version": envelope.schema_version,
        "payload": envelope.payload,
        "actor_id": envelope.actor.id,
        "actor_role": envelope.actor.role.value,
        "actor_unit": envelope.actor.unit,
        "occurred_at": utc_text(envelope.occurred_at),
    }


def encode_batch(events: Sequence[EventEnvelope]) -> str:
    """The JSON text sent to append_events; NaN/Infinity have no jsonb form and are refused."""
    parts = []
    for i, envelope in enumerate(events):
        try:
            parts.append(_dumps(encode_event(envelope)))
        except ValueError:
            raise InvalidEvent(f"events[{i}].payload", "holds NaN or Infinity") from None
    return "[" + ",".join(parts) + "]"


def utc_text(moment: datetime) -> str:
    """ISO text with offset; a naive time is taken to be UTC (workflow time is UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


async def append_prepared(
    conn: asyncpg.Connection | asyncpg.Pool, stream_id: str, expected_version: int,
    batch_json: str, count: int,
) -> AppendResult:
    """The round trip itself; turns the function's answer into a result or a conflict."""
    try:
        answer = json.loads(await conn.fetchval(APPEND_SQL, stream_id, expected_version, batch_json))
    except asyncpg.UniqueViolationError:
        # Only reachable when an event id of the batch is stored in another stream.
        raise VersionConflict(stream_id, expected_version, -1, "event id already used") from None
    if answer["status"] == "conflict":
        raise VersionConflict(stream_id, expected_version, answer["actual"], answer["reason"])
    return AppendResult(
        stream_id=stream_id, first_version=expected_version + 1,
        last_version=expected_version + count, duplicate=answer["status"] == "duplicate",
    )


async def append(
    conn: asyncpg.Connection | asyncpg.Pool, stream_id: str, expected_version: int,
    events: Sequence[EventEnvelope],
) -> AppendResult:
    """Validate (InvalidEvent names the field; nothing is written) and append in one trip."""
    check_batch(stream_id, expected_version, events)
    return await append_prepared(
        conn, stream_id, expected_version, encode_batch(events), len(events)
    )

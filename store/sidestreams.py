"""Appending to the streams that are not needs (micro-wishes, service plans): the events go
into `events` with the need's hash chain, head lock and idempotent retry, inside the
caller's transaction, so each kind keeps its own read models beside them (df_append writes
the need's summary row, which these streams do not have)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

import asyncpg
from pydantic import BaseModel

from domain.events import AppendResult, EventEnvelope
from store.append import event_columns
from store.errors import InvalidEvent, VersionConflict
from store.read import read_stream
from store.validation import MAX_BATCH, check_payload

_HEAD = "SELECT version, hash FROM stream_heads WHERE stream_id = $1 FOR UPDATE"
_EVENTS = """
INSERT INTO events (stream_id, version, event_id, type, schema_version, payload, actor_id,
                    actor_role, actor_unit, occurred_at, hash)
SELECT $1, $2 + x.i, x.event_id, x.type, x.schema_version, x.payload::jsonb, x.actor_id,
       x.actor_role, x.actor_unit, x.occurred_at, x.hash
FROM unnest($3::text[], $4::text[], $5::integer[], $6::text[], $7::text[], $8::text[],
            $9::text[], $10::timestamptz[], $11::bytea[])
     WITH ORDINALITY AS x(event_id, type, schema_version, payload, actor_id, actor_role,
                          actor_unit, occurred_at, hash, i)
"""


def check_side_batch(
    stream_id: str,
    expected: int,
    events: Sequence[EventEnvelope],
    pattern: re.Pattern[str],
    registry: Mapping[str, type[BaseModel]],
    kind: str,
) -> None:
    """The batch continues the `kind` stream right after `expected`, one event of its
    registry each; InvalidEvent names the field (never a value) and nothing is written."""
    if not isinstance(stream_id, str) or not pattern.match(stream_id):
        raise InvalidEvent("stream_id", f"is not a {kind} stream id ({kind}-<16 hex digits>)")
    if expected < 0:
        raise InvalidEvent("expected_version", "must be 0 (new stream) or more")
    if not events or len(events) > MAX_BATCH:
        raise InvalidEvent("events", f"must hold 1 to {MAX_BATCH} events")
    for i, e in enumerate(events):
        where = f"events[{i}]"
        if e.stream_id != stream_id:
            raise InvalidEvent(f"{where}.stream_id", "differs from the stream being appended to")
        if e.version != expected + 1 + i:
            raise InvalidEvent(f"{where}.version", f"must be {expected + 1 + i}")
        cls = registry.get(e.type)
        if cls is None:
            raise InvalidEvent(f"{where}.type", f"is not a {kind} event type")
        if e.schema_version != getattr(cls, "SCHEMA_VERSION", 1):
            raise InvalidEvent(f"{where}.schema_version", "must be the current one")
        check_payload(cls, e.payload, f"{where}.payload")


async def append_side(
    conn: asyncpg.Connection, stream_id: str, expected: int, events: Sequence[EventEnvelope]
) -> tuple[AppendResult, list[EventEnvelope]]:
    """Append a validated batch in the caller's transaction: the answer (`duplicate` for a
    retry of a stored batch) and the stream's events before it (for the read models)."""
    ids, types, versions, payloads, actors, roles, units, times, digests = event_columns(events)
    answer = AppendResult(
        stream_id=stream_id, first_version=expected + 1, last_version=expected + len(events)
    )
    head = await _lock_head(conn, stream_id, expected)
    actual, chain = head["version"], bytes(head["hash"])
    if actual != expected:
        reason = await conn.fetchval(
            "SELECT df_retry_status($1, $2, $3, $4, $5)", stream_id, expected, ids, digests, actual
        )
        if reason is None:
            return answer.model_copy(update={"duplicate": True}), []
        raise VersionConflict(stream_id, expected, actual, reason)
    hashes = []
    for digest in digests:
        chain = hashlib.sha256(chain + bytes(digest)).digest()
        hashes.append(chain)
    history = await read_stream(conn, stream_id) if expected else []
    try:
        await conn.execute(
            _EVENTS,
            stream_id,
            expected,
            ids,
            types,
            versions,
            payloads,
            actors,
            roles,
            units,
            times,
            hashes,
        )
    except asyncpg.UniqueViolationError as exc:
        raise VersionConflict(
            stream_id, expected, -1, f"event id already used: {exc.detail or ''}"
        ) from None
    await conn.execute(
        "UPDATE stream_heads SET version = $2, hash = $3, updated_at = now() WHERE stream_id = $1",
        stream_id,
        expected + len(events),
        chain,
    )
    return answer, history


async def _lock_head(conn: asyncpg.Connection, stream_id: str, expected: int) -> asyncpg.Record:
    head = await conn.fetchrow(_HEAD, stream_id)
    if head is not None:
        return head
    if expected != 0:
        raise VersionConflict(stream_id, expected, 0, "version")
    await conn.execute(
        "INSERT INTO stream_heads (stream_id, version, hash) VALUES ($1, 0, ''::bytea) "
        "ON CONFLICT DO NOTHING",
        stream_id,
    )
    head = await conn.fetchrow(_HEAD, stream_id)
    assert head is not None
    return head

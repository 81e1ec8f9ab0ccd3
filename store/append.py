"""The append path: validate, prepare and fold in Python, then one `df_append(...)` round trip.

Contract of `append(stream_id, expected_version, events)`:
- all or nothing: the batch lands in one transaction with its hashes and projection updates;
- a retry of a stored batch (same event ids, same content, same versions) succeeds, stores
  nothing and answers as the first time, with `duplicate=True`;
- anything else at an occupied version raises VersionConflict: the writer must re-decide.

A batch of one event goes to `df_append_one` as plain values, a longer one to `df_append` as
arrays; both answer alike.

The client does the work that needs no lock: each event's content digest (store.hashing) and
the need's summary row and monthly credits after the batch (store.fold, applied to the row as
of `expected_version`). That prior row comes from a `SummaryCache` when the same process wrote
the previous version, else from `need_summary`, else from folding the stored events; the
function writes the row only over the row of `expected_version`, so a stale prior can never
be stored (it raises DF001 and the append is prepared again from the database).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import asyncpg

from domain.events import AppendResult, DomainEvent, EventEnvelope
from store import fold
from store.columns import STAT_COUNTERS, SUMMARY_COLUMNS
from store.errors import InvalidEvent, VersionConflict
from store.hashing import content_digest, jsonb_text
from store.read import read_stream
from store.validation import check_batch

APPEND_SQL = (
    "SELECT status, actual, reason FROM df_append($1, $2, $3, $4, $5, $6, $7, $8, $9, "
    "$10, $11, $12::need_summary, $13::unit_monthly_stat_slots[], $14)"
)
APPEND_ONE_SQL = (
    "SELECT status, actual, reason FROM df_append_one($1, $2, $3, $4, $5, $6, $7, "
    "$8, $9, $10, $11, $12::need_summary, $13::unit_monthly_stat_slots[], $14)"
)
SUMMARY_SQL = "SELECT * FROM need_summary WHERE stream_id = $1"
STALE_SUMMARY = "DF001"
_summary_values = itemgetter(*SUMMARY_COLUMNS)  # the row as need_summary's composite


class SummaryCache:
    """The summary rows this process wrote last, per stream (least recently used dropped)."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._rows: OrderedDict[str, tuple[int, fold.Row]] = OrderedDict()

    def get(self, stream_id: str, version: int) -> fold.Row | None:
        hit = self._rows.get(stream_id)
        if hit is None or hit[0] != version:
            return None
        self._rows.move_to_end(stream_id)
        return hit[1]

    def put(self, stream_id: str, row: fold.Row) -> None:
        self._rows[stream_id] = (row["last_version"], row)
        self._rows.move_to_end(stream_id)
        if len(self._rows) > self.size:
            self._rows.popitem(last=False)

    def drop(self, stream_id: str) -> None:
        self._rows.pop(stream_id, None)


def event_columns(events: Sequence[EventEnvelope]) -> list[list[Any]]:
    """The batch as df_append's nine arrays (ids … occurred_at, digests); no validation here.
    Payloads go as jsonb's own text, the same text their digest is taken over."""
    columns: list[list[Any]] = [[] for _ in range(9)]
    ids, types, versions, payloads, actors, roles, units, times, digests = columns
    for i, e in enumerate(events):
        try:
            payload = jsonb_text(e.payload)
        except ValueError as exc:  # NUL, NaN, Infinity
            raise InvalidEvent(f"events[{i}].payload", str(exc)) from None
        try:
            digest = content_digest(
                e.stream_id,
                e.version,
                e.event_id,
                e.type,
                e.schema_version,
                e.payload,
                e.actor.id,
                e.actor.role.value,
                e.actor.unit,
                e.occurred_at,
                payload,
            )
        except ValueError as exc:  # NUL or a lone surrogate: "<field>: <problem>"
            field, _, problem = str(exc).partition(": ")
            raise InvalidEvent(f"events[{i}].{field}", problem) from None
        ids.append(e.event_id)
        types.append(e.type)
        versions.append(e.schema_version)
        payloads.append(payload)
        actors.append(e.actor.id)
        roles.append(e.actor.role.value)
        units.append(e.actor.unit)
        times.append(e.occurred_at)
        digests.append(digest)
    return columns


def credit_rows(credits: fold.Credits) -> list[tuple[Any, ...]]:
    """In (unit, month) order: concurrent appends then lock counter rows in the same order."""
    return [
        (unit, month, 0, *(credits[unit, month][c] for c in STAT_COUNTERS))
        for unit, month in sorted(credits)
    ]


async def _prior(
    conn: asyncpg.Connection | asyncpg.Pool,
    stream_id: str,
    expected: int,
    cache: SummaryCache | None,
) -> tuple[fold.Row | None, bool]:
    """The need's row as of `expected`, and whether it was folded from the stored events
    (then it replaces whatever row is stored: the events are the truth)."""
    if expected == 0:
        return None, False
    row = cache.get(stream_id, expected) if cache is not None else None
    if row is not None:
        return row, False
    stored = await conn.fetchrow(SUMMARY_SQL, stream_id)
    if stored is not None and stored["last_version"] == expected:
        return dict(stored), False
    return await _refold(conn, stream_id, expected), True


async def _refold(
    conn: asyncpg.Connection | asyncpg.Pool, stream_id: str, expected: int
) -> fold.Row:
    """No row at `expected` (a retry, a conflict, or a row lost or changed by hand): fold the
    stored events up to `expected`. If the head is elsewhere the append answers before the
    row is used."""
    history = [e for e in await read_stream(conn, stream_id) if e.version <= expected]
    if len(history) < expected:
        # The stream is behind `expected`: this writer did not wait for its previous append.
        # Were that append to land meanwhile, this row would miss its events: refuse now.
        raise VersionConflict(stream_id, expected, len(history), "version")
    return fold.fold(None, stream_id, history)[0]


async def _send(
    conn: asyncpg.Connection | asyncpg.Pool,
    stream_id: str,
    expected: int,
    columns: list[list[Any]],
    events: Sequence[EventEnvelope],
    cache: SummaryCache | None,
    refold: bool = False,
    typed: Sequence[DomainEvent] | None = None,
) -> tuple[str, int, str | None, fold.Row]:
    prior: fold.Row | None
    if refold:
        prior, refolded = await _refold(conn, stream_id, expected), True
    else:
        prior, refolded = await _prior(conn, stream_id, expected, cache)
    row, credits = fold.fold(prior, stream_id, events, typed)
    try:
        if len(events) == 1:  # the common case: scalars, no arrays (migration 0005)
            sql, values = APPEND_ONE_SQL, [c[0] for c in columns]
        else:
            sql, values = APPEND_SQL, columns
        status, actual, reason = await conn.fetchrow(
            sql, stream_id, expected, *values, _summary_values(row), credit_rows(credits), refolded
        )
    except asyncpg.UniqueViolationError as exc:
        # The head lock makes the version key unreachable here: an event id of the batch is
        # stored already (the detail names it; event ids carry no personal data).
        raise VersionConflict(
            stream_id, expected, -1, f"event id already used: {exc.detail or exc.constraint_name}"
        ) from None
    return status, actual, reason, row


async def append(
    conn: asyncpg.Connection | asyncpg.Pool,
    stream_id: str,
    expected_version: int,
    events: Sequence[EventEnvelope],
    cache: SummaryCache | None = None,
) -> AppendResult:
    """Validate (InvalidEvent names the field; nothing is written) and append in one trip."""
    typed = check_batch(stream_id, expected_version, events)
    return await append_unchecked(conn, stream_id, expected_version, events, cache, typed)


async def append_unchecked(
    conn: asyncpg.Connection | asyncpg.Pool,
    stream_id: str,
    expected_version: int,
    events: Sequence[EventEnvelope],
    cache: SummaryCache | None = None,
    typed: Sequence[DomainEvent] | None = None,
) -> AppendResult:
    """`append` without the validation: for callers that validated already (`typed`: the
    events as they read them), and for tests that must store what validation would refuse
    (an old schema version, whose reading the test gives in `typed`)."""
    columns = event_columns(events)
    try:
        if isinstance(conn, asyncpg.Connection) and conn.is_in_transaction():
            # a savepoint: refusing a stale row must leave the caller's transaction usable
            async with conn.transaction():
                status, actual, reason, row = await _send(
                    conn, stream_id, expected_version, columns, events, cache, typed=typed
                )
        else:
            status, actual, reason, row = await _send(
                conn, stream_id, expected_version, columns, events, cache, typed=typed
            )
    except asyncpg.PostgresError as exc:
        if exc.sqlstate != STALE_SUMMARY:
            raise
        # The stored row is not the one this prior was taken from: fold from the events.
        if cache is not None:
            cache.drop(stream_id)
        status, actual, reason, row = await _send(
            conn, stream_id, expected_version, columns, events, None, refold=True, typed=typed
        )
    if status == "conflict":
        if cache is not None:
            cache.drop(stream_id)
        assert reason is not None  # df_append names the reason of every conflict
        raise VersionConflict(stream_id, expected_version, actual, reason)
    if cache is not None:
        cache.put(stream_id, row)
    return AppendResult(
        stream_id=stream_id,
        first_version=expected_version + 1,
        last_version=expected_version + len(events),
        duplicate=status == "duplicate",
    )

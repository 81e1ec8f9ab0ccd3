"""The sub-task rows of joint handling (联合办理, revision 0015): written by the need's
append path in the append's transaction, rebuilt from the events, and read for the
assisting unit's inbox and its access to the need.

Each row is derived from the typed sub-task (domain.assists.Assist) by
domain.assists.record, the reading the need's workflow state applies: the row's `assist`
column keeps the typed value the next event is applied to, and `last_version` the event that
made it, so a batch applied again (a retried append) changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from domain.assists import Assist, record
from domain.events import EVENT_TYPES, EventEnvelope
from domain.model import BREACH_RECORDED

ASSIST_EVENT_TYPES = frozenset(t for t in EVENT_TYPES if t.startswith("Assist"))
COLUMNS = (
    "stream_id",
    "assist_id",
    "unit_id",
    "asked_unit",
    "lead_unit",
    "task",
    "status",
    "due_at",
    "overdue",
    "escalations",
    "warning_percent",
    "answer",
    "in_time",
    "requested_at",
    "closed_at",
    "assist",
    "last_version",
)
_UPSERT = (
    f"INSERT INTO need_assists ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join(f'${i + 1}' for i in range(len(COLUMNS)))}) "
    "ON CONFLICT (stream_id, assist_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[2:])
    + ", updated_at = now()"
)
_PRIOR = "SELECT * FROM need_assists WHERE stream_id = $1 AND assist_id = ANY($2::text[])"

Row = dict[str, Any]


def touches(events: Iterable[EventEnvelope]) -> bool:
    """Whether a batch holds sub-task events (only those change the rows)."""
    return any(e.type in ASSIST_EVENT_TYPES for e in events)


def rows_after(prior: dict[str, Row], events: Sequence[EventEnvelope]) -> dict[str, Row]:
    """The rows the batch changes, keyed by sub-task id, from the rows as they were (`prior`,
    with the typed sub-task in `assist`). Events a row has seen already are skipped."""
    rows = {k: dict(v) for k, v in prior.items()}
    changed: set[str] = set()
    for envelope in events:
        if envelope.type not in ASSIST_EVENT_TYPES:
            continue
        assist_id = envelope.payload["assist_id"]
        row = rows.get(assist_id)
        if row is not None and row["last_version"] >= envelope.version:
            continue
        before = (_typed(row["assist"]),) if row is not None else ()
        after = record(before, envelope.event())
        if not after:
            continue
        rows[assist_id] = _row(envelope, after[0], row)
        changed.add(assist_id)
    return {k: rows[k] for k in changed}


def _typed(stored: Any) -> Assist:
    return stored if isinstance(stored, Assist) else Assist.model_validate_json(stored)


def _row(envelope: EventEnvelope, assist: Assist, prior: Row | None) -> Row:
    at: datetime = envelope.occurred_at
    warned = max((p for p in assist.warnings_issued if p < BREACH_RECORDED), default=None)
    closed_at = prior["closed_at"] if prior is not None else None
    if not assist.open and closed_at is None:
        closed_at = at
    return {
        "stream_id": envelope.stream_id,
        "assist_id": assist.assist_id,
        "unit_id": assist.unit_id,
        "asked_unit": assist.asked_unit,
        "lead_unit": assist.lead_unit,
        "task": assist.task,
        "status": assist.status,
        "due_at": assist.due_at,
        "overdue": assist.overdue,
        "escalations": assist.escalations,
        "warning_percent": warned,
        "answer": assist.answer,
        "in_time": assist.in_time,
        "requested_at": prior["requested_at"] if prior is not None else at,
        "closed_at": closed_at,
        "assist": assist.model_dump_json(),
        "last_version": envelope.version,
    }


async def write(conn: asyncpg.Connection, stream_id: str, events: Sequence[EventEnvelope]) -> None:
    """Apply a stored batch to the rows, in the caller's transaction."""
    ids = sorted({e.payload["assist_id"] for e in events if e.type in ASSIST_EVENT_TYPES})
    if not ids:
        return
    prior = {r["assist_id"]: dict(r) for r in await conn.fetch(_PRIOR, stream_id, ids)}
    changed = rows_after(prior, events)
    if changed:
        await conn.executemany(_UPSERT, [tuple(r[c] for c in COLUMNS) for r in changed.values()])


def rebuilt_rows(history: Sequence[EventEnvelope]) -> list[tuple[Any, ...]]:
    """A need's rows from its whole history (rebuild-projections)."""
    return [tuple(r[c] for c in COLUMNS) for r in rows_after({}, history).values()]


async def copy_rows(conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        await conn.copy_records_to_table("need_assists", records=rows, columns=list(COLUMNS))
        rows.clear()

"""Service plans' streams (`plan-<16 hex>`, domain/plans.py): their append path and the
listing. A district runs tens of plans, so the listing folds their streams when asked (no
read model of its own: the events are short and read in one query)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import asyncpg

from domain.events import AppendResult, EventEnvelope
from domain.plans import PLAN_EVENT_ADAPTER, PLAN_EVENT_TYPES, PlanState, evolve_plan
from store.read import COLUMNS, to_envelope
from store.sidestreams import append_side, check_side_batch

PLAN_STREAM = re.compile(r"^plan-[0-9a-f]{16}\Z")
_ALL = f"SELECT {COLUMNS} FROM events WHERE stream_id LIKE 'plan-%' ORDER BY stream_id, version"
_ONE = f"SELECT {COLUMNS} FROM events WHERE stream_id = $1 ORDER BY version"


async def append_plan(
    pool: asyncpg.Pool, stream_id: str, expected: int, events: Sequence[EventEnvelope]
) -> AppendResult:
    check_side_batch(stream_id, expected, events, PLAN_STREAM, PLAN_EVENT_TYPES, "plan")
    async with pool.acquire() as conn, conn.transaction():
        result, _ = await append_side(conn, stream_id, expected, events)
    return result


def plan_state(history: Sequence[EventEnvelope]) -> PlanState:
    state = PlanState()
    for e in history:
        state = evolve_plan(state, PLAN_EVENT_ADAPTER.validate_python(e.payload | {"type": e.type}))
    return state


async def plans(db: asyncpg.Pool) -> dict[str, tuple[PlanState, list[EventEnvelope]]]:
    """Every plan's state and events, by plan id."""
    streams: dict[str, list[EventEnvelope]] = {}
    for record in await db.fetch(_ALL):
        streams.setdefault(record["stream_id"], []).append(to_envelope(record))
    return {sid: (plan_state(history), history) for sid, history in streams.items()}


async def plan(db: asyncpg.Pool, stream_id: str) -> tuple[PlanState, list[EventEnvelope]] | None:
    history = [to_envelope(r) for r in await db.fetch(_ONE, stream_id)]
    return (plan_state(history), history) if history else None

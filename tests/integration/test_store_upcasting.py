"""An old payload shape is read as the current one through a registered upcaster."""

from __future__ import annotations

import asyncpg
import pytest

from domain.events import DemandReturned, EventEnvelope
from store import samples
from store.append import append_unchecked
from store.errors import StoreError
from store.eventstore import EventStore
from store.upcasting import UPCASTERS
from tests.fixtures.database import STORE_TABLES


def v1_to_v2(payload: dict) -> dict:
    """Fictional history: version 1 called the return counter `count`."""
    payload["return_count"] = payload.pop("count")
    return payload


async def test_a_stored_version_1_payload_reads_as_the_current_shape(
    store: EventStore, monkeypatch: pytest.MonkeyPatch, owner_conn: asyncpg.Connection
):
    sid = samples.new_stream_id()
    old = EventEnvelope(
        event_id=f"{sid}:1",
        stream_id=sid,
        version=1,
        type="DemandReturned",
        schema_version=1,
        payload={"unit_id": "grid-7", "reason": "not ours", "count": 2},
        actor=samples.STAFF,
        occurred_at=samples.at(1),
    )
    try:
        await _read_through_an_upcaster(store, monkeypatch, sid, old)
    finally:  # the old shape reads only under this test's fictional history: leave none behind
        await owner_conn.execute(f"TRUNCATE {STORE_TABLES} RESTART IDENTITY")


async def _read_through_an_upcaster(
    store: EventStore, monkeypatch: pytest.MonkeyPatch, sid: str, old: EventEnvelope
) -> None:
    # Written as an old release would have: the current validation would refuse this shape.
    # (the fold is given the reading that release had of it)
    reading = DemandReturned(unit_id="grid-7", reason="not ours", return_count=2)
    await append_unchecked(store.pool, sid, 0, [old], typed=[reading])
    monkeypatch.setattr(DemandReturned, "SCHEMA_VERSION", 2)
    with pytest.raises(StoreError, match="no upcaster for DemandReturned from schema 1"):
        await store.read_stream(sid)
    monkeypatch.setitem(UPCASTERS, ("DemandReturned", 1), v1_to_v2)
    [read] = await store.read_stream(sid)
    assert read.schema_version == 2
    assert read.event() == DemandReturned(unit_id="grid-7", reason="not ours", return_count=2)
    assert (await store.verify()).ok  # stored bytes untouched: the chain still holds

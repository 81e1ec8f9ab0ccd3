"""The outbox: a committed append has its notified events in `outbox`, in the same
transaction; a refused append leaves no message behind."""

from __future__ import annotations

import pytest

from domain.notifications import NOTIFIED
from store import samples
from store.errors import VersionConflict
from store.eventstore import EventStore


async def outbox_of(store: EventStore, stream: str) -> list[tuple[str, int, str]]:
    rows = await store.pool.fetch(
        "SELECT event_id, version, type FROM outbox WHERE stream_id = $1 ORDER BY id", stream
    )
    return [(r["event_id"], r["version"], r["type"]) for r in rows]


async def test_every_notified_event_of_a_committed_append_is_in_the_outbox(store) -> None:
    sid = samples.new_stream_id()
    batch = samples.envelopes(sid, samples.happy_path())
    await store.append(sid, 0, batch[:4])
    await store.append(sid, 4, batch[4:])
    expected = [(e.event_id, e.version, e.type) for e in batch if e.type in NOTIFIED]
    assert expected, "the sample lifecycle has notified events"
    assert await outbox_of(store, sid) == expected


async def test_a_retried_or_refused_append_adds_no_message(store) -> None:
    sid = samples.new_stream_id()
    batch = samples.envelopes(sid, samples.happy_path())
    await store.append(sid, 0, batch[:3])
    before = await outbox_of(store, sid)
    await store.append(sid, 0, batch[:3])  # an idempotent retry: nothing new
    changed = [batch[2].model_copy(update={"event_id": "another-id"}), *batch[3:6]]
    with pytest.raises(VersionConflict):
        await store.append(sid, 2, changed)  # rolled back: its messages with it
    assert await outbox_of(store, sid) == before

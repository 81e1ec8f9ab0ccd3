"""Append contract: all or nothing, idempotent retries, conflicts, bad input writes nothing."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from domain import events as ev
from domain.events import EventEnvelope
from store import fold, samples
from store.errors import InvalidEvent, VersionConflict
from store.eventstore import EventStore
from store.migrate import current_revision, head_revision, upgrade_async


async def count(store: EventStore, table: str = "events") -> int:
    return await store.pool.fetchval(f"SELECT count(*) FROM {table}")


async def test_append_then_read_back_the_same_events(store: EventStore):
    sid = samples.new_stream_id()
    batch = samples.envelopes(sid, samples.happy_path())
    result = await store.append(sid, 0, batch)
    assert (result.first_version, result.last_version, result.duplicate) == (1, 9, False)
    assert await store.read_stream(sid) == batch
    assert await store.read_stream(sid, from_version=8) == batch[7:]


async def test_append_continues_a_stream_at_the_expected_version(store: EventStore):
    sid = samples.new_stream_id()
    batch = samples.envelopes(sid, samples.happy_path())
    await store.append(sid, 0, batch[:3])
    result = await store.append(sid, 3, batch[3:])
    assert result.last_version == 9
    versions = [e.version for e in await store.read_stream(sid)]
    assert versions == list(range(1, 10))


async def test_retry_of_a_stored_batch_succeeds_and_stores_nothing_twice(store: EventStore):
    sid = samples.new_stream_id()
    batch = samples.envelopes(sid, samples.happy_path())
    first = await store.append(sid, 0, batch[:4])
    await store.append(sid, 4, batch[4:6])
    retry = await store.append(sid, 0, batch[:4])
    assert retry.duplicate and (retry.first_version, retry.last_version) == (
        first.first_version,
        first.last_version,
    )
    assert await count(store) == 6
    summary = await store.need_summary(sid)
    assert summary["last_version"] == 6 and summary["stage"] == "evaluation"


async def test_a_different_event_at_a_taken_version_is_a_conflict(store: EventStore):
    sid = samples.new_stream_id()
    batch = samples.envelopes(sid, samples.happy_path())
    await store.append(sid, 0, batch[:3])
    rival = samples.envelopes(sid, [ev.ReminderSent(note="hurry")], first_version=3)
    rival = [rival[0].model_copy(update={"event_id": "other-id"})]
    with pytest.raises(VersionConflict) as info:
        await store.append(sid, 2, rival)
    assert (info.value.expected, info.value.actual) == (2, 3)
    assert await count(store) == 3


async def test_same_event_ids_with_different_content_is_a_conflict(store: EventStore):
    sid = samples.new_stream_id()
    batch = samples.envelopes(sid, samples.happy_path())
    await store.append(sid, 0, batch[:5])
    changed = batch[4].model_copy(update={"payload": {"note": "a different note"}})
    with pytest.raises(VersionConflict, match="different content"):
        await store.append(sid, 4, [changed])


async def test_expecting_a_version_the_stream_has_not_reached_is_a_conflict(store: EventStore):
    sid = samples.new_stream_id()
    batch = samples.envelopes(sid, samples.happy_path())
    with pytest.raises(VersionConflict):
        await store.append(sid, 2, batch[2:4])
    await store.append(sid, 0, batch[:2])
    with pytest.raises(VersionConflict):
        await store.append(sid, 5, samples.envelopes(sid, samples.happy_path()[5:7], 6))
    assert await count(store) == 2


async def test_concurrent_creators_of_a_stream_one_wins_one_conflicts(store: EventStore):
    sid = samples.new_stream_id()
    one = samples.envelopes(sid, samples.happy_path()[:2])
    two = [e.model_copy(update={"event_id": e.event_id + "-b"}) for e in one]
    results = await asyncio.gather(
        store.append(sid, 0, one), store.append(sid, 0, two), return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in results) == ["AppendResult", "VersionConflict"]
    assert await count(store) == 2 and await count(store, "need_summary") == 1


# One event goes through df_append_one (migration 0005), which moves the head with a
# compare-and-set and hands anything unexpected to df_append: the same contract on that path.


async def test_retry_of_a_single_stored_event_is_a_duplicate_not_a_second_row(store: EventStore):
    sid = samples.new_stream_id()
    batch = samples.envelopes(sid, samples.happy_path())
    for i in range(3):
        await store.append(sid, i, [batch[i]])
    retry = await store.append(sid, 1, [batch[1]])
    assert retry.duplicate and (retry.first_version, retry.last_version) == (2, 2)
    with pytest.raises(VersionConflict, match="version"):
        await store.append(sid, 2, [batch[2].model_copy(update={"event_id": "other"})])
    assert await count(store) == 3 and (await store.verify()).ok


async def test_concurrent_single_appends_at_one_version_one_wins_one_conflicts(
    store: EventStore, pool: asyncpg.Pool
):
    sid = samples.new_stream_id()
    batch = samples.envelopes(sid, samples.happy_path())
    await store.append(sid, 0, batch[:3])
    rival = batch[3].model_copy(update={"event_id": batch[3].event_id + "-b"})
    other = EventStore(pool)  # another process: no cached row
    results = await asyncio.gather(
        store.append(sid, 3, [batch[3]]), other.append(sid, 3, [rival]), return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in results) == ["AppendResult", "VersionConflict"]
    assert await count(store) == 4 and (await store.verify()).ok
    summary = await store.need_summary(sid)
    assert summary["last_version"] == 4


async def test_racing_single_writers_leave_one_gapless_chain_and_the_folded_row(
    store: EventStore, pool: asyncpg.Pool
):
    """Eight writers race to add the next event to one stream, each re-reading the head on
    conflict: every version is taken once, the chain verifies, the row is the fold."""
    sid = samples.new_stream_id()
    template = samples.rough_path()
    await store.append(sid, 0, samples.envelopes(sid, template[:1]))
    target, taken = 60, []

    async def writer(name: int) -> None:
        mine = EventStore(pool)
        while True:
            head = await pool.fetchval("SELECT version FROM stream_heads WHERE stream_id = $1", sid)
            if head >= target:
                return
            envelope = samples.envelopes(sid, [template[head % len(template)]], head + 1)[0]
            envelope = envelope.model_copy(update={"event_id": f"{sid}:{head + 1}:w{name}"})
            try:
                await mine.append(sid, head, [envelope])
            except VersionConflict:
                continue
            taken.append((head + 1, name))

    await asyncio.gather(*(writer(n) for n in range(8)))
    stored = await store.read_stream(sid)
    assert [e.version for e in stored] == list(range(1, target + 1))
    assert sorted(v for v, _ in taken) == list(range(2, target + 1))
    assert len({name for _, name in taken}) > 1  # the writers really interleaved
    assert (await store.verify()).ok
    summary = await store.need_summary(sid)
    folded = fold.fold(None, sid, stored)[0]
    del summary["updated_at"], folded["updated_at"]
    assert summary == folded


async def test_event_id_used_in_another_stream_is_a_conflict(store: EventStore):
    a, b = samples.new_stream_id(), samples.new_stream_id()
    await store.append(a, 0, samples.envelopes(a, samples.happy_path()[:1]))
    stolen = samples.envelopes(b, samples.happy_path()[:1])[0]
    with pytest.raises(VersionConflict, match="event id"):
        await store.append(b, 0, [stolen.model_copy(update={"event_id": f"{a}:1"})])
    assert await count(store) == 1 and await count(store, "stream_heads") == 1


def _bad(envelope: EventEnvelope, **update) -> EventEnvelope:
    return envelope.model_copy(update=update)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: _bad(e, type="DemandTeleported"), "events[1].type"),
        (lambda e: _bad(e, payload={"note": ""}), "events[1].payload.note"),
        (lambda e: _bad(e, payload={"note": "x", "extra": 1}), "events[1].payload.extra"),
        (lambda e: _bad(e, version=7), "events[1].version"),
        (lambda e: _bad(e, schema_version=2), "events[1].schema_version"),
        (
            lambda e: _bad(
                e,
                type="ClassificationRequested",
                payload={"dispatcher_unit": "c-1", "reason": "no_rule", "confidence": float("nan")},
            ),
            "events[1].payload",
        ),
    ],
)
async def test_bad_events_are_rejected_naming_the_field_and_nothing_is_written(
    store: EventStore, mutate, field
):
    sid = samples.new_stream_id()
    good = samples.envelopes(sid, [samples.submitted(), ev.ProgressNoted(note="ok")])
    with pytest.raises(InvalidEvent) as info:
        await store.append(sid, 0, [good[0], mutate(good[1])])
    assert info.value.field == field
    assert await count(store) == 0 and await count(store, "stream_heads") == 0


@pytest.mark.parametrize(
    "stream_id",
    [
        "need-app-0123",
        "need-fax-0123456789abcdef",
        "order-app-0123456789abcdef",
        "need-app-0123456789ABCDEF",
        "need-app-0123456789abcdef0",
    ],
)
async def test_stream_ids_that_are_not_ours_are_rejected(store: EventStore, stream_id: str):
    batch = samples.envelopes(stream_id, samples.happy_path()[:1])
    with pytest.raises(InvalidEvent) as info:
        await store.append(stream_id, 0, batch)
    assert info.value.field == "stream_id"
    assert await count(store) == 0


async def test_error_messages_never_carry_personal_data(store: EventStore):
    sid = samples.new_stream_id()
    envelope = samples.envelopes(sid, [samples.submitted()])[0]
    payload = envelope.payload | {"requester": envelope.payload["requester"] | {"phone": "1" * 40}}
    with pytest.raises(InvalidEvent) as info:
        await store.append(sid, 0, [envelope.model_copy(update={"payload": payload})])
    assert info.value.field == "events[0].payload.requester.phone"
    assert "1111" not in str(info.value) and "张三丰" not in str(info.value)


async def test_migration_is_idempotent(owner_url: str, store: EventStore):
    sid = samples.new_stream_id()
    await store.append(sid, 0, samples.envelopes(sid, samples.happy_path()[:2]))
    await upgrade_async(owner_url)
    assert await current_revision(owner_url) == head_revision() == "0018"
    assert await count(store) == 2

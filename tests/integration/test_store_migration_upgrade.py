"""A database written under revision 0001 upgrades to head and carries on unchanged: chains
verify, appends continue the same chains, projections still equal a rebuild.

Revision 0001 folded projections in PL/pgSQL and computed digests in SQL; head does both in
Python (store.fold, store.hashing). So this is also the test that the Python rules and digests
reproduce the SQL ones: rows folded by 0001 equal the Python rebuild, and a retry of a batch
stored by 0001 is recognised through client-computed digests.
"""

from __future__ import annotations

import json
import secrets

import asyncpg
from sqlalchemy.engine import make_url

from store import samples
from store.db import DEFAULT_APP_ROLE, asyncpg_dsn, connect, create_pool
from store.eventstore import EventStore
from store.migrate import current_revision, head_revision, upgrade_async

SUMMARY = "SELECT * FROM need_summary ORDER BY stream_id"
STATS = "SELECT * FROM unit_monthly_stats ORDER BY unit_id, month"
LEGACY_APPEND = "SELECT append_events($1, $2, $3::jsonb)"


async def legacy_append(pool: asyncpg.Pool, stream_id: str, expected: int, envelopes) -> None:
    """Append as a 0001 client did: the batch as JSON, digests and fold in SQL."""
    batch = [
        {
            "event_id": e.event_id,
            "version": e.version,
            "type": e.type,
            "schema_version": e.schema_version,
            "payload": e.payload,
            "actor_id": e.actor.id,
            "actor_role": e.actor.role.value,
            "actor_unit": e.actor.unit,
            "occurred_at": e.occurred_at.isoformat(),
        }
        for e in envelopes
    ]
    answer = json.loads(
        await pool.fetchval(
            LEGACY_APPEND, stream_id, expected, json.dumps(batch, ensure_ascii=False)
        )
    )
    assert answer["status"] == "ok"


async def snapshot(conn: asyncpg.Connection) -> tuple[list, list]:
    rows = [
        {k: v for k, v in dict(r).items() if k != "updated_at"} for r in await conn.fetch(SUMMARY)
    ]
    return rows, [dict(r) for r in await conn.fetch(STATS)]


def _as_of(snap: tuple[list, list], old: tuple[list, list]) -> tuple[list, list]:
    """`snap` restricted to the columns and counters of the older snapshot `old` (later
    revisions add theirs), without monthly rows that only the later counters fill."""
    rows, stats = snap
    row_keys, stat_keys = list(old[0][0]), list(old[1][0])
    counters = [{k: s[k] for k in stat_keys} for s in stats]
    return (
        [{k: r[k] for k in row_keys} for r in rows],
        [c for c in counters if any(v for k, v in c.items() if k not in ("unit_id", "month"))],
    )


async def test_a_0001_database_upgrades_and_keeps_its_chains(owner_url: str):
    name = f"demandflow_upgrade_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(asyncpg_dsn(owner_url))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(owner_url).set(database=name).render_as_string(hide_password=False)
    try:
        await upgrade_async(url, DEFAULT_APP_ROLE, revision="0001")
        assert await current_revision(url) == "0001"
        pool = await create_pool(url, DEFAULT_APP_ROLE, max_size=2)
        store = EventStore(pool)
        a, b = samples.new_stream_id(), samples.new_stream_id()
        rough = samples.envelopes(a, samples.rough_path())
        happy = samples.envelopes(b, samples.happy_path())
        await legacy_append(pool, a, 0, rough[:8])
        for i in range(4):
            await legacy_append(pool, b, i, [happy[i]])
        # Whole lifecycles folded by 0001, one event at a time and in one batch: every type.
        complete = [
            samples.rough_path(),
            samples.happy_path(),
            samples.merged_path(),
            samples.open_path(False, "grid-8", 5),
            samples.open_path(True, "grid-8", -2),
            samples.urged_path(),
            samples.breached_at_top_path(),
            samples.closed_after_breach_path(),
            samples.information_in_handling_path(),
            samples.supervised_across_hands_path(),
            samples.resumed_in_handling_path(),
            samples.reopened_with_deadline_path(),
            samples.completed_by_project_path(),
        ]
        # what 0001's SQL fold got wrong in the last seven: revision 0011 corrects the first
        # four, 0016 the due times of the last three
        wrong_in_0001 = [
            {"overdue"},
            {"overdue"},
            {"stage"},
            {"stage", "task"},
            {"stage", "due_at"},
            {"due_at"},
            {"due_at"},
        ]
        fixed: dict[str, set[str]] = {}
        sids: list[str] = []
        for n, path in enumerate(complete):
            sid = samples.new_stream_id()
            sids.append(sid)
            if n >= len(complete) - len(wrong_in_0001):
                fixed[sid] = wrong_in_0001[n - len(complete)]
            if n == 2:  # merged_path: its answer gave building B2 (the row moves there: 0018)
                fixed[sid] = {"building"}
            batch = samples.envelopes(sid, path)
            if n % 2:
                await legacy_append(pool, sid, 0, batch)
            else:
                for i, envelope in enumerate(batch):
                    await legacy_append(pool, sid, i, [envelope])
        old_hashes = await pool.fetch("SELECT event_id, hash FROM events ORDER BY position")
        owner = await connect(url, role=None)
        folded_by_0001 = await snapshot(owner)

        await upgrade_async(url, DEFAULT_APP_ROLE)
        assert await current_revision(url) == head_revision()
        migrated = await snapshot(owner)  # later revisions moved the rows forward in SQL
        assert await store.rebuild_projections() == 2 + len(complete)
        rebuilt = await snapshot(owner)
        assert rebuilt == migrated
        # the same rows but where 0001's SQL fold missed the rule (a breach at the top of
        # the ladder, a close after a breach, an information request while handling, the
        # deadline of a resumed clock and of a reopening, a project's completion)
        now_rows, now_stats = _as_of(rebuilt, folded_by_0001)
        old_rows, old_stats = folded_by_0001
        assert now_stats == old_stats
        differs = {
            old["stream_id"]: {k for k in old if old[k] != new[k]}
            for old, new in zip(old_rows, now_rows, strict=True)
            if old != new
        }
        assert differs == fixed
        assert any(r["reminders"] for r in rebuilt[0]) and any(
            s["supervision_missed"] for s in rebuilt[1]
        )
        # 0012: the open order and its miss belong to the unit holding the need, not to
        # the unit first ordered (the miss came after the need went up a rung)
        across_hands = sids[complete.index(samples.supervised_across_hands_path())]
        across = next(r for r in rebuilt[0] if r["stream_id"] == across_hands)
        assert across["supervision_unit"] == across["assigned_unit"] == "community-3"
        missed: dict[str, int] = {}
        for s in rebuilt[1]:
            missed[s["unit_id"]] = missed.get(s["unit_id"], 0) + s["supervision_missed"]
        assert missed["grid-7"] == 1 and missed["community-3"] == 1  # urged path; this one
        assert (await store.append(a, 0, rough[:8])).duplicate  # retry check across revisions
        await store.append(a, 8, rough[8:])
        for i in range(4, len(happy)):
            await store.append(b, i, [happy[i]])
        report = await store.verify()
        assert report.ok and report.events == len(old_hashes) + len(rough) - 8 + len(happy) - 4
        assert (
            await pool.fetch(
                "SELECT event_id, hash FROM events ORDER BY position LIMIT $1", len(old_hashes)
            )
            == old_hashes
        )
        live = await snapshot(owner)
        assert await store.rebuild_projections() == 2 + len(complete)
        assert await snapshot(owner) == live
        await owner.close()
        await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_0017_marks_the_claims_kept_that_name_a_building(owner_url: str):
    """Claims written before revision 0017 say whether they name a building by a digest
    once it ran; one holding a raw building name (before 0007) stays among the recent claims
    every report reads (its building is read in Python, the place index cannot find it)."""
    from tests.fixtures.database import scratch_database

    async with scratch_database(owner_url, "demandflow_upgrade") as url:
        await upgrade_async(url, DEFAULT_APP_ROLE, revision="0016")
        owner = await connect(url, role=None)
        try:
            insert = (
                "INSERT INTO intake_claims (stream_id, category, street, community, grid,"
                " building, submitted_at, places) VALUES ($1, 'daily_life', 'street-hanzheng',"
                " 'community-dongting', NULL, $2, now(), $3)"
            )
            await owner.execute(insert, "digest", None, ["b:0123456789abcdef", "a:fedcba"])
            await owner.execute(insert, "raw", "6栋", [])
            await owner.execute(insert, "none", None, ["a:fedcba"])
            await upgrade_async(url, DEFAULT_APP_ROLE)
            rows = await owner.fetch("SELECT stream_id, names_building FROM intake_claims")
            assert {r["stream_id"]: r["names_building"] for r in rows} == {
                "digest": True,
                "raw": False,
                "none": False,
            }
        finally:
            await owner.close()

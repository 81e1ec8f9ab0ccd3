"""Events/second through the store's append (validation, hash chain and projections included)
beside a plain asyncpg insert into a table of the same shape, in the same run.

    .venv/bin/python -m bench.bench_append [--seconds 5] [--connections 8] [--url URL]

Without --url an embedded PostgreSQL is started in a temporary directory. Figures go to
stdout and bench/results/append.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from store import samples
from store.append import SummaryCache, append
from store.db import DEFAULT_APP_ROLE, connect
from store.migrate import upgrade_async

RESULTS = Path(__file__).resolve().parent / "results" / "append.json"
PLAIN_COLUMNS = ("stream_id, version, event_id, type, schema_version, payload, actor_id, "
                 "actor_role, actor_unit, occurred_at, hash")
PLAIN_INSERT = f"INSERT INTO bench_plain_events ({PLAIN_COLUMNS}) VALUES " \
               "($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11)"


# The least any append honouring "projections in the same transaction" must do for one event:
# the event row, the stream head, the need's summary row and its unit's monthly counter, with
# every value already computed by the client (no version check, no hash, no fold, no JSON
# parsing) and one round trip. Its rate bounds what the store's single append can reach.
FLOOR_FUNCTION = f"""
CREATE OR REPLACE FUNCTION bench_floor_append(
    p_stream text, p_version integer, p_event_id text, p_type text, p_payload jsonb,
    p_actor_id text, p_role text, p_unit text, p_at timestamptz, p_hash bytea)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO bench_plain_events ({PLAIN_COLUMNS})
        VALUES (p_stream, p_version, p_event_id, p_type, 1, p_payload, p_actor_id, p_role,
                p_unit, p_at, p_hash);
    INSERT INTO stream_heads (stream_id, version, hash) VALUES (p_stream, p_version, p_hash)
        ON CONFLICT (stream_id) DO UPDATE
        SET version = excluded.version, hash = excluded.hash, updated_at = now();
    INSERT INTO need_summary (stream_id, stage, assigned_unit, due_at, last_version, updated_at)
        VALUES (p_stream, p_type, p_unit, p_at, p_version, now())
        ON CONFLICT (stream_id) DO UPDATE
        SET stage = excluded.stage, assigned_unit = excluded.assigned_unit,
            due_at = excluded.due_at, last_version = excluded.last_version,
            updated_at = excluded.updated_at;
    INSERT INTO unit_monthly_stat_slots AS u (unit_id, month, slot, assigned)
        VALUES (coalesce(p_unit, '-'), date_trunc('month', p_at)::date,
                pg_backend_pid() % 32, 1)
        ON CONFLICT (unit_id, month, slot) DO UPDATE SET assigned = u.assigned + 1;
$$;
"""
FLOOR_CALL = "SELECT bench_floor_append($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10)"


def batches(worker: int, size: int, count: int) -> list[tuple[str, int, list]]:
    """`count` appends of `size` events: realistic lifecycles (rough_path) cycled per stream."""
    template = samples.rough_path()
    out, stream_events = [], 0
    per_stream = max(size, len(template))
    sid = samples.new_stream_id()
    for _ in range(count):
        if stream_events + size > per_stream:
            sid, stream_events = samples.new_stream_id(), 0
        events = [template[(stream_events + i) % len(template)] for i in range(size)]
        out.append((sid, stream_events, samples.envelopes(sid, events, stream_events + 1)))
        stream_events += size
    return out


def plain_rows(envs: list) -> list[tuple]:
    return [(e.stream_id, e.version, e.event_id, e.type, e.schema_version, json.dumps(e.payload),
             e.actor.id, e.actor.role.value, e.actor.unit, e.occurred_at, os.urandom(32))
            for e in envs]


async def run_store(conn, work, deadline) -> int:
    done = 0
    cache = SummaryCache()  # as EventStore holds one: the next append folds onto the last row
    for sid, expected, envs in work:
        if time.perf_counter() >= deadline:
            break
        await append(conn, sid, expected, envs, cache)
        done += len(envs)
    return done


async def run_plain(conn, work, deadline, autocommit: bool = False) -> int:
    done = 0
    for rows in work:
        if time.perf_counter() >= deadline:
            break
        if autocommit and len(rows) == 1:
            await conn.execute(PLAIN_INSERT, *rows[0])
        else:
            async with conn.transaction():
                await conn.executemany(PLAIN_INSERT, rows)
        done += len(rows)
    return done


async def run_floor(conn, work, deadline) -> int:
    done = 0
    for rows in work:
        if time.perf_counter() >= deadline:
            break
        sid, version, event_id, type_, _, payload, actor, role, unit, at, digest = rows[0]
        await conn.execute(FLOOR_CALL, sid, version, event_id, type_, payload, actor, role,
                           unit, at, digest)
        done += 1
    return done


async def measure(conns, works, seconds: float, runner, **kw) -> float:
    start = time.perf_counter()
    deadline = start + seconds
    counts = await asyncio.gather(*(runner(c, w, deadline, **kw) for c, w in zip(conns, works)))
    return sum(counts) / (time.perf_counter() - start)


async def reset(owner) -> None:
    await owner.execute("TRUNCATE events, stream_heads, need_summary, unit_monthly_stat_slots, "
                        "bench_plain_events RESTART IDENTITY")
    await owner.execute("CHECKPOINT")


async def bench(url: str, seconds: float, n_conn: int) -> dict:
    await upgrade_async(url)
    owner = await connect(url, role=None)
    await owner.execute("CREATE TABLE IF NOT EXISTS bench_plain_events "
                        "(LIKE events INCLUDING ALL)")
    await owner.execute(FLOOR_FUNCTION)
    conns = [await connect(url, role=DEFAULT_APP_ROLE) for _ in range(n_conn)]
    plain = [await connect(url, role=None) for _ in range(n_conn)]
    figures: dict[str, float] = {}
    for size, rate in ((1, 4000), (100, 400)):
        n = int(seconds * rate)
        store_work = [batches(w, size, n) for w in range(n_conn)]
        plain_work = [[plain_rows(envs) for _, _, envs in work] for work in store_work]
        await reset(owner)
        figures[f"plain_tx_{size}"] = await measure(plain, plain_work, seconds, run_plain)
        if size == 1:
            await reset(owner)
            figures["plain_autocommit_1"] = await measure(
                plain, plain_work, seconds, run_plain, autocommit=True)
            await reset(owner)
            figures["floor_same_tx_1"] = await measure(plain, plain_work, seconds, run_floor)
        await reset(owner)
        figures[f"store_{size}"] = await measure(conns, store_work, seconds, run_store)
    for c in conns + plain + [owner]:
        await c.close()
    return figures


def report(figures: dict, seconds: float, n_conn: int, url_kind: str) -> dict:
    ratios = {
        "single_vs_plain_tx": figures["store_1"] / figures["plain_tx_1"],
        "single_vs_plain_autocommit": figures["store_1"] / figures["plain_autocommit_1"],
        "batch100_vs_plain_tx": figures["store_100"] / figures["plain_tx_100"],
        "floor_same_tx_vs_plain_tx": figures["floor_same_tx_1"] / figures["plain_tx_1"],
        "single_vs_floor_same_tx": figures["store_1"] / figures["floor_same_tx_1"],
    }
    for name, value in figures.items():
        print(f"{name:>22}: {value:10.0f} events/s")
    for name, value in ratios.items():
        print(f"{name:>28}: {value:5.2f}x")
    return {"events_per_second": {k: round(v) for k, v in figures.items()},
            "ratios": {k: round(v, 3) for k, v in ratios.items()},
            "seconds": seconds, "connections": n_conn, "server": url_kind,
            "cpus": os.cpu_count(), "python": platform.python_version()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--url", help="owner URL (postgresql+asyncpg://…); default: embedded")
    args = parser.parse_args()
    url = args.url
    if url is None:
        from workers.embedded import start_postgres

        url = start_postgres(Path(tempfile.mkdtemp(prefix="bench-pg-")) / "data")
    figures = asyncio.run(bench(url, args.seconds, args.connections))
    result = report(figures, args.seconds, args.connections, "given" if args.url else "embedded")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

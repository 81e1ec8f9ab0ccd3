"""Events/second through the store's append (validation, hash chain and projections included)
beside a plain asyncpg insert into a table of the same shape, in the same run.

    .venv/bin/python -m bench.bench_append [--seconds 5] [--connections 8] [--rounds 3] [--url URL]

Without --url an embedded PostgreSQL is started in a temporary directory. Figures go to
stdout and bench/results/append.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import psutil

from store import samples
from store.append import SummaryCache, append
from store.db import DEFAULT_APP_ROLE, connect
from store.migrate import upgrade_async

RESULTS = Path(__file__).resolve().parent / "results" / "append.json"
PLAIN_COLUMNS = (
    "stream_id, version, event_id, type, schema_version, payload, actor_id, "
    "actor_role, actor_unit, occurred_at, hash"
)
PLAIN_INSERT = (
    f"INSERT INTO bench_plain_events ({PLAIN_COLUMNS}) VALUES "
    "($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11)"
)


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
    return [
        (
            e.stream_id,
            e.version,
            e.event_id,
            e.type,
            e.schema_version,
            json.dumps(e.payload),
            e.actor.id,
            e.actor.role.value,
            e.actor.unit,
            e.occurred_at,
            os.urandom(32),
        )
        for e in envs
    ]


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
        await conn.execute(
            FLOOR_CALL, sid, version, event_id, type_, payload, actor, role, unit, at, digest
        )
        done += 1
    return done


class Meter:
    """CPU seconds of this process and of the PostgreSQL server's processes (the postmaster of
    `backend_pid` and its children, when the server runs on this machine; else 0): on two
    shared cores the append's cost is CPU."""

    def __init__(self, backend_pid: int) -> None:
        self.me = psutil.Process()
        try:
            postmaster = psutil.Process(backend_pid).parent()
            self.server = [postmaster, *postmaster.children()] if postmaster else []
        except psutil.Error:  # a server elsewhere
            self.server = []

    def read(self) -> tuple[float, float]:
        own = self.me.cpu_times()
        server = 0.0
        for p in self.server:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                server += t.user + t.system
        return own.user + own.system, server


async def measure(conns, works, seconds: float, runner, **kw) -> tuple[float, float, float]:
    """Events/s, and client and server CPU µs per event."""
    meter = Meter(conns[0].get_server_pid())
    cpu0, server0 = meter.read()
    start = time.perf_counter()
    deadline = start + seconds
    counts = await asyncio.gather(
        *(runner(c, w, deadline, **kw) for c, w in zip(conns, works, strict=False))
    )
    elapsed = time.perf_counter() - start
    cpu1, server1 = meter.read()
    events = max(sum(counts), 1)
    return (events / elapsed, (cpu1 - cpu0) / events * 1e6, (server1 - server0) / events * 1e6)


async def reset(owner) -> None:
    await owner.execute(
        "TRUNCATE events, stream_heads, need_summary, unit_monthly_stat_slots, "
        "bench_plain_events RESTART IDENTITY"
    )
    await owner.execute("CHECKPOINT")


async def bench(url: str, seconds: float, n_conn: int, rounds: int = 3) -> dict:
    """Medians over `rounds` rounds; each round measures every writer in turn, so a slow spell
    of the machine (they happen here) falls on all of them rather than on one."""
    await upgrade_async(url)
    owner = await connect(url, role=None)
    await owner.execute("CREATE TABLE IF NOT EXISTS bench_plain_events (LIKE events INCLUDING ALL)")
    await owner.execute(FLOOR_FUNCTION)
    conns = [await connect(url, role=DEFAULT_APP_ROLE) for _ in range(n_conn)]
    plain = [await connect(url, role=None) for _ in range(n_conn)]
    samples_: dict[str, list[tuple[float, float, float]]] = {}
    for size, rate in ((1, 4000), (100, 400)):
        n = int(seconds * rate)
        store_work = [batches(w, size, n) for w in range(n_conn)]
        plain_work = [[plain_rows(envs) for _, _, envs in work] for work in store_work]
        phases = [
            (f"plain_tx_{size}", plain, plain_work, run_plain, {}),
            (f"store_{size}", conns, store_work, run_store, {}),
        ]
        if size == 1:
            phases[1:1] = [
                ("plain_autocommit_1", plain, plain_work, run_plain, {"autocommit": True}),
                ("floor_same_tx_1", plain, plain_work, run_floor, {}),
            ]
        for _ in range(rounds):
            for name, writers, work, runner, kw in phases:
                await reset(owner)
                samples_.setdefault(name, []).append(
                    await measure(writers, work, seconds, runner, **kw)
                )
    for c in conns + plain + [owner]:
        await c.close()
    return summarise(samples_)


def summarise(samples_: dict[str, list[tuple[float, float, float]]]) -> dict:
    """Median events/s per writer with the ratios between them, each round's rate, and the
    median CPU per event of this process (client) and of PostgreSQL (server)."""
    rates = {name: statistics.median(r for r, _, _ in runs) for name, runs in samples_.items()}
    return {
        "events_per_second": {name: round(r) for name, r in rates.items()},
        "ratios": {
            "single_vs_plain_tx": round(rates["store_1"] / rates["plain_tx_1"], 3),
            "single_vs_plain_autocommit": round(rates["store_1"] / rates["plain_autocommit_1"], 3),
            "batch100_vs_plain_tx": round(rates["store_100"] / rates["plain_tx_100"], 3),
            "floor_same_tx_vs_plain_tx": round(rates["floor_same_tx_1"] / rates["plain_tx_1"], 3),
            "single_vs_floor_same_tx": round(rates["store_1"] / rates["floor_same_tx_1"], 3),
        },
        "rounds": {name: [round(r) for r, _, _ in runs] for name, runs in samples_.items()},
        "cpu_us_per_event": {
            name: {
                "client": round(statistics.median(c for _, c, _ in runs), 1),
                "server": round(statistics.median(s for _, _, s in runs), 1),
            }
            for name, runs in samples_.items()
        },
    }


def report(result: dict) -> None:
    for name, value in result["events_per_second"].items():
        cpu = result["cpu_us_per_event"][name]
        print(
            f"{name:>22}: {value:8,} events/s   CPU per event: client {cpu['client']:6.1f} µs,"
            f" server {cpu['server']:6.1f} µs   rounds {result['rounds'][name]}"
        )
    for name, value in result["ratios"].items():
        print(f"{name:>28}: {value:5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--url", help="owner URL (postgresql+asyncpg://…); default: embedded")
    args = parser.parse_args()
    url = args.url
    if url is None:
        from workers.stack.embedded import start_postgres

        url = start_postgres(Path(tempfile.mkdtemp(prefix="bench-pg-")) / "data")
    result = asyncio.run(bench(url, args.seconds, args.connections, args.rounds))
    report(result)
    result |= {
        "seconds": args.seconds,
        "connections": args.connections,
        "server": "given" if args.url else "embedded",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

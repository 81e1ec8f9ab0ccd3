"""Benchmark 8 (issue 21): the figures the capacity plan in docs/operations.md is computed from.

One real stack (PostgreSQL, the Temporal dev server, the real policy) with three product worker
processes: one serves the task queue `ONE_QUEUE` alone, two serve `TWO_QUEUE` together. The same
number of needs is driven from submit to closed through each queue (bench_lifecycle's journey),
in two rounds whose order alternates (one, two; two, one), so a position in the run is not
mistaken for the second worker's effect. For each phase: needs closed/s, the CPU seconds per
need of the serving worker(s), the Temporal server, PostgreSQL and the bench client, the
Temporal server's share of the servers' CPU, and how many of the machine's cores were busy
(ours and everyone else's: the machine is shared).

Then, per closed need: Temporal history events and bytes (a sample of histories fetched through
the client; the serialized `History` proto, payloads as stored: encrypted), the dev server's
SQLite bytes per need by table, event-store rows, bytes, write transactions and WAL bytes per
need, the projection tables' bytes per need; and what one more staff action adds (needs with
progress notes). Floors: the 1-worker figures for the 2-worker ones; a bare workflow's history
(start + 3 updates, bench/bare.py) for the history; the rows' own data bytes for the tables.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import time
import uuid
from collections import Counter
from pathlib import Path

import asyncpg
import psutil
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.client import Client

from bench.bare import BareWorkflow
from bench.bench_flow import BARE_QUEUE, _add_cpu, _bare_start, _cpu_seconds, _wait_all_at
from bench.journeys import happy_lifecycle, lamp_need, submit
from bench.stack import REAL_POLICY, Stack
from bench.util import bounded, console, progress
from store.db import asyncpg_dsn

ONE_QUEUE = "bench-capacity-one"  # served by one product worker process
TWO_QUEUE = "bench-capacity-two"  # served by two product worker processes
NOTES = 4  # progress notes of the needs that measure one more staff action
SETUPS = {"one": (ONE_QUEUE, ("worker-0",)), "two": (TWO_QUEUE, ("worker-1", "worker-2"))}
# Tables written per need (events and projections; intake_claims and outbox are per need too).
STORE_TABLES = (
    "events",
    "stream_heads",
    "need_summary",
    "unit_monthly_stat_slots",
    "intake_claims",
    "outbox",
)


def _busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle (every process, ours and others')."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


async def _drive(
    client: Client,
    pool: asyncpg.Pool,
    queue: str,
    tag: str,
    ids: range,
    concurrency: int,
    *,
    notes: int = 0,
    label: str = "",
) -> list[str]:
    async def one(i: int) -> str:
        sub = lamp_need(tag, i)
        need_id = await submit(client, sub, queue)
        await happy_lifecycle(client, pool, need_id, sub.requester.requester_id, notes=notes)
        return need_id

    with progress(label or f"capacity: {tag}", len(ids)) as advance:
        return [str(x) for x in await bounded(ids, concurrency, one, advance)]


async def _warm_up(client: Client, pool: asyncpg.Pool) -> None:
    """Every worker started (on a busy machine that can take minutes) and warm (imports, jieba,
    first connections): needs through both queues at assignment, then driven to closed, so
    every stream in the store is a closed need."""
    for queue, n in ((ONE_QUEUE, 6), (TWO_QUEUE, 12)):
        subs = [lamp_need(f"cap-warm-{queue}", i) for i in range(n)]
        ids = [str(i) for i in await bounded(subs, n, lambda s, q=queue: submit(client, s, q))]
        await _wait_all_at(pool, ids, "assignment", timeout=600)
        await bounded(
            zip(ids, subs, strict=True),
            n,
            lambda p: happy_lifecycle(client, pool, p[0], p[1].requester.requester_id),
        )


async def _phase(
    client: Client,
    pool: asyncpg.Pool,
    setup: str,
    tag: str,
    n: int,
    concurrency: int,
    pids: dict[str, int | None],
    label: str,
    notes: int = 0,
) -> dict:
    queue, serving = SETUPS[setup]
    cpu: dict[str, float] = {}
    start, before, busy = time.perf_counter(), _cpu_seconds(pids), _busy_seconds()
    ids = await _drive(client, pool, queue, tag, range(n), concurrency, notes=notes, label=label)
    seconds = time.perf_counter() - start
    _add_cpu(cpu, before, _cpu_seconds(pids))
    return {
        "ids": ids,
        "seconds": seconds,
        "cpu": cpu,
        "serving": serving,
        "machine_busy": _busy_seconds() - busy,
    }


def _per_setup(phases: list[dict]) -> dict:
    """Sum a setup's phases: throughput, CPU ms per need by process kind, cores busy."""
    needs = sum(len(p["ids"]) for p in phases)
    seconds = sum(p["seconds"] for p in phases)
    serving = phases[0]["serving"]
    cpu: Counter[str] = Counter()
    for p in phases:
        cpu.update(p["cpu"])
    workers = sum(cpu[w] for w in serving)
    idle = sum(v for k, v in cpu.items() if k.startswith("worker-") and k not in serving)
    servers = workers + cpu["temporal"] + cpu["postgres"]
    ours = servers + cpu["bench_client"] + idle
    machine = sum(p["machine_busy"] for p in phases)

    def ms(seconds_: float) -> float:
        return round(seconds_ * 1000 / needs, 1)

    return {
        "needs": needs,
        "seconds": round(seconds, 2),
        "needs_closed_per_s": round(needs / seconds, 2),
        "per_round_needs_closed_per_s": [round(len(p["ids"]) / p["seconds"], 2) for p in phases],
        "worker_processes": len(serving),
        "cpu_ms_per_need": {
            "workers": ms(workers),
            "temporal": ms(cpu["temporal"]),
            "postgres": ms(cpu["postgres"]),
            "bench_client": ms(cpu["bench_client"]),
            "idle_workers": ms(idle),
        },
        "cpu_ms_per_need_each_worker": [ms(cpu[w]) for w in serving],
        "servers_cpu_ms_per_need": ms(servers),
        "temporal_share_of_servers": round(cpu["temporal"] / servers, 3),
        "cores_busy": {
            "workers": round(workers / seconds, 2),
            "temporal": round(cpu["temporal"] / seconds, 2),
            "postgres": round(cpu["postgres"] / seconds, 2),
            "ours": round(ours / seconds, 2),
            "machine": round(machine / seconds, 2),
            "others": round(max(machine - ours, 0.0) / seconds, 2),
        },
    }


async def _histories(client: Client, ids: list[str]) -> list[list[HistoryEvent]]:
    """Each finished workflow's whole history, payloads as the server stores them."""
    out = []
    for wf_id in ids:
        handle = client.get_workflow_handle(wf_id)
        await asyncio.wait_for(handle.result(), 60)
        out.append(list((await handle.fetch_history()).events))
    return out


def _history_figures(histories: list[list[HistoryEvent]]) -> dict:
    events = [len(h) for h in histories]
    sizes = [History(events=h).ByteSize() for h in histories]
    types: Counter[str] = Counter()
    type_bytes: Counter[str] = Counter()
    for e in histories[0]:
        name = EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
        types[name] += 1
        type_bytes[name] += e.ByteSize()
    return {
        "sampled": len(histories),
        "events_per_need": round(sum(events) / len(events), 1),
        "events_min": min(events),
        "events_max": max(events),
        "bytes_per_need": round(sum(sizes) / len(sizes)),
        "bytes_min": min(sizes),
        "bytes_max": max(sizes),
        "event_types": dict(sorted(types.items())),
        "bytes_by_event_type": dict(type_bytes.most_common()),
    }


def _sqlite_tables(db_file: Path) -> dict[str, dict[str, int]]:
    """Bytes (pages, indexes included) and rows of each table of the dev server's SQLite file."""
    con = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=30)
    try:
        sizes = dict(
            con.execute(
                "SELECT s.tbl_name, sum(d.pgsize) FROM dbstat d JOIN sqlite_schema s "
                "ON s.name = d.name GROUP BY s.tbl_name"
            ).fetchall()
        )
        tables = [
            r[0]
            for r in con.execute("SELECT name FROM sqlite_schema WHERE type = 'table'").fetchall()
        ]
        rows = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        con.close()
    return {t: {"bytes": sizes.get(t, 0), "rows": rows[t]} for t in tables}


def _temporal_store(before: dict, after: dict, needs: int) -> dict:
    grown = {
        t: {
            "bytes": v["bytes"] - before.get(t, {}).get("bytes", 0),
            "rows": v["rows"] - before.get(t, {}).get("rows", 0),
        }
        for t, v in after.items()
    }
    kept = {t: v for t, v in grown.items() if v["bytes"] > 0 or v["rows"] > 0}
    return {
        "needs": needs,
        "bytes_per_need": round(sum(v["bytes"] for v in grown.values()) / needs),
        "by_table_bytes_per_need": {
            t: round(v["bytes"] / needs)
            for t, v in sorted(kept.items(), key=lambda kv: -kv[1]["bytes"])
        },
        "by_table_rows_per_need": {t: round(v["rows"] / needs, 2) for t, v in kept.items()},
        "history_node_rows_per_need": round(
            grown.get("history_node", {}).get("rows", 0) / needs, 2
        ),
    }


async def _event_store(pool: asyncpg.Pool, wal_before: str, wal_needs: int) -> dict:
    """Rows, bytes, write transactions per need (every stream here is a closed need); WAL
    written since `wal_before`, over the `wal_needs` needs driven since."""
    wal = await pool.fetchval(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::text::pg_lsn)", wal_before
    )
    await pool.execute("VACUUM ANALYZE")  # visibility map and statistics as in steady state
    needs = await pool.fetchval("SELECT count(*) FROM need_summary")
    closed = await pool.fetchval("SELECT count(*) FROM need_summary WHERE stage = 'closed'")
    rows, data, txs = await pool.fetchrow(
        "SELECT count(*), sum(pg_column_size(e.*)), count(DISTINCT tx_id) FROM events e"
    )
    tables = {}
    for t in STORE_TABLES:
        total, heap, index, live = await pool.fetchrow(
            f"SELECT pg_total_relation_size('{t}'), pg_relation_size('{t}'), "
            f"pg_indexes_size('{t}'), (SELECT coalesce(sum(pg_column_size(x.*)), 0) FROM {t} x)"
        )
        tables[t] = {
            "bytes_per_need": round(total / needs),
            "heap": round(heap / needs),
            "indexes": round(index / needs),
            "toast_and_maps": round((total - heap - index) / needs),
            "row_data": round(live / needs),
        }
    projections = sum(tables[t]["bytes_per_need"] for t in STORE_TABLES if t != "events")
    return {
        "needs": needs,
        "closed": closed,
        "rows_per_need": round(rows / needs, 2),
        "row_data_bytes_per_need": round(data / needs),
        "events_bytes_per_need": tables["events"]["bytes_per_need"],
        "bytes_per_event_row": round(tables["events"]["bytes_per_need"] * needs / rows),
        "write_transactions_per_need": round(txs / needs, 2),
        "wal_bytes_per_need": round(wal / wal_needs),
        "other_tables_bytes_per_need": projections,
        "tables": tables,
    }


async def _per_action(
    client: Client,
    pool: asyncpg.Pool,
    base: dict,
    n: int,
    concurrency: int,
    pids: dict[str, int | None],
) -> dict:
    """What NOTES more staff actions (progress notes) add to a need, per action: history,
    event rows, and CPU (against the 1-worker phases' CPU per need; one short phase, so the
    CPU figures are rougher than the others)."""
    phase = await _phase(
        client,
        pool,
        "one",
        f"cap-notes-{uuid.uuid4().hex[:6]}",
        n,
        concurrency,
        pids,
        f"capacity: {n} needs with {NOTES} notes",
        notes=NOTES,
    )
    ids = phase["ids"]
    hist = _history_figures(await _histories(client, ids))
    rows, data = await pool.fetchrow(
        "SELECT count(*), sum(pg_column_size(e.*)) FROM events e WHERE stream_id = ANY($1)", ids
    )
    cpu, cpu_base = _per_setup([phase])["cpu_ms_per_need"], base["one_worker"]["cpu_ms_per_need"]
    return {
        "needs": n,
        "extra_actions": NOTES,
        "history_events": round(
            (hist["events_per_need"] - base["history"]["events_per_need"]) / NOTES, 1
        ),
        "history_bytes": round(
            (hist["bytes_per_need"] - base["history"]["bytes_per_need"]) / NOTES
        ),
        "event_rows": round((rows / n - base["event_store"]["rows_per_need"]) / NOTES, 2),
        "event_row_data_bytes": round(
            (data / n - base["event_store"]["row_data_bytes_per_need"]) / NOTES
        ),
        "cpu_ms": {
            k: round((cpu[k] - cpu_base[k]) / NOTES, 1)
            for k in ("workers", "temporal", "postgres", "bench_client")
        },
        "cpu_ms_per_need_with_notes": cpu,
    }


async def _bare_histories(stack: Stack, n: int) -> dict:
    """The floor: bare workflows started the same way and receiving three updates."""
    stack.start_worker(module="bench.bare", task_queue=BARE_QUEUE)
    plain = await stack.temporal.connect(encrypted=False)
    ids = [f"bare-cap-{uuid.uuid4().hex[:6]}-{i}" for i in range(n)]

    async def one(wf_id: str) -> None:
        await _bare_start(plain, wf_id, 3)
        handle = plain.get_workflow_handle(wf_id)
        for _ in range(3):
            await handle.execute_update(BareWorkflow.act, "x")

    await bounded(ids, 8, one)
    return _history_figures(await _histories(plain, ids))


async def bench_capacity(root: Path, n: int, concurrency: int, samples: int) -> dict:
    stack = Stack(root / "capacity", policy=REAL_POLICY, task_queue=ONE_QUEUE)
    try:
        client = await stack.start(worker=True)  # worker-0 serves ONE_QUEUE
        for _ in range(2):
            stack.start_worker(task_queue=TWO_QUEUE)  # worker-1 and worker-2
        pids = {f"worker-{k}": w.pid() for k, w in enumerate(stack.workers)} | {
            "temporal": stack.temporal.pid(),
            "postgres": stack.pg.pid(),
            "bench_client": os.getpid(),
        }
        pool = await asyncpg.create_pool(asyncpg_dsn(stack.pg.url), min_size=2, max_size=16)
        try:
            await _warm_up(client, pool)
            sqlite_before = _sqlite_tables(stack.temporal.db_file)
            wal_before = await pool.fetchval("SELECT pg_current_wal_lsn()::text")
            phases: dict[str, list[dict]] = {"one": [], "two": []}
            per_round = max(n // 2, 1)
            for r, order in enumerate((("one", "two"), ("two", "one"))):
                for setup in order:
                    label = f"capacity {r + 1}/2: {len(SETUPS[setup][1])} worker(s), submit→closed"
                    phases[setup].append(
                        await _phase(
                            client,
                            pool,
                            setup,
                            f"cap-{setup}-{r}",
                            per_round,
                            concurrency,
                            pids,
                            label,
                        )
                    )
            everything = [i for ps in phases.values() for p in ps for i in p["ids"]]
            await _wait_all_at(pool, everything, "closed", timeout=300)
            one, two = _per_setup(phases["one"]), _per_setup(phases["two"])
            out: dict = {
                "needs_per_setup": per_round * 2,
                "rounds": 2,
                "concurrency": concurrency,
                "order": [["one", "two"], ["two", "one"]],
                "one_worker": one,
                "two_workers": two,
                "two_vs_one": round(two["needs_closed_per_s"] / one["needs_closed_per_s"], 3),
                "cpu_two_vs_one": round(
                    two["servers_cpu_ms_per_need"] / one["servers_cpu_ms_per_need"], 3
                ),
            }
            console.print(f"  fetching {samples} histories")
            sample = random.Random(0).sample(everything, min(samples, len(everything)))
            out["history"] = _history_figures(await _histories(client, sample))
            timed = len(everything)
            out["temporal_store"] = _temporal_store(
                sqlite_before, _sqlite_tables(stack.temporal.db_file), timed
            )
            out["event_store"] = await _event_store(pool, wal_before, timed)
            out["per_action"] = await _per_action(
                client, pool, out, max(samples, 10), concurrency, pids
            )
            out["history"]["bare"] = await _bare_histories(stack, max(samples // 2, 5))
        finally:
            await pool.close()
    finally:
        await stack.close()
    return out

"""Benchmarks 1–4 on the real local stack: intake, full lifecycle, staff-action latency under a
background load, memory of open needs. Each beside its floor measured in the same run on the
same servers: bare workflows (bench/bare.py) served by their own worker process.

The product runs encrypted (workers/codec.py), as it does everywhere; the bare floor does not
(it is what Temporal itself must do). The lifecycle also runs needs through a second product
worker with the codec off (bench/plain_worker.py, its own task queue and a plain client) in
the same rounds: the codec's cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from pathlib import Path

import asyncpg
import psutil
import yaml
from temporalio.client import Client

from bench.bare import BareTimerWorkflow, BareWorkflow
from bench.journeys import happy_lifecycle, lamp_need, staff, submit
from bench.stack import REAL_POLICY, Stack
from bench.util import bounded, console, pcts, progress
from domain.commands import Accept, Complete, NoteProgress
from domain.model import ServiceMode
from store.db import asyncpg_dsn
from workflows import client as needs

NEED_QUEUE = "bench-needs"
PLAIN_QUEUE = "bench-needs-plain"  # the product worker with the codec off
LEGACY_QUEUE = "bench-needs-legacy"  # the product worker reading intake as before (policy)
BARE_QUEUE = "bench-bare"


async def _count_at(pool: asyncpg.Pool, ids: list[str], stage: str) -> int:
    return await pool.fetchval(
        "SELECT count(*) FROM need_summary WHERE stream_id = ANY($1) AND stage = $2", ids, stage
    )


async def _wait_all_at(
    pool: asyncpg.Pool, ids: list[str], stage: str, timeout: float = 1800
) -> None:
    deadline = time.monotonic() + timeout
    with progress(f"waiting for {len(ids)} needs at {stage}", len(ids)) as advance:
        seen = 0
        while True:
            n = await _count_at(pool, ids, stage)
            advance(n - seen)
            seen = n
            if n >= len(ids):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {n}/{len(ids)} needs reached {stage}")
            await asyncio.sleep(0.2)


async def _bare_start(client: Client, wf_id: str, updates: int) -> None:
    await client.start_workflow(
        BareWorkflow.run,
        updates,
        id=wf_id,
        task_queue=BARE_QUEUE,
        start_signal="report",
        start_signal_args=["x"],
    )


# --- 1. intake ------------------------------------------------------------------------------


def legacy_intake_policy(root: Path) -> Path:
    """The real policy read as intake read it before the word matcher and the repeat rules
    (substring keywords; repeats by category and place): today's figure of the same run."""
    policy = yaml.safe_load(REAL_POLICY.read_text(encoding="utf-8"))
    policy["classification"]["matcher"] = "substring"
    for key in ("repeats", "location_request_limit"):
        policy["collection"].pop(key, None)
    path = root / "policy-legacy-intake.yaml"
    path.write_text(yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8")
    return path


async def _intake_round(
    client: Client,
    pool: asyncpg.Pool,
    queue: str,
    label: str,
    n: int,
    concurrency: int,
    pids: dict[str, int | None],
    cpu_total: dict[str, float],
) -> tuple[float, float]:
    tag = uuid.uuid4().hex[:6]
    # Every report worded apart, as residents' are: no cache answers one need for another.
    subs = [
        lamp_need(f"{label}-{tag}", i, title=f"路灯坏了，晚上很黑，{tag}第{i}次反映")
        for i in range(n)
    ]
    start, cpu = time.perf_counter(), _cpu_seconds(pids)
    with progress(f"intake ({label}): submit_need", n) as advance:
        ids = await bounded(subs, concurrency, lambda s: submit(client, s, queue), advance)
    accepted = time.perf_counter() - start
    await _wait_all_at(pool, list(ids), "assignment")
    _add_cpu(cpu_total, cpu, _cpu_seconds(pids))
    return accepted, time.perf_counter() - start


async def bench_intake(
    client: Client,
    pool: asyncpg.Pool,
    n: int,
    concurrency: int,
    bare_client: Client,
    pids: dict[str, int | None] | None = None,
) -> dict:
    """Intake through the product worker against a product worker whose policy reads intake
    as before (LEGACY_QUEUE), in alternating half rounds. With `pids` (product_worker,
    legacy_worker, temporal, postgres), also the CPU each process spent per need in each
    reading of intake: where the difference between the two goes."""
    tag = uuid.uuid4().hex[:6]
    pids = {**(pids or {}), "bench_client": os.getpid()}
    watched = {k: v for k, v in pids.items() if k != "legacy_worker"}
    legacy_watched = {k: v for k, v in pids.items() if k != "product_worker"}
    cpu: dict[str, float] = {}
    legacy_cpu: dict[str, float] = {}
    # Half rounds in the order A B B A, so each reading of intake goes first once: the round
    # after another is faster than the one before it (measured 2026-12-04: the same code read
    # 0.76x always going first and 1.29x always going second), and ABBA cancels such drift.
    readings = {  # queue, label, processes watched, CPU seconds, [accepted, processed] seconds
        "product": (NEED_QUEUE, "in", watched, cpu, [0.0, 0.0]),
        "legacy": (LEGACY_QUEUE, "legacy", legacy_watched, legacy_cpu, [0.0, 0.0]),
    }
    for reading in ("product", "legacy", "legacy", "product"):
        queue, label, procs, cpu_total, seconds = readings[reading]
        took = await _intake_round(
            client, pool, queue, label, n // 2, concurrency, procs, cpu_total
        )
        seconds[0], seconds[1] = seconds[0] + took[0], seconds[1] + took[1]
    accepted, processed = readings["product"][4]
    legacy_accepted, legacy_processed = readings["legacy"][4]
    n = n // 2 * 2
    legacy_cpu["product_worker"] = legacy_cpu.pop("legacy_worker", 0.0)

    bare_ids = [f"bare-in-{tag}-{i}" for i in range(n)]
    start = time.perf_counter()
    with progress("intake floor: bare signal-with-start", n) as advance:
        await bounded(bare_ids, concurrency, lambda i: _bare_start(bare_client, i, 0), advance)
    started = time.perf_counter() - start
    with progress("intake floor: bare completions", n) as advance:
        await bounded(bare_ids, 500, lambda i: bare_client.get_workflow_handle(i).result(), advance)
    completed = time.perf_counter() - start
    return {
        "needs": n,
        "concurrency": concurrency,
        "needs_accepted_per_s": round(n / accepted, 1),
        "needs_classified_and_assigned_per_s": round(n / processed, 1),
        "bare_starts_per_s": round(n / started, 1),
        "bare_started_and_completed_per_s": round(n / completed, 1),
        "ratio_accepted": round((n / accepted) / (n / started), 3),
        "ratio_processed": round((n / processed) / (n / completed), 3),
        "legacy_needs_accepted_per_s": round(n / legacy_accepted, 1),
        "legacy_needs_classified_and_assigned_per_s": round(n / legacy_processed, 1),
        "vs_legacy_accepted": round(legacy_accepted / accepted, 3),
        "vs_legacy_processed": round(legacy_processed / processed, 3),
        "cpu_ms_per_need": {k: round(v * 1000 / n, 2) for k, v in cpu.items()},
        "legacy_cpu_ms_per_need": {k: round(v * 1000 / n, 2) for k, v in legacy_cpu.items()},
    }


# --- 2. full lifecycle ----------------------------------------------------------------------


def _cpu_seconds(pids: dict[str, int | None]) -> dict[str, float]:
    """User + system CPU seconds of each process (PostgreSQL: with its backends)."""
    out = {}
    for name, pid in pids.items():
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)] if name == "postgres" else [proc]
        out[name] = sum(t.user + t.system for t in (p.cpu_times() for p in procs))
    return out


def _add_cpu(total: dict[str, float], before: dict[str, float], after: dict[str, float]) -> None:
    for name, seconds in before.items():
        total[name] = total.get(name, 0.0) + after[name] - seconds


async def bench_lifecycle(
    client: Client,
    pool: asyncpg.Pool,
    n: int,
    concurrency: int,
    rounds: int = 2,
    pids: dict[str, int | None] | None = None,
    *,
    bare_client: Client,
    plain_client: Client | None = None,
) -> dict:
    """Needs and bare workflows in alternating rounds (needs, needs with the codec off, bare,
    needs, …): on a shared 2-core machine the speed drifts, and alternating spreads the drift
    over all. With `pids` (name → process), also the CPU each process spent per need and per
    bare workflow: where the difference is, not only how large it is. `plain_client` (plain
    converter, PLAIN_QUEUE served by bench.plain_worker, `pids["plain_worker"]`): the same
    needs with the codec off."""
    pids = {**(pids or {}), "bench_client": os.getpid()}
    plain_pid = pids.pop("plain_worker", None)
    cpu_needs: dict[str, float] = {}
    cpu_plain: dict[str, float] = {}
    cpu_bare: dict[str, float] = {}
    cpu_no_outbox: dict[str, float] = {}
    tag = uuid.uuid4().hex[:6]

    async def one_need(i: int) -> None:
        sub = lamp_need(f"lc-{tag}", i)
        need_id = await submit(client, sub, NEED_QUEUE)
        await happy_lifecycle(client, pool, need_id, sub.requester.requester_id)

    async def one_need_no_outbox(i: int) -> None:
        sub = lamp_need(f"lo-{tag}", i)
        need_id = await submit(client, sub, NEED_QUEUE)
        await happy_lifecycle(client, pool, need_id, sub.requester.requester_id)

    async def one_plain_need(i: int) -> None:
        assert plain_client is not None
        sub = lamp_need(f"lp-{tag}", i)
        need_id = await submit(plain_client, sub, PLAIN_QUEUE)
        await happy_lifecycle(plain_client, pool, need_id, sub.requester.requester_id)

    async def one_bare(i: int) -> None:
        wf_id = f"bare-lc-{tag}-{i}"
        await _bare_start(bare_client, wf_id, 3)
        handle = bare_client.get_workflow_handle(wf_id)
        for _ in range(3):
            await handle.execute_update(BareWorkflow.act, "x")

    async def phase(
        label: str, ids: range, one, cpu_total: dict[str, float], watched: dict[str, int | None]
    ) -> float:
        """Run `one` for every id; seconds taken, CPU added to `cpu_total`."""
        start, cpu = time.perf_counter(), _cpu_seconds(watched)
        with progress(label, len(ids)) as advance:
            await bounded(ids, concurrency, one, advance)
        seconds = time.perf_counter() - start
        _add_cpu(cpu_total, cpu, _cpu_seconds(watched))
        return seconds

    # the codec-off needs: their worker counts as the product worker
    plain_pids = {**pids, "product_worker": plain_pid} if plain_pid else pids
    per_round = max(n // rounds, 1)
    needs_s = plain_s = bare_s = no_outbox_s = 0.0
    for r in range(rounds):
        ids = range(r * per_round, (r + 1) * per_round)
        needs_s += await phase(
            f"lifecycle {r + 1}/{rounds}: submit→accept→complete→evaluate",
            ids,
            one_need,
            cpu_needs,
            pids,
        )
        # the same needs with the outbox trigger off (migration 0009): what it costs
        await pool.execute("ALTER TABLE events DISABLE TRIGGER events_outbox")
        try:
            no_outbox_s += await phase(
                f"lifecycle {r + 1}/{rounds}, outbox off",
                ids,
                one_need_no_outbox,
                cpu_no_outbox,
                pids,
            )
        finally:
            await pool.execute("ALTER TABLE events ENABLE TRIGGER events_outbox")
        if plain_client is not None:
            plain_s += await phase(
                f"lifecycle {r + 1}/{rounds}, codec off", ids, one_plain_need, cpu_plain, plain_pids
            )
        bare_s += await phase(
            f"lifecycle floor {r + 1}/{rounds}: bare start + 3 updates",
            ids,
            one_bare,
            cpu_bare,
            pids,
        )
    total = per_round * rounds
    closed = await pool.fetchval(
        "SELECT count(*) FROM need_summary WHERE stream_id LIKE 'need-app-%' AND stage = 'closed' "
        "AND requester_id LIKE $1",
        f"res-lc-{tag}-%",
    )
    return {
        "needs": total,
        "concurrency": concurrency,
        "rounds": rounds,
        "closed": closed,
        "updates_per_need": 3,
        "needs_closed_per_s": round(total / needs_s, 2),
        "bare_per_s": round(total / bare_s, 2),
        "ratio": round(bare_s / needs_s, 3),
        "target_ratio": 0.7,
        "cpu_ms_per_need": {k: round(v * 1000 / total, 1) for k, v in cpu_needs.items()},
        "cpu_ms_per_bare": {k: round(v * 1000 / total, 1) for k, v in cpu_bare.items()},
        "outbox_off_needs_closed_per_s": round(total / no_outbox_s, 2),
        "outbox_on_vs_off": round(no_outbox_s / needs_s, 3),
    } | (
        {
            "codec_off_needs_closed_per_s": round(total / plain_s, 2),
            "codec_on_vs_off": round(plain_s / needs_s, 3),
            "target_codec_on_vs_off": 0.9,
            "cpu_ms_per_need_codec_off": {
                k: round(v * 1000 / total, 1) for k, v in cpu_plain.items()
            },
        }
        if plain_client is not None
        else {}
    )


# --- 3. staff-action latency under background load --------------------------------------------


async def bench_latency(
    client: Client, pool: asyncpg.Pool, n_needs: int, load_per_s: float = 1.0
) -> tuple[dict, list[float]]:
    tag = uuid.uuid4().hex[:6]
    subs = [lamp_need(f"lat-{tag}", i) for i in range(n_needs)]
    ids = await bounded(subs, 10, lambda s: submit(client, s, NEED_QUEUE))
    await _wait_all_at(pool, list(ids), "assignment")

    stop = asyncio.Event()
    background: list[asyncio.Task] = []
    bg_done = 0

    async def one_background(i: int) -> None:
        nonlocal bg_done
        sub = lamp_need(f"bg-{tag}", i)
        need_id = await submit(client, sub, NEED_QUEUE)
        await happy_lifecycle(client, pool, need_id, sub.requester.requester_id)
        bg_done += 1

    async def load() -> None:
        i = 0
        while not stop.is_set():
            background.append(asyncio.create_task(one_background(i)))
            i += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1 / load_per_s)

    async def visible(need_id: str, before: int, t0: float) -> float:
        while True:
            v = await pool.fetchval(
                "SELECT last_version FROM need_summary WHERE stream_id = $1", need_id
            )
            if v is not None and v > before:
                return time.perf_counter() - t0
            await asyncio.sleep(0.002)

    latencies: list[float] = []
    round_trips: list[float] = []
    loader = asyncio.create_task(load())
    await asyncio.sleep(3)  # let the background load settle in
    actions_per_need = 5
    with progress("latency: staff actions at 1 new need/s", n_needs * actions_per_need) as advance:
        for need_id in ids:
            row = await pool.fetchrow(
                "SELECT assigned_unit FROM need_summary WHERE stream_id = $1", need_id
            )
            unit = staff(row["assigned_unit"])
            commands = [
                Accept(),
                NoteProgress(note="on site"),
                NoteProgress(note="parts ordered"),
                NoteProgress(note="fitted"),
                Complete(result_summary="lamp replaced", service_mode=ServiceMode.ON_SITE),
            ]
            for command in commands:
                before = await pool.fetchval(
                    "SELECT last_version FROM need_summary WHERE stream_id = $1", need_id
                )
                t0 = time.perf_counter()
                watcher = asyncio.create_task(visible(need_id, before, t0))
                await needs.act(client, need_id, unit, command)
                round_trips.append((time.perf_counter() - t0) * 1000)
                latencies.append(await watcher * 1000)
                advance(1)
    stop.set()
    await loader
    await asyncio.gather(*background)
    figures = {
        "background_load_needs_per_s": load_per_s,
        "background_needs_completed": bg_done,
        "measured_needs": n_needs,
        "actions": len(latencies),
        "update_to_projection": pcts(latencies),
        "update_round_trip": pcts(round_trips),
        "target_p99_ms": 150,
    }
    return figures, latencies


# --- 4. memory of open needs -------------------------------------------------------------------


def _rss_mb(pid: int | None) -> float:
    assert pid is not None
    return round(psutil.Process(pid).memory_info().rss / 2**20, 1)


async def _settle(pid: int | None, seconds: float = 2.0, timeout: float = 120) -> None:
    """Wait until the process has been nearly idle (< 5 % of a core) for `seconds`."""
    proc = psutil.Process(pid)
    deadline = time.monotonic() + timeout
    quiet = 0.0
    while quiet < seconds and time.monotonic() < deadline:
        busy = proc.cpu_percent(interval=None)
        await asyncio.sleep(0.5)
        busy = proc.cpu_percent(interval=None)
        quiet = quiet + 0.5 if busy < 5 else 0.0


async def bench_memory(root: Path, n: int, concurrency: int) -> dict:
    out: dict = {"open": n}
    # needs waiting on their acceptance timer (the real policy: hours away)
    stack = Stack(root / "mem-needs", policy=REAL_POLICY, task_queue=NEED_QUEUE)
    try:
        client = await stack.start(worker=True)
        worker = stack.workers[0]
        await asyncio.sleep(3)
        idle_worker, idle_server = _rss_mb(worker.pid()), _rss_mb(stack.temporal.pid())
        pool = await asyncpg.create_pool(asyncpg_dsn(stack.pg.url), min_size=1, max_size=4)
        tag = uuid.uuid4().hex[:6]
        with progress(f"memory: {n} open needs", n) as advance:
            ids = await bounded(
                [lamp_need(f"mem-{tag}", i) for i in range(n)],
                concurrency,
                lambda s: submit(client, s, NEED_QUEUE),
                advance,
            )
        await _wait_all_at(pool, list(ids), "assignment")
        await pool.close()
        await _settle(worker.pid())
        out["needs"] = {
            "worker_idle_mb": idle_worker,
            "server_idle_mb": idle_server,
            "worker_mb": _rss_mb(worker.pid()),
            "server_mb": _rss_mb(stack.temporal.pid()),
        }
    finally:
        await stack.close()
    # bare workflows waiting on one timer
    stack = Stack(root / "mem-bare", policy=REAL_POLICY, task_queue=BARE_QUEUE)
    try:
        await stack.start(worker=False)
        client = await stack.temporal.connect(encrypted=False)  # the bare worker has no codec
        worker = stack.start_worker(module="bench.bare", task_queue=BARE_QUEUE)
        await asyncio.sleep(3)
        idle_worker, idle_server = _rss_mb(worker.pid()), _rss_mb(stack.temporal.pid())
        tag = uuid.uuid4().hex[:6]
        wf_ids = [f"bare-mem-{tag}-{i}" for i in range(n)]
        with progress(f"memory floor: {n} bare timer workflows", n) as advance:
            await bounded(
                wf_ids,
                concurrency,
                lambda i: client.start_workflow(
                    BareTimerWorkflow.run, 30, id=i, task_queue=BARE_QUEUE
                ),
                advance,
            )
        # a query answers only after the workflow's first task ran; ask the last ones started
        for wf_id in wf_ids[-20:]:
            for _ in range(60):
                try:
                    await client.get_workflow_handle(wf_id).query(BareTimerWorkflow.alive)
                    break
                except Exception:  # noqa: BLE001 - the worker is still busy: ask again
                    await asyncio.sleep(1)
        await _settle(worker.pid())
        out["bare"] = {
            "worker_idle_mb": idle_worker,
            "server_idle_mb": idle_server,
            "worker_mb": _rss_mb(worker.pid()),
            "server_mb": _rss_mb(stack.temporal.pid()),
        }
    finally:
        await stack.close()
    for kind in ("needs", "bare"):
        d = out[kind]
        d["worker_kb_per_open"] = round((d["worker_mb"] - d["worker_idle_mb"]) * 1024 / n, 1)
        d["server_kb_per_open"] = round((d["server_mb"] - d["server_idle_mb"]) * 1024 / n, 1)
    out["ratio_worker"] = round(out["needs"]["worker_mb"] / out["bare"]["worker_mb"], 3)
    out["ratio_server"] = round(out["needs"]["server_mb"] / out["bare"]["server_mb"], 3)
    return out


async def run_flow(
    root: Path, sizes: dict, only: set[str], results: dict | None = None
) -> tuple[dict, list[float]]:
    """Benchmarks 1–3 share one stack (product worker + bare worker); 4 starts its own.
    Figures go into `results` as each part finishes."""
    results = {} if results is None else results
    latencies: list[float] = []
    if only & {"intake", "lifecycle", "latency"}:
        stack = Stack(root / "flow", policy=REAL_POLICY, task_queue=NEED_QUEUE)
        try:
            client = await stack.start(worker=True)
            bare = stack.start_worker(module="bench.bare", task_queue=BARE_QUEUE)
            plain = stack.start_worker(module="bench.plain_worker", task_queue=PLAIN_QUEUE)
            legacy = None
            if "intake" in only:
                legacy = stack.start_worker(
                    task_queue=LEGACY_QUEUE, policy=legacy_intake_policy(root)
                )
            plain_client = await stack.temporal.connect(encrypted=False)
            pids = {
                "product_worker": stack.workers[0].pid(),
                "bare_worker": bare.pid(),
                "temporal": stack.temporal.pid(),
                "postgres": stack.pg.pid(),
                "plain_worker": plain.pid(),
            }
            pool = await asyncpg.create_pool(asyncpg_dsn(stack.pg.url), min_size=2, max_size=12)
            try:
                # warm up both workers (imports, sandbox, first connections)
                warm = [lamp_need("warm", i) for i in range(5)]
                await bounded(warm, 5, lambda s: submit(client, s, NEED_QUEUE))
                if legacy is not None:  # both readings of intake warmed alike
                    for queue in (NEED_QUEUE, LEGACY_QUEUE):
                        warm = [lamp_need(f"warm-{queue}", i) for i in range(100)]
                        ids = await bounded(warm, 32, lambda s, q=queue: submit(client, s, q))
                        await _wait_all_at(pool, list(ids), "assignment")
                await bounded(range(5), 5, lambda i: _bare_start(plain_client, f"bare-warm-{i}", 0))
                await bounded(
                    [lamp_need("warm-plain", i) for i in range(5)],
                    5,
                    lambda s: submit(plain_client, s, PLAIN_QUEUE),
                )
                await asyncio.sleep(3)
                if "intake" in only:
                    console.print("[bold]1. intake[/bold]")
                    intake_pids = {
                        "product_worker": pids["product_worker"],
                        "legacy_worker": legacy.pid() if legacy else None,
                        "temporal": pids["temporal"],
                        "postgres": pids["postgres"],
                    }
                    results["intake"] = await bench_intake(
                        client,
                        pool,
                        sizes["intake"],
                        sizes["concurrency"],
                        plain_client,
                        pids=intake_pids,
                    )
                if "lifecycle" in only:
                    console.print("[bold]2. full lifecycle[/bold]")
                    results["lifecycle"] = await bench_lifecycle(
                        client,
                        pool,
                        sizes["lifecycle"],
                        sizes["concurrency"] // 2,
                        pids=pids,
                        bare_client=plain_client,
                        plain_client=plain_client,
                    )
                if "latency" in only:
                    console.print("[bold]3. staff-action latency[/bold]")
                    results["latency"], latencies = await bench_latency(
                        client, pool, sizes["latency_needs"]
                    )
            finally:
                await pool.close()
        finally:
            await stack.close()
    if "memory" in only:
        console.print("[bold]4. memory of open needs[/bold]")
        results["memory"] = await bench_memory(root, sizes["open_needs"], sizes["concurrency"])
    return results, latencies

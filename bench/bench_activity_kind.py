"""Local or regular activity for the event-store append? Workflows/second of a workflow that
appends six events one decision at a time, both ways, on the same dev server and database.

    .venv/bin/python -m bench.bench_activity_kind [--workflows 200] [--concurrency 40]

Prints both rates and their ratio; writes bench/results/activity_kind.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import tempfile
import time
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.store import StoreActivities
from bench.activity_kind_workflow import AppendLoopWorkflow
from store.db import DEFAULT_APP_ROLE
from store.eventstore import EventStore
from store.migrate import upgrade_async
from workers.stack.embedded import start_postgres, venv_binary
from workers.stack.temporal_server import SERVER_STARTUP_TIMEOUT, SQLITE_PRAGMAS
from workflows.codec import EncryptionCodec, Keyring, data_converter

RESULTS = Path(__file__).resolve().parent / "results" / "activity_kind.json"


async def rate(client: Client, task_queue: str, local: bool, count: int, concurrency: int) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await client.execute_workflow(
                AppendLoopWorkflow.run,
                local,
                id=f"need-app-{secrets.token_hex(8)}",
                task_queue=task_queue,
            )

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return count / (time.perf_counter() - started)


async def main(count: int, concurrency: int) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="bak-"))
    url = start_postgres(tmp / "pg")
    await upgrade_async(url, DEFAULT_APP_ROLE)
    store = await EventStore.open(url, DEFAULT_APP_ROLE, max_size=8)
    args: list[str] = []
    for pragma in SQLITE_PRAGMAS:
        args += ["--sqlite-pragma", pragma]
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(venv_binary("temporal")),
        data_converter=data_converter(
            EncryptionCodec(Keyring.generate(), plaintext_readable=False)
        ),
        dev_server_database_filename=str(tmp / "temporal.sqlite"),
        dev_server_extra_args=args,
        dev_server_startup_timeout=SERVER_STARTUP_TIMEOUT,
    )
    try:
        async with Worker(
            env.client,
            task_queue="bench",
            workflows=[AppendLoopWorkflow],
            activities=[StoreActivities(store).append_events],
        ):
            await rate(env.client, "bench", True, 20, concurrency)  # warm-up
            local = await rate(env.client, "bench", True, count, concurrency)
            regular = await rate(env.client, "bench", False, count, concurrency)
    finally:
        await env.shutdown()
        await store.close()
    figures = {
        "local_workflows_per_s": round(local, 1),
        "regular_workflows_per_s": round(regular, 1),
        "local_over_regular": round(local / regular, 2),
        "workflows": count,
        "concurrency": concurrency,
        "events_per_workflow": 6,
    }
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workflows", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=40)
    ns = parser.parse_args()
    result = asyncio.run(main(ns.workflows, ns.concurrency))
    print(f"append via local activity:   {result['local_workflows_per_s']:7.1f} workflows/s")
    print(f"append via regular activity: {result['regular_workflows_per_s']:7.1f} workflows/s")
    print(f"local / regular:             {result['local_over_regular']:7.2f}x")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))

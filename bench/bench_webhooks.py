"""Benchmark 7: event commit → webhook received, with a local receiver.

A real stack (PostgreSQL, the Temporal dev server, the product's worker, the real policy), a
webhook subscription of the demo integrator to a real HTTP receiver on this machine, and the
product's delivery loop (workers/delivery.py, default policy) beside it. Needs are submitted
at `rate` per second for `seconds`; every `received` and `assigned` message is timed from
its event's `occurred_at` (the workflow's clock, this machine's) to its arrival. The issue's
target: p99 < 1 s at 10 needs/s.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI, Request, Response

from api.app import create_app
from api.deps import Services
from bench.bench_console import KEY, _need
from bench.stack import REAL_POLICY, Stack, free_port
from bench.util import console, pcts
from store.db import DEFAULT_APP_ROLE, create_pool
from workers.delivery import DeliveryPolicy, delivery_loop

TARGET_P99_MS = 1000


async def bench_webhooks(root: Path, rate: float, seconds: float) -> dict:
    arrivals: list[tuple[dict, float]] = []
    receiver = FastAPI()

    @receiver.post("/hook")
    async def hook(request: Request) -> Response:
        arrivals.append((json.loads(await request.body()), time.time()))
        return Response(status_code=204)

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            receiver, host="127.0.0.1", port=port, lifespan="off", log_config=None, access_log=False
        )
    )
    serving = asyncio.create_task(server.serve())
    stack = Stack(root / "webhooks", policy=REAL_POLICY)
    client = await stack.start()
    pool = await create_pool(stack.pg.url, DEFAULT_APP_ROLE, min_size=1, max_size=8)
    stop = asyncio.Event()
    delivering = asyncio.create_task(delivery_loop(pool, DeliveryPolicy(allow_private=True), stop))
    try:
        app = create_app(
            Services(
                temporal=client, pool=pool, task_queue=stack.task_queue, policy_file=REAL_POLICY
            )
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app),
            base_url="http://api",
            headers={"X-API-Key": KEY},
            timeout=60,
        ) as api:
            made = await api.post(
                "/webhooks",
                json={"url": f"http://127.0.0.1:{port}/hook", "types": ["received", "assigned"]},
            )
            assert made.status_code == 201, made.text
            total = int(rate * seconds)
            start, ids = time.perf_counter(), []
            for i in range(total):  # an even rate, whatever each POST takes
                await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
                ids.append((await api.post("/needs", json=_need(i))).json()["id"])
            wanted = {(n, t) for n in ids for t in ("received", "assigned")}
            deadline = time.perf_counter() + 120
            while time.perf_counter() < deadline:
                got = {(m["need_id"], m["type"]) for m, _ in arrivals}
                if wanted <= got:
                    break
                await asyncio.sleep(0.1)
        mine = [(m, at) for m, at in arrivals if m["need_id"] in set(ids)]
        latencies = [
            (at - datetime.fromisoformat(m["occurred_at"]).timestamp()) * 1000 for m, at in mine
        ]
        figures = pcts(latencies)
        console.print(f"  {len(mine)} messages for {len(ids)} needs at {rate}/s")
    finally:
        stop.set()
        await delivering
        await pool.close()
        await stack.close()
        server.should_exit = True
        await serving
    return {
        "needs": len(ids),
        "rate_per_s": rate,
        "messages": len(mine),
        "expected_messages": 2 * len(ids),
        "commit_to_webhook_ms": figures,
        "target_p99_ms": TARGET_P99_MS,
    }

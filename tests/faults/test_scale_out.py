"""Several workers and API processes on one box: the dev server and PostgreSQL, two product
worker processes and two `demandflow api` processes; needs driven over HTTP through both
APIs; one worker SIGKILLed mid-load while the other finishes everything.

Asserted: both workers executed workflow tasks (their identities in the histories), every
need closed, every stream's versions gap-free with its head, no event id twice, the hash
chains whole, projections equal a rebuild (tests/faults/checks.py).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from bench.stack import REAL_POLICY, REPO, Stack, free_port, worker_env
from store.db import asyncpg_dsn
from tests.api.conftest import KEYS, a_need
from tests.faults.checks import audit_problems
from tests.faults.conftest import wait_until

NEEDS = 240
pytestmark = pytest.mark.timeout(300)


class Api:
    def __init__(self, stack: Stack, root) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = worker_env(
            stack.pg.url,
            stack.temporal.address,
            stack.task_queue,
            REAL_POLICY,
            "WARNING",
            stack.temporal.keys_file,
        ) | {"API_PORT": str(self.port), "API_HOST": "127.0.0.1"}
        self.log = (root / f"api-{self.port}.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "workers.cli.main", "api"],
            env=env,
            cwd=REPO,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    async def healthy(self) -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                return (await client.get(f"{self.url}/health")).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


@pytest.fixture
async def scaled(tmp_path) -> AsyncIterator[tuple[Stack, list[Api]]]:
    stack = Stack(
        tmp_path / "scaled", policy=REAL_POLICY, task_queue=f"scale-{uuid.uuid4().hex[:8]}"
    )
    apis: list[Api] = []
    try:
        await stack.start(worker=True)
        stack.start_worker()  # the second worker process
        apis = [Api(stack, tmp_path), Api(stack, tmp_path)]
        for api in apis:
            await wait_until(api.healthy, timeout=90, tick=0.3)
        yield stack, apis
    finally:
        for api in apis:
            api.stop()
        await stack.close()
        assert stack.leftovers() == [], f"processes left running: {stack.leftovers()}"


async def one_need(apis: list[Api], i: int, clients: dict[str, httpx.AsyncClient]) -> str:
    """Submit through one API, act through the other, alternating: a need closes."""
    first, second = apis[i % 2].url, apis[(i + 1) % 2].url
    body = a_need(f"路灯坏了 {i}")
    sent = await clients["integrator"].post(f"{first}/needs", json=body)
    assert sent.status_code == 202, sent.text
    need_id = sent.json()["id"]
    staff = clients["staff_dongting1"]
    for path, payload in (
        ("accept", None),
        ("complete", {"result_summary": "换了灯泡", "service_mode": "on_site"}),
    ):
        await _until_ok(staff, f"{second}/needs/{need_id}/{path}", payload)
    rating = {"reviewer_id": body["requester"]["requester_id"], "rating": "satisfied"}
    await _until_ok(clients["integrator"], f"{first}/needs/{need_id}/evaluation", rating)
    return need_id


async def _until_ok(client: httpx.AsyncClient, url: str, payload: dict | None) -> None:
    """POST until it answers 200: a need not yet at the stage (409), not yet projected or
    registered (404, 409 not_ready), or a worker just killed (503/timeout) is retried."""
    last = None
    for _ in range(600):
        try:
            answer = await client.post(url, json=payload)
        except httpx.HTTPError as exc:
            last = repr(exc)
            await asyncio.sleep(0.2)
            continue
        if answer.status_code == 200:
            return
        last = answer.text
        if answer.status_code in (404, 409, 503, 504):
            await asyncio.sleep(0.2)
            continue
        raise AssertionError(f"{url}: {answer.status_code} {answer.text}")
    raise AssertionError(f"{url}: never 200; last {last}")


async def test_two_workers_and_two_apis_share_the_load_and_survive_a_kill(scaled) -> None:
    stack, apis = scaled
    clients = {
        who: httpx.AsyncClient(headers={"X-API-Key": KEYS[who]}, timeout=30)
        for who in ("integrator", "staff_dongting1")
    }
    pool = await asyncpg.create_pool(asyncpg_dsn(stack.pg.url), min_size=1, max_size=2)
    try:
        gate = asyncio.Semaphore(16)

        async def bounded(i: int) -> str:
            async with gate:
                return await one_need(apis, i, clients)

        tasks = [asyncio.create_task(bounded(i)) for i in range(NEEDS)]
        pids = {w.pid() for w in stack.workers}

        async def a_third_closed() -> bool:
            return (
                await pool.fetchval("SELECT count(*) FROM need_summary WHERE stage = 'closed'")
                >= NEEDS // 3
            )

        await wait_until(a_third_closed, timeout=240, tick=0.2)
        stack.workers[0].kill()  # SIGKILL mid-load: the other worker goes on alone
        need_ids = await asyncio.gather(*tasks)
        closed = await pool.fetchval(
            "SELECT count(*) FROM need_summary WHERE stream_id = ANY($1) AND stage = 'closed'",
            need_ids,
        )
        assert closed == NEEDS
        assert await audit_problems(stack.pg.url, need_ids) == []
        identities = set()
        assert stack.client is not None
        for need_id in need_ids[: NEEDS // 3]:  # the early ones ran before the kill
            history = await stack.client.get_workflow_handle(need_id).fetch_history()
            identities |= {
                e.workflow_task_completed_event_attributes.identity.split("@")[0]
                for e in history.events
                if e.HasField("workflow_task_completed_event_attributes")
            }
        assert {str(p) for p in pids} <= identities, (pids, identities)
    finally:
        for client in clients.values():
            await client.aclose()
        await pool.close()

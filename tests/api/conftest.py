"""HTTP tests on the real stack: the dev Temporal server, the embedded PostgreSQL, one real
worker on a fresh task queue for this folder, and the FastAPI app called over ASGI (real
request handling, in process). Keys are the demo keys of deploy/api-keys.yaml."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.deps import Services
from store.db import DEFAULT_APP_ROLE, create_pool
from store.eventstore import EventStore
from tests.fixtures.temporal import CODEC
from workers.worker import build_worker

POLICY = Path(__file__).resolve().parents[2] / "deploy" / "policy.yaml"
UI_ORIGIN = "http://127.0.0.1:8233"  # the Temporal Web UI the codec server answers
KEYS = {
    "integrator": "demo-integrator",
    "partner": "demo-integrator-2",
    "open311": "demo-open311",
    "staff_dongting1": "demo-staff-grid-dongting-1",
    "staff_xinhua1": "demo-staff-grid-xinhua-1",
    "staff_comm_dongting": "demo-staff-community-dongting",
    "staff_comm_xinhua": "demo-staff-community-xinhua",
    "staff_health": "demo-staff-dept-health",
    "staff_urban": "demo-staff-dept-urban",
    "staff_street": "demo-staff-street-hanzheng",
    "sup_dongting": "demo-supervisor-dongting",
    "sup_street": "demo-supervisor-street",
    "sup_district": "demo-supervisor-district",
    "admin": "demo-admin",
    "claimant_wang": "demo-claimant-party-wang",
    "claimant_li": "demo-claimant-volunteer-li",
}


@pytest.fixture(scope="session")
def api_task_queue() -> str:
    return f"api-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
async def api_pool(embedded_database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(embedded_database, DEFAULT_APP_ROLE, min_size=1, max_size=8)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def api_worker(
    dev_env: WorkflowEnvironment, api_pool: asyncpg.Pool, api_task_queue: str
) -> AsyncIterator[None]:
    """The real worker with the real policy (hour-long deadlines: no timer fires in a test)."""
    worker = build_worker(dev_env.client, api_task_queue, EventStore(api_pool), POLICY)
    async with worker:
        yield


@pytest.fixture(scope="session")
def app(
    dev_env: WorkflowEnvironment, api_pool: asyncpg.Pool, api_task_queue: str, api_worker: None
) -> FastAPI:
    services = Services(
        temporal=dev_env.client,
        pool=api_pool,
        task_queue=api_task_queue,
        policy_file=POLICY,
        codec=CODEC,
        codec_origins=[UI_ORIGIN],
    )
    return create_app(services)


@pytest.fixture
async def as_(app: FastAPI) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """`as_("staff_dongting1")`: an HTTP client carrying that principal's demo key."""
    clients: list[httpx.AsyncClient] = []

    def make(who: str) -> httpx.AsyncClient:
        headers = {"X-API-Key": KEYS[who]} if who in KEYS else {}
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://api", headers=headers, timeout=30
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def a_need(
    title: str,
    *,
    grid: str = "grid-dongting-1",
    community: str = "community-dongting",
    kind: str = "resident",
    details: dict[str, str] | None = None,
    channel: str = "app",
) -> dict:
    """A submission body at a unique building (so no two tests' needs merge as repeats)."""
    return {
        "channel": channel,
        "external_id": f"ext-{uuid.uuid4().hex}",
        "title": title,
        "requester": {
            "requester_id": f"res-{uuid.uuid4().hex[:8]}",
            "kind": kind,
            "name": "王小明",
            "phone": "13812345678",
        },
        "location": {
            "street": "street-hanzheng",
            "community": community,
            "grid": grid,
            "building": f"b-{uuid.uuid4().hex[:8]}",
            "address": "洞庭街 7 号",
        },
        "details": details or {},
    }


async def wait_for(
    client: httpx.AsyncClient, need_id: str, check: Callable[[dict], bool], timeout: float = 30
) -> dict:
    """Poll GET /needs/{id} until `check(body)` holds (the workflow works asynchronously)."""
    loop = asyncio.get_running_loop()
    deadline, body = loop.time() + timeout, None
    while loop.time() < deadline:
        response = await client.get(f"/needs/{need_id}")
        if response.status_code == 200:
            body = response.json()
            if check(body):
                return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition not reached for {need_id}; last body: {body}")

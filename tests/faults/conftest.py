"""Fault tests: each test gets its own real stack in a temporary directory — embedded
PostgreSQL, a Temporal dev server on a SQLite file, the product worker as a subprocess
(`python -m workers.cli.main worker`, policy-fast) — so it may kill any of them. After the test
every process the stack started must be gone (checked with psutil).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from bench.stack import FAST_POLICY, Stack

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
async def stack(tmp_path) -> AsyncIterator[Stack]:
    s = Stack(tmp_path / "stack", policy=FAST_POLICY, task_queue=f"faults-{uuid.uuid4().hex[:8]}")
    try:
        await s.start(worker=True)
        yield s
    finally:
        await s.close()
        assert s.leftovers() == [], f"processes left running: {s.leftovers()}"


async def wait_until(
    check: Callable[[], Awaitable[bool]], timeout: float = 60, tick: float = 0.1
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(tick)

"""`/ready`: a process serves only on a database migrated to the head its code needs."""

from __future__ import annotations

import secrets
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from api.app import create_app
from api.deps import Services
from store.db import DEFAULT_APP_ROLE, asyncpg_dsn, create_pool
from store.migrate import upgrade_async
from store.revisions import head
from tests.api.conftest import POLICY


async def get_ready(services: Services) -> httpx.Response:
    app = create_app(services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://api"
    ) as client:
        return await client.get("/ready")


async def test_ready_when_temporal_answers_and_the_database_is_at_head(app) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://api"
    ) as client:
        answer = await client.get("/ready")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    warnings = body.pop("calendar")
    assert body == {
        "status": "ready",
        "temporal": "ok",
        "database": "ok",
        "migrations": "at_head",
        "revision": head(),
        "head": head(),
    }
    # the demo policy's 2027 schedule is provisional: flagged while 2027 is this year or next
    year = datetime.now(ZoneInfo("Asia/Shanghai")).year
    assert ("2027: policy calendar 2027 (provisional)" in warnings) is (year in (2026, 2027))
    assert all(int(w[:4]) in (year, year + 1) for w in warnings)


async def test_not_ready_on_a_database_below_the_head(dev_env, embedded_database) -> None:
    name = f"behind_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(asyncpg_dsn(embedded_database))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(embedded_database).set(database=name).render_as_string(hide_password=False)
    try:
        await upgrade_async(url, DEFAULT_APP_ROLE, revision="0008")
        pool = await create_pool(url, DEFAULT_APP_ROLE, max_size=2)
        try:
            answer = await get_ready(
                Services(temporal=dev_env.client, pool=pool, policy_file=POLICY)
            )
        finally:
            await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    assert answer.status_code == 503
    assert answer.json()["migrations"] == "behind" and answer.json()["revision"] == "0008"

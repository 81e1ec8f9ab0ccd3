"""What the HTTP handlers share: a Temporal client and a database pool, opened at start."""

from __future__ import annotations

import asyncpg
import structlog
from temporalio.client import Client

from workers.connections import connect_temporal

log = structlog.get_logger("demandflow.api")


class Services:
    def __init__(self, *, temporal_address: str, namespace: str, database_url: str, app_role: str | None) -> None:
        self.temporal_address = temporal_address
        self.namespace = namespace
        self.database_url = database_url
        self.app_role = app_role
        self.temporal: Client | None = None
        self.pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        from store.db import create_pool

        self.temporal = await connect_temporal(self.temporal_address, self.namespace, attempts=20)
        self.pool = await create_pool(self.database_url, role=self.app_role)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

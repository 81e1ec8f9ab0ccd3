"""Alembic environment: runs on a connection handed in by store.migrate (preferred), or on
`sqlalchemy.url` when someone runs the alembic CLI against store/migrations directly."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection, text
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import create_async_engine

# Serialises concurrent starts of several processes: only one migrates, the others then
# find the revision already applied.
MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(hashtext('demandflow.store.migrate'))"


def run_on(connection: Connection) -> None:
    context.configure(connection=connection, transactional_ddl=True)
    with context.begin_transaction():
        connection.execute(text(MIGRATION_LOCK))
        context.run_migrations()


async def run_from_url(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        await conn.run_sync(run_on)
        await conn.commit()
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:  # the alembic CLI without a URL: what create_async_engine(None) raises
        raise ArgumentError("Expected string or URL object, got None")
    asyncio.run(run_from_url(url))

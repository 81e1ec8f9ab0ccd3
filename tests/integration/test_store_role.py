"""The app role is a boundary: connected with the application's settings, it cannot become
the owner, and the audit trail cannot be changed or emptied."""

from __future__ import annotations

import asyncpg
import pytest

from store.db import DEFAULT_APP_ROLE, connect


async def test_the_app_logs_in_as_its_own_role_and_cannot_become_the_owner(owner_url) -> None:
    owner = await connect(owner_url, role=None)
    try:
        owner_name = await owner.fetchval("SELECT current_user")
    finally:
        await owner.close()
    app = await connect(owner_url, DEFAULT_APP_ROLE)
    try:
        assert await app.fetchval("SELECT session_user") == DEFAULT_APP_ROLE
        flags = await app.fetchrow(
            "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user"
        )
        assert tuple(flags) == (False, False, False)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute(f'SET ROLE "{owner_name}"')
        for statement in ("UPDATE events SET type = type", "DELETE FROM events", "TRUNCATE events"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await app.execute(statement)
        assert await app.fetchval("SELECT count(*) >= 0 FROM events")  # reading is allowed
    finally:
        await app.close()

"""Bring the database to the current schema; safe to run on every start of every process.

Alembic is configured in code (no alembic.ini): the scripts live in store/migrations so an
installed wheel carries them. The role split is re-applied after the upgrade each time, so a
changed `database_app_role` gets its grants without a new revision.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from store.db import DEFAULT_APP_ROLE
from store.migrations.sql_0001_tables import role_split
from store.migrations.sql_0006_claims import claims_grant
from store.migrations.sql_0008_console import console_grant
from store.migrations.sql_0009_webhooks import webhooks_grant
from store.migrations.sql_0013_lists import lists_grant
from store.migrations.sql_0014_wishes import wishes_grant
from store.migrations.sql_0015_assists import assists_grant
from store.migrations.sqltext import statements

SCRIPT_LOCATION = Path(__file__).resolve().parent / "migrations"


def login_role(role: str, password: str | None = None) -> str:
    """The app role logs in by itself and holds nothing beyond its grants: no superuser, no
    CREATEROLE or CREATEDB, no replication, no membership in any role (so `SET ROLE` to the
    owner fails). An owner without the right to alter roles leaves that to the operator
    (docs/security.md), with a notice."""
    r = '"' + role.replace('"', '""') + '"'
    lit = "'" + role.replace("'", "''") + "'"
    secret = "" if password is None else " PASSWORD '" + password.replace("'", "''") + "'"
    return f"""
DO $$ BEGIN
    IF to_regclass('public.alembic_version') IS NOT NULL THEN
        GRANT SELECT ON alembic_version TO {r};  -- the processes check they run at head
    END IF;
END $$;
DO $$
DECLARE granted record;
BEGIN
    ALTER ROLE {r} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS{secret};
    FOR granted IN SELECT g.rolname FROM pg_auth_members m
                   JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
                   WHERE u.rolname = {lit} LOOP
        EXECUTE format('REVOKE %I FROM %I', granted.rolname, {lit});
    END LOOP;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'cannot alter role %: make it a plain login role yourself', {lit};
END $$;
"""


def alembic_config(owner_url: str, app_role: str = DEFAULT_APP_ROLE) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.set_main_option("sqlalchemy.url", owner_url.replace("%", "%%"))
    cfg.attributes["app_role"] = app_role
    return cfg


def head_revision() -> str:
    """The revision `upgrade` brings a database to."""
    head = ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()
    assert head is not None  # the revisions ship in store/migrations/versions
    return head


async def upgrade_async(
    owner_url: str,
    app_role: str = DEFAULT_APP_ROLE,
    revision: str = "head",
    app_password: str | None = None,
) -> None:
    """Upgrade to `revision` (default head) over the owner URL, then (re)grant the app role;
    for async callers."""
    cfg = alembic_config(owner_url, app_role)
    engine = create_async_engine(owner_url)
    try:
        async with engine.connect() as conn:

            def run(sync_conn: Connection) -> None:
                cfg.attributes["connection"] = sync_conn
                command.upgrade(cfg, revision)

            await conn.run_sync(run)
            await conn.commit()
        async with engine.begin() as conn:
            grants = (
                role_split(app_role)
                + login_role(app_role, app_password)
                + claims_grant(app_role)
                + console_grant(app_role)
                + webhooks_grant(app_role)
                + lists_grant(app_role)
                + wishes_grant(app_role)
                + assists_grant(app_role)
            )
            for statement in statements(grants):
                await conn.exec_driver_sql(statement)
    finally:
        await engine.dispose()


def upgrade(
    owner_url: str, app_role: str = DEFAULT_APP_ROLE, app_password: str | None = None
) -> None:
    """Synchronous entry for the CLI; must not be called from inside a running event loop.
    `app_password`: set as the app role's login password (production; DATABASE_APP_PASSWORD)."""
    asyncio.run(upgrade_async(owner_url, app_role, app_password=app_password))


async def current_revision(owner_url: str) -> str | None:
    engine = create_async_engine(owner_url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    finally:
        await engine.dispose()

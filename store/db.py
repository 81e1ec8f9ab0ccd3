"""Connections: the owner URL migrates, everything else logs in as the app role.

The app role is a login role of its own (no superuser, no CREATEROLE or CREATEDB, no
membership in the owner role; migration 0001's role split, re-applied after every upgrade),
so every statement an app connection runs — `df_append` included — is checked against its
grants: UPDATE, DELETE and TRUNCATE on events are refused, and `SET ROLE` to the owner fails.
`create_pool(url, role)` logs in as `role` on the server `url` names: the URL's user is
replaced (its password kept only when it is that role's own). In production DATABASE_URL is
the app role's own URL (with its password) and MIGRATION_DATABASE_URL the owner's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

import asyncpg

DEFAULT_APP_ROLE = "demandflow_app"


def asyncpg_dsn(url: str) -> str:
    """`postgresql+asyncpg://…` (SQLAlchemy form) to the `postgresql://…` asyncpg wants.

    Only the scheme changes, so the rest reaches asyncpg exactly as written. Plain string
    work on purpose: the worker's path (pool, append, read) then never imports SQLAlchemy,
    12 MB of the worker's resident memory."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+", 1)[0] not in ("postgresql", "postgres"):
        raise ValueError("not a PostgreSQL URL (expected postgresql+asyncpg://…)")
    return f"postgresql://{rest}"


def login_dsn(url: str, role: str | None) -> str:
    """The asyncpg DSN that logs in as `role` on the server and database `url` names
    (role None: as the URL's own user). A password is kept only if it is `role`'s own."""
    dsn = asyncpg_dsn(url)
    if not role:
        return dsn
    scheme, _, rest = dsn.partition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    if not at:
        userinfo, hostpart = "", rest
    user, colon, password = userinfo.partition(":")
    keep = f":{password}" if colon and unquote(user) == role else ""
    return f"{scheme}://{quote(role, safe='')}{keep}@{hostpart}"


async def connect(url: str, role: str | None = DEFAULT_APP_ROLE, **kw: Any) -> asyncpg.Connection:
    """One connection; role=None connects as the login user (the owner, for tests and admin)."""
    return await asyncpg.connect(login_dsn(url, role), **kw)


async def create_pool(
    url: str,
    role: str | None = DEFAULT_APP_ROLE,
    *,
    min_size: int = 1,
    max_size: int = 10,
    **kw: Any,
) -> asyncpg.Pool:
    """The pool the append and read paths use (raw asyncpg: one round trip per append)."""
    return await asyncpg.create_pool(
        login_dsn(url, role), min_size=min_size, max_size=max_size, **kw
    )


async def answers(pool: asyncpg.Pool) -> bool:
    """The database answers a trivial query (readiness); errors propagate."""
    one: int | None = await pool.fetchval("SELECT 1")
    return one == 1

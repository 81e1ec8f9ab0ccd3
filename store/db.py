"""Connections: the owner URL migrates, everything else runs as the app role.

App connections take the role through the startup parameter `role`, so every statement they
run — including `df_append` — is checked against the app role's grants: UPDATE and DELETE
on events fail with "permission denied". (A superuser login could still RESET ROLE; the split
guards against mistakes, not against someone holding the owner password.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import asyncpg

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

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


def role_settings(role: str | None) -> dict[str, str]:
    return {"role": role} if role else {}


async def connect(url: str, role: str | None = DEFAULT_APP_ROLE, **kw: Any) -> asyncpg.Connection:
    """One connection; role=None connects as the login user (the owner, for tests and admin)."""
    return await asyncpg.connect(asyncpg_dsn(url), server_settings=role_settings(role), **kw)


async def create_pool(
    url: str, role: str | None = DEFAULT_APP_ROLE, *, min_size: int = 1, max_size: int = 10,
    **kw: Any,
) -> asyncpg.Pool:
    """The pool the append and read paths use (raw asyncpg: one round trip per append)."""
    return await asyncpg.create_pool(
        asyncpg_dsn(url), server_settings=role_settings(role), min_size=min_size,
        max_size=max_size, **kw,
    )


def create_engine(url: str, role: str | None = DEFAULT_APP_ROLE, **kw: Any) -> AsyncEngine:
    """SQLAlchemy engine for queries built with store.schema (HTTP listings, reports)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    connect_args = {"server_settings": role_settings(role)} if role else {}
    return create_async_engine(url, connect_args=connect_args, **kw)

"""The console's sign-in sessions and the failed-sign-in counters (revision 0008).

A session is known by the sha256 of its cookie token (the token itself is never stored);
each holds the CSRF token its forms carry. Failed sign-ins are counted per user name within
a window; reaching the limit locks the name until `locked_until`, whatever password follows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

SESSION_SQL = """
SELECT user_name, csrf_token, expires_at FROM console_sessions
WHERE token_sha256 = $1 AND expires_at > $2
"""


async def create_session(
    db: asyncpg.Pool,
    token_sha256: bytes,
    user_name: str,
    csrf: str,
    expires_at: datetime,
    now: datetime,
) -> None:
    async with db.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM console_sessions WHERE expires_at <= $1", now)
        await conn.execute(
            "INSERT INTO console_sessions (token_sha256, user_name, csrf_token, expires_at) "
            "VALUES ($1, $2, $3, $4)",
            token_sha256,
            user_name,
            csrf,
            expires_at,
        )


async def find_session(
    db: asyncpg.Pool, token_sha256: bytes, now: datetime
) -> asyncpg.Record | None:
    return await db.fetchrow(SESSION_SQL, token_sha256, now)


async def end_session(db: asyncpg.Pool, token_sha256: bytes) -> None:
    await db.execute("DELETE FROM console_sessions WHERE token_sha256 = $1", token_sha256)


async def locked_until(db: asyncpg.Pool, user_name: str, now: datetime) -> datetime | None:
    """When the name's lock ends, if it is locked now."""
    until = await db.fetchval(
        "SELECT locked_until FROM console_sign_in_failures WHERE user_name = $1", user_name
    )
    return until if until is not None and until > now else None


FAILURE_SQL = """
INSERT INTO console_sign_in_failures AS f (user_name, failures, first_failure_at)
VALUES ($1, 1, $2)
ON CONFLICT (user_name) DO UPDATE SET
    failures = CASE WHEN f.first_failure_at > $2 - $3::interval AND f.locked_until IS NULL
                    THEN f.failures + 1 ELSE 1 END,
    first_failure_at = CASE WHEN f.first_failure_at > $2 - $3::interval
                             AND f.locked_until IS NULL
                            THEN f.first_failure_at ELSE $2 END,
    locked_until = NULL
RETURNING failures
"""


async def record_failure(
    db: asyncpg.Pool,
    user_name: str,
    now: datetime,
    *,
    window: timedelta,
    limit: int,
    lock_for: timedelta,
) -> datetime | None:
    """Count a wrong password; at `limit` failures within `window` lock the name for
    `lock_for`. Returns when the lock ends, if this failure locked it."""
    async with db.acquire() as conn, conn.transaction():
        failures = await conn.fetchval(FAILURE_SQL, user_name, now, window)
        if failures < limit:
            return None
        until = now + lock_for
        await conn.execute(
            "UPDATE console_sign_in_failures SET locked_until = $2 WHERE user_name = $1",
            user_name,
            until,
        )
        return until


async def clear_failures(db: asyncpg.Pool, user_name: str) -> None:
    await db.execute("DELETE FROM console_sign_in_failures WHERE user_name = $1", user_name)

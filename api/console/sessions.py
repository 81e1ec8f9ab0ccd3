"""Signing in and out: the session cookie, the CSRF token, the lockout after wrong passwords.

The cookie holds a random token (HttpOnly, SameSite=Lax, Secure when the settings say the
console is served over HTTPS); the database keeps only its sha256, the user and the CSRF
token every form must carry. Five wrong passwords for one name within 15 minutes lock that
name for 15 minutes (the right password included); every wrong password also waits a second.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import Request, Response

from api.auth import Principal
from api.console.users import User
from api.deps import Services
from store import console as store

COOKIE = "demandflow_console"
LIFETIME = timedelta(hours=10)  # a working day and a little more
FAILURE_WINDOW = timedelta(minutes=15)
FAILURE_LIMIT = 5
LOCK_FOR = timedelta(minutes=15)
WRONG_PASSWORD_DELAY = 1.0  # seconds


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str

    @property
    def principal(self) -> Principal:
        return self.user.principal()


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def _now() -> datetime:
    return datetime.now(UTC)


class Locked(Exception):
    def __init__(self, until: datetime) -> None:
        super().__init__("locked")
        self.until = until

    @property
    def minutes(self) -> int:
        return max(1, -(-int((self.until - _now()).total_seconds()) // 60))


async def sign_in(services: Services, name: str, password: str) -> User | None:
    """The user, or None for a wrong name or password; Locked while the name is locked."""
    now = _now()
    until = await store.locked_until(services.db, name, now)
    if until is not None:
        raise Locked(until)
    user = services.console_users.check(name, password)
    if user is None:
        until = await store.record_failure(
            services.db, name, now, window=FAILURE_WINDOW, limit=FAILURE_LIMIT, lock_for=LOCK_FOR
        )
        await asyncio.sleep(WRONG_PASSWORD_DELAY)
        if until is not None:
            raise Locked(until)
        return None
    await store.clear_failures(services.db, name)
    return user


async def open_session(services: Services, user: User, response: Response) -> None:
    token, now = secrets.token_urlsafe(32), _now()
    await store.create_session(
        services.db, _digest(token), user.name, secrets.token_urlsafe(24), now + LIFETIME, now
    )
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=services.secure_cookies,
        path="/console",
    )


async def current_session(services: Services, request: Request) -> Session | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    row = await store.find_session(services.db, _digest(token), _now())
    user = services.console_users.get(row["user_name"]) if row else None
    return Session(user, row["csrf_token"]) if row and user else None


async def close_session(services: Services, request: Request, response: Response) -> None:
    token = request.cookies.get(COOKIE)
    if token:
        await store.end_session(services.db, _digest(token))
    response.delete_cookie(COOKIE, path="/console")


def csrf_ok(session: Session, posted: str | None) -> bool:
    return posted is not None and hmac.compare_digest(session.csrf, posted)

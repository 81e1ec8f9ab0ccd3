"""Webhook subscriptions, the fan-out of the outbox, and deliveries (revision 0009).

- `outbox`: one row per notified event, written by a trigger in the event's transaction.
- fan-out: each outbox row becomes one delivery per active subscription (made before the
  event) of every integrator concerned: the one that submitted the need, and those whose reports were merged into it
  (`via_stream_id` names the report through which a subscription hears).
- deliveries are claimed with a lease (`next_attempt_at` moved ahead, `FOR UPDATE SKIP
  LOCKED`), so several delivery processes share the work and a crashed one's claims come
  back; a delivery is claimable only when no earlier version of the same need is still
  pending for that subscription (in order per need). A dead delivery does not block the
  ones after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from domain.notifications import NOTIFIED


@dataclass(frozen=True)
class Subscription:
    id: str
    integrator_id: str
    url: str
    secret: str
    previous_secret: str | None
    previous_secret_until: datetime | None
    types: tuple[str, ...]
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class Claimed:
    """A delivery claimed for one attempt."""

    id: int
    subscription_id: str
    url: str
    secret: str
    previous_secret: str | None
    previous_secret_until: datetime | None
    event_id: str
    stream_id: str
    version: int
    via_stream_id: str
    attempts: int
    created_at: datetime


def _subscription(row: asyncpg.Record) -> Subscription:
    return Subscription(
        row["id"],
        row["integrator_id"],
        row["url"],
        row["secret"],
        row["previous_secret"],
        row["previous_secret_until"],
        tuple(row["types"]),
        row["active"],
        row["created_at"],
    )


# --- subscriptions -------------------------------------------------------------------------
async def create_subscription(
    db: asyncpg.Pool, *, id: str, integrator_id: str, url: str, secret: str, types: list[str]
) -> Subscription:
    row = await db.fetchrow(
        "INSERT INTO webhook_subscriptions (id, integrator_id, url, secret, types) "
        "VALUES ($1, $2, $3, $4, $5) RETURNING *",
        id,
        integrator_id,
        url,
        secret,
        types,
    )
    return _subscription(row)


async def subscriptions_of(db: asyncpg.Pool, integrator_id: str | None) -> list[Subscription]:
    """An integrator's subscriptions (None: everyone's, for admins)."""
    rows = await db.fetch(
        "SELECT * FROM webhook_subscriptions WHERE active AND ($1::text IS NULL OR "
        "integrator_id = $1) ORDER BY created_at, id",
        integrator_id,
    )
    return [_subscription(r) for r in rows]


async def subscription(db: asyncpg.Pool, id: str) -> Subscription | None:
    row = await db.fetchrow("SELECT * FROM webhook_subscriptions WHERE id = $1 AND active", id)
    return _subscription(row) if row else None


async def update_subscription(
    db: asyncpg.Pool, id: str, *, url: str | None, types: list[str] | None
) -> Subscription | None:
    row = await db.fetchrow(
        "UPDATE webhook_subscriptions SET url = COALESCE($2, url), types = COALESCE($3, types) "
        "WHERE id = $1 AND active RETURNING *",
        id,
        url,
        types,
    )
    return _subscription(row) if row else None


async def rotate_secret(
    db: asyncpg.Pool, id: str, secret: str, now: datetime, grace: timedelta
) -> Subscription | None:
    """A new secret signs from now on; the old one is sent beside it until `now + grace`."""
    row = await db.fetchrow(
        "UPDATE webhook_subscriptions SET previous_secret = secret, secret = $2, "
        "previous_secret_until = $3 WHERE id = $1 AND active RETURNING *",
        id,
        secret,
        now + grace,
    )
    return _subscription(row) if row else None


async def end_subscription(db: asyncpg.Pool, id: str) -> bool:
    """No more deliveries (pending ones are dropped); the history stays readable."""
    async with db.acquire() as conn, conn.transaction():
        done: str = await conn.execute(
            "UPDATE webhook_subscriptions SET active = false WHERE id = $1 AND active", id
        )
        await conn.execute(
            "UPDATE webhook_deliveries SET status = 'cancelled' "
            "WHERE subscription_id = $1 AND status = 'pending'",
            id,
        )
    return done.endswith(" 1")


# --- fan-out -------------------------------------------------------------------------------
FAN_OUT_SQL = """
WITH picked AS (
    SELECT id, stream_id, version, type, created_at FROM outbox WHERE fanned_out_at IS NULL
    ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
), names AS (
    SELECT * FROM unnest($2::text[], $3::text[]) AS n(event_type, name)
), listeners AS (
    SELECT p.id AS outbox_id, p.stream_id, p.version, p.type, p.created_at, p.stream_id AS via,
           e.actor_id AS integrator
    FROM picked p JOIN events e ON e.stream_id = p.stream_id AND e.version = 1
    WHERE e.actor_role = 'integrator'
    UNION
    SELECT p.id, p.stream_id, p.version, p.type, p.created_at, l.payload->>'linked_stream_id',
           f.actor_id
    FROM picked p
    JOIN events l ON l.stream_id = p.stream_id AND l.type = 'ReportLinked' AND l.version < p.version
    JOIN events f ON f.stream_id = l.payload->>'linked_stream_id' AND f.version = 1
    WHERE f.actor_role = 'integrator'
), added AS (
    INSERT INTO webhook_deliveries (subscription_id, outbox_id, stream_id, version, via_stream_id)
    SELECT s.id, li.outbox_id, li.stream_id, li.version, li.via
    FROM listeners li
    JOIN names n ON n.event_type = li.type
    JOIN webhook_subscriptions s ON s.integrator_id = li.integrator AND s.active
         AND (cardinality(s.types) = 0 OR n.name = ANY(s.types))
         AND s.created_at <= li.created_at  -- a subscription hears what happens after it
    ON CONFLICT (subscription_id, outbox_id) DO NOTHING
    RETURNING 1
), marked AS (
    UPDATE outbox SET fanned_out_at = now() WHERE id IN (SELECT id FROM picked) RETURNING 1
)
SELECT (SELECT count(*) FROM marked) AS rows, (SELECT count(*) FROM added) AS deliveries
"""
_TYPES, _NAMES = list(NOTIFIED), list(NOTIFIED.values())


async def fan_out(db: asyncpg.Pool, limit: int = 500) -> tuple[int, int]:
    """Turn up to `limit` waiting outbox rows into deliveries: (rows, deliveries made)."""
    row = await db.fetchrow(FAN_OUT_SQL, limit, _TYPES, _NAMES)
    return row["rows"], row["deliveries"]


# --- deliveries ----------------------------------------------------------------------------
CLAIM_SQL = """
WITH due AS (
    SELECT d.id FROM webhook_deliveries d
    WHERE d.status = 'pending' AND d.next_attempt_at <= $1
      AND NOT EXISTS (SELECT FROM webhook_deliveries o
                      WHERE o.subscription_id = d.subscription_id AND o.stream_id = d.stream_id
                        AND o.status = 'pending' AND o.version < d.version)
    ORDER BY d.next_attempt_at, d.id LIMIT $2 FOR UPDATE SKIP LOCKED
)
UPDATE webhook_deliveries d SET next_attempt_at = $3, attempts = d.attempts + 1
FROM due, webhook_subscriptions s, outbox x
WHERE d.id = due.id AND s.id = d.subscription_id AND x.id = d.outbox_id
RETURNING d.id, d.subscription_id, s.url, s.secret, s.previous_secret, s.previous_secret_until,
          x.event_id, d.stream_id, d.version, d.via_stream_id, d.attempts, d.created_at
"""


async def claim(db: asyncpg.Pool, now: datetime, limit: int, lease: timedelta) -> list[Claimed]:
    """Due deliveries, each claimed until `now + lease` (then it is due again)."""
    rows = await db.fetch(CLAIM_SQL, now, limit, now + lease)
    return [Claimed(**dict(r)) for r in rows]


async def delivered(db: asyncpg.Pool, id: int, status: int, now: datetime) -> None:
    await db.execute(
        "UPDATE webhook_deliveries SET status = 'delivered', last_status = $2, "
        "last_error = NULL, delivered_at = $3 WHERE id = $1",
        id,
        status,
        now,
    )


async def failed(
    db: asyncpg.Pool, id: int, *, status: int | None, error: str, retry_at: datetime | None
) -> None:
    """Try again at `retry_at`, or (None) give up: the delivery becomes a dead letter."""
    if retry_at is None:
        await db.execute(
            "UPDATE webhook_deliveries SET status = 'dead', last_status = $2, "
            "last_error = $3 WHERE id = $1",
            id,
            status,
            error[:300],
        )
    else:
        await db.execute(
            "UPDATE webhook_deliveries SET next_attempt_at = $4, last_status = $2, "
            "last_error = $3 WHERE id = $1",
            id,
            status,
            error[:300],
            retry_at,
        )


DELIVERIES_SQL = """
SELECT d.id, d.subscription_id, x.event_id, d.stream_id, d.version, x.type, d.status,
       d.attempts, d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.delivered_at
FROM webhook_deliveries d JOIN outbox x ON x.id = d.outbox_id
JOIN webhook_subscriptions s ON s.id = d.subscription_id
WHERE ($1::text IS NULL OR s.integrator_id = $1) AND ($2::text IS NULL OR d.status = $2)
  AND ($3::text IS NULL OR d.subscription_id = $3)
ORDER BY d.id DESC LIMIT $4
"""


async def deliveries(
    db: asyncpg.Pool,
    *,
    integrator_id: str | None,
    status: str | None,
    subscription_id: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    rows = await db.fetch(DELIVERIES_SQL, integrator_id, status, subscription_id, limit)
    return [dict(r) for r in rows]


async def redeliver(db: asyncpg.Pool, id: int, now: datetime) -> bool:
    """A dead letter goes back to the queue with a fresh retry window."""
    done: str = await db.execute(
        "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $2, "
        "created_at = $2 WHERE id = $1 AND status = 'dead'",
        id,
        now,
    )
    return done.endswith(" 1")


async def redeliver_all_dead(
    db: asyncpg.Pool, now: datetime, subscription_id: str | None = None
) -> int:
    done = await db.execute(
        "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, "
        "created_at = $1 WHERE status = 'dead' AND ($2::text IS NULL OR subscription_id = $2)",
        now,
        subscription_id,
    )
    return int(done.split()[-1])

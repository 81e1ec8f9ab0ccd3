"""The webhook delivery process (`demandflow deliver`): outbox → deliveries → signed POSTs.

One loop: fan the waiting outbox rows out to deliveries (store.webhooks.fan_out), claim the
due ones with a lease, build each message from the need's typed events folded by the domain
(domain.notifications.message), sign it and post it. A 2xx marks it delivered; anything else
(an error status, a timeout, a refused address, a redirect: redirects are not followed) is
retried with exponential backoff and jitter until the retry window (24 hours by default)
from its first attempt has passed; then it is a dead letter that admins can redeliver.

At least once: a process killed between the POST and its record leaves the claim to expire,
and the next attempt sends the same event id (the receiver's idempotency key). In order per
need and subscription: a later version is not claimed while an earlier one is pending.
Several delivery processes may run side by side (claims skip each other's locked rows).

Why its own process and not a Temporal workflow: the outbox is a table filled by the event
append's own transaction, so reading it is a plain database loop; a delivery needs no
durable timer beyond its `next_attempt_at` row, and keeping receivers' slowness and
failures away from the workflow workers keeps their task latency unaffected.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import random
import signal
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import structlog

from api.webhooks import target_problem
from domain.notifications import NOTIFIED, message
from domain.state import fold
from store import webhooks as store
from store.read import read_stream
from telemetry import metrics
from workers.settings import Settings

log = structlog.get_logger("demandflow.delivery")
USER_AGENT = "demandflow-webhooks/0.1"


@dataclass(frozen=True)
class DeliveryPolicy:
    retry_window: timedelta = timedelta(hours=24)
    first_delay: timedelta = timedelta(seconds=10)
    max_delay: timedelta = timedelta(hours=1)
    lease: timedelta = timedelta(seconds=60)
    timeout_s: float = 10.0
    batch: int = 50
    concurrency: int = 16
    idle_s: float = 0.2
    allow_private: bool = False  # production: refuse private, loopback, link-local targets
    base_url: str = "http://127.0.0.1:8000"

    def delay(self, attempts: int) -> timedelta:
        """Exponential backoff with full jitter in [0.5, 1.5) of the step."""
        step = min(
            self.max_delay.total_seconds(),
            self.first_delay.total_seconds() * 2 ** max(0, attempts - 1),
        )
        return timedelta(seconds=step * random.uniform(0.5, 1.5))


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over `<timestamp>.<body>`, hex."""
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_header(claimed: store.Claimed, timestamp: int, body: bytes, now: datetime) -> str:
    """`t=<unix seconds>,v1=<hex>`; during a secret rotation's grace also `v1=` of the old."""
    parts = [f"t={timestamp}", f"v1={signature(claimed.secret, timestamp, body)}"]
    if (
        claimed.previous_secret
        and claimed.previous_secret_until
        and claimed.previous_secret_until > now
    ):
        parts.append(f"v1={signature(claimed.previous_secret, timestamp, body)}")
    return ",".join(parts)


async def body_for(db: asyncpg.Pool, claimed: store.Claimed, base_url: str) -> bytes | None:
    """The message of one delivery, from the need's typed events folded up to its version."""
    events = [e for e in await read_stream(db, claimed.stream_id) if e.version <= claimed.version]
    if not events or events[-1].version != claimed.version or events[-1].type not in NOTIFIED:
        return None
    state = fold([e.event() for e in events])
    body = message(
        need_id=claimed.stream_id,
        event=events[-1],
        state=state,
        via_stream_id=claimed.via_stream_id,
        base_url=base_url,
    )
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode(
        "utf-8"
    )


async def attempt(
    db: asyncpg.Pool, client: httpx.AsyncClient, claimed: store.Claimed, policy: DeliveryPolicy
) -> bool:
    """One POST; the outcome recorded and counted. True when delivered."""
    with metrics.WEBHOOK_SECONDS.time():
        delivered, dead = await _attempt(db, client, claimed, policy)
    metrics.WEBHOOK_DELIVERIES.labels(
        "delivered" if delivered else "dead" if dead else "retry"
    ).inc()
    return delivered


async def _attempt(
    db: asyncpg.Pool, client: httpx.AsyncClient, claimed: store.Claimed, policy: DeliveryPolicy
) -> tuple[bool, bool]:
    """(delivered, dead: given up for good)."""
    now = datetime.now(UTC)
    status: int | None = None
    try:
        problem = await target_problem(claimed.url, allow_private=policy.allow_private)
        body = await body_for(db, claimed, policy.base_url)
        if body is None:
            problem = "the event is gone from the store"
        if problem is None and body is not None:
            timestamp = int(time.time())
            response = await client.post(
                claimed.url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": USER_AGENT,
                    "X-Demandflow-Event-Id": claimed.event_id,
                    "X-Demandflow-Delivery": str(claimed.id),
                    "X-Demandflow-Signature": signature_header(claimed, timestamp, body, now),
                },
            )
            status = response.status_code
            if 200 <= status < 300:
                await store.delivered(db, claimed.id, status, datetime.now(UTC))
                return True, False
            problem = f"answered {status}" + (
                " (redirects are not followed)" if 300 <= status < 400 else ""
            )
    except httpx.HTTPError as exc:
        problem = f"{type(exc).__name__}"
    retry_at = now + policy.delay(claimed.attempts)
    dead = retry_at > claimed.created_at + policy.retry_window
    await store.failed(
        db,
        claimed.id,
        status=status,
        error=problem or "failed",
        retry_at=None if dead else retry_at,
    )
    log.info(
        "webhook delivery failed",
        delivery=claimed.id,
        attempts=claimed.attempts,
        status=status,
        dead=dead,
        problem=problem,
    )
    return False, dead


async def deliver_once(db: asyncpg.Pool, client: httpx.AsyncClient, policy: DeliveryPolicy) -> int:
    """One round: fan out, claim, post. The number of deliveries attempted."""
    await store.fan_out(db)
    claimed = await store.claim(db, datetime.now(UTC), policy.batch, policy.lease)
    gate = asyncio.Semaphore(policy.concurrency)

    async def one(c: store.Claimed) -> None:
        async with gate:
            try:
                await attempt(db, client, c, policy)
            except (asyncpg.PostgresError, OSError):
                raise  # the loop waits and goes on; the claim comes back after its lease
            except Exception as exc:  # noqa: BLE001 - one bad delivery must not stop the rest
                log.error("webhook delivery crashed", delivery=c.id, error=type(exc).__name__)

    await asyncio.gather(*(one(c) for c in claimed))
    return len(claimed)


async def delivery_loop(db: asyncpg.Pool, policy: DeliveryPolicy, stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(timeout=policy.timeout_s, follow_redirects=False) as client:
        while not stop.is_set():
            try:
                busy = await deliver_once(db, client, policy)
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("delivery round failed", error=type(exc).__name__)
                busy = 0
                await asyncio.sleep(1)
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), policy.idle_s)


async def run_delivery(settings: Settings) -> None:
    from store.db import create_pool
    from workers.errors import ConfigError

    if settings.database_url is None:
        raise ConfigError("the delivery process needs DATABASE_URL (`demandflow up` sets it)")
    policy = DeliveryPolicy(
        retry_window=timedelta(seconds=settings.webhook_retry_window_s),
        first_delay=timedelta(seconds=settings.webhook_first_delay_s),
        lease=timedelta(seconds=settings.webhook_lease_s),
        allow_private=settings.webhooks_allow_private_targets,
        base_url=settings.public_base_url.rstrip("/"),
    )
    from workers.connections import ensure_port_free

    if settings.metrics_port is not None:
        ensure_port_free(settings.metrics_port, "METRICS_PORT", settings.metrics_host)
    pool = await create_pool(settings.database_url, role=settings.database_app_role)
    if settings.metrics_port is not None:
        metrics.serve(settings.metrics_host, settings.metrics_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("delivery process started", allow_private=policy.allow_private)
    try:
        await delivery_loop(pool, policy, stop)
    finally:
        await pool.close()

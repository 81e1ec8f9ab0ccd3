"""Webhook subscriptions of integrators, their deliveries, and the dead letter.

An integrator manages its own subscriptions (another's answers 404, like a missing one) and
reads its own deliveries; admins read everyone's and redeliver dead letters. A subscription's
secret is shown once, when it is created or rotated. What is delivered, how it is signed and
retried: docs/webhooks.md.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Path, Query, Response
from pydantic import AwareDatetime, BaseModel, Field, field_validator

from api.auth import Principal, require_role, role_in
from api.deps import Services
from api.errors import ERROR_RESPONSES, ApiError
from api.needs import Caller, Svc
from domain.notifications import NAMES, address_problem, url_problem
from store import webhooks as store

router = APIRouter(tags=["webhooks"], responses=ERROR_RESPONSES)
ROTATION_GRACE = timedelta(hours=24)
SubscriptionId = Annotated[str, Path(pattern=r"^wh-[0-9a-f]{16}$")]
Notification = Literal[NAMES]  # type: ignore[valid-type]  # the names are data: NAMES


async def target_problem(url: str, *, allow_private: bool) -> str | None:
    """Refuse a target that resolves to a private, loopback, link-local (or otherwise not
    public) address unless allowed (the local stack allows them). The delivery process asks
    again at every attempt, so a name that later resolves inward is refused then too."""
    problem = url_problem(url)
    if problem or allow_private:
        return problem
    parts = urlsplit(url)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname,
            parts.port or (443 if parts.scheme == "https" else 80),
            type=socket.SOCK_STREAM,
        )
    except OSError:
        return "url: the host does not resolve"
    return next((p for p in (address_problem(str(i[4][0])) for i in infos) if p), None)


def _checked_url(value: str | None) -> str | None:
    problem = url_problem(value) if value is not None else None
    if problem:
        raise ValueError(problem.removeprefix("url: "))
    return value


class SubscriptionIn(BaseModel):
    url: str = Field(
        max_length=2000,
        description="http(s); production refuses private, loopback and link-local targets",
    )
    types: list[Notification] = Field(
        default_factory=list,
        max_length=len(NAMES),
        description="the notifications wanted; empty: all",
    )

    _url = field_validator("url")(lambda cls, value: _checked_url(value))


class SubscriptionChange(BaseModel):
    url: str | None = Field(default=None, max_length=2000)
    types: list[Notification] | None = None

    _url = field_validator("url")(lambda cls, value: _checked_url(value))


class SubscriptionOut(BaseModel):
    id: str
    url: str
    types: list[str]
    created_at: AwareDatetime
    secret: str | None = Field(default=None, description="only when created or rotated")
    previous_secret_valid_until: AwareDatetime | None = None


class DeliveryOut(BaseModel):
    id: int
    subscription_id: str
    event_id: str
    need_id: str
    version: int
    event_type: str
    status: Literal["pending", "delivered", "dead", "cancelled"]
    attempts: int
    next_attempt_at: AwareDatetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    created_at: AwareDatetime
    delivered_at: AwareDatetime | None = None


async def _reachable(url: str, services: Services) -> None:
    problem = await target_problem(url, allow_private=services.allow_private_webhooks)
    if problem:
        raise ApiError(422, "invalid_input", problem, field="url")


def _out(sub: store.Subscription, secret: str | None = None) -> SubscriptionOut:
    return SubscriptionOut(
        id=sub.id,
        url=sub.url,
        types=list(sub.types),
        created_at=sub.created_at,
        secret=secret,
        previous_secret_valid_until=sub.previous_secret_until,
    )


async def _own(
    services: Services, principal: Principal, subscription_id: str
) -> store.Subscription:
    sub = await store.subscription(services.db, subscription_id)
    if sub is None or (principal.role != "admin" and sub.integrator_id != principal.id):
        raise ApiError(404, "not_found", "no such subscription", field="subscription_id")
    return sub


def _delivery(row: dict[str, Any]) -> DeliveryOut:
    return DeliveryOut(
        need_id=row["stream_id"],
        event_type=row["type"],
        **{
            k: row[k]
            for k in DeliveryOut.model_fields
            if k in row and k not in ("need_id", "event_type")
        },
    )


@router.post("/webhooks", status_code=201, response_model=SubscriptionOut)
async def subscribe(
    body: SubscriptionIn,
    principal: Annotated[Principal, role_in("integrator")],
    services: Svc,
    response: Response,
) -> SubscriptionOut:
    """Subscribe a URL to the notifications of the needs this integrator submitted (and of
    the needs its reports were merged into). The answer carries the signing secret, once."""
    await _reachable(body.url, services)
    secret = "whsec_" + secrets.token_urlsafe(32)
    sub = await store.create_subscription(
        services.db,
        id=f"wh-{uuid.uuid4().hex[:16]}",
        integrator_id=principal.id,
        url=body.url,
        secret=secret,
        types=list(body.types),
    )
    response.headers["Location"] = f"/webhooks/{sub.id}"
    return _out(sub, secret)


@router.get("/webhooks", response_model=list[SubscriptionOut])
async def list_subscriptions(principal: Caller, services: Svc) -> list[SubscriptionOut]:
    """The caller's subscriptions (admins: everyone's); secrets are never shown again."""
    require_role(principal, "integrator")
    owner = None if principal.role == "admin" else principal.id
    return [_out(s) for s in await store.subscriptions_of(services.db, owner)]


@router.patch("/webhooks/{subscription_id}", response_model=SubscriptionOut)
async def change_subscription(
    subscription_id: SubscriptionId,
    body: SubscriptionChange,
    principal: Annotated[Principal, role_in("integrator")],
    services: Svc,
) -> SubscriptionOut:
    await _own(services, principal, subscription_id)
    if body.url is not None:
        await _reachable(body.url, services)
    sub = await store.update_subscription(
        services.db,
        subscription_id,
        url=body.url,
        types=list(body.types) if body.types is not None else None,
    )
    if sub is None:
        raise ApiError(404, "not_found", "no such subscription", field="subscription_id")
    return _out(sub)


@router.delete("/webhooks/{subscription_id}", status_code=204)
async def unsubscribe(
    subscription_id: SubscriptionId, principal: Caller, services: Svc
) -> Response:
    """No more deliveries; pending ones are cancelled."""
    require_role(principal, "integrator")
    await _own(services, principal, subscription_id)
    await store.end_subscription(services.db, subscription_id)
    return Response(status_code=204)


@router.post("/webhooks/{subscription_id}/secret", response_model=SubscriptionOut)
async def rotate(
    subscription_id: SubscriptionId, principal: Caller, services: Svc
) -> SubscriptionOut:
    """A new signing secret (shown once). For 24 hours every delivery carries a signature
    with the old secret too, so the receiver can switch without losing a message."""
    require_role(principal, "integrator")
    await _own(services, principal, subscription_id)
    secret = "whsec_" + secrets.token_urlsafe(32)
    sub = await store.rotate_secret(
        services.db, subscription_id, secret, datetime.now(UTC), ROTATION_GRACE
    )
    if sub is None:
        raise ApiError(404, "not_found", "no such subscription", field="subscription_id")
    return _out(sub, secret)


@router.get("/webhooks/deliveries", response_model=list[DeliveryOut])
async def list_deliveries(
    principal: Caller,
    services: Svc,
    status: Literal["pending", "delivered", "dead", "cancelled"] | None = None,
    subscription_id: Annotated[str | None, Query(pattern=r"^wh-[0-9a-f]{16}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryOut]:
    """Deliveries, newest first: an integrator's own, or (admins) everyone's;
    `status=dead` is the dead letter."""
    require_role(principal, "integrator")
    owner = None if principal.role == "admin" else principal.id
    rows = await store.deliveries(
        services.db,
        integrator_id=owner,
        status=status,
        subscription_id=subscription_id,
        limit=limit,
    )
    return [_delivery(r) for r in rows]


class Redelivered(BaseModel):
    redelivered: int


@router.post("/webhooks/deliveries/{delivery_id}/redeliver", response_model=Redelivered)
async def redeliver(
    delivery_id: Annotated[int, Path(ge=1, le=2**63 - 1)], principal: Caller, services: Svc
) -> Redelivered:
    """Admins: a dead letter back to the queue, with a fresh retry window."""
    require_role(principal, "admin")
    if not await store.redeliver(services.db, delivery_id, datetime.now(UTC)):
        raise ApiError(
            409, "not_dead", "this delivery is not in the dead letter", field="delivery_id"
        )
    return Redelivered(redelivered=1)


@router.post("/webhooks/dead-letter/redeliver", response_model=Redelivered)
async def redeliver_all(
    principal: Caller,
    services: Svc,
    subscription_id: Annotated[str | None, Query(pattern=r"^wh-[0-9a-f]{16}$")] = None,
) -> Redelivered:
    """Admins: every dead letter (of one subscription, or all) back to the queue."""
    require_role(principal, "admin")
    count = await store.redeliver_all_dead(services.db, datetime.now(UTC), subscription_id)
    return Redelivered(redelivered=count)

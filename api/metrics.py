"""`GET /metrics`: this process's Prometheus metrics and the store's state (telemetry.metrics),
plus the HTTP requests this process answered, by route template (never the raw path: it
carries need ids) and status class.

No key is asked: the figures carry no personal data and no need id. In production the
ingress should not route `/metrics` to the internet (docs/observability.md)."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter, Request, Response
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import get_services
from store import queries
from store.queries import Reach
from telemetry import metrics

router = APIRouter(tags=["operations"])

REQUESTS = Counter(
    "demandflow_http_requests",
    "HTTP requests answered, by route and status class",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "demandflow_http_request_seconds",
    "HTTP request time by route",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
STATE_TTL_S = 5.0  # several scrapers (HA Prometheus) cost one store query per 5 s


class _StoreState:
    def __init__(self) -> None:
        self.read_at = -STATE_TTL_S
        self.lock = asyncio.Lock()

    async def refresh(self, request: Request) -> None:
        async with self.lock:
            if time.monotonic() - self.read_at < STATE_TTL_S:
                return
            rows = await queries.open_counts(get_services(request).db, Reach(everything=True))
            metrics.store_state((r["stage"], r["category"], r["needs"], r["overdue"]) for r in rows)
            self.read_at = time.monotonic()


_state = _StoreState()


@router.get("/metrics", include_in_schema=False)
async def prometheus(request: Request) -> Response:
    await _state.refresh(request)
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE_LATEST)


class RequestMetrics:
    """ASGI middleware counting each HTTP request under its route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = _template(scope)
            method = scope["method"] if scope["method"] in METHODS else "other"
            REQUESTS.labels(method, route, f"{status // 100}xx").inc()
            REQUEST_SECONDS.labels(route).observe(time.perf_counter() - started)


def _template(scope: Scope) -> str:
    """The matched route's template (`/needs/{need_id}`); a mounted app's prefix for the
    console, codec and static files; `unmatched` for a 404 path."""
    root = scope.get("root_path", "")
    path = getattr(scope.get("route"), "path", None)
    if path is None:
        return f"{root}/*" if root else "unmatched"
    return f"{root}{path}"

"""The HTTP service: FastAPI application factory and the health endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Literal

import asyncpg
from fastapi import FastAPI, Response
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from temporalio.client import Client

from api import actions, lists, metrics, needs, open311, plans, reports, webhooks, wishes
from api.codec import codec_app
from api.console.app import console_app
from api.deps import Services
from api.edge import SizeLimit
from api.errors import install_handlers
from domain.calendar import unconfirmed_ahead
from domain.policy import Policy
from store import db, queries
from store.fold import REPORTING_ZONE
from store.revisions import head as head_revision

DESCRIPTION = """Demand routing: submit needs, act on them, supervise them.

Every call but `/health` carries an API key in `X-API-Key` (Open311: the `api_key` parameter).
Errors answer `{"error": {"code", "message", "field"}}`. See docs/api.md."""


STATIC = Path(__file__).resolve().parent / "static"
FAVICON = "/static/vendor/swagger-ui/favicon-32x32.png"
# The reference pages may load nothing from elsewhere (ReDoc's footer logo would come from its
# CDN): on an intranet they work as they do here.
OFFLINE_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' "
    "'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'"
)


def _offline(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = OFFLINE_CSP
    return page


class Ready(BaseModel):
    status: Literal["ready", "not_ready"]
    temporal: Literal["ok", "unreachable"]
    database: Literal["ok", "unreachable"]
    migrations: Literal["at_head", "behind", "unknown"]
    revision: str | None = None
    head: str
    calendar: list[str] = Field(
        default_factory=list,
        description="this year and next without a confirmed holiday "
        "schedule (deadlines there rest on provisional or partial data); a warning, not a "
        "reason to refuse traffic",
    )


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    temporal: Literal["ok", "unreachable"]
    database: Literal["ok", "unreachable"]


def create_app(services: Services) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.start()
        yield
        await services.close()

    app = FastAPI(
        title="demandflow",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served below from the vendored assets: no CDN
        redoc_url=None,
    )
    app.state.services = services
    install_handlers(app)
    app.add_middleware(SizeLimit, limit=services.max_request_bytes)
    app.add_middleware(metrics.RequestMetrics)
    for module in (needs, actions, reports, lists, open311, webhooks, wishes, plans, metrics):
        app.include_router(module.router)
    app.mount("/codec", codec_app(services))  # Temporal's remote codec protocol (api/codec.py)
    app.mount("/console", console_app(services))  # the web console for people (api/console)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        """A person who opens the service's address lands on the console."""
        return RedirectResponse("/console/", status_code=307)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return _offline(
            get_swagger_ui_html(
                openapi_url="/openapi.json",
                title="demandflow API",
                swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
                swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
                swagger_favicon_url=FAVICON,
            )
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return _offline(
            get_redoc_html(
                openapi_url="/openapi.json",
                title="demandflow API",
                redoc_js_url="/static/vendor/redoc/redoc.standalone.js",
                redoc_favicon_url=FAVICON,
                with_google_fonts=False,
            )
        )

    @app.get("/health", response_model=Health, tags=["operations"])
    async def health(response: Response) -> Health:
        """Whether Temporal and PostgreSQL answer right now."""
        temporal_ok, database_ok = await asyncio.gather(
            _temporal_ok(services.temporal), _database_ok(services.pool)
        )
        healthy = temporal_ok and database_ok
        response.status_code = 200 if healthy else 503
        return Health(
            status="ok" if healthy else "degraded",
            temporal="ok" if temporal_ok else "unreachable",
            database="ok" if database_ok else "unreachable",
        )

    @app.get("/ready", response_model=Ready, tags=["operations"])
    async def ready(response: Response) -> Ready:
        """Whether this process can serve: Temporal and PostgreSQL answer and the database
        is migrated to the revision this code needs (`demandflow migrate` otherwise)."""
        temporal_ok, revision = await asyncio.gather(
            _temporal_ok(services.temporal), _revision(services.pool)
        )
        head = head_revision()
        migrations: Literal["at_head", "behind", "unknown"] = (
            "unknown" if revision is None else "at_head" if revision == head else "behind"
        )
        ok = temporal_ok and migrations == "at_head"
        response.status_code = 200 if ok else 503
        return Ready(
            status="ready" if ok else "not_ready",
            temporal="ok" if temporal_ok else "unreachable",
            database="ok" if revision is not None else "unreachable",
            migrations=migrations,
            revision=revision,
            head=head,
            calendar=calendar_warnings(services.policy),
        )

    return app


def calendar_warnings(policy: Policy) -> list[str]:
    """The years deadlines set now can reach (this one and the next, Asia/Shanghai) that lack
    a confirmed holiday schedule."""
    return unconfirmed_ahead(datetime.now(REPORTING_ZONE).year, policy.calendar)


async def _revision(pool: asyncpg.Pool | None) -> str | None:
    if pool is None:
        return None
    try:
        async with asyncio.timeout(2):
            return await queries.migration_revision(pool)
    except Exception:  # noqa: BLE001 - report, never raise
        return None


async def _temporal_ok(client: Client | None) -> bool:
    if client is None:
        return False
    try:
        return await asyncio.wait_for(client.service_client.check_health(), timeout=2)
    except Exception:  # noqa: BLE001 - any failure means "not reachable now"; health must answer, not raise
        return False


async def _database_ok(pool: asyncpg.Pool | None) -> bool:
    if pool is None:
        return False
    try:
        async with asyncio.timeout(2):
            return await db.answers(pool)
    except Exception:  # noqa: BLE001 - as above: report, never raise
        return False

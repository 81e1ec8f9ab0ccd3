"""The HTTP service process."""

from __future__ import annotations

import uvicorn

from api.app import create_app
from api.deps import Services
from workers.errors import ConfigError
from workers.settings import Settings


def run_api(settings: Settings) -> None:
    if settings.database_url is None or settings.temporal_address is None:
        raise ConfigError(
            "the api process needs DATABASE_URL and TEMPORAL_ADDRESS "
            "(`demandflow up` sets both for its children)"
        )
    services = Services(
        temporal_address=settings.temporal_address,
        namespace=settings.temporal_namespace,
        database_url=settings.database_url,
        app_role=settings.database_app_role,
    )
    # log_config=None: uvicorn's loggers go through our structlog handler.
    uvicorn.run(create_app(services), host=settings.api_host, port=settings.api_port, log_config=None)

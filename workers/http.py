"""The HTTP service process."""

from __future__ import annotations

import uvicorn
from temporalio.client import Client
from temporalio.converter import DataConverter

from api.app import create_app
from api.deps import DEFAULT_KEYS_FILE, DEFAULT_USERS_FILE, Services
from telemetry import tracing
from workers.codec import codec_from_settings
from workers.connections import connect_temporal
from workers.errors import ConfigError
from workers.settings import Settings
from workflows.codec import EncryptionCodec


def run_api(settings: Settings) -> None:
    if settings.database_url is None or settings.temporal_address is None:
        raise ConfigError(
            "the api process needs DATABASE_URL and TEMPORAL_ADDRESS "
            "(`demandflow up` sets both for its children)"
        )
    demo_files = (
        (settings.api_keys_file, DEFAULT_KEYS_FILE, "API keys", "API_KEYS_FILE", "key table"),
        (
            settings.console_users_file,
            DEFAULT_USERS_FILE,
            "console users",
            "CONSOLE_USERS_FILE",
            "users table (`demandflow hash-password` makes a hash)",
        ),
    )
    for chosen, demo, what, variable, yours in demo_files:
        if settings.environment == "production" and chosen == demo:
            raise ConfigError(
                f"the api refuses the demo {what} in production: set {variable} to your {yours}"
            )
    codec = codec_from_settings(settings)  # before the policy: its errors are ConfigErrors
    traced = tracing.configure("demandflow-api")
    try:
        services = _services(settings, codec, traced)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot load the policy, the API key table or the console users: {exc}"
        ) from None
    app = create_app(services)
    if traced:
        tracing.instrument_api(app)
    # log_config=None: uvicorn's loggers go through our structlog handler.
    uvicorn.run(app, host=settings.api_host, port=settings.api_port, log_config=None)


def _services(settings: Settings, codec: EncryptionCodec, traced: bool) -> Services:
    assert settings.temporal_address is not None and settings.database_url is not None
    address, namespace = settings.temporal_address, settings.temporal_namespace

    async def reach_temporal(converter: DataConverter) -> Client:
        return await connect_temporal(
            address,
            namespace,
            converter,
            attempts=20,
            interceptors=tracing.temporal_interceptors() if traced else [],
        )

    return Services(
        connect_temporal=reach_temporal,
        namespace=settings.temporal_namespace,
        database_url=settings.database_url,
        app_role=settings.database_app_role,
        task_queue=settings.temporal_task_queue,
        policy_file=settings.policy_file,
        api_keys_file=settings.api_keys_file,
        codec=codec,
        codec_origins=settings.codec_origins,
        console_users_file=settings.console_users_file,
        response_templates_file=settings.response_templates_file,
        temporal_ui_url=settings.temporal_ui_url,
        secure_cookies=settings.secure_cookies,
        allow_private_webhooks=settings.webhooks_allow_private_targets,
        max_request_bytes=settings.max_request_bytes,
    )

"""Reaching the servers: Temporal client, database URLs, and the checks that turn an
unreachable server or a taken port into one clear line instead of a traceback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

from temporalio.client import Client, Interceptor
from temporalio.converter import DataConverter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from workers.errors import ConfigError


def redact_url(url: str) -> str:
    """host:port/database of a URL, never its user or password."""
    parts = urlsplit(url)
    where = parts.hostname or "(unix socket)"
    port = f":{parts.port}" if parts.port else ""
    return f"{where}{port}{parts.path}"


def ensure_port_free(port: int, setting: str, host: str = "127.0.0.1") -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise ConfigError(
                f"port {port} ({setting}) is already in use; stop whatever listens there "
                f"or set {setting} to a free port"
            ) from None


def sdk_metrics_runtime(host: str, port: int) -> Runtime:
    """A Temporal SDK runtime serving the SDK's own metrics (task latencies, slots, polls,
    sticky cache) as Prometheus text on http://host:port/metrics."""
    ensure_port_free(port, "TEMPORAL_METRICS_PORT", host)
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(bind_address=f"{host}:{port}", durations_as_seconds=True)
        )
    )


async def connect_temporal(
    address: str,
    namespace: str,
    data_converter: DataConverter,
    *,
    attempts: int = 1,
    runtime: Runtime | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Client:
    """Connect with the converter every process of ours shares: pydantic payloads, encrypted
    (`workers.codec.converter_from_settings`). `runtime`: one with the SDK's metrics
    (`sdk_metrics_runtime`); `interceptors`: the tracing one when traces are on."""
    last: Exception | None = None
    for attempt in range(attempts):
        try:
            return await Client.connect(
                address,
                namespace=namespace,
                data_converter=data_converter,
                runtime=runtime,
                interceptors=interceptors,
            )
        except RuntimeError as exc:  # the SDK raises RuntimeError for connection failures
            last = exc
            if attempt + 1 < attempts:
                await asyncio.sleep(0.5)
    raise ConfigError(
        f"cannot reach Temporal at TEMPORAL_ADDRESS={address} ({type(last).__name__}); "
        "start the server or unset TEMPORAL_ADDRESS to use the embedded dev server"
    )


async def check_database(url: str, setting: str = "DATABASE_URL") -> None:
    """Fail with one line when the database does not answer within a few seconds."""
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    try:
        conn = await asyncio.wait_for(asyncpg.connect(dsn), timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        raise ConfigError(
            f"cannot reach {setting} at {redact_url(url)} ({type(exc).__name__}); "
            f"check the server and the URL, or unset {setting} to use the embedded PostgreSQL"
        ) from None
    await conn.close()

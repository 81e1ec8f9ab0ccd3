"""What the HTTP handlers share: a Temporal client, a database pool, the policy's directory,
the API-key table, the console's users, the task queue new needs start on, and the payload
codec (the Temporal client's, and the codec server's under /codec).

The process (workers/http.py) hands in how to reach Temporal (`connect_temporal`); nothing
here reads settings or imports `workers/`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import asyncpg
import structlog
from fastapi import Request
from temporalio.client import Client
from temporalio.converter import DataConverter

from api.auth import Directory, KeyTable
from api.console.users import UserTable
from api.errors import ApiError
from domain.policy import Policy, load_policy
from workflows.codec import EncryptionCodec, data_converter

log = structlog.get_logger("demandflow.api")
DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
DEFAULT_KEYS_FILE = DEPLOY / "api-keys.yaml"
DEFAULT_USERS_FILE = DEPLOY / "console-users.yaml"
DEFAULT_REPLIES_FILE = DEPLOY / "response-templates.yaml"


class Services:
    def __init__(
        self,
        *,
        namespace: str = "default",
        database_url: str | None = None,
        app_role: str | None = None,
        task_queue: str = "demandflow",
        policy_file: Path = DEPLOY / "policy.yaml",
        api_keys_file: Path = DEFAULT_KEYS_FILE,
        temporal: Client | None = None,
        pool: asyncpg.Pool | None = None,
        codec: EncryptionCodec | None = None,
        codec_origins: Sequence[str] = (),
        console_users_file: Path = DEFAULT_USERS_FILE,
        temporal_ui_url: str | None = None,
        secure_cookies: bool = False,
        response_templates_file: Path = DEFAULT_REPLIES_FILE,
        allow_private_webhooks: bool = True,
        max_request_bytes: int = 1_048_576,
        connect_temporal: Callable[[DataConverter], Awaitable[Client]] | None = None,
    ) -> None:
        self.namespace = namespace
        self.database_url = database_url
        self.app_role = app_role
        self.task_queue = task_queue
        self.policy: Policy = load_policy(Path(policy_file).read_bytes())
        self.directory = Directory(self.policy)
        self.keys = KeyTable.load(Path(api_keys_file), self.policy)
        self.console_users = UserTable.load(Path(console_users_file), self.policy)
        self.temporal_ui_url = temporal_ui_url.rstrip("/") if temporal_ui_url else None
        self.secure_cookies = secure_cookies
        self.response_templates_file = Path(response_templates_file)
        self.allow_private_webhooks = allow_private_webhooks
        self.max_request_bytes = max_request_bytes
        self.temporal: Client | None = temporal
        self.pool: asyncpg.Pool | None = pool
        self.codec = codec
        self.codec_origins = list(codec_origins)
        self._connect_temporal = connect_temporal
        self._owns_connections = temporal is None and pool is None

    async def start(self) -> None:
        """Connect (only what was not handed in already)."""
        from store.db import create_pool

        if self.temporal is None and self._connect_temporal is not None:
            self.temporal = await self._connect_temporal(data_converter(self.codec))
        if self.pool is None and self.database_url:
            self.pool = await create_pool(self.database_url, role=self.app_role)

    @property
    def db(self) -> asyncpg.Pool:
        if self.pool is None:
            raise ApiError(503, "unavailable", "the database is not connected")
        return self.pool

    @property
    def client(self) -> Client:
        if self.temporal is None:
            raise ApiError(503, "unavailable", "Temporal is not connected")
        return self.temporal

    async def close(self) -> None:
        if self._owns_connections and self.pool is not None:
            await self.pool.close()


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services

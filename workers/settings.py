"""One settings object for every process, read from the environment and an optional `.env`.

Each field is documented in the README's configuration table; keep the two in step.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from workers.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["local", "production"] = "local"
    data_dir: Path = Field(default=REPO_ROOT / "var", description="state of the embedded servers")
    database_url: str | None = Field(
        default=None,
        description="postgresql+asyncpg://… ; unset: embedded PostgreSQL under data_dir",
    )
    migration_database_url: str | None = Field(
        default=None, description="owner connection for migrations; unset: database_url"
    )
    database_app_role: str = Field(
        default="demandflow_app",
        description="role the application runs as: may insert events, never update or delete them",
    )
    database_app_password: SecretStr | None = Field(
        default=None,
        description="`demandflow migrate` sets it as the app role's login "
        "password (production: the one in DATABASE_URL); unset: left as it is",
    )
    temporal_address: str | None = Field(
        default=None, description="host:port of a Temporal frontend; unset: embedded dev server"
    )
    temporal_namespace: str = "default"
    temporal_task_queue: str = "demandflow"
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    metrics_host: str = Field(
        default="127.0.0.1",
        description="address the worker's and delivery process's metrics "
        "ports listen on (0.0.0.0 in a container)",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="this worker's or delivery process's "
        "Prometheus port (`demandflow_*`); unset: none. The API serves /metrics on its own port",
    )
    temporal_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="the worker's Temporal SDK metrics port "
        "(task latencies, slots, polls); unset: none",
    )
    stack_metrics_port: int = Field(
        default=9464,
        ge=1,
        le=65533,
        description="`demandflow up`: the worker's metrics port; "
        "its Temporal SDK's and the delivery process's are the next two",
    )
    log_format: Literal["auto", "console", "json"] = "auto"
    log_level: str = "INFO"
    policy_file: Path = Field(default=REPO_ROOT / "deploy" / "policy.yaml")
    api_keys_file: Path = Field(
        default=REPO_ROOT / "deploy" / "api-keys.yaml",
        description="API key table (sha256 of each key, principal and role); default: demo keys",
    )
    console_users_file: Path = Field(
        default=REPO_ROOT / "deploy" / "console-users.yaml",
        description="people who sign in to the web console (argon2 hashes); default: demo users",
    )
    response_templates_file: Path = Field(
        default=REPO_ROOT / "deploy" / "response-templates.yaml",
        description="the console's reply templates per category (policy data)",
    )
    temporal_ui_url: str | None = Field(
        default=None,
        description="base URL of the Temporal Web UI the console links needs to; "
        "`demandflow up` sets it to the embedded dev server's UI; unset: no link",
    )
    console_secure_cookies: bool | None = Field(
        default=None,
        description="mark console cookies Secure (HTTPS only); unset: in production",
    )
    max_request_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="the largest request body the API reads (413 "
        "beyond it; the codec server /codec allows 8 MiB)",
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="the API's address as integrators reach it: the links in webhook messages",
    )
    webhook_retry_window_s: int = Field(
        default=86_400, ge=1, description="how long a failing delivery is retried (seconds)"
    )
    webhook_first_delay_s: float = Field(
        default=10.0, gt=0, description="the first retry's delay; it doubles, with jitter"
    )
    webhook_lease_s: float = Field(
        default=60.0,
        gt=0,
        description="a claimed delivery is due again after this long "
        "(a delivery process that died mid-POST)",
    )
    webhooks_allow_private: bool | None = Field(
        default=None,
        description="deliver to private, loopback and link-local addresses; "
        "unset: yes locally, no in production",
    )
    payload_keys: SecretStr | None = Field(
        default=None,
        description="payload encryption keys, `id=base64key` entries separated by commas; the "
        "first encrypts, all decrypt (workers/codec.py)",
    )
    payload_keys_file: Path | None = Field(
        default=None,
        description="a file of `id=base64key` lines (mode 0600), first encrypts",
    )
    payload_plaintext_readable: bool | None = Field(
        default=None,
        description="read payloads that carry no encryption marker (runs from before "
        "encryption); unset: yes locally, no in production",
    )
    codec_cors_origins: str | None = Field(
        default=None,
        description="comma-separated origins of Temporal Web UIs the codec server answers; "
        "unset: the embedded dev server's UI (127.0.0.1 and localhost, TEMPORAL_UI_PORT)",
    )

    @property
    def json_logs(self) -> bool:
        if self.log_format == "auto":
            return self.environment == "production"
        return self.log_format == "json"

    @property
    def plaintext_readable(self) -> bool:
        if self.payload_plaintext_readable is None:
            return self.environment == "local"
        return self.payload_plaintext_readable

    @property
    def webhooks_allow_private_targets(self) -> bool:
        if self.webhooks_allow_private is None:
            return self.environment == "local"
        return self.webhooks_allow_private

    @property
    def secure_cookies(self) -> bool:
        if self.console_secure_cookies is None:
            return self.environment == "production"
        return self.console_secure_cookies

    @property
    def codec_origins(self) -> list[str]:
        if self.codec_cors_origins is not None:
            return [o.strip().rstrip("/") for o in self.codec_cors_origins.split(",") if o.strip()]
        return [f"http://{host}:{self.temporal_ui_port}" for host in ("127.0.0.1", "localhost")]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]).upper()
        raise ConfigError(
            f"setting {field} is invalid: {first['msg']}; fix it in the environment or .env"
        ) from None

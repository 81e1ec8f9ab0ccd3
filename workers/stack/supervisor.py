"""`demandflow up`: the whole local stack, supervised as one unit.

Order on start: lock → ports → PostgreSQL (embedded unless DATABASE_URL) → migrations →
Temporal (embedded unless TEMPORAL_ADDRESS) → worker and API as child processes → demo data
(once) → print where everything is → wait. Ctrl-C or SIGTERM stops the children in reverse
order; the state under `var/` stays for the next start.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import structlog

from workers.codec import converter_from_settings, keyring_from_settings
from workers.connections import check_database, connect_temporal, ensure_port_free
from workers.errors import ConfigError
from workers.settings import Settings
from workers.stack.embedded import start_postgres, stop_postgres
from workers.stack.lock import StackLock
from workers.stack.temporal_server import start_dev_server

log = structlog.get_logger("demandflow.stack")


def stop_process(
    process: subprocess.Popen[bytes], signum: int = signal.SIGTERM, timeout: float = 15
) -> bool:
    """Signal a child and wait for it; kill it if it outlives `timeout`. False if killed."""
    if process.poll() is not None:
        return True
    process.send_signal(signum)
    try:
        process.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return False


RESTARTABLE = ("worker", "api", "deliver")
RESTART_LIMIT = 5  # crashes of one child within RESTART_WINDOW_S: then the stack stops
RESTART_WINDOW_S = 120.0
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0


class Stack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.embedded_pg: Path | None = None
        self.stopping = threading.Event()
        self._env: dict[str, dict[str, str]] = {}
        self._crashes: dict[str, list[float]] = {}
        self._due: dict[str, float] = {}  # child → when to start it again

    def run(self) -> None:
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        with ExitStack() as cleanup:
            cleanup.enter_context(StackLock(s.data_dir / "up.lock"))
            self._install_signal_handlers()
            cleanup.callback(self.stop_all)
            self._check_ports()
            # payload keys before any child: the local key is generated here, once
            keyring_from_settings(s)
            database_url, owner_url = self._start_database()
            temporal_address = self._start_temporal()
            env = os.environ | {
                "DATABASE_URL": database_url,
                "MIGRATION_DATABASE_URL": owner_url,
                "TEMPORAL_ADDRESS": temporal_address,
            }
            if s.temporal_address is None and not s.temporal_ui_url:  # the console links here
                env["TEMPORAL_UI_URL"] = f"http://127.0.0.1:{s.temporal_ui_port}"
            ports = {name: str(port) for name, port in self.metrics_ports.items()}
            env.pop("METRICS_PORT", None)
            env.pop("TEMPORAL_METRICS_PORT", None)
            self._spawn(
                "worker",
                env
                | {"METRICS_PORT": ports["worker"], "TEMPORAL_METRICS_PORT": ports["worker-sdk"]},
            )
            self._spawn("api", env)
            # webhooks: outbox → signed POSTs (workers/delivery.py)
            self._spawn("deliver", env | {"METRICS_PORT": ports["deliver"]})
            asyncio.run(self._load_demo(temporal_address, database_url))
            self._wait_for_api()
            self._announce(temporal_address)
            self._wait()

    def _install_signal_handlers(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self.stopping.set())

    def _check_ports(self) -> None:
        s = self.settings
        if s.temporal_address is None:
            ensure_port_free(s.temporal_port, "TEMPORAL_PORT")
            ensure_port_free(s.temporal_ui_port, "TEMPORAL_UI_PORT")
        ensure_port_free(s.api_port, "API_PORT", s.api_host)
        for port in self.metrics_ports.values():
            ensure_port_free(port, "STACK_METRICS_PORT", s.metrics_host)

    @property
    def metrics_ports(self) -> dict[str, int]:
        """The children's Prometheus ports: STACK_METRICS_PORT and the next two."""
        first = self.settings.stack_metrics_port
        return {"worker": first, "worker-sdk": first + 1, "deliver": first + 2}

    def _start_database(self) -> tuple[str, str]:
        s = self.settings
        if s.database_url is None:
            self.embedded_pg = s.data_dir / "postgres"
            owner_url = start_postgres(self.embedded_pg)
            database_url = owner_url
        else:
            database_url = s.database_url
            owner_url = s.migration_database_url or database_url
            asyncio.run(check_database(database_url))
        from store.migrate import upgrade

        upgrade(owner_url, s.database_app_role)
        log.info("database ready", embedded=self.embedded_pg is not None)
        return database_url, owner_url

    def _start_temporal(self) -> str:
        s = self.settings
        if s.temporal_address is not None:
            asyncio.run(self._prepare_external(s.temporal_address))
            return s.temporal_address
        address = f"127.0.0.1:{s.temporal_port}"
        process = start_dev_server(
            s.data_dir, s.temporal_port, s.temporal_ui_port, codec_endpoint=self.codec_endpoint
        )
        self.children.append(("temporal", process))
        asyncio.run(
            connect_temporal(address, s.temporal_namespace, converter_from_settings(s), attempts=60)
        )
        log.info("temporal ready", frontend=address)
        return address

    async def _prepare_external(self, address: str) -> None:
        """An external cluster knows none of our search attributes until told."""
        from workers.temporal_setup import register_search_attributes

        client = await connect_temporal(
            address, self.settings.temporal_namespace, converter_from_settings(self.settings)
        )
        added = await register_search_attributes(client)
        log.info("temporal ready", frontend=address, search_attributes_added=len(added))

    @property
    def codec_endpoint(self) -> str:
        """The API's codec server, as the Web UI and the `temporal` CLI reach it."""
        host = (
            "127.0.0.1" if self.settings.api_host in ("0.0.0.0", "::") else self.settings.api_host
        )
        return f"http://{host}:{self.settings.api_port}/codec"

    def _spawn(self, command: str, env: dict[str, str]) -> None:
        # Own session, so the terminal's Ctrl-C reaches only this supervisor, which stops the
        # children in order. Output is inherited: nobody has to drain a pipe.
        process = subprocess.Popen(
            [sys.executable, "-m", "workers.cli.main", command], env=env, start_new_session=True
        )
        self._env[command] = env
        self.children = [(n, p) for n, p in self.children if n != command]
        self.children.append((command, process))

    async def _load_demo(self, temporal_address: str, database_url: str | None = None) -> None:
        from workers.stack.demo import load_demo

        await load_demo(self.settings, temporal_address, database_url)

    def _wait_for_api(self, timeout: float = 60) -> None:
        """The stack is up when the API answers its health check."""
        s = self.settings
        url = f"http://{s.api_host}:{s.api_port}/health"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stopping.is_set():
            self._check_children()
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        if not self.stopping.is_set():
            raise ConfigError(f"the API did not become healthy at {url} within {timeout:.0f} s")

    def _announce(self, temporal_address: str) -> None:
        s = self.settings
        ui = (
            f"http://127.0.0.1:{s.temporal_ui_port}" if s.temporal_address is None else "(external)"
        )
        api = f"http://{s.api_host}:{s.api_port}"
        metrics = {
            name: f"http://{s.metrics_host}:{port}" for name, port in self.metrics_ports.items()
        }
        print(
            "\ndemandflow is up\n"
            f"  console    {api}/console/   (demo users: README, password demo1234)\n"
            f"  API        {api}   (docs: {api}/docs, health: {api}/health)\n"
            f"  Temporal   {temporal_address}   UI: {ui}\n"
            f"  metrics    {api}/metrics (API)\n"
            f"             {metrics['worker']}/metrics (worker)\n"
            f"             {metrics['worker-sdk']}/metrics (worker's Temporal SDK)\n"
            f"             {metrics['deliver']}/metrics (webhook delivery)\n"
            f"  codec      {self.codec_endpoint}   (decoded payloads: admins and district "
            "supervisors; README)\n"
            f"  state      {s.data_dir}\n"
            "Press Ctrl-C to stop.\n",
            flush=True,
        )

    def _wait(self) -> None:
        while not self.stopping.wait(0.5):
            self._check_children()

    def _check_children(self) -> None:
        """A worker, API or delivery process that dies is started again after a backoff
        (1 s, doubling to 30 s) and the log says so; one that keeps dying (5 times in two
        minutes), or the Temporal server, stops the stack with one line naming it."""
        now = time.monotonic()
        for name, process in list(self.children):
            if process.poll() is None:
                continue
            if name not in RESTARTABLE:
                raise ConfigError(
                    f"the {name} process exited with code {process.returncode}; "
                    f"see its output above (temporal: {self.settings.data_dir / 'temporal.log'})"
                )
            if name not in self._due:
                crashes = [t for t in self._crashes.get(name, []) if now - t < RESTART_WINDOW_S]
                crashes.append(now)
                self._crashes[name] = crashes
                if len(crashes) > RESTART_LIMIT:
                    raise ConfigError(
                        f"the {name} process exited {len(crashes)} times within "
                        f"{RESTART_WINDOW_S:.0f} s (last code {process.returncode}); see its "
                        "output above"
                    )
                backoff = min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** (len(crashes) - 1))
                self._due[name] = now + backoff
                log.warning(
                    "child exited; restarting it",
                    child=name,
                    code=process.returncode,
                    after_s=backoff,
                )
            elif now >= self._due[name]:
                del self._due[name]
                self._spawn(name, self._env[name])
                log.warning("child restarted", child=name)

    def stop_all(self) -> None:
        """Stop children newest first (API, worker, then Temporal), then PostgreSQL."""
        for name, process in reversed(self.children):
            if not stop_process(process):
                log.warning("child did not stop in time; it was killed", child=name)
        self.children.clear()
        if self.embedded_pg is not None:
            stop_postgres(self.embedded_pg)
            self.embedded_pg = None

"""`demandflow up` as a newcomer runs it: a subprocess, health, SIGINT, nothing left behind,
and a second start that finds the demo data still there, loaded once."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest

from domain.commands import need_id_for
from domain.model import Channel
from workers.stack.demo import DEMO_INTAKE, DEMO_SUBMISSIONS

pytestmark = pytest.mark.timeout(600)
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(n: int) -> int:
    """The first of `n` consecutive free ports."""
    while True:
        first = free_port()
        if first + n > 65535:
            continue
        try:
            with contextlib.ExitStack() as held:
                for port in range(first, first + n):
                    probe = held.enter_context(socket.socket())
                    probe.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue


class RunningStack:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.api_port = free_port()
        self.env = os.environ | {
            "DATA_DIR": str(data_dir),
            "API_PORT": str(self.api_port),
            "TEMPORAL_PORT": str(free_port()),
            "TEMPORAL_UI_PORT": str(free_port()),
            "STACK_METRICS_PORT": str(free_ports(3)),
        }
        for inherited in ("DATABASE_URL", "TEMPORAL_ADDRESS", "MIGRATION_DATABASE_URL"):
            self.env.pop(inherited, None)
        self.process: subprocess.Popen[bytes] | None = None
        self.descendants: list[psutil.Process] = []

    def start(self) -> None:
        log = (self.data_dir / "stack-output.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "workers.cli.main", "up"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_healthy(self, timeout: float = 240) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.output()
            try:
                answer = httpx.get(f"http://127.0.0.1:{self.api_port}/health", timeout=2)
                if answer.status_code == 200 and "demandflow is up" in self.output():
                    self.descendants = psutil.Process(self.process.pid).children(recursive=True)
                    return dict(answer.json())
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise AssertionError("stack not healthy in time:\n" + self.output())

    def interrupt(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=90)

    def output(self) -> str:
        path = self.data_dir / "stack-output.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def leftovers(self) -> list[psutil.Process]:
        alive = [
            p for p in self.descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        ]
        for proc in psutil.process_iter(["cmdline"]):
            if any(str(self.data_dir) in part for part in proc.info["cmdline"] or []):
                alive.append(proc)
        return alive


@pytest.fixture
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    # A short path: PostgreSQL's Unix socket path must stay under ~100 bytes.
    running = RunningStack(tmp_path_factory.mktemp("stk"))
    yield running
    if running.process and running.process.poll() is None:
        running.process.kill()
    for proc in running.leftovers():
        proc.kill()


async def demo_counts(data_dir: Path) -> dict[str, int]:
    """DemandSubmitted events per demo need, read straight from the embedded database."""
    socket_dir = (data_dir / "postgres" / "postmaster.pid").read_text().splitlines()[4]
    conn = await asyncpg.connect(user="postgres", database="postgres", host=socket_dir)
    try:
        ids = [need_id_for(s.channel, s.external_id, DEMO_INTAKE.id) for s in DEMO_SUBMISSIONS]
        rows = await conn.fetch(
            "SELECT stream_id, count(*) AS n FROM events WHERE type = 'DemandSubmitted' "
            "AND stream_id = ANY($1::text[]) GROUP BY stream_id",
            ids,
        )
        return {row["stream_id"]: row["n"] for row in rows}
    finally:
        await conn.close()


async def demo_sub_tasks(data_dir: Path, timeout: float = 30) -> list[tuple[str, str]]:
    """The Huading need's sub-tasks of joint handling (the demo asks one): (unit, status)."""
    socket_dir = (data_dir / "postgres" / "postmaster.pid").read_text().splitlines()[4]
    conn = await asyncpg.connect(user="postgres", database="postgres", host=socket_dir)
    need = need_id_for(Channel.JOINT_MEETING, "demo-huading-1", DEMO_INTAKE.id)
    deadline = time.monotonic() + timeout
    try:
        while True:
            rows = await conn.fetch(
                "SELECT unit_id, status FROM need_assists WHERE stream_id = $1", need
            )
            if rows or time.monotonic() > deadline:
                return [(r["unit_id"], r["status"]) for r in rows]
            await asyncio.sleep(1)
    finally:
        await conn.close()


async def wait_for_demo(data_dir: Path, timeout: float = 60) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    counts: dict[str, int] = {}
    while time.monotonic() < deadline:
        counts = await demo_counts(data_dir)
        if len(counts) == len(DEMO_SUBMISSIONS):
            return counts
        await asyncio.sleep(1)
    return counts


async def test_the_stack_starts_stops_cleanly_and_keeps_its_demo_data(stack: RunningStack) -> None:
    stack.start()
    health = stack.wait_healthy()
    assert health == {"status": "ok", "temporal": "ok", "database": "ok"}
    assert stack.descendants, "the stack should run its servers as child processes"
    first = await wait_for_demo(stack.data_dir)
    assert len(first) == len(DEMO_SUBMISSIONS)
    assert await demo_sub_tasks(stack.data_dir) == [("dept-market", "requested")]
    keys = stack.data_dir / "payload-keys"  # generated once, owner-only, kept for the next run
    assert keys.stat().st_mode & 0o777 == 0o600
    key_text = keys.read_text()
    servers = [" ".join(p.cmdline()) for p in stack.descendants if p.is_running()]
    assert any(
        f"--ui-codec-endpoint http://127.0.0.1:{stack.api_port}/codec" in c for c in servers
    ), servers
    check_metrics(stack)

    assert stack.interrupt() == 0, stack.output()
    await asyncio.sleep(1)
    assert stack.leftovers() == []
    assert not (stack.data_dir / "up.lock").exists()

    stack.start()
    stack.wait_healthy()
    await asyncio.sleep(3)  # give a wrongly repeated demo load time to show up
    second = await demo_counts(stack.data_dir)
    assert second == first
    assert keys.read_text() == key_text
    assert set(second.values()) == {1}
    assert await demo_sub_tasks(stack.data_dir) == [("dept-market", "requested")]  # once
    assert stack.interrupt() == 0
    await asyncio.sleep(1)
    assert stack.leftovers() == []


def check_metrics(stack: RunningStack) -> None:
    """Every metrics URL the stack prints answers with its figures; the demo needs counted."""
    first = int(stack.env["STACK_METRICS_PORT"])
    for url in (
        f"http://127.0.0.1:{stack.api_port}/metrics",
        f"http://127.0.0.1:{first}/metrics",
        f"http://127.0.0.1:{first + 1}/metrics",
        f"http://127.0.0.1:{first + 2}/metrics",
    ):
        assert url in stack.output(), url
    api = httpx.get(f"http://127.0.0.1:{stack.api_port}/metrics", timeout=5).text
    assert 'demandflow_open_needs{category="' in api
    assert 'demandflow_http_requests_total{method="GET",route="/health",status="2xx"}' in api
    worker = httpx.get(f"http://127.0.0.1:{first}/metrics", timeout=5).text
    submitted = [
        line for line in worker.splitlines() if line.startswith("demandflow_needs_submitted_total{")
    ]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in submitted) >= len(DEMO_SUBMISSIONS)
    assert 'demandflow_events_appended_total{type="DemandSubmitted"}' in worker
    sdk = httpx.get(f"http://127.0.0.1:{first + 1}/metrics", timeout=5).text
    assert "temporal_workflow_completed" in sdk or "temporal_workflow_task_execution_latency" in sdk
    delivery = httpx.get(f"http://127.0.0.1:{first + 2}/metrics", timeout=5).text
    assert "demandflow_webhook_deliveries" in delivery
    exposed = exposed_names("\n".join((api, worker, sdk, delivery)))
    missing = sorted(set(dashboard_metric_names()) - exposed)
    assert missing == [], (missing, sorted(n for n in exposed if n.startswith("temporal_")))


def exposed_names(text: str) -> set[str]:
    """Metric names in Prometheus text: sample names, and families declared with no sample
    yet (a histogram's buckets count as declared by its family)."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            family, kind = line.split()[2:4]
            names.add(family)
            if kind == "histogram":
                names |= {f"{family}_bucket", f"{family}_sum", f"{family}_count"}
        elif line and not line.startswith("#"):
            names.add(line.split("{", 1)[0].split(" ", 1)[0])
    return names


def dashboard_metric_names() -> list[str]:
    dashboard = json.loads((REPO / "deploy" / "grafana" / "demandflow.json").read_text())
    return [
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b(?:demandflow|temporal)_[a-z_]+", target["expr"])
    ]


def _child(stack: RunningStack, command: str) -> psutil.Process | None:
    assert stack.process is not None
    for proc in psutil.Process(stack.process.pid).children():
        try:
            if proc.cmdline()[-1:] == [command] and proc.is_running():
                return proc
        except psutil.NoSuchProcess:
            continue
    return None


async def test_a_killed_worker_api_or_delivery_process_comes_back(stack: RunningStack) -> None:
    stack.start()
    stack.wait_healthy()
    for command in ("worker", "deliver", "api"):
        first = _child(stack, command)
        assert first is not None, (command, stack.output()[-2000:])
        first.kill()  # SIGKILL: no goodbye
        deadline = time.monotonic() + 60
        again = None
        while time.monotonic() < deadline:
            again = _child(stack, command)
            if again is not None and again.pid != first.pid:
                break
            await asyncio.sleep(0.5)
        assert again is not None and again.pid != first.pid, stack.output()[-2000:]
        assert stack.process.poll() is None, "the stack kept running"
    assert "child restarted" in stack.output()
    stack.wait_healthy()  # the new API answers
    assert stack.interrupt() == 0, stack.output()[-2000:]
    await asyncio.sleep(1)
    assert stack.leftovers() == []


def readme_tour() -> str:
    """The README's five-minute tour: the first bash block after its heading."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Five-minute tour") :]
    return section.split("```bash\n", 1)[1].split("```", 1)[0]


async def test_the_readme_tour_runs_as_written(stack: RunningStack, tmp_path: Path) -> None:
    stack.start()
    stack.wait_healthy()
    await wait_for_demo(stack.data_dir)
    script = (
        readme_tour()
        .replace("http://127.0.0.1:8000", f"http://127.0.0.1:{stack.api_port}")
        .replace("/tmp/", f"{tmp_path}/")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEMANDFLOW_")}
    done = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "Traceback" not in out
    assert ": handling" in out and ": evaluation" in out  # accept, then complete
    assert "submitted 1 of 2 rows, 1 rejected" in out and "row 3: title" in out
    assert "inbox of grid-dongting-1" in out and "unit statistics" in out
    assert "category,item,needs" in out  # the demand list as CSV
    assert "<services>" in out or "<service>" in out  # Open311's service list
    assert "inbox of dept-urban" in out and "assist-1" in out  # 联合办理: the sub-task listed
    assert stack.interrupt() == 0, stack.output()[-2000:]

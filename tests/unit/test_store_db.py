"""The URL conversion the worker's database path uses (no SQLAlchemy on that path)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from store.db import asyncpg_dsn


def test_only_the_scheme_changes() -> None:
    url = "postgresql+asyncpg://app:p%40ss@db.example:5433/demand?ssl=disable"
    assert asyncpg_dsn(url) == "postgresql://app:p%40ss@db.example:5433/demand?ssl=disable"
    assert asyncpg_dsn("postgres://h/db") == "postgresql://h/db"


@pytest.mark.parametrize("url", ["mysql://h/db", "h:5432/db", ""])
def test_other_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        asyncpg_dsn(url)


def test_the_worker_does_not_load_sqlalchemy() -> None:
    code = "import sys, workers.worker; print('sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

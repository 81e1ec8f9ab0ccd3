"""The rooms' import rules (docs/architecture.md): checked on the source, so a new line in
the wrong room fails here rather than in review."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {  # room: packages it must not import
    "domain": {
        "workflows",
        "activities",
        "store",
        "api",
        "workers",
        "temporalio",
        "asyncpg",
        "telemetry",
    },
    "store": {"workflows", "activities", "api", "workers"},
    "api": {"workers"},
    "workflows": {"api", "workers", "store", "telemetry", "activities"},
    "activities": {"api", "workers"},
    "telemetry": {"workflows", "activities", "store", "api", "workers"},
}


def imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_each_room_imports_only_what_it_may(room: str) -> None:
    wrong = {
        str(p.relative_to(ROOT)): sorted(imported(p) & FORBIDDEN[room])
        for p in (ROOT / room).rglob("*.py")
        if imported(p) & FORBIDDEN[room]
    }
    assert wrong == {}


def test_the_migration_head_read_without_alembic_is_alembics() -> None:
    from store.migrate import head_revision
    from store.revisions import head

    assert head() == head_revision()


SQL = ("SELECT ", "INSERT INTO", "UPDATE ", "DELETE FROM")


@pytest.mark.parametrize("room", ["api", "activities", "workflows", "workers", "domain"])
def test_sql_lives_in_store_only(room: str) -> None:
    """Every query is a typed function in store/ (issue 16: one read side)."""
    found = {
        str(p.relative_to(ROOT))
        for p in (ROOT / room).rglob("*.py")
        if any(word in p.read_text(encoding="utf-8") for word in SQL)
    }
    assert found == set()

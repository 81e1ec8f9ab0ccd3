"""A shipped revision executes the same SQL forever.

Each revision's `upgrade()` is run against a recorder (no database: the statements are only
collected) and the digest of what it would execute is compared with the digest recorded when
it shipped. A change to runtime column or counter lists (store/columns.py) can therefore never
rewrite an old revision; a new column is a new revision. And no module under store/migrations
imports runtime code, so nothing outside them can change their text.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import pathlib
from types import SimpleNamespace

import pytest

MIGRATIONS = pathlib.Path(__file__).resolve().parents[2] / "store" / "migrations"

# sha256 over the statements each revision executes (joined by NUL), app role "demandflow_app".
SHIPPED = {
    "0001": "361482bbe4c999c25de8f5e9bfe08f39b47f8187b983d6104da995cdbdfbabe4",
    "0002": "17c8ce4e99e897745116c152261f6afa63996a42e951d0a5b4e8473e85219dd7",
    "0003": "37ba9ed896b587cf8f9a9422861c8d1ce5f68150642a82b93108f0a04255b7ec",
    "0004": "ebf239aa23b679a1a6157b9639790bb4d4f9b0876099229e1bb3764bd6347e0c",
    "0005": "0e1778d3729e90f1b774bb655a88786c8d39de1559baea60140938bab520b46d",
    "0006": "7244062babfe6526f901e76636551c7c466e1fb251906e893d1da84f9bbb011a",
    "0007": "4b5050615b66836462503025f0a49de20ecacfc644f133cc790bedf7fccdee88",
    "0008": "51e303aaf249ec5bc5a4696c7971e7925190db6cfa90d5b86e58a5c1f3bb90df",
    "0009": "ffbf0ca0ff4669f8a608511a0f558114a737818e4911f36d2464924ce5a3ff41",
    "0010": "64318515c7970468937edc2ab2b5a139a1129bf2cd6862ab7f0a3187ae5e34d0",
    "0011": "0b8436efdc4bcff13560c45144db3453b669c571a23cb18a617708933b9f78d4",
    "0012": "59616d94fee2b6a66c10522f5435b7982610e0e4ed3be6cc6a00b4764b179adb",
    "0013": "f54980a771b80e6f3980796f05680e0be1e9494bbf781b3d9242368fa43780ac",
    "0014": "db067e090397fca3c40c814d45f47306e067c23dfd0ae6310e4e6e528f227ef0",
    "0015": "3be56461ebeaca0bd49b4927de693102e80d0cd50e43c4cae898418291d172ab",
    "0016": "1ffe5ed7cf64498e63a4bc54d61acb108f53fc8ee21455a9d0c21258d265c3b1",
    "0017": "20d6021865f29fcfe6eea047492ec4aafb0650ee8d24a1b91bdd09b86ce355ec",
    "0018": "d28afe67868deb544ac8a02fd4dbfee58f420a81d94b59d825a7fb6c6b7a7ee5",
}


class _Recorder:
    def __init__(self) -> None:
        self.statements: list[str] = []

    def execute(self, statement: object) -> None:
        self.statements.append(str(statement))


def _revisions() -> dict[str, object]:
    found = {}
    for path in sorted((MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")):
        module = importlib.import_module(f"store.migrations.versions.{path.stem}")
        found[module.revision] = module
    return found


def executed(module) -> list[str]:
    recorder = _Recorder()
    context = SimpleNamespace(config=SimpleNamespace(attributes={"app_role": "demandflow_app"}))
    saved = {name: getattr(module, name) for name in ("op", "context") if hasattr(module, name)}
    try:
        module.op = recorder
        if "context" in saved:
            module.context = context
        module.upgrade()
    finally:
        for name, value in saved.items():
            setattr(module, name, value)
    return recorder.statements


def digest(statements: list[str]) -> str:
    return hashlib.sha256("\0".join(statements).encode()).hexdigest()


def test_every_revision_is_recorded_here():
    assert sorted(_revisions()) == sorted(SHIPPED), (
        "a new revision: record its digest in SHIPPED once it ships"
    )


@pytest.mark.parametrize("revision", sorted(SHIPPED))
def test_a_shipped_revision_executes_what_it_shipped_with(revision: str):
    statements = executed(_revisions()[revision])
    assert statements, f"revision {revision} executes nothing"
    assert digest(statements) == SHIPPED[revision], (
        f"revision {revision} now executes different SQL: never edit a shipped revision, "
        "add a new one"
    )


def test_migrations_import_no_runtime_code():
    allowed = ("__future__", "alembic", "sqlalchemy", "asyncio", "re", "store.migrations")
    for path in MIGRATIONS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                assert name.startswith(allowed), f"{path.relative_to(MIGRATIONS)} imports {name}"

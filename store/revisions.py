"""The migration head without Alembic (so the worker's path never imports SQLAlchemy): the
revision no other revision names as its `down_revision`, read from the migration files."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

VERSIONS = Path(__file__).resolve().parent / "migrations" / "versions"
_FIELD = re.compile(r'^(revision|down_revision)\s*=\s*["\']?([^"\'\s]+)["\']?', re.MULTILINE)


@cache
def head() -> str:
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS.glob("[0-9]*.py"):
        fields = dict(_FIELD.findall(path.read_text(encoding="utf-8")))
        revisions.add(fields["revision"])
        if fields.get("down_revision") not in (None, "None"):
            parents.add(fields["down_revision"])
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()

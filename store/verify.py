"""Integrity: recompute every stream's hash chain from the stored rows and name the first
broken link of each stream.

Caught: a changed row (content no longer matches its hash), a deleted row (version gap), two
rows swapped (version and content no longer agree with the chain), a cut tail (the stream
head remembers the last version and hash), and heads or events without the other. Not
caught: someone with owner rights who rewrites a stream *and* recomputes all its hashes and
its head; anchor heads elsewhere (e.g. export them daily) if that matters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from store.hashing import DIGEST_OF_ROW, GENESIS, chain

# The digest is recomputed from the stored columns by the same SQL function append uses.
ROWS_SQL = f"""
SELECT stream_id, version, hash, {DIGEST_OF_ROW} AS digest
FROM events {{where}} ORDER BY stream_id, version
"""
HEADS_SQL = "SELECT stream_id, version, hash FROM stream_heads {where}"
ONE_STREAM = "WHERE stream_id = $1"


@dataclass(frozen=True)
class BrokenLink:
    stream_id: str
    version: int
    problem: str


@dataclass
class VerifyReport:
    streams: int = 0
    events: int = 0
    broken: list[BrokenLink] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.broken


@dataclass
class _Walk:
    """The chain state of the stream being walked."""

    stream_id: str
    version: int = 0
    hash: bytes = GENESIS
    broken: bool = False


def check_row(walk: _Walk, row: asyncpg.Record) -> str | None:
    """What is wrong with this row as the next link of the walk, or None."""
    if row["version"] != walk.version + 1:
        return f"expected version {walk.version + 1}, found {row['version']} (missing or moved)"
    if chain(walk.hash, bytes(row["digest"])) != bytes(row["hash"]):
        return "hash does not match content and previous hash (changed or reordered)"
    return None


def check_head(walk: _Walk, heads: dict[str, tuple[int, bytes]]) -> BrokenLink | None:
    head = heads.pop(walk.stream_id, None)
    if head is None:
        return BrokenLink(walk.stream_id, walk.version, "stream has events but no head")
    version, head_hash = head
    if version != walk.version or bytes(head_hash) != walk.hash:
        return BrokenLink(
            walk.stream_id,
            walk.version + 1,
            f"head says version {version}, events end at {walk.version} (tail cut or changed)",
        )
    return None


async def verify(
    conn: asyncpg.Connection, batch: int = 1000, stream_id: str | None = None
) -> VerifyReport:
    """Walk all streams, or only `stream_id` (one consistent snapshot, streamed by a cursor),
    and report breaks."""
    report = VerifyReport()
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        where, args = (ONE_STREAM, [stream_id]) if stream_id is not None else ("", [])
        heads = {
            r["stream_id"]: (r["version"], r["hash"])
            for r in await conn.fetch(HEADS_SQL.format(where=where), *args)
        }
        walk: _Walk | None = None
        async for row in conn.cursor(ROWS_SQL.format(where=where), *args, prefetch=batch):
            if walk is None or row["stream_id"] != walk.stream_id:
                _finish(walk, heads, report)
                walk = _Walk(row["stream_id"])
                report.streams += 1
            report.events += 1
            if walk.broken:
                continue
            problem = check_row(walk, row)
            if problem:
                report.broken.append(BrokenLink(walk.stream_id, row["version"], problem))
                walk.broken = True
            else:
                walk.version, walk.hash = row["version"], bytes(row["hash"])
        _finish(walk, heads, report)
    for orphan, (version, _) in sorted(heads.items()):
        if version > 0:
            report.broken.append(BrokenLink(orphan, 1, f"head says version {version}, no events"))
    return report


def _finish(walk: _Walk | None, heads: dict[str, tuple[int, bytes]], report: VerifyReport) -> None:
    if walk is None:
        return
    if walk.broken:
        heads.pop(walk.stream_id, None)
        return
    problem = check_head(walk, heads)
    if problem:
        report.broken.append(problem)

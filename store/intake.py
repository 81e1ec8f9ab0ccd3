"""Intake fingerprints (`intake_claims`): what a later report is compared with.

Every intake that did not merge claims its fingerprint (domain/repeats.py), so the next report
of the same need finds it even before the need's first append committed. Claims are read
under a transaction-scoped advisory lock on (street, community): a second intake in the same
community waits until the first one's claim is committed, so the order in which
intakes take the lock decides which need is the primary, whatever their clocks say.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from domain.repeats import Fingerprint, place_digests

_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"
_CANDIDATES = """
SELECT c.stream_id, c.item, c.category, c.at_place, c.street, c.community, c.grid, c.building,
       c.places, c.latitude, c.longitude, c.requester_id, c.text, c.submitted_at
FROM intake_claims c
LEFT JOIN need_summary s ON s.stream_id = c.stream_id
WHERE ($1::text IS NULL OR c.category IS NULL OR c.category = $1)
  AND c.street = $2 AND c.stream_id <> $3 AND c.submitted_at >= $4
  AND ($5::text IS NULL OR c.community IS NULL OR c.community = $5)
  AND (s.stream_id IS NULL OR s.stage <> 'closed')
ORDER BY c.submitted_at, c.stream_id
LIMIT 50
"""
_CLAIM = """
INSERT INTO intake_claims (stream_id, category, street, community, grid, building, submitted_at,
                           item, at_place, places, latitude, longitude, requester_id, text)
VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (stream_id) DO NOTHING
"""
_FORGET = "DELETE FROM intake_claims WHERE street = $1 AND submitted_at < $2"


def lock_key(new: Fingerprint) -> str:
    return "/".join(["intake", new.street, new.community or ""])


async def lock_place(conn: asyncpg.Connection, new: Fingerprint) -> None:
    """Serialise intakes in one community until the transaction ends (reports of any
    category may be compared when one of them names none)."""
    await conn.execute(_LOCK, lock_key(new))


async def open_candidates(conn: asyncpg.Connection, new: Fingerprint,
                          since: datetime) -> list[Fingerprint]:
    """Claimed reports of the same category (any, when either names none) and community (or
    no community) since `since` whose need is not closed, oldest first."""
    category = new.category.value if new.category else None
    rows = await conn.fetch(_CANDIDATES, category, new.street, new.stream_id, since,
                            new.community)
    return [_fingerprint(dict(row)) for row in rows]


async def claim(conn: asyncpg.Connection, new: Fingerprint) -> None:
    """Record `new` for later reports; a retried intake finds its claim and changes nothing."""
    await conn.execute(
        _CLAIM, new.stream_id, new.category.value if new.category else None, new.street,
        new.community, new.grid, new.submitted_at, new.item, new.at_place, new.places,
        new.latitude, new.longitude, new.requester_id, new.text,
    )


async def forget_before(conn: asyncpg.Connection, street: str, before: datetime) -> None:
    await conn.execute(_FORGET, street, before)


def _fingerprint(row: dict) -> Fingerprint:
    building = row.pop("building")
    if not row["places"] and building:  # claimed before revision 0007: a raw building name
        scope = row["community"] or row["grid"] or row["street"]
        row["places"] = place_digests(scope, "", building, None)
    row["text"] = row["text"] or ""
    return Fingerprint(**row)


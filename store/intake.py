"""Intake fingerprints (`intake_claims`): what a later report is compared with.

Every intake that did not merge claims its fingerprint (domain/repeats.py), so the next report
of the same need finds it even before the need's first append committed. Claims are read
under transaction-scoped advisory locks, so that a second intake that could be the same need
waits until the first one's claim is committed, and the order in which intakes take the
locks decides which need is the primary, whatever their clocks say:

- a report that can merge (`domain.repeats.can_merge`: a sure item at a named place) holds
  the lock of each place it names (per item: building, courtyard, address digests, and the
  coordinate cells within the policy's distance) and the community's lock *shared*; two such
  reports at different places do not wait for each other. Buildings decide first where both
  reports name a community (`domain.repeats.compare_places`), so a report that names a
  building and its community holds its building exclusively and its other places shared:
  two reports at different buildings of one address do not wait for each other, and a report
  naming the address alone waits for both; a report naming no community holds every place
  exclusively;
- any other report (no place named, a question, no sure item) holds the community's lock
  (street, community, category) exclusively, as every report did before: it waits for the
  reports of its kind in flight in that community, and they for it.

What this gives up: two reports that name different kinds of place (a building and a house
number, a courtyard or coordinates) can be a *possible* repeat (a hint for a dispatcher) without
sharing a lock; arriving within the same few milliseconds, they can miss each other. A sure
repeat never can.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import asyncpg

from domain.model import Category
from domain.repeats import (
    MERGING_PLACES,
    Fingerprint,
    buildings_decide,
    can_merge,
    place_digests,
)

_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"
# All of a report's locks in one round trip: the community's (shared) first, then its places
# in the order of their hashes (two intakes take shared locks in the same order, so they never
# deadlock); the subquery's ORDER BY and GROUP BY keep PostgreSQL from flattening it, so the
# calls happen in that order. A place is taken exclusively when any of its uses is
# (`place_lock_keys`).
_LOCK_PLACES = """
SELECT count(CASE WHEN x THEN pg_advisory_xact_lock(h) ELSE pg_advisory_xact_lock_shared(h) END)
FROM (SELECT 0 AS o, hashtextextended($1, 0) AS h, false AS x
      UNION ALL
      (SELECT 1, hashtextextended(k, 0), bool_or(x)
       FROM unnest($2::text[], $3::boolean[]) AS keys (k, x) GROUP BY 2 ORDER BY 2)
      ORDER BY o, h) AS locks
"""
RECENT = 40
_DEGREE_M = 111_000  # metres per degree of latitude (and of longitude at the equator)
_COLUMNS = """c.stream_id, c.item, c.category, c.at_place, c.street, c.community, c.grid,
       c.building, c.places, c.latitude, c.longitude, c.requester_id, c.text, c.submitted_at"""
_OPEN_ALIKE = """
FROM intake_claims c
LEFT JOIN need_summary s ON s.stream_id = c.stream_id
WHERE ($1::text IS NULL OR c.category IS NULL OR c.category = $1)
  AND c.street = $2 AND c.stream_id <> $3 AND c.submitted_at >= $4
  AND ($5::text IS NULL OR c.community IS NULL OR c.community = $5)
  AND ($6::text IS NULL OR c.item IS NULL OR c.item = $6)
  AND (s.stream_id IS NULL OR s.stage <> 'closed')"""
# Every open report that can be at the new report's place (the ones that can merge, found
# through the GIN index on places): one of its buildings ($7); one of its courtyards or
# addresses ($8) when one of the two names no building (buildings decide first:
# domain.repeats.compare_places); near its coordinates. And the most recent others, which can
# at most be possible repeats: for a report naming a building in its community, only those
# naming no building or no community (two buildings of one community that differ are two
# places; revision 0017's partial index holds just those claims).
_AT_PLACE = f"""
(SELECT {_COLUMNS} {_OPEN_ALIKE}
   AND (c.places && $7::text[]
        OR (c.places && $8::text[] AND (cardinality($7::text[]) = 0 OR NOT c.names_building))
        OR (c.latitude BETWEEN $9 AND $10 AND c.longitude BETWEEN $11 AND $12)))
UNION"""
_CANDIDATES = f"""{_AT_PLACE}
(SELECT {_COLUMNS} {_OPEN_ALIKE}
 ORDER BY c.submitted_at DESC
 LIMIT {RECENT})
"""
_CANDIDATES_BESIDE_BUILDING = f"""{_AT_PLACE}
(SELECT {_COLUMNS} {_OPEN_ALIKE}
   AND (NOT c.names_building OR c.community IS NULL)
 ORDER BY c.submitted_at DESC
 LIMIT {RECENT})
"""
_CLAIM = """
INSERT INTO intake_claims (stream_id, category, street, community, grid, building, submitted_at,
                           item, at_place, places, latitude, longitude, requester_id, text,
                           names_building)
VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $8, $9, $10, $11, $12, $13,
        EXISTS (SELECT FROM unnest($9::text[]) AS p WHERE p LIKE 'b:%'))
ON CONFLICT (stream_id) DO NOTHING
"""
_FORGET = "DELETE FROM intake_claims WHERE street = $1 AND submitted_at < $2"
# The claim and the forgetting in one round trip, while the intake lock is held: both run on
# one snapshot, and the new claim (submitted now) is never among the rows forgotten.
_CLAIM_AND_FORGET = f"""
WITH forgotten AS (DELETE FROM intake_claims WHERE street = $3 AND submitted_at < $14)
{_CLAIM.strip()}
"""


def lock_key(new: Fingerprint) -> str:
    """The community's lock: one category (or none) in one community."""
    category = new.category.value if new.category else "*"
    return "/".join(["intake", new.street, new.community or "", category])


def place_lock_keys(new: Fingerprint, distance_m: float) -> list[tuple[str, bool]]:
    """The locks of the places a report that can merge names, each with whether it is taken
    exclusively (empty for any other report). Two reports that a sure repeat could join share
    one that at least one of them takes exclusively: their building (both exclusive), or, when
    one of them names no building or no community (it holds all its places exclusively), an
    address, a courtyard, or the coordinate cell of one of them (each report locks every cell
    its distance box touches, and the other report's point lies in that box)."""
    if not can_merge(new):
        return []
    base = f"intake/{new.street}/{new.item}/"
    # Without a community (or a building), coordinates and addresses decide: all exclusive.
    decides = buildings_decide(new)
    keys = [
        (base + p, p.startswith("b:") or not decides)
        for p in new.places
        if p.startswith(MERGING_PLACES)
    ]
    low_lat, high_lat, low_lon, high_lon = _box(new, distance_m)
    if low_lat is not None:
        assert high_lat is not None and low_lon is not None and high_lon is not None
        size = max(2 * distance_m / _DEGREE_M, 1e-6)  # degrees, the same for every report
        rows = range(math.floor(low_lat / size), math.floor(high_lat / size) + 1)
        columns = range(math.floor(low_lon / size), math.floor(high_lon / size) + 1)
        cells = (f"{base}cell/{row}/{column}" for row in rows for column in columns)
        keys += [(cell, not decides) for cell in cells]
    return sorted(set(keys))


async def lock_place(conn: asyncpg.Connection, new: Fingerprint, distance_m: float) -> None:
    """Take the locks that serialise `new` with every report it could be the same need as,
    until the transaction ends (see the module's docstring). (A report no rule names compares
    with every category but takes its own community lock: two such reports arriving in the
    same moment as a categorised one may miss each other, which costs at most a possible
    repeat.)"""
    places = place_lock_keys(new, distance_m)
    if not places:
        await conn.execute(_LOCK, lock_key(new))
        return
    # the community's lock first (shared), then the places: one order for every intake
    keys, exclusive = [k for k, _ in places], [x for _, x in places]
    await conn.execute(_LOCK_PLACES, lock_key(new), keys, exclusive)


async def open_candidates(
    conn: asyncpg.Connection, new: Fingerprint, since: datetime, distance_m: float
) -> list[Fingerprint]:
    """Claimed reports of the same category and item (any, when either names none) and
    community (or no community) since `since` whose need is not closed, oldest first."""
    category = new.category.value if new.category else None
    box = _box(new, distance_m)
    buildings = [p for p in new.places if p.startswith("b:")]
    addresses = [p for p in new.places if p.startswith(("y:", "a:"))]
    rows = await conn.fetch(
        _CANDIDATES_BESIDE_BUILDING if buildings_decide(new) else _CANDIDATES,
        category,
        new.street,
        new.stream_id,
        since,
        new.community,
        new.item,
        buildings,
        addresses,
        *box,
    )
    found = [_fingerprint(dict(row)) for row in rows]
    return sorted(found, key=lambda f: (f.submitted_at, f.stream_id))


def _box(new: Fingerprint, distance_m: float) -> tuple[float | None, ...]:
    """Latitude and longitude bounds around `new`'s coordinates (none without them)."""
    if new.latitude is None or new.longitude is None:
        return (None, None, None, None)
    dlat = distance_m / _DEGREE_M
    dlon = distance_m / (_DEGREE_M * max(math.cos(math.radians(new.latitude)), 0.01))
    return (new.latitude - dlat, new.latitude + dlat, new.longitude - dlon, new.longitude + dlon)


async def claim(
    conn: asyncpg.Connection, new: Fingerprint, forget_before: datetime | None = None
) -> None:
    """Record `new` for later reports; a retried intake finds its claim and changes nothing.
    With `forget_before`, the claims of `new`'s street submitted before it go in the same
    statement (what `forget_before` does, one round trip less under the lock)."""
    extra = () if forget_before is None else (forget_before,)
    await conn.execute(
        _CLAIM if forget_before is None else _CLAIM_AND_FORGET,
        new.stream_id,
        new.category.value if new.category else None,
        new.street,
        new.community,
        new.grid,
        new.submitted_at,
        new.item,
        new.at_place,
        new.places,
        new.latitude,
        new.longitude,
        new.requester_id,
        new.text,
        *extra,
    )


async def forget_before(conn: asyncpg.Connection, street: str, before: datetime) -> None:
    await conn.execute(_FORGET, street, before)


def _fingerprint(row: dict[str, Any]) -> Fingerprint:
    building = row.pop("building")
    if not row["places"] and building:  # claimed before revision 0007: a raw building name
        scope = row["community"] or row["grid"] or row["street"]
        row["places"] = place_digests(scope, "", building, None)
    row["text"] = row["text"] or ""
    row["category"] = Category(row["category"]) if row["category"] else None
    return Fingerprint.model_construct(**row)  # our own rows: no validation on the hot path

"""The hash chain: each event's hash = sha256(previous hash of its stream || content digest).

The content digest is the SQL function `df_event_digest` (migration 0001): sha256 over jsonb's
canonical text of everything the event says — stream, version, event id, type, schema
version, payload, actor, occurred_at (UTC, microseconds). jsonb sorts keys and spells each
number one way, so the digest does not depend on how a client wrote its JSON. The first event
of a stream chains from the empty byte string. Appends chain inside `append_events`;
verification asks the database for each stored row's digest and chains here, in Python.
"""

from __future__ import annotations

import hashlib

GENESIS = b""

DIGEST_OF_ROW = (
    "df_event_digest(stream_id, version, event_id, type, schema_version, payload, actor_id, "
    "actor_role, actor_unit, occurred_at)"
)


def chain(previous: bytes, digest: bytes) -> bytes:
    """The link: identical to SQL `sha256(previous || digest)` in append_events."""
    return hashlib.sha256(previous + digest).digest()

"""SQL of revision 0014: the micro-wish pool (微心愿认领) and the claimants' points.

A wish's events live in `events` like a need's (stream `wish-<16 hex>`, the same hash chain);
two read models are kept beside them by the wish append path (store/wishes.py), in the same
transaction:
- `wish_pool`: one row per wish, what the pool shows (title, community, kind, status, posted
  date) and its claim (claimant id, lapse time); the wisher's name and phone are only in the
  events, never here;
- `wish_points`: the points ledger, one row per confirmation event (its id is the key, so a
  confirmation is credited once whatever retries), per claimant and community.

Frozen: literal text as the revision shipped; never edit a shipped revision, add a new one.
"""

TABLES = """
CREATE TABLE IF NOT EXISTS wish_pool (
    stream_id text PRIMARY KEY,
    community text NOT NULL,
    kind text NOT NULL,
    title text NOT NULL,
    status text NOT NULL,
    claimant_id text,
    lapse_at timestamptz,
    pool_due_at timestamptz,
    escalated boolean NOT NULL DEFAULT false,
    claims integer NOT NULL DEFAULT 0,
    points integer NOT NULL DEFAULT 0,
    posted_by text NOT NULL,
    posted_at timestamptz NOT NULL,
    fulfilled_at timestamptz,
    closed_at timestamptz,
    last_version integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS wish_pool_community_idx ON wish_pool (community, status, posted_at);
CREATE INDEX IF NOT EXISTS wish_pool_claimant_idx ON wish_pool (claimant_id)
    WHERE claimant_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS wish_points (
    event_id text PRIMARY KEY,
    stream_id text NOT NULL,
    claimant_id text NOT NULL,
    community text NOT NULL,
    kind text NOT NULL,
    points integer NOT NULL,
    occurred_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS wish_points_claimant_idx ON wish_points (claimant_id, occurred_at);
CREATE INDEX IF NOT EXISTS wish_points_community_idx ON wish_points (community, claimant_id);
"""


def wishes_grant(role: str) -> str:
    """The app role keeps both read models (and truncates them to rebuild); a no-op below
    revision 0014 (store.migrate re-applies grants after every upgrade)."""
    r = '"' + role.replace('"', '""') + '"'
    return f"""
DO $$ BEGIN
    IF to_regclass('public.wish_pool') IS NOT NULL THEN
        GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON wish_pool, wish_points TO {r};
    END IF;
END $$;
"""

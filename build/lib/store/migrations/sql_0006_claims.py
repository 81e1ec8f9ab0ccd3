"""SQL of revision 0006: the intake claims table (activities/duplicates.py) and its grant."""

CLAIMS = """
CREATE TABLE IF NOT EXISTS intake_claims (
    stream_id text PRIMARY KEY,
    category text NOT NULL,
    street text, community text, grid text, building text,
    submitted_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS intake_claims_category_submitted_idx
    ON intake_claims (category, submitted_at);
"""


def claims_grant(role: str) -> str:
    """The app role's rights on the claims; a no-op below revision 0006 (store.migrate
    re-applies grants after every upgrade, to whatever revision)."""
    r = '"' + role.replace('"', '""') + '"'
    return f"""
DO $$ BEGIN
    IF to_regclass('public.intake_claims') IS NOT NULL THEN
        GRANT SELECT, INSERT, DELETE ON intake_claims TO {r};
    END IF;
END $$;
"""

"""Intake fingerprints: repeats judged on item, place and wording, not category and grid.

The intake claims become what repeat detection compares (domain/repeats.py): the item the
report's words name, whether it is a problem at a place, the places it names (digests, never
addresses), coordinates, the requester's id and its text. They are kept for the policy's
duplicate window (every intake that did not merge claims, not only would-be primaries, and
one no rule names claims too, with no category), and
open needs summarised before this revision are copied in (with no item: at most possible
repeats). A partial index lets dispatchers list the pending possible repeats from the events.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

from store.migrations.sqltext import statements

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

FINGERPRINTS = """
ALTER TABLE intake_claims
    ADD COLUMN IF NOT EXISTS item text,
    ADD COLUMN IF NOT EXISTS at_place boolean NOT NULL DEFAULT true,
    ADD COLUMN IF NOT EXISTS places text[] NOT NULL DEFAULT '{}',
    ADD COLUMN IF NOT EXISTS latitude double precision,
    ADD COLUMN IF NOT EXISTS longitude double precision,
    ADD COLUMN IF NOT EXISTS requester_id text,
    ADD COLUMN IF NOT EXISTS text text NOT NULL DEFAULT '';
ALTER TABLE intake_claims ALTER COLUMN category DROP NOT NULL;
CREATE INDEX IF NOT EXISTS intake_claims_street_submitted_idx
    ON intake_claims (street, submitted_at);
CREATE INDEX IF NOT EXISTS intake_claims_places_idx ON intake_claims USING gin (places);
INSERT INTO intake_claims (stream_id, category, street, community, grid, building,
                           submitted_at, requester_id, text)
SELECT stream_id, category, street, community, grid, building, submitted_at, requester_id,
       coalesce(title, '')
FROM need_summary
WHERE stage <> 'closed' AND category IS NOT NULL AND street IS NOT NULL
  AND submitted_at IS NOT NULL
ON CONFLICT (stream_id) DO NOTHING;
CREATE INDEX IF NOT EXISTS events_possible_repeat_idx
    ON events (stream_id) WHERE type IN ('PossibleRepeatFlagged', 'PossibleRepeatResolved');
"""


def upgrade() -> None:
    for statement in statements(FINGERPRINTS):
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only: no downgrade")

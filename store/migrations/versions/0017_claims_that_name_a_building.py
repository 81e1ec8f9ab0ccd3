"""Intake claims say whether they name a building, so a report that names one reads only the
recent claims that could still be its possible repeats.

Two reports of one community that both name buildings are the same place only when they share
one (domain.repeats.compare_places), and such a claim is found through the GIN index on the
place digests. A report naming a building therefore reads, besides the claims at its places,
only the most recent claims that name no building or no community: this revision records
which those are (`names_building`: a digest `b:`, filled in for the claims already kept) and
indexes them by street and time. A claim holding a raw building name (written before revision
0007, or by a policy without `repeats`) has no digest the place index could find, so it stays
among the recent ones (`names_building` false), where its building is read in Python.

Revision ID: 0017
Revises: 0016
"""

from alembic import op

from store.migrations.sqltext import statements

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

NAMES_BUILDING = """
ALTER TABLE intake_claims ADD COLUMN IF NOT EXISTS names_building boolean NOT NULL DEFAULT false;
UPDATE intake_claims
   SET names_building = EXISTS (SELECT FROM unnest(places) AS p WHERE p LIKE 'b:%');
CREATE INDEX IF NOT EXISTS intake_claims_without_building_idx
    ON intake_claims (street, submitted_at DESC)
    WHERE NOT names_building OR community IS NULL;
"""


def upgrade() -> None:
    for statement in statements(NAMES_BUILDING):
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only: no downgrade")

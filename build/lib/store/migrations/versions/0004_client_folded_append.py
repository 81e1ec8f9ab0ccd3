"""The append writes what the client prepared: digests and the folded projection row.

The projection rules move to store/fold.py (one rule set, in Python) and the content digest
to store/hashing.py; `df_append` keeps the part that needs the stream's lock. Stored rows,
hashes and projection contents are unchanged (the upgrade test checks a 0001 database). The
server's share of an append shrank, the client's grew, and on one 2-core machine the
throughput stayed where it was (docs/event-store.md, "Built (migration 0004)").

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from store.migrations.sql_0004_append import APPEND, DROP_OLD, RETRY
from store.migrations.sqltext import statements

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for block in (RETRY, APPEND, DROP_OLD):
        for statement in statements(block):
            op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only: no downgrade")

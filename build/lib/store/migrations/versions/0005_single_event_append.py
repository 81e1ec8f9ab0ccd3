"""One event, one scalar call: `df_append_one` (see store/migrations/sql_0005_append.py).

Measured by bench/bench_append.py and docs/event-store.md ("Built (migration 0005)"): nine
one-element arrays cost the client ~23 µs and the server ~43 µs per single append, about a
tenth of its CPU. Batches keep `df_append`; stored rows and hashes are unchanged.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from store.migrations.sql_0005_append import APPEND_ONE

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(APPEND_ONE)


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only: no downgrade")

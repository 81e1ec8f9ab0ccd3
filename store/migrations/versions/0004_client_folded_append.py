"""The append writes what the client prepared: digests and the folded projection row.

Measured by bench/bench_append.py (docs/event-store.md): the PL/pgSQL fold and digest of
0001/0002 cost ~180 µs of server time per single-event append; this revision leaves the
server the locked part only. Stored rows, hashes and projection contents are unchanged.

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

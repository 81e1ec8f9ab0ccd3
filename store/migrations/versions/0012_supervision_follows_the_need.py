"""An open 督办 order follows the need when it changes hands; a missed reply counts against
the unit that had to reply (see store/migrations/sql_0012_supervision_follows.py).

Revision ID: 0012
Revises: 0011
"""

from alembic import op

from store.migrations.sql_0012_supervision_follows import MONTHS, ROWS
from store.migrations.sqltext import statements

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for block in (ROWS, MONTHS):
        for statement in statements(block):
            op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only: no downgrade")

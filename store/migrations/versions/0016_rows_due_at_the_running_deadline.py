"""A need's row is due at its running deadline (see store/migrations/sql_0016_deadlines.py).

Revision ID: 0016
Revises: 0015
"""

from alembic import op

from store.migrations.sql_0016_deadlines import DEADLINES
from store.migrations.sqltext import statements

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in statements(DEADLINES):
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only: no downgrade")

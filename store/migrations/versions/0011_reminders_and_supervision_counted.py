"""催办 and 督办 counted: the need's row, the inbox and the monthly counters (see
store/migrations/sql_0011_reminders.py).

Revision ID: 0011
Revises: 0010
"""

from alembic import context, op

from store.migrations.sql_0011_reminders import (
    APPEND,
    APPEND_ONE,
    BACKFILL,
    COLUMNS,
    VIEWS,
    rates_grant,
)
from store.migrations.sqltext import statements

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    role = context.config.attributes.get("app_role", "demandflow_app")
    for block in (COLUMNS, VIEWS, APPEND, APPEND_ONE, BACKFILL, rates_grant(role)):
        for statement in statements(block):
            op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only: no downgrade")

"""The micro-wish pool and the points ledger (see store/migrations/sql_0014_wishes.py).

Revision ID: 0014
Revises: 0013
"""

from alembic import context, op

from store.migrations.sql_0014_wishes import TABLES, wishes_grant
from store.migrations.sqltext import statements

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    role = context.config.attributes.get("app_role", "demandflow_app")
    for block in (TABLES, wishes_grant(role)):
        for statement in statements(block):
            op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only: no downgrade")

"""The sub-tasks of joint handling (see store/migrations/sql_0015_assists.py).

Revision ID: 0015
Revises: 0014
"""

from alembic import context, op

from store.migrations.sql_0015_assists import TABLES, assists_grant
from store.migrations.sqltext import statements

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    role = context.config.attributes.get("app_role", "demandflow_app")
    for block in (TABLES, assists_grant(role)):
        for statement in statements(block):
            op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only: no downgrade")

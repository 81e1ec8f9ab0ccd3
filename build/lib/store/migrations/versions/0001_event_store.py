"""Event store: events, stream heads, projections, the append function and the role split.

Revision ID: 0001
"""

from alembic import context, op

from store.migrations.sql_0001_append import APPEND, REBUILD
from store.migrations.sql_0001_functions import MASKING, PROJECT
from store.migrations.sql_0001_tables import TABLES, role_split
from store.migrations.sqltext import statements

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    role = context.config.attributes.get("app_role", "demandflow_app")
    for block in (TABLES, MASKING, PROJECT, APPEND, REBUILD, role_split(role)):
        for statement in statements(block):
            op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only: no downgrade")

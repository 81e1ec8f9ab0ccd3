"""Group commit: the appends waiting in one process go to PostgreSQL in one call.

Single appends from many needs at once each paid a round trip and a commit of their own; the
event store now sends whatever appends are waiting as one `df_append_group` call, one
transaction (store/group.py). Tables and `df_append` are unchanged.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from store.migrations.sql_0005_group import GROUP
from store.migrations.sqltext import statements

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in statements(GROUP):
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only: no downgrade")

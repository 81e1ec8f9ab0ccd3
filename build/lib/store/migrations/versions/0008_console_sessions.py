"""Console sessions: people sign in to the web console (api/console); their sessions and the
counters that lock a name after repeated wrong passwords live in two small tables, so that
every API process sees the same sessions and the same lockouts. No event is involved: these
are no part of any need's audit trail.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

from store.migrations.sql_0008_console import CONSOLE
from store.migrations.sqltext import statements

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in statements(CONSOLE):
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only: no downgrade")

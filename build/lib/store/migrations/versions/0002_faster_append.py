"""Faster append: same rows, hash chain and projection contents as 0001.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from store.migrations.sql_0002_append import APPEND, PROJECT
from store.migrations.sqltext import statements

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # CREATE OR REPLACE keeps signatures, owners and grants; the 0001 bodies are superseded.
    for block in (PROJECT, APPEND):
        for statement in statements(block):
            op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only: no downgrade")

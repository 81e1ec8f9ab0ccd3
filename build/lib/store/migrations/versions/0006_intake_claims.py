"""Intake claims: a new need is seen by the next report of it before its events are stored.

The repeated-report check reads `need_summary`, which holds a need only once its first append
committed; two reports of one need arriving within that moment both missed each other. Each
intake now claims its (category, place) under a transaction-scoped advisory lock and reads the
claims of needs not yet in `need_summary` (activities/duplicates.py). Claims are not events
and no projection: intake coordination only, dropped after a day.

Revision ID: 0006
Revises: 0005
"""

from alembic import context, op

from store.migrations.sql_0006_claims import CLAIMS, claims_grant
from store.migrations.sqltext import statements

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    role = context.config.attributes.get("app_role", "demandflow_app")
    for block in (CLAIMS, claims_grant(role)):
        for statement in statements(block):
            op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only: no downgrade")

"""Outbox and webhooks: every event a requester's channel cares about is copied into `outbox`
by a trigger on `events`, in the same transaction as the event (a rolled-back append leaves
no message; a committed one always has one). A delivery process fans each outbox row out to
the subscriptions of the integrators concerned and posts it (workers/delivery.py).

Revision ID: 0009
Revises: 0008
"""

from alembic import op

from store.migrations.sql_0009_webhooks import WEBHOOKS
from store.migrations.sqltext import statements

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in statements(WEBHOOKS):
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only: no downgrade")

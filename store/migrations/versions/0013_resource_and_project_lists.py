"""The resource list (资源清单) and the project list (项目清单, 共建项目): two tables of
entries supervisors keep, and `list_changes`, the append-only history of every change to
them (who, when, the entry as it became). No event stream: a list entry is no need, and its
history needs no workflow (docs/domain.md, "The three lists").

Revision ID: 0013
Revises: 0012
"""

from alembic import context, op

from store.migrations.sql_0013_lists import LISTS, lists_grant
from store.migrations.sqltext import statements

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    role = context.config.attributes.get("app_role", "demandflow_app")
    for block in (LISTS, lists_grant(role)):
        for statement in statements(block):
            op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only: no downgrade")

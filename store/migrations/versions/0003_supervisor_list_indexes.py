"""Indexes for the supervisors' lists and statistics on need_summary.

Measured by bench/bench_queries.py on 1,000,000 projected needs (docs/benchmarks.md): without
them the filtered, paginated list queries scan the table (p99 about 270-360 ms); with them
they answer in under a millisecond, and the per-unit statistics in about 16 ms.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

INDEXES = (
    "need_summary_overdue_due_idx ON need_summary (due_at) WHERE overdue AND stage <> 'closed'",
    "need_summary_unit_stage_due_idx ON need_summary (assigned_unit, stage, due_at, stream_id)",
    (
        "need_summary_cat_tier_submitted_idx ON need_summary "
        "(category, tier, submitted_at DESC, stream_id DESC)"
    ),
    "need_summary_open_due_idx ON need_summary (due_at, stream_id) WHERE stage <> 'closed'",
    (
        "need_summary_submitted_idx ON need_summary (submitted_at) "
        "INCLUDE (assigned_unit, stage, overdue, satisfied)"
    ),
)


def upgrade() -> None:
    for index in INDEXES:
        op.execute(f"CREATE INDEX IF NOT EXISTS {index}")


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only: no downgrade")

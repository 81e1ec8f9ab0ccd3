"""Monthly rates that cannot exceed 100 %: each rate's numerator and denominator are counted
in the same month. A unit that completes in June a need assigned in May counts the completion
in June; so the resolution, return and overdue rates are shares of the needs that left the
unit's hands that month (completed, returned or escalated away on a breach), not of the needs
assigned that month; the reopen rate is a share of the month's evaluations. The response,
on-time and satisfaction rates were same-month already. Literal DDL, frozen with this file.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

RATES = """
CREATE OR REPLACE VIEW unit_monthly_rates AS
    SELECT s.*,
        round(accepted_in_time::numeric / NULLIF(accepted, 0), 4) AS response_rate,
        round(completed::numeric / NULLIF(completed + returns + overdue, 0), 4)
            AS resolution_rate,
        round(completed_in_time::numeric / NULLIF(completed, 0), 4) AS on_time_resolution_rate,
        round(satisfied::numeric / NULLIF(evaluations, 0), 4) AS satisfaction_rate,
        round(returns::numeric / NULLIF(completed + returns + overdue, 0), 4) AS return_rate,
        round(reopened::numeric / NULLIF(evaluations, 0), 4) AS reopen_rate,
        round(overdue::numeric / NULLIF(completed + returns + overdue, 0), 4) AS overdue_rate
    FROM unit_monthly_stats s
"""


def upgrade() -> None:
    op.execute(RATES)


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only: no downgrade")

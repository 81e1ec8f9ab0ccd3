"""A need asked where stands, in its summary row, at the place its answer gave.

Since 2026-12-07 the fold (store.fold) reads an `InformationProvided` that names a community,
grid or building as moving the need there (`InformationProvided.place()`, the reading the
need's state already had). Rows folded before kept the submission's place: this revision
moves them forward the same way, each field to its latest non-blank answer, so the rows equal
a rebuild.

Revision ID: 0018
Revises: 0017
"""

from alembic import op

from store.migrations.sqltext import statements

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

ANSWERED_PLACE = """
WITH answers AS (
    SELECT DISTINCT ON (e.stream_id, f.key)
           e.stream_id, f.key, btrim(f.value) AS value
      FROM events e
     CROSS JOIN LATERAL jsonb_each_text(e.payload -> 'fields') AS f(key, value)
     WHERE e.type = 'InformationProvided'
       AND f.key IN ('community', 'grid', 'building')
       AND btrim(f.value) <> ''
     ORDER BY e.stream_id, f.key, e.version DESC
), places AS (
    SELECT stream_id,
           max(value) FILTER (WHERE key = 'community') AS community,
           max(value) FILTER (WHERE key = 'grid') AS grid,
           max(value) FILTER (WHERE key = 'building') AS building
      FROM answers
     GROUP BY stream_id
)
UPDATE need_summary s
   SET community = COALESCE(p.community, s.community),
       grid = COALESCE(p.grid, s.grid),
       building = COALESCE(p.building, s.building)
  FROM places p
 WHERE s.stream_id = p.stream_id;
"""


def upgrade() -> None:
    for statement in statements(ANSWERED_PLACE):
        op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the audit trail is append-only: no downgrade")

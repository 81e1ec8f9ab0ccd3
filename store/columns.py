"""The projection tables' columns, runtime's one source for them (plain data: the worker's
append path reads it without loading SQLAlchemy; store/schema.py builds its tables from it).

The DDL is frozen in store/migrations: a new column is a new revision that adds it at the end,
then a line here. tests/integration/test_store_hashing.py compares these lists, in order,
with a database migrated to head.
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["text", "integer", "boolean", "timestamptz"]

# need_summary, in column order: (name, kind, nullable). The append functions take the row as
# a composite of this shape.
SUMMARY: tuple[tuple[str, Kind, bool], ...] = (
    ("stream_id", "text", False),  # primary key
    ("stage", "text", False),
    *(
        (c, "text", True)
        for c in (
            "channel",
            "external_id",
            "title",
            "category",
            "tier",
            "urgency",
            "assigned_unit",
            "unit_kind",
            "task",
        )
    ),
    ("due_at", "timestamptz", True),
    ("overdue", "boolean", False),
    *(
        (c, "integer", False)
        for c in ("escalations", "returns", "reopenings", "extensions", "linked_reports")
    ),
    *(
        (c, "timestamptz", True)
        for c in ("submitted_at", "accepted_at", "completed_at", "closed_at")
    ),
    ("outcome", "text", True),
    ("satisfied", "boolean", True),
    *(
        (c, "text", True)
        for c in (
            "requester_id",
            "requester_kind",
            "requester_name",
            "requester_phone",
            "organisation",
            "street",
            "community",
            "grid",
            "building",
            "address",
        )
    ),
    ("last_version", "integer", False),
    ("updated_at", "timestamptz", False),
    # revision 0011: 催办 and 督办
    ("reminders", "integer", False),
    ("reminded_at", "timestamptz", True),  # the latest 催办 the holder has not answered
    ("supervisions", "integer", False),
    ("supervision_unit", "text", True),  # the open 督办 order: who must reply, by when
    ("supervision_due_at", "timestamptz", True),
)
SUMMARY_COLUMNS: tuple[str, ...] = tuple(name for name, _, _ in SUMMARY)

# unit_monthly_stat_slots' counters, in column order (after unit_id, month, slot).
STAT_COUNTERS: tuple[str, ...] = (
    "assigned",
    "accepted",
    "accepted_in_time",
    "completed",
    "completed_in_time",
    "evaluations",
    "satisfied",
    "unsatisfied",
    "no_response",
    "returns",
    "reopened",
    "overdue",
    "reminded",
    "supervised",
    "supervision_missed",  # revision 0011
)

# Writers add to slot `pg_backend_pid() % STAT_SLOTS` (a number frozen in the append
# functions' text) so that concurrent appends for one unit do not queue on one row.
STAT_SLOTS = 32

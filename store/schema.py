"""SQLAlchemy Core description of the store's tables, for queries (HTTP listings, reports).

The DDL itself is frozen in store/migrations; tests compare this metadata with the migrated
database so the two cannot drift unnoticed.
"""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    Identity,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import base as postgresql_base
from sqlalchemy.types import UserDefinedType


class Xid8(UserDefinedType):
    """PostgreSQL's 64-bit transaction id: the commit-order horizon of readers."""

    cache_ok = True

    def get_col_spec(self, **kw) -> str:
        return "xid8"


# Reflection (the schema test, Alembic's compare) then knows the type instead of warning.
postgresql_base.ischema_names.setdefault("xid8", Xid8)


metadata = MetaData()


def _ts(name: str, **kw) -> Column:
    return Column(name, DateTime(timezone=True), **kw)


events = Table(
    "events", metadata,
    Column("position", BigInteger, Identity(always=True), primary_key=True),
    Column("tx_id", Xid8, nullable=False),
    Column("stream_id", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("actor_id", Text, nullable=False),
    Column("actor_role", Text, nullable=False),
    Column("actor_unit", Text),
    _ts("occurred_at", nullable=False),
    _ts("recorded_at", nullable=False),
    Column("hash", LargeBinary, nullable=False),
    UniqueConstraint("stream_id", "version", name="events_stream_version_key"),
    UniqueConstraint("event_id", name="events_event_id_key"),
)

stream_heads = Table(
    "stream_heads", metadata,
    Column("stream_id", Text, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    _ts("updated_at", nullable=False),
)

_TEXT = ["stage", "channel", "external_id", "title", "category", "tier", "urgency",
         "assigned_unit", "unit_kind", "task"]
_COUNTS = ["escalations", "returns", "reopenings", "extensions", "linked_reports"]
_TIMES = ["submitted_at", "accepted_at", "completed_at", "closed_at"]
_PERSON = ["requester_id", "requester_kind", "requester_name", "requester_phone",
           "organisation", "street", "community", "grid", "building", "address"]

need_summary = Table(
    "need_summary", metadata,
    Column("stream_id", Text, primary_key=True),
    *[Column(c, Text, nullable=c != "stage") for c in _TEXT],
    _ts("due_at"),
    Column("overdue", Boolean, nullable=False),
    *[Column(c, Integer, nullable=False) for c in _COUNTS],
    *[_ts(c) for c in _TIMES],
    Column("outcome", Text),
    Column("satisfied", Boolean),
    *[Column(c, Text) for c in _PERSON],
    Column("last_version", Integer, nullable=False),
    _ts("updated_at", nullable=False),
)

# The row as the append functions take it: need_summary's composite, in column order.
SUMMARY_COLUMNS: tuple[str, ...] = tuple(c.name for c in need_summary.columns)

STAT_COUNTERS = [
    "assigned", "accepted", "accepted_in_time", "completed", "completed_in_time",
    "evaluations", "satisfied", "unsatisfied", "no_response", "returns", "reopened", "overdue",
]

# Writers add to slot `pg_backend_pid() % STAT_SLOTS` (a number frozen in the append
# functions' text) so that concurrent appends for one unit do not queue on one row.
STAT_SLOTS = 32

# Written by df_append (rows folded by store.fold); read through the views unit_monthly_stats / unit_monthly_rates.
unit_monthly_stat_slots = Table(
    "unit_monthly_stat_slots", metadata,
    Column("unit_id", Text, nullable=False),
    Column("month", Date, nullable=False),
    Column("slot", SmallInteger, nullable=False),
    *[Column(c, Integer, nullable=False) for c in STAT_COUNTERS],
    PrimaryKeyConstraint("unit_id", "month", "slot"),
)

# What each intake that did not merge claimed: its fingerprint, compared by later reports
# within the duplicate window (store/intake.py, domain/repeats.py; not an event, not a
# projection).
intake_claims = Table(
    "intake_claims", metadata,
    Column("stream_id", Text, primary_key=True),
    Column("category", Text),
    *[Column(c, Text) for c in ("street", "community", "grid", "building")],
    _ts("submitted_at", nullable=False),
    Column("item", Text),
    Column("at_place", Boolean, nullable=False),
    Column("places", ARRAY(Text), nullable=False),
    Column("latitude", Double),
    Column("longitude", Double),
    Column("requester_id", Text),
    Column("text", Text, nullable=False),
)

# Views, for building queries only (never created from this metadata).
views = MetaData()
unit_monthly_stats = Table(
    "unit_monthly_stats", views,
    Column("unit_id", Text), Column("month", Date),
    *[Column(c, Integer) for c in STAT_COUNTERS],
)
unit_inbox = Table(
    "unit_inbox", views,
    *[Column(c, Text) for c in ("unit_id", "stream_id", "task", "stage", "category", "tier",
                                  "urgency", "title", "unit_kind")],
    _ts("due_at"), Column("overdue", Boolean),
)

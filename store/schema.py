"""SQLAlchemy Core description of the store's tables, for queries (HTTP listings, reports).

The DDL itself is frozen in store/migrations; tests compare this metadata with the migrated
database so the two cannot drift unnoticed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
from sqlalchemy.types import TypeEngine, UserDefinedType

from store.columns import STAT_COUNTERS, SUMMARY


class Xid8(UserDefinedType[int]):
    """PostgreSQL's 64-bit transaction id: the commit-order horizon of readers."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "xid8"


# Reflection (the schema test, Alembic's compare) then knows the type instead of warning.
postgresql_base.ischema_names.setdefault("xid8", Xid8)


metadata = MetaData()


def _ts(name: str, **kw: Any) -> Column[datetime]:
    return Column(name, DateTime(timezone=True), **kw)


events = Table(
    "events",
    metadata,
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
    "stream_heads",
    metadata,
    Column("stream_id", Text, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("hash", LargeBinary, nullable=False),
    _ts("updated_at", nullable=False),
)

_KINDS: dict[str, type[TypeEngine[Any]] | TypeEngine[Any]] = {
    "text": Text,
    "integer": Integer,
    "boolean": Boolean,
    "timestamptz": DateTime(timezone=True),
}

need_summary = Table(
    "need_summary",
    metadata,
    *[
        Column(name, _KINDS[kind], nullable=nullable, primary_key=name == "stream_id")
        for name, kind, nullable in SUMMARY
    ],
)

# Written by df_append (rows folded by store.fold); read through the views unit_monthly_stats / unit_monthly_rates.
unit_monthly_stat_slots = Table(
    "unit_monthly_stat_slots",
    metadata,
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
    "intake_claims",
    metadata,
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
    Column("names_building", Boolean, nullable=False),  # revision 0017
)

# Views, for building queries only (never created from this metadata).
views = MetaData()
unit_monthly_stats = Table(
    "unit_monthly_stats",
    views,
    Column("unit_id", Text),
    Column("month", Date),
    *[Column(c, Integer) for c in STAT_COUNTERS],
)
unit_inbox = Table(
    "unit_inbox",
    views,
    *[
        Column(c, Text)
        for c in (
            "unit_id",
            "stream_id",
            "task",
            "stage",
            "category",
            "tier",
            "urgency",
            "title",
            "unit_kind",
            "supervision_unit",
        )
    ],
    _ts("due_at"),
    Column("overdue", Boolean),
    Column("reminders", Integer),
    _ts("reminded_at"),
    _ts("supervision_due_at"),
)

"""The read side: every query the API, the console and the CLI ask of the projections.

Callers describe what they want (a `Reach`: which needs the reader may see; filters; a unit;
a month) and get rows back; they never build SQL. Rows come from the projection tables
(`need_summary`, `unit_inbox`, `unit_monthly_rates`) and, where a fact lives only in the
events, from event *types* and versions (never from raw payload JSON: a payload is read
through `store.read`, which upcasts it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
from pydantic import BaseModel, Field

from domain.model import Category, Channel, Stage, Tier

PLACE_COLUMNS = ("assigned_unit", "street", "community", "grid")
LOCAL_DAY = "(s.submitted_at AT TIME ZONE 'Asia/Shanghai')::date"
Row = dict[str, Any]


@dataclass(frozen=True)
class Reach:
    """Which needs a reader may see. `everything`; or needs whose assigned unit or place lies
    in `units`; or needs assigned to `assigned_unit` or with a sub-task of joint handling
    (联合办理) addressed to it; or needs `submitter` sent (the actor of event 1). Built from a
    principal by api.access.reach."""

    everything: bool = False
    units: tuple[str, ...] | None = None
    assigned_unit: str | None = None
    submitter: str | None = None


class NeedFilters(BaseModel):
    stage: Stage | None = None
    unit: str | None = Field(default=None, max_length=64, description="assigned unit")
    category: Category | None = None
    tier: Tier | None = None
    channel: Channel | None = None
    overdue: bool | None = None
    submitted_from: date | None = Field(default=None, description="Asia/Shanghai day, inclusive")
    submitted_to: date | None = Field(default=None, description="Asia/Shanghai day, inclusive")
    mine: bool = Field(default=False, description="integrators always see only their own")
    possible_repeat: bool | None = Field(
        default=None,
        description="true: open needs flagged as a possible repeat that no "
        "dispatcher has linked or dismissed yet",
    )
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=1_000_000)


@dataclass
class _Where:
    """`WHERE` clauses with asyncpg's numbered parameters."""

    clauses: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)

    def arg(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, clause: str) -> None:
        self.clauses.append(clause)

    def sql(self) -> str:
        return ("WHERE " + " AND ".join(self.clauses)) if self.clauses else ""


def _reach(reach: Reach, where: _Where, alias: str = "s") -> None:
    if reach.everything:
        return
    if reach.units is not None:
        units = where.arg(list(reach.units))
        where.add(
            "(" + " OR ".join(f"{alias}.{c} = ANY({units}::text[])" for c in PLACE_COLUMNS) + ")"
        )
    elif reach.assigned_unit is not None:
        unit = where.arg(reach.assigned_unit)
        where.add(
            f"({alias}.assigned_unit = {unit} OR {alias}.stream_id = ANY(ARRAY("
            f"SELECT a.stream_id FROM need_assists a WHERE {unit} IN (a.unit_id, a.asked_unit))))"
        )
    elif reach.submitter is not None:
        where.add(
            f"{alias}.stream_id IN (SELECT e.stream_id FROM events e WHERE e.version = 1 "
            f"AND e.actor_id = {where.arg(reach.submitter)})"
        )
    else:
        where.add("false")


PENDING_REPEAT = (
    "(s.stage <> 'closed' AND EXISTS (SELECT FROM events f WHERE f.stream_id = s.stream_id "
    "AND f.type = 'PossibleRepeatFlagged') AND NOT EXISTS (SELECT FROM events r WHERE "
    "r.stream_id = s.stream_id AND r.type = 'PossibleRepeatResolved'))"
)


def _filters(f: NeedFilters, where: _Where) -> None:
    for column in ("stage", "category", "tier", "channel"):
        value = getattr(f, column)
        if value is not None:
            where.add(f"s.{column} = {where.arg(value.value)}")
    if f.unit is not None:
        where.add(f"s.assigned_unit = {where.arg(f.unit)}")
    if f.overdue is not None:
        where.add(f"s.overdue = {where.arg(f.overdue)}")
    if f.possible_repeat is not None:
        where.add(PENDING_REPEAT if f.possible_repeat else f"NOT {PENDING_REPEAT}")
    if f.submitted_from is not None:
        where.add(f"{LOCAL_DAY} >= {where.arg(f.submitted_from)}")
    if f.submitted_to is not None:
        where.add(f"{LOCAL_DAY} <= {where.arg(f.submitted_to)}")


# --- one need ------------------------------------------------------------------------------
NEED_SQL = """
SELECT s.*, (SELECT e.actor_id FROM events e WHERE e.stream_id = s.stream_id AND e.version = 1)
       AS submitted_by,
       ARRAY(SELECT DISTINCT u FROM need_assists a, unnest(ARRAY[a.unit_id, a.asked_unit]) u
             WHERE a.stream_id = s.stream_id ORDER BY u) AS assist_units
FROM need_summary s WHERE s.stream_id = $1
"""


async def need_row(db: asyncpg.Pool, need_id: str) -> Row | None:
    """The need's summary row with `submitted_by` (the actor id of its first event) and
    `assist_units` (every unit a sub-task of its joint handling was addressed to)."""
    row = await db.fetchrow(NEED_SQL, need_id)
    return dict(row) if row else None


# --- lists ---------------------------------------------------------------------------------
async def list_needs(
    db: asyncpg.Pool, reach: Reach, filters: NeedFilters, extra_limit: int = 0
) -> list[Row]:
    """Needs within reach matching the filters, newest first: `filters.limit` rows plus
    `extra_limit` more (a caller asks one more to know whether a next page exists)."""
    where = _Where()
    _reach(reach, where)
    _filters(filters, where)
    limit, offset = where.arg(filters.limit + extra_limit), where.arg(filters.offset)
    rows = await db.fetch(
        f"SELECT s.* FROM need_summary s {where.sql()} "
        f"ORDER BY s.submitted_at DESC NULLS LAST, s.stream_id LIMIT {limit} OFFSET {offset}",
        *where.args,
    )
    return [dict(r) for r in rows]


async def service_requests(
    db: asyncpg.Pool,
    reach: Reach,
    *,
    ids: list[str] | None,
    start: datetime,
    end: datetime,
    categories: list[str] | None,
    state: str | None,
) -> list[Row]:
    """Open311's request list: by ids, or submitted between start and end; at most 1,000."""
    where = _Where()
    _reach(reach, where)
    if ids:
        where.add(f"s.stream_id = ANY({where.arg(ids)}::text[])")
    else:
        where.add(f"s.submitted_at BETWEEN {where.arg(start)} AND {where.arg(end)}")
    if categories:
        where.add(f"s.category = ANY({where.arg(categories)}::text[])")
    if state is not None:
        where.add("s.stage = 'closed'" if state == "closed" else "s.stage <> 'closed'")
    rows = await db.fetch(
        f"SELECT s.* FROM need_summary s {where.sql()} ORDER BY s.submitted_at DESC LIMIT 1000",
        *where.args,
    )
    return [dict(r) for r in rows]


# --- a unit's inbox ------------------------------------------------------------------------
INBOX_SQL = """
SELECT i.*, (SELECT max((e.payload->>'threshold_percent')::int) FROM events e
             WHERE e.stream_id = i.stream_id AND e.type = 'DeadlineWarningIssued'
               AND (e.payload->>'due_at')::timestamptz = i.due_at) AS warning_percent,
       (SELECT count(*) FILTER (WHERE a.status IN ('requested', 'accepted'))
        FROM need_assists a WHERE a.stream_id = i.stream_id)::integer AS assists_open,
       (SELECT count(*) FILTER (WHERE a.status = 'declined')
        FROM need_assists a WHERE a.stream_id = i.stream_id)::integer AS assists_declined
FROM unit_inbox i WHERE i.unit_id = $1
  AND ($3::text IS NULL OR i.stage = $3) AND ($4::text IS NULL OR i.category = $4)
ORDER BY i.due_at NULLS LAST, i.stream_id LIMIT $2
"""


async def inbox(
    db: asyncpg.Pool,
    unit: str,
    limit: int,
    *,
    stage: str | None = None,
    category: str | None = None,
) -> list[Row]:
    """The unit's open accept/handle tasks, most urgent first (no due time last), with the
    highest deadline warning issued for the current due time and the need's sub-tasks of
    joint handling still open and declined."""
    return [dict(r) for r in await db.fetch(INBOX_SQL, unit, limit, stage, category)]


ASSIST_INBOX_SQL = """
SELECT a.stream_id, a.assist_id, a.status AS assist_status, a.task AS assist_task,
       a.due_at, a.overdue, a.warning_percent, s.assigned_unit AS lead_unit, s.stage,
       s.title, s.category, s.tier, s.urgency
FROM need_assists a JOIN need_summary s ON s.stream_id = a.stream_id
WHERE a.unit_id = $1 AND a.status IN ('requested', 'accepted') AND s.stage <> 'closed'
ORDER BY a.due_at, a.stream_id, a.assist_id LIMIT $2
"""


async def assist_inbox(db: asyncpg.Pool, unit: str, limit: int) -> list[Row]:
    """The open sub-tasks of joint handling (联合办理) addressed to the unit, soonest due
    first, with the need's title and classification and its lead unit now."""
    return [dict(r) for r in await db.fetch(ASSIST_INBOX_SQL, unit, limit)]


NEED_ASSISTS_SQL = """
SELECT assist_id, unit_id, asked_unit, lead_unit, task, status, due_at, overdue, escalations,
       warning_percent, answer, in_time, requested_at, closed_at
FROM need_assists WHERE stream_id = $1 ORDER BY requested_at, assist_id
"""


async def need_assists(db: asyncpg.Pool, need_id: str) -> list[Row]:
    """A need's sub-tasks of joint handling, in the order asked."""
    return [dict(r) for r in await db.fetch(NEED_ASSISTS_SQL, need_id)]


# --- statistics ----------------------------------------------------------------------------
async def unit_rates(db: asyncpg.Pool, month: date, units: list[str] | None) -> list[Row]:
    """The monthly counters and rates per unit (`units` None: every unit)."""
    where = _Where()
    where.add(f"month = {where.arg(month)}")
    if units is not None:
        where.add(f"unit_id = ANY({where.arg(units)}::text[])")
    return [
        dict(r)
        for r in await db.fetch(f"SELECT * FROM unit_monthly_rates {where.sql()}", *where.args)
    ]


LIST_SQL = """
SELECT COALESCE(s.category, 'unclassified') AS category, COALESCE(r.rule_id, 'unclassified') AS item,
       count(*) AS needs, count(*) FILTER (WHERE s.stage <> 'closed') AS open,
       count(*) FILTER (WHERE s.stage = 'closed') AS closed,
       count(*) FILTER (WHERE s.outcome = 'resolved') AS resolved,
       count(*) FILTER (WHERE s.satisfied) AS satisfied, count(*) FILTER (WHERE s.overdue) AS overdue
FROM need_summary s
LEFT JOIN LATERAL (SELECT CASE WHEN e.type = 'DemandReclassified' THEN 'manual'
                               ELSE e.payload->>'rule_id' END AS rule_id
                   FROM events e WHERE e.stream_id = s.stream_id
                     AND e.type IN ('DemandClassified', 'DemandReclassified')
                   ORDER BY e.version DESC LIMIT 1) r ON true
{where}
GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2
"""


async def demand_list(
    db: asyncpg.Pool,
    reach: Reach,
    *,
    submitted_from: date | None,
    submitted_to: date | None,
    include_merged: bool,
) -> list[Row]:
    """需求清单: needs within reach consolidated by category and classification rule."""
    where = _Where()
    _reach(reach, where)
    if submitted_from:
        where.add(f"{LOCAL_DAY} >= {where.arg(submitted_from)}")
    if submitted_to:
        where.add(f"{LOCAL_DAY} <= {where.arg(submitted_to)}")
    if not include_merged:
        where.add("s.outcome IS DISTINCT FROM 'merged'")
    return [dict(r) for r in await db.fetch(LIST_SQL.format(where=where.sql()), *where.args)]


async def open_counts(db: asyncpg.Pool, reach: Reach) -> list[Row]:
    """Open needs within reach by stage and category, with how many of them are overdue."""
    where = _Where()
    _reach(reach, where)
    where.add("s.stage <> 'closed'")
    rows = await db.fetch(
        "SELECT s.stage, COALESCE(s.category, 'unclassified') AS category, count(*) AS needs, "
        f"count(*) FILTER (WHERE s.overdue) AS overdue FROM need_summary s {where.sql()} "
        "GROUP BY 1, 2 ORDER BY 1, 2",
        *where.args,
    )
    return [dict(r) for r in rows]


async def daily_trend(db: asyncpg.Pool, reach: Reach, today: date, days: int) -> list[Row]:
    """Per Asia/Shanghai day of the last `days` (today included): needs submitted and needs
    closed that day, within reach; days with none are rows of zeros."""
    where = _Where()
    _reach(reach, where)
    first = where.arg(today - timedelta(days=days - 1))
    last = where.arg(today)
    reach_sql = where.sql().removeprefix("WHERE ") or "true"
    rows = await db.fetch(
        f"""
        WITH days AS (SELECT generate_series({first}::date, {last}::date, '1 day')::date AS day),
        mine AS (SELECT s.submitted_at, s.closed_at FROM need_summary s WHERE {reach_sql}
                 AND (s.submitted_at >= {first}::date - interval '1 day'
                      OR s.closed_at >= {first}::date - interval '1 day'))
        SELECT d.day,
          (SELECT count(*) FROM mine m
           WHERE (m.submitted_at AT TIME ZONE 'Asia/Shanghai')::date = d.day) AS submitted,
          (SELECT count(*) FROM mine m
           WHERE (m.closed_at AT TIME ZONE 'Asia/Shanghai')::date = d.day) AS closed
        FROM days d ORDER BY d.day""",
        *where.args,
    )
    return [dict(r) for r in rows]


# --- the dispatcher's queue ----------------------------------------------------------------
async def dispatch_queue(db: asyncpg.Pool, reach: Reach, limit: int = 200) -> list[Row]:
    """Open needs waiting for a dispatcher, the soonest due first (then the oldest): `reason`
    is `classify` (the rules were unsure), `assign` (classified, nobody owns it: after a
    return), `adjudicate` (nobody owns it and the return limit was reached: the level above
    must rule, 裁定) or `possible_repeat` (flagged, not yet linked or dismissed)."""
    where = _Where()
    _reach(reach, where)
    where.add("s.stage <> 'closed'")
    where.add(
        "(s.stage = 'classification' OR (s.stage = 'assignment' AND s.assigned_unit IS "
        f"NULL) OR {PENDING_REPEAT})"
    )
    rows = await db.fetch(
        "SELECT s.*, CASE WHEN s.stage = 'classification' THEN 'classify' "
        "WHEN s.stage = 'assignment' AND s.assigned_unit IS NULL THEN "
        f"  CASE WHEN ({_LAST_OWNERSHIP_EVENT}) = 'AdjudicationRequested' THEN 'adjudicate' "
        "  ELSE 'assign' END "
        f"ELSE 'possible_repeat' END AS reason FROM need_summary s {where.sql()} "
        f"ORDER BY s.due_at NULLS LAST, s.submitted_at NULLS LAST, s.stream_id "
        f"LIMIT {where.arg(limit)}",
        *where.args,
    )
    return [dict(r) for r in rows]


# The latest event that changed who owns the need: a pending adjudication is one not yet
# followed by a ruling or an assignment.
_LAST_OWNERSHIP_EVENT = (
    "SELECT e.type FROM events e WHERE e.stream_id = s.stream_id AND e.type IN "
    "('AdjudicationRequested', 'NeedAdjudicated', 'DemandAssigned', 'DemandReturned') "
    "ORDER BY e.version DESC LIMIT 1"
)


PENDING_EXTENSION_SQL = """
SELECT s.stream_id, q.version FROM need_summary s
JOIN LATERAL (SELECT e.type FROM events e WHERE e.stream_id = s.stream_id
                AND e.type IN ('ExtensionRequested', 'ExtensionDecisionEscalated',
                               'ExtensionApproved', 'ExtensionRefused', 'HandlingEscalated',
                               'DemandAssigned', 'DemandReturned')
              ORDER BY e.version DESC LIMIT 1) r
  ON r.type IN ('ExtensionRequested', 'ExtensionDecisionEscalated')
JOIN LATERAL (SELECT e.version FROM events e WHERE e.stream_id = s.stream_id
                AND e.type = 'ExtensionRequested' ORDER BY e.version DESC LIMIT 1) q ON true
{where}
ORDER BY s.due_at NULLS LAST, s.stream_id LIMIT 500
"""


async def pending_extension_requests(db: asyncpg.Pool, reach: Reach) -> list[Row]:
    """Needs in handling whose last extension event is a request nobody decided yet (or its
    escalation to the unit above): `stream_id` and the `version` of the request (read from
    there through store.read to learn the hours, the reason and the current approver)."""
    where = _Where()
    _reach(reach, where)
    where.add("s.stage = 'handling'")
    rows = await db.fetch(PENDING_EXTENSION_SQL.format(where=where.sql()), *where.args)
    return [dict(r) for r in rows]


# --- operations ----------------------------------------------------------------------------
async def migration_revision(db: asyncpg.Pool) -> str | None:
    """The revision the database was migrated to (None: never migrated)."""
    try:
        revision: str | None = await db.fetchval("SELECT version_num FROM alembic_version")
        return revision
    except asyncpg.UndefinedTableError:
        return None

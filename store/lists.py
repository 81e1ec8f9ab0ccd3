"""The resource list (资源清单) and the project list (项目清单): their entries, the append-only
history of every change to them, and the needs a project covers (revision 0013).

Every write is one statement that changes the entry and appends the entry as it became to
`list_changes` with the actor, so an entry and its history can never disagree; a change names
the version it was made on and is refused (None) when the entry moved meanwhile. The app role
may insert and read `list_changes`, never change or delete it (the events' rule). Callers
hand in already checked values (domain/lists.py); the columns set are this module's own.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import asyncpg

from store.queries import LOCAL_DAY, Reach, Row, _reach, _Where

RESOURCE_COLUMNS = ("owner_unit", "kind", "name", "description", "capacity", "items", "status")
PROJECT_COLUMNS = (
    "name",
    "description",
    "community",
    "period_from",
    "period_to",
    "items",
    "resources",
    "owner_units",
    "starts_on",
    "ends_on",
    "status",
    "result_summary",
)
_TABLES = {
    "resource": ("list_resources", RESOURCE_COLUMNS),
    "project": ("list_projects", PROJECT_COLUMNS),
}
_JSON = {"items"}


def _value(column: str, value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if column in _JSON else value


def _cast(column: str) -> str:
    return "::jsonb" if column in _JSON else ""


def _row(record: asyncpg.Record | None) -> Row | None:
    if record is None:
        return None
    row = dict(record)
    for column in ("items", "entry"):
        if isinstance(row.get(column), str):
            row[column] = json.loads(row[column])
    return row


def _history(list_name: str, change: str, actor: dict[str, Any], where: _Where) -> str:
    """The CTE that appends the changed entry `r` to the history."""
    return (
        "c AS (INSERT INTO list_changes (list, entry_id, version, change, actor_id, "
        "actor_role, actor_unit, entry) "
        f"SELECT {where.arg(list_name)}, r.id, r.version, {where.arg(change)}, "
        f"{where.arg(actor['id'])}, {where.arg(actor['role'])}, {where.arg(actor.get('unit'))}, "
        "to_jsonb(r) FROM r)"
    )


async def create(
    db: asyncpg.Pool, list_name: str, entry_id: str, values: dict[str, Any], actor: dict[str, Any]
) -> Row | None:
    """Insert a new entry (version 1) and its `created` history row; None when an entry of
    that id exists already (nothing written: the demo loader relies on it)."""
    table, allowed = _TABLES[list_name]
    columns = [c for c in allowed if c in values]
    args = _Where()
    names = ", ".join(["id", *columns])
    placeholders = ", ".join(
        [args.arg(entry_id), *(f"{args.arg(_value(c, values[c]))}{_cast(c)}" for c in columns)]
    )
    sql = (
        f"WITH r AS (INSERT INTO {table} ({names}) VALUES ({placeholders}) "
        "ON CONFLICT (id) DO NOTHING RETURNING *), "
        f"{_history(list_name, 'created', actor, args)} SELECT * FROM r"
    )
    return _row(await db.fetchrow(sql, *args.args))


async def change(
    db: asyncpg.Pool,
    list_name: str,
    entry_id: str,
    version: int,
    values: dict[str, Any],
    change_name: str,
    actor: dict[str, Any],
) -> Row | None:
    """Set `values` on the entry as of `version` (its version moves on by one) and append
    the change; None when the entry is not at that version (someone changed it meanwhile)."""
    table, allowed = _TABLES[list_name]
    args = _Where()
    sets = [f"{c} = {args.arg(_value(c, values[c]))}{_cast(c)}" for c in allowed if c in values]
    if values.get("status") == "completed":
        sets.append("completed_at = now()")
    sets += ["version = version + 1", "updated_at = now()"]
    sql = (
        f"WITH r AS (UPDATE {table} SET {', '.join(sets)} "
        f"WHERE id = {args.arg(entry_id)} AND version = {args.arg(version)} RETURNING *), "
        f"{_history(list_name, change_name, actor, args)} SELECT * FROM r"
    )
    return _row(await db.fetchrow(sql, *args.args))


async def entry(db: asyncpg.Pool, list_name: str, entry_id: str) -> Row | None:
    table, _ = _TABLES[list_name]
    return _row(await db.fetchrow(f"SELECT * FROM {table} WHERE id = $1", entry_id))


async def resources(
    db: asyncpg.Pool,
    owners: list[str] | None,
    *,
    status: str | None = None,
    kind: str | None = None,
    category: str | None = None,
    item: str | None = None,
    ids: list[str] | None = None,
) -> list[Row]:
    """Resources whose owner unit is in `owners` (None: any), by owner and name."""
    where = _Where()
    if owners is not None:
        where.add(f"owner_unit = ANY({where.arg(owners)}::text[])")
    if status is not None:
        where.add(f"status = {where.arg(status)}")
    if kind is not None:
        where.add(f"kind = {where.arg(kind)}")
    if ids is not None:
        where.add(f"id = ANY({where.arg(ids)}::text[])")
    if category is not None or item is not None:
        wanted = {k: v for k, v in (("category", category), ("item", item)) if v is not None}
        where.add(f"items @> {where.arg(json.dumps([wanted]))}::jsonb")
    rows = await db.fetch(
        f"SELECT * FROM list_resources {where.sql()} ORDER BY owner_unit, name, id LIMIT 1000",
        *where.args,
    )
    return [r for r in map(_row, rows) if r is not None]


async def projects(
    db: asyncpg.Pool,
    places: list[str] | None,
    *,
    status: str | None = None,
    community: str | None = None,
) -> list[Row]:
    """Projects whose community is in `places` (None: any), the soonest start first."""
    where = _Where()
    if places is not None:
        where.add(f"community = ANY({where.arg(places)}::text[])")
    if status is not None:
        where.add(f"status = {where.arg(status)}")
    if community is not None:
        where.add(f"community = {where.arg(community)}")
    rows = await db.fetch(
        f"SELECT * FROM list_projects {where.sql()} ORDER BY starts_on, name, id LIMIT 1000",
        *where.args,
    )
    return [r for r in map(_row, rows) if r is not None]


async def history(db: asyncpg.Pool, list_name: str, entry_id: str) -> list[Row]:
    """Every change of one entry, oldest first: version, change, actor, time, the entry."""
    rows = await db.fetch(
        "SELECT version, change, actor_id, actor_role, actor_unit, at, entry FROM list_changes "
        "WHERE list = $1 AND entry_id = $2 ORDER BY version",
        list_name,
        entry_id,
    )
    return [r for r in map(_row, rows) if r is not None]


# The demand list's item of a need: its latest classification's rule ('manual' after a
# reclassification), as store.queries.LIST_SQL names it.
_ITEM = (
    "COALESCE((SELECT CASE WHEN e.type = 'DemandReclassified' THEN 'manual' "
    "ELSE e.payload->>'rule_id' END FROM events e WHERE e.stream_id = s.stream_id "
    "AND e.type IN ('DemandClassified', 'DemandReclassified') ORDER BY e.version DESC "
    "LIMIT 1), 'unclassified')"
)


async def covered_needs(
    db: asyncpg.Pool,
    reach: Reach,
    *,
    community: str,
    items: list[tuple[str, str]],
    period_from: date,
    period_to: date,
    open_only: bool = True,
    stream_id: str | None = None,
) -> list[Row]:
    """The needs a project covers: in its community, of one of its (category, item) pairs,
    submitted within its period (Asia/Shanghai days), merged repeats left out (their
    requesters evaluate the need they joined); open ones only unless `open_only` is False.
    Oldest first."""
    where = _Where()
    _reach(reach, where)
    where.add(f"s.community = {where.arg(community)}")
    where.add(f"{LOCAL_DAY} BETWEEN {where.arg(period_from)} AND {where.arg(period_to)}")
    where.add("s.outcome IS DISTINCT FROM 'merged'")
    if open_only:
        where.add("s.stage <> 'closed'")
    if stream_id is not None:
        where.add(f"s.stream_id = {where.arg(stream_id)}")
    categories = where.arg([c for c, _ in items])
    rules = where.arg([i for _, i in items])
    rows = await db.fetch(
        f"SELECT * FROM (SELECT s.stream_id, s.stage, s.assigned_unit, s.category, "
        f"s.outcome, s.submitted_at, {_ITEM} AS item FROM need_summary s {where.sql()}) n "
        f"WHERE (n.category, n.item) IN (SELECT * FROM unnest({categories}::text[], "
        f"{rules}::text[])) ORDER BY n.submitted_at, n.stream_id LIMIT 5000",
        *where.args,
    )
    return [dict(r) for r in rows]

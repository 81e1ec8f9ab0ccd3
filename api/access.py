"""Object-level access: who may see which need, as a Python check and as a SQL clause.

A need nobody may see answers 404 exactly like a need that does not exist.
- admin: every need; supervisor: needs whose assigned unit or place (street, community,
  grid) lies in the scope's subtree (no scope: all); staff: needs assigned to their unit;
  integrator: needs it submitted (the actor id of the stream's first event).
Personal data (requester name and phone, address) is shown unmasked only to staff of the
assigned unit; everyone else gets the masked copies.
"""

from __future__ import annotations

from typing import Any

from api.auth import Directory, Principal
from api.deps import Services
from api.errors import not_found

PLACE_COLUMNS = ("assigned_unit", "street", "community", "grid")
NEED_SQL = """
SELECT s.*, (SELECT e.actor_id FROM events e WHERE e.stream_id = s.stream_id AND e.version = 1)
       AS submitted_by
FROM need_summary s WHERE s.stream_id = $1
"""


def in_scope(principal: Principal, row: dict[str, Any], directory: Directory) -> bool:
    if principal.scope is None:
        return True
    units = set(directory.subtree(principal.scope))
    return any(row.get(c) in units for c in PLACE_COLUMNS)


def can_read(principal: Principal, row: dict[str, Any], directory: Directory) -> bool:
    if principal.role == "admin":
        return True
    if principal.role == "supervisor":
        return in_scope(principal, row, directory)
    if principal.role == "staff":
        return row.get("assigned_unit") == principal.unit
    return row.get("submitted_by") == principal.id


def sees_personal_data(principal: Principal, row: dict[str, Any]) -> bool:
    return principal.role == "staff" and row.get("assigned_unit") == principal.unit


async def find_need(services: Services, need_id: str) -> dict[str, Any] | None:
    row = await services.db.fetchrow(NEED_SQL, need_id)
    return dict(row) if row else None


async def readable_need(services: Services, principal: Principal, need_id: str) -> dict[str, Any]:
    """The need's summary row if this principal may see it; 404 otherwise (existence hidden)."""
    row = await find_need(services, need_id)
    if row is None or not can_read(principal, row, services.directory):
        raise not_found()
    return row


class Where:
    """A tiny builder of `WHERE` clauses with asyncpg's numbered parameters."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.args: list[Any] = []

    def arg(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def add(self, clause: str) -> None:
        self.clauses.append(clause)

    def sql(self) -> str:
        return ("WHERE " + " AND ".join(self.clauses)) if self.clauses else ""


def visibility(principal: Principal, directory: Directory, where: Where, alias: str = "s") -> None:
    """Restrict a query over need_summary (aliased `alias`) to what the principal may see."""
    if principal.role == "admin" or (principal.role == "supervisor" and principal.scope is None):
        return
    if principal.role == "supervisor":
        units = where.arg(directory.subtree(principal.scope or ""))
        where.add("(" + " OR ".join(f"{alias}.{c} = ANY({units}::text[])"
                                    for c in PLACE_COLUMNS) + ")")
    elif principal.role == "staff":
        where.add(f"{alias}.assigned_unit = {where.arg(principal.unit)}")
    else:
        where.add(f"{alias}.stream_id IN (SELECT e.stream_id FROM events e WHERE e.version = 1 "
                  f"AND e.actor_id = {where.arg(principal.id)})")

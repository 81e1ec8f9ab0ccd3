"""Object-level access: who may see which need, as a Python check and as the read side's
`Reach` (store.queries turns it into SQL).

A need nobody may see answers 404 exactly like a need that does not exist.
- admin: every need; supervisor: needs whose assigned unit or place (street, community,
  grid) lies in the scope's subtree (no scope: all); staff: needs assigned to their unit,
  and needs a sub-task of joint handling (联合办理) was addressed to their unit (now or
  before: `assist_units`);
  integrator: needs it submitted (the actor id of the stream's first event).
Personal data (requester name and phone, address) is shown unmasked only to staff of the
assigned unit; everyone else (an assisting unit included) gets the masked copies.
"""

from __future__ import annotations

from typing import Any

from api.auth import Directory, Principal
from api.deps import Services
from api.errors import not_found
from store import queries
from store.queries import PLACE_COLUMNS, Reach


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
        return row.get("assigned_unit") == principal.unit or principal.unit in (
            row.get("assist_units") or ()
        )
    return row.get("submitted_by") == principal.id


def sees_personal_data(principal: Principal, row: dict[str, Any]) -> bool:
    return principal.role == "staff" and row.get("assigned_unit") == principal.unit


async def find_need(services: Services, need_id: str) -> dict[str, Any] | None:
    return await queries.need_row(services.db, need_id)


async def readable_need(services: Services, principal: Principal, need_id: str) -> dict[str, Any]:
    """The need's summary row if this principal may see it; 404 otherwise (existence hidden)."""
    row = await find_need(services, need_id)
    if row is None or not can_read(principal, row, services.directory):
        raise not_found()
    return row


def units_in_scope(
    principal: Principal, directory: Directory, *, staff_subtree: bool = False
) -> list[str] | None:
    """The units a principal's scope covers, the one rule every page and list filters by:
    None for every unit (an admin, a supervisor without scope); a supervisor's scope subtree;
    staff their own unit (with `staff_subtree`, it and the units below it: a community's staff
    see its grids' wishes); anyone else none."""
    if principal.role == "admin" or (principal.role == "supervisor" and principal.scope is None):
        return None
    if principal.role == "supervisor":
        return directory.subtree(principal.scope or "")
    if principal.role == "staff" and principal.unit:
        return directory.subtree(principal.unit) if staff_subtree else [principal.unit]
    return []


def reach(principal: Principal, directory: Directory) -> Reach:
    """The needs this principal may see, as the read side's description (store.queries)."""
    if principal.role in ("admin", "supervisor"):
        units = units_in_scope(principal, directory)
        return Reach(everything=True) if units is None else Reach(units=tuple(units))
    if principal.role == "staff":
        return Reach(assigned_unit=principal.unit)
    return Reach(submitter=principal.id)

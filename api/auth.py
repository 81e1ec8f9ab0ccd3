"""Who is calling: principals, the API-key table (sha256 hashes only) and the directory scopes.

A key table is YAML: `keys: [{sha256, id, role, unit?, scope?}]`. Roles:
- `integrator`: submits needs, sees only the needs it submitted (actor id of event 1);
- `staff` of `unit`: sees and acts on needs assigned to that unit;
- `supervisor` of `scope`: reads needs within the scope unit's subtree of the policy's
  directory (no scope: the whole district), reminds, reassigns, decides extensions;
- `admin`: everything;
- `claimant`: a party member, volunteer or member unit's staff: browses the micro-wish pools
  and claims wishes (api/wishes.py); sees no need at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Literal

import yaml
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field

from api.errors import ApiError
from domain.actions import BY_NAME, Action
from domain.model import Actor, Role
from domain.policy import Policy

PrincipalRole = Literal["integrator", "staff", "supervisor", "admin", "claimant"]
ACTOR_ROLES = {
    "integrator": Role.INTEGRATOR,
    "staff": Role.STAFF,
    "supervisor": Role.SUPERVISOR,
    "admin": Role.ADMIN,
    "claimant": Role.CLAIMANT,
}
API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="an API key from the key table"
)


class Principal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    role: PrincipalRole
    unit: str | None = None
    scope: str | None = None

    def actor(self, unit: str | None = None) -> Actor:
        """The Actor recorded on every event this principal causes."""
        acting_for = unit or (self.unit if self.role == "staff" else self.scope)
        return Actor(id=self.id, role=ACTOR_ROLES[self.role], unit=acting_for)


class KeyEntry(Principal):
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class KeyTable:
    def __init__(self, entries: list[KeyEntry]) -> None:
        self._by_hash = {e.sha256: Principal(**e.model_dump(exclude={"sha256"})) for e in entries}

    @classmethod
    def load(cls, path: Path, policy: Policy) -> KeyTable:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        entries = [KeyEntry.model_validate(e) for e in raw.get("keys", [])]
        for e in entries:
            _check_entry(e, policy)
        return cls(entries)

    def lookup(self, key: str) -> Principal | None:
        return self._by_hash.get(key_hash(key))

    def lookup_hash(self, sha256: str) -> Principal | None:
        """By the key's sha256 (a codec sign-in cookie carries it, never the key)."""
        return self._by_hash.get(sha256)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _check_entry(entry: KeyEntry, policy: Policy) -> None:
    if entry.role == "staff" and policy.unit(entry.unit) is None:
        raise ValueError(f"api key of {entry.id}: staff need a unit of the directory")
    if entry.scope is not None and policy.unit(entry.scope) is None:
        raise ValueError(f"api key of {entry.id}: scope {entry.scope} is not a unit")


class Directory:
    """The policy's units as a tree: which unit ids a scope covers."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._children: dict[str, list[str]] = {}
        for unit in policy.units:
            if unit.parent:
                self._children.setdefault(unit.parent, []).append(unit.id)

    def subtree(self, root: str) -> list[str]:
        found, todo = [], [root]
        while todo:
            current = todo.pop()
            found.append(current)
            todo.extend(self._children.get(current, []))
        return sorted(found)

    def name(self, unit_id: str | None) -> str | None:
        unit = self.policy.unit(unit_id)
        return unit.name if unit else unit_id


def authenticate(key: str | None, request: Request) -> Principal:
    principal: Principal | None = request.app.state.services.keys.lookup(key) if key else None
    if principal is None:
        raise ApiError(401, "unauthenticated", "missing or unknown API key", field="X-API-Key")
    return principal


async def current_principal(
    request: Request, key: str | None = Security(API_KEY_HEADER)
) -> Principal:
    return authenticate(key, request)


def require_role(principal: Principal, *roles: PrincipalRole) -> None:
    """Role-level permission (not object-level): 403 naming the role."""
    if principal.role not in (*roles, "admin"):
        raise ApiError(
            403, "not_permitted", f"role {principal.role} may not do this", field="X-API-Key"
        )


def may(principal: Principal, action: Action) -> bool:
    """Whether the principal's role may take this action (domain/actions.py, the one table)."""
    return action.allows(ACTOR_ROLES[principal.role])


def require_action(principal: Principal, action: Action) -> None:
    if not may(principal, action):
        raise ApiError(
            403, "not_permitted", f"role {principal.role} may not {action.name}", field="X-API-Key"
        )


# A FastAPI dependency that answers with the caller (or raises the 401/403)
PrincipalDependency = Callable[[Request, str | None], Coroutine[Any, Any, Principal]]


def permitted(action: Action) -> PrincipalDependency:
    """A dependency: the caller, once its role may take `action`. As a dependency it answers
    before the body is validated: a caller without the role gets 403, never a 422 about a
    body it may not send."""

    async def dependency(request: Request, key: str | None = Security(API_KEY_HEADER)) -> Principal:
        principal = authenticate(key, request)
        require_action(principal, action)
        return principal

    return dependency


def in_roles(*roles: PrincipalRole) -> PrincipalDependency:
    """A dependency: the caller, once its role is one of `roles` (or admin), judged before
    the body is read: a caller without the role hears 403, never a 422 about a body it may
    not send."""

    async def dependency(request: Request, key: str | None = Security(API_KEY_HEADER)) -> Principal:
        principal = authenticate(key, request)
        require_role(principal, *roles)
        return principal

    return dependency


def allowed_to(name: str) -> Any:
    """`principal: Annotated[Principal, allowed_to("accept")]`: the caller, admitted for that
    row of the table (the `Depends` marker of `permitted`)."""
    return Depends(permitted(BY_NAME[name]))


def role_in(*roles: PrincipalRole) -> Any:
    """`principal: Annotated[Principal, role_in("integrator")]`: the caller, once its role is
    one of `roles` (or admin); see `in_roles`."""
    return Depends(in_roles(*roles))

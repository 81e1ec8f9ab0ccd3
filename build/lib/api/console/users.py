"""People who sign in to the console: a YAML table of users with argon2 password hashes.

`users: [{name, display, role, unit?, scope?, argon2}]`; roles and scopes are exactly the API
keys' (staff of a unit, supervisor of a scope subtree, admin), and a signed-in user acts as
the same `Principal`, so every access rule is the API's own. The name is what events record
as the actor id: use a work id, not a person's name. `demandflow hash-password` makes a hash.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal
from domain.policy import Policy

HASHER = PasswordHasher()
# verified when the name is unknown, so that a wrong name costs the same time as a wrong password
_DUMMY = HASHER.hash("no such user")


class User(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    display: str = Field(min_length=1, max_length=64)
    role: Literal["staff", "supervisor", "admin"]
    unit: str | None = None
    scope: str | None = None
    argon2: str = Field(pattern=r"^\$argon2")

    def principal(self) -> Principal:
        return Principal(id=self.name, role=self.role, unit=self.unit, scope=self.scope)


class UserTable:
    def __init__(self, users: list[User]) -> None:
        self._by_name = {u.name: u for u in users}

    @classmethod
    def load(cls, path: Path, policy: Policy) -> UserTable:
        if not path.exists():
            return cls([])
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        users = [User.model_validate(u) for u in raw.get("users", [])]
        for user in users:
            if user.role == "staff" and policy.unit(user.unit) is None:
                raise ValueError(f"console user {user.name}: staff need a unit of the directory")
            if user.scope is not None and policy.unit(user.scope) is None:
                raise ValueError(f"console user {user.name}: scope {user.scope} is not a unit")
        return cls(users)

    def get(self, name: str) -> User | None:
        return self._by_name.get(name)

    def check(self, name: str, password: str) -> User | None:
        """The user if the password is theirs (argon2 verify), else None."""
        user = self._by_name.get(name)
        try:
            HASHER.verify(user.argon2 if user else _DUMMY, password)
        except (VerificationError, InvalidHashError):
            return None
        return user


def hash_password(password: str) -> str:
    return HASHER.hash(password)

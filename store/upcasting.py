"""Old payload shapes are upgraded on read, one schema version at a time.

When an event class bumps `SCHEMA_VERSION` to n+1, register a function turning a version-n
payload dict into a version-n+1 dict. Stored rows are never rewritten (the hash chain covers
them as written); readers always see the current shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.events import EVENT_TYPES
from domain.plans import PLAN_EVENT_TYPES
from domain.wishes import WISH_EVENT_TYPES
from store.errors import StoreError

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]

UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register `fn` as the step `event_type` schema `from_version` -> `from_version + 1`."""

    def register(fn: Upcaster) -> Upcaster:
        key = (event_type, from_version)
        if key in UPCASTERS and UPCASTERS[key] is not fn:
            raise StoreError(f"two upcasters for {event_type} from schema {from_version}")
        UPCASTERS[key] = fn
        return fn

    return register


def current_version(event_type: str) -> int:
    cls = (
        EVENT_TYPES.get(event_type)
        or WISH_EVENT_TYPES.get(event_type)
        or PLAN_EVENT_TYPES.get(event_type)
    )
    if cls is None:
        raise StoreError(f"stored event type {event_type!r} is unknown to domain.events")
    return cls.SCHEMA_VERSION


def upcast(event_type: str, schema_version: int, payload: Payload) -> tuple[int, Payload]:
    """Apply each registered step until the payload has the class's current schema version."""
    target = current_version(event_type)
    while schema_version < target:
        step = UPCASTERS.get((event_type, schema_version))
        if step is None:
            raise StoreError(
                f"no upcaster for {event_type} from schema {schema_version} to {target}"
            )
        payload = step(dict(payload))
        schema_version += 1
    return schema_version, payload

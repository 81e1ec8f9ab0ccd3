"""Checks made in Python before anything reaches the database: a rejected batch writes nothing.

Error messages name the field (`events[2].payload.rating`) and the rule broken, never the value:
payloads may hold personal data.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from domain.events import EVENT_TYPES, DomainEvent, EventEnvelope
from domain.model import Channel
from store.errors import InvalidEvent

# Our streams are needs: `need-<channel>-<16 lowercase hex>`, e.g. need-app-0123456789abcdef.
M = TypeVar("M", bound=BaseModel)
STREAM_ID_PATTERN = re.compile(
    r"^need-(?:" + "|".join(re.escape(c.value) for c in Channel) + r")-[0-9a-f]{16}\Z"
)
MAX_BATCH = 1000


def check_stream_id(stream_id: str, field: str = "stream_id") -> None:
    """Only need streams are stored; anything else is someone else's id or a bug."""
    if not isinstance(stream_id, str) or not STREAM_ID_PATTERN.match(stream_id):
        raise InvalidEvent(field, "is not a need stream id (need-<channel>-<16 hex digits>)")


def check_batch(
    stream_id: str, expected_version: int, events: Sequence[EventEnvelope]
) -> list[DomainEvent]:
    """The batch continues `stream_id` right after `expected_version`, one known event each;
    returns the events as read (the typed events the fold applies)."""
    check_stream_id(stream_id)
    if expected_version < 0:
        raise InvalidEvent("expected_version", "must be 0 (new stream) or more")
    if not events:
        raise InvalidEvent("events", "must hold at least one event")
    if len(events) > MAX_BATCH:
        raise InvalidEvent("events", f"holds more than {MAX_BATCH} events")
    seen: set[str] = set()
    read: list[DomainEvent] = []
    for i, envelope in enumerate(events):
        read.append(check_envelope(envelope, f"events[{i}]", stream_id, expected_version + 1 + i))
        if envelope.event_id in seen:
            raise InvalidEvent(f"events[{i}].event_id", "repeats an event id of this batch")
        seen.add(envelope.event_id)
    return read


def check_envelope(
    envelope: EventEnvelope, where: str, stream_id: str, version: int
) -> DomainEvent:
    """Envelope matches its place in the stream; payload is the current shape of its type."""
    if envelope.stream_id != stream_id:
        raise InvalidEvent(f"{where}.stream_id", "differs from the stream being appended to")
    if envelope.version != version:
        raise InvalidEvent(f"{where}.version", f"must be {version} (versions follow on, no gaps)")
    cls = EVENT_TYPES.get(envelope.type)
    if cls is None:
        raise InvalidEvent(f"{where}.type", "is not a known event type (domain.events)")
    if envelope.schema_version != cls.SCHEMA_VERSION:
        raise InvalidEvent(
            f"{where}.schema_version",
            f"must be {cls.SCHEMA_VERSION}: only current shapes are written",
        )
    return check_payload(cls, envelope.payload, f"{where}.payload")


def check_payload(cls: type[M], payload: dict[str, Any], where: str) -> M:
    """Validate against the event class; report the first error's location and message only
    (pydantic's `input` is left out on purpose: it may be a name or a phone number)."""
    if "type" in payload:
        raise InvalidEvent(f"{where}.type", "belongs in the envelope, not the payload")
    try:
        return cls.model_validate(payload | {"type": cls.model_fields["type"].default})
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InvalidEvent(f"{where}.{loc}" if loc else where, first["msg"]) from None

"""Errors of the event store. Messages name fields and streams, never personal data."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class InvalidEvent(StoreError, ValueError):
    """Input that can never be stored: retrying it cannot help. `field` names the culprit."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class VersionConflict(StoreError):
    """The stream is not at the version the writer expected, and the batch is not a retry of
    events already stored there: the writer decided on stale state and must not retry blindly."""

    def __init__(self, stream_id: str, expected: int, actual: int, reason: str) -> None:
        super().__init__(
            f"stream {stream_id}: expected version {expected}, stream is at {actual} ({reason})"
        )
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual
        self.reason = reason

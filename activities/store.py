"""The event-store activities the need workflow calls (samples-python style: a class holding
the store, one pydantic model in and one out; use `pydantic_data_converter` on the client).

Errors the workflow must not retry become non-retryable ApplicationErrors with a stable
`type`: "VersionConflict" (someone else wrote first: re-decide) and "InvalidEvent" (the batch
can never be stored). Database outages stay ordinary errors, so Temporal retries them, and the
retry is safe because the append is idempotent on event ids.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.events import AppendResult
from store.errors import InvalidEvent, VersionConflict
from store.eventstore import EventStore
from workflows.messages import AppendRequest, ReadStreamRequest, ReadStreamResult


@contextmanager
def _refusals() -> Iterator[None]:
    """The store's refusals as the non-retryable errors the workflows know."""
    try:
        yield
    except VersionConflict as exc:
        raise ApplicationError(
            str(exc),
            {"stream_id": exc.stream_id, "expected": exc.expected, "actual": exc.actual},
            type="VersionConflict",
            non_retryable=True,
        ) from None
    except InvalidEvent as exc:
        raise ApplicationError(
            str(exc), {"field": exc.field}, type="InvalidEvent", non_retryable=True
        ) from None


class StoreActivities:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    @activity.defn(name="append_events")
    async def append_events(self, request: AppendRequest) -> AppendResult:
        """Append the batch; a retried batch answers as the first time (duplicate=True)."""
        with _refusals():
            return await self.store.append(
                request.stream_id, request.expected_version, request.events
            )

    @activity.defn(name="append_wish_events")
    async def append_wish_events(self, request: AppendRequest) -> AppendResult:
        """A micro-wish's batch (store.wishes), with the same answers and refusals."""
        with _refusals():
            return await self.store.append_wish(
                request.stream_id, request.expected_version, request.events
            )

    @activity.defn(name="append_plan_events")
    async def append_plan_events(self, request: AppendRequest) -> AppendResult:
        """A service plan's batch (store.plans), with the same answers and refusals."""
        with _refusals():
            return await self.store.append_plan(
                request.stream_id, request.expected_version, request.events
            )

    @activity.defn(name="read_stream")
    async def read_stream(self, request: ReadStreamRequest) -> ReadStreamResult:
        """The stream as stored (old payloads upcast to the current shape)."""
        return ReadStreamResult(
            events=await self.store.read_stream(request.stream_id, request.from_version)
        )

"""The Temporal activities: results survive the pydantic converter, errors map to types."""

from __future__ import annotations

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.store import StoreActivities
from domain.events import AppendResult
from store import samples
from store.eventstore import EventStore
from workflows.messages import AppendRequest, ReadStreamRequest, ReadStreamResult


def roundtrip(value, as_type):
    """Through the converter the worker and the workflow use, as Temporal would."""
    converter = pydantic_data_converter.payload_converter
    return converter.from_payloads(converter.to_payloads([value]), [as_type])[0]


async def test_append_and_read_through_the_activities(store: EventStore):
    acts, env = StoreActivities(store), ActivityEnvironment()
    sid = samples.new_stream_id()
    request = roundtrip(
        AppendRequest(
            stream_id=sid, expected_version=0, events=samples.envelopes(sid, samples.happy_path())
        ),
        AppendRequest,
    )
    first = roundtrip(await env.run(acts.append_events, request), AppendResult)
    again = await env.run(acts.append_events, request)
    assert (first.last_version, first.duplicate, again.duplicate) == (9, False, True)
    read = roundtrip(
        await env.run(acts.read_stream, ReadStreamRequest(stream_id=sid)), ReadStreamResult
    )
    assert read.events == request.events


@pytest.mark.parametrize("case", ["conflict", "invalid"])
async def test_errors_become_non_retryable_application_errors(store: EventStore, case: str):
    acts, env = StoreActivities(store), ActivityEnvironment()
    sid = samples.new_stream_id()
    events = samples.envelopes(sid, samples.happy_path())
    await store.append(sid, 0, events[:2])
    if case == "conflict":
        request = AppendRequest(
            stream_id=sid,
            expected_version=1,
            events=[events[1].model_copy(update={"event_id": "another"})],
        )
    else:
        request = AppendRequest(stream_id="not-a-need", expected_version=2, events=events[2:3])
    with pytest.raises(ApplicationError) as info:
        await env.run(acts.append_events, request)
    assert info.value.non_retryable
    assert info.value.type == {"conflict": "VersionConflict", "invalid": "InvalidEvent"}[case]

"""A workflow that appends a need's worth of events one decision at a time, through either a
local or a regular activity: the two ways NeedWorkflow could call the event store."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.events import AppendResult
    from store import samples
    from workflows.messages import AppendRequest


@workflow.defn
class AppendLoopWorkflow:
    @workflow.run
    async def run(self, local: bool) -> int:
        stream_id = workflow.info().workflow_id
        events = samples.rough_path()[:6]
        for version, event in enumerate(events):
            envelopes = samples.envelopes(stream_id, [event], version + 1)
            request = AppendRequest(stream_id=stream_id, expected_version=version, events=envelopes)
            call = workflow.execute_local_activity if local else workflow.execute_activity
            await call(
                "append_events",
                request,
                result_type=AppendResult,
                start_to_close_timeout=timedelta(seconds=30),
            )
        return len(events)

"""NeedWorkflow: one durable workflow per need, from submission to closing.

Its Temporal workflow type stays `DemandWorkflow`, the name running needs and recorded
histories carry (as do the event types `Demand*`, the `Demand*` search attributes and the
snapshot's `demand_id`): those names are recorded, the code says need.

Only the workflow's surface lives here: its run method, the `report` signal, the `act` update
with its validator and the `snapshot` query. What they do is in workflows/lifecycle.py, which
the sandbox passes through so that the logic is loaded once per worker, not once per run.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.lifecycle import NeedLifecycle
    from workflows.messages import (
        Action,
        ActionResult,
        LinkedReport,
        NeedStart,
        RefusedPayload,
        Snapshot,
    )


@workflow.defn(name="DemandWorkflow")
class NeedWorkflow:
    """A start whose input the worker could not open (RefusedPayload: not encrypted with a
    key the worker holds) fails at once with nothing written; an update whose input it
    could not open is rejected by the SDK before the validator; such a signal is dropped."""

    @workflow.init
    def __init__(self, start: NeedStart | RefusedPayload) -> None:
        self._need = NeedLifecycle(start) if isinstance(start, NeedStart) else None

    @workflow.run
    async def run(self, start: NeedStart | RefusedPayload) -> Snapshot:
        if self._need is None or not isinstance(start, NeedStart):
            raise ApplicationError(
                "the start could not be opened: it was not encrypted with a key this worker holds",
                type="RefusedPayload",
                non_retryable=True,
            )
        return await self._need.run(start)

    @workflow.signal
    def report(self, report: LinkedReport) -> None:
        """A repeated report of this need, or the same submission sent again."""
        if self._need is not None:
            self._need.report(report)

    @workflow.update
    async def act(self, action: Action) -> ActionResult:
        """A staff, supervisor or reviewer action; the answer says what it recorded."""
        return await self._live().act(action)

    @act.validator
    def _validate_act(self, action: Action) -> None:
        # Refuse before anything is written: a refused action leaves no trace.
        self._live().validate(action)

    @workflow.query
    def snapshot(self) -> Snapshot:
        return self._live().snapshot()

    def _live(self) -> NeedLifecycle:
        if self._need is None:
            raise ApplicationError("this need's start was refused", type="RefusedPayload")
        return self._need

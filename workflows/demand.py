"""DemandWorkflow: one durable workflow per need, from submission to closing.

Only the workflow's surface lives here: its run method, the `report` signal, the `act` update
with its validator and the `snapshot` query. What they do is in workflows/lifecycle.py, which
the sandbox passes through so that the logic is loaded once per worker, not once per run.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.lifecycle import NeedLifecycle
    from workflows.messages import Action, ActionResult, DemandStart, LinkedReport, Snapshot


@workflow.defn
class DemandWorkflow:
    @workflow.init
    def __init__(self, start: DemandStart) -> None:
        self._need = NeedLifecycle(start)

    @workflow.run
    async def run(self, start: DemandStart) -> Snapshot:
        return await self._need.run(start)

    @workflow.signal
    def report(self, report: LinkedReport) -> None:
        """A repeated report of this need, or the same submission sent again."""
        self._need.report(report)

    @workflow.update
    async def act(self, action: Action) -> ActionResult:
        """A staff, supervisor or reviewer action; the answer says what it recorded."""
        return await self._need.act(action)

    @act.validator
    def _validate_act(self, action: Action) -> None:
        # Refuse before anything is written: a refused action leaves no trace.
        self._need.validate(action)

    @workflow.query
    def snapshot(self) -> Snapshot:
        return self._need.snapshot()

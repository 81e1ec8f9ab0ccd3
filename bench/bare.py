"""The floors: bare workflows that do nothing but what Temporal itself must do.

- `BareWorkflow(updates)`: started like a need (signal-with-start), answers `updates` `act`
  updates with a counter and returns after the last (0: returns at once);
- `BareTimerWorkflow`: sleeps on one long timer, as an open need waits on its deadline.

Run as its own worker process: `python -m bench.bare` (TEMPORAL_ADDRESS, TEMPORAL_TASK_QUEUE).
"""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import timedelta

from temporalio import workflow


@workflow.defn
class BareWorkflow:
    def __init__(self) -> None:
        self.updates = 0
        self.signals = 0

    @workflow.run
    async def run(self, updates: int) -> int:
        await workflow.wait_condition(lambda: self.updates >= updates)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.updates

    @workflow.signal
    def report(self, _: str) -> None:
        self.signals += 1

    @workflow.update
    async def act(self, _: str) -> int:
        self.updates += 1
        return self.updates

    @workflow.query
    def count(self) -> int:
        return self.updates


@workflow.defn
class BareTimerWorkflow:
    @workflow.run
    async def run(self, days: int) -> None:
        await workflow.sleep(timedelta(days=days))

    @workflow.query
    def alive(self) -> bool:
        return True


async def _main() -> None:
    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import UnsandboxedWorkflowRunner, Worker

    client = await Client.connect(
        os.environ["TEMPORAL_ADDRESS"], data_converter=pydantic_data_converter
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # The runner of workers.worker.WORKFLOW_RUNNER, so the floor is like for like; imported
    # by name, not from workers.worker, to keep the product's modules out of this process.
    worker = Worker(
        client,
        task_queue=os.environ["TEMPORAL_TASK_QUEUE"],
        workflows=[BareWorkflow, BareTimerWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    async with worker:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(_main())

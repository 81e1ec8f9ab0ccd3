"""The Temporal worker process: NeedWorkflow plus every activity it calls."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import structlog
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.duplicates import DuplicateActivities
from activities.intake import IntakeActivities
from activities.plans import PlanActivities
from activities.policy import PolicyActivities
from activities.store import StoreActivities
from domain.text import words
from store.eventstore import EventStore
from telemetry import metrics, tracing
from workers.codec import converter_from_settings
from workers.connections import connect_temporal, ensure_port_free, sdk_metrics_runtime
from workers.errors import ConfigError
from workers.settings import Settings
from workflows.need import NeedWorkflow
from workflows.plan import PlanTickWorkflow, PlanWorkflow
from workflows.wish import WishWorkflow

log = structlog.get_logger("demandflow.worker")


def build_worker(client: Client, task_queue: str, store: EventStore, policy_file: Path) -> Worker:
    """The worker with everything registered; the tests build theirs with this too.

    Workflows run without the SDK's sandbox (WORKFLOW_RUNNER). Every activity runs as a
    local activity inside its workflow task, and on shutdown the SDK finishes the workflow
    tasks in flight, local activities included, before it returns: a SIGTERM never cuts an
    append in two (tests/faults/test_graceful_shutdown.py). The SDK's
    `graceful_shutdown_timeout` applies to regular activities only, of which there are none."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[NeedWorkflow, WishWorkflow, PlanWorkflow, PlanTickWorkflow],
        activities=[
            *_activities(store, policy_file),
            *_plan_activities(PlanActivities(client, task_queue)),
        ],
        workflow_runner=WORKFLOW_RUNNER,
    )


# The sandbox re-creates the workflow module for every run and runs each activation and each
# payload conversion through its import hooks: about a third of the worker's CPU in a py-spy
# profile of the lifecycle benchmark (docs/benchmarks.md). What it guards — no I/O, clocks or
# randomness in workflow code — is held by other means here: the logic lives in
# workflows/lifecycle.py, which the sandbox passed through (unguarded) anyway; every recorded
# history in tests/replay is replayed under the sandboxed Replayer in the test suite; and the
# fault tests restart workers mid-flight. The bench's bare floor uses the same runner.
WORKFLOW_RUNNER = UnsandboxedWorkflowRunner()


def _activities(store: EventStore, policy_file: Path) -> list[object]:
    policies, duplicates = PolicyActivities(policy_file), DuplicateActivities(store.pool)
    return [
        *_store_activities(StoreActivities(store)),
        IntakeActivities(policies, duplicates).prepare_intake,
        # what runs started before the `intake-in-one-activity` patch still call
        policies.load_policy,
        duplicates.find_open_duplicate,
    ]


def _store_activities(activities: StoreActivities) -> list[object]:
    return [
        activities.append_events,
        activities.append_wish_events,
        activities.append_plan_events,
        activities.read_stream,
    ]


def _plan_activities(activities: PlanActivities) -> list[object]:
    return [activities.put_plan_schedule, activities.delete_plan_schedule]


async def _require_head(store: EventStore) -> None:
    """A worker on a database below the migration head would write what the schema cannot
    hold: refuse to start, naming the fix."""
    from store.queries import migration_revision
    from store.revisions import head as migration_head

    revision, head = await migration_revision(store.pool), migration_head()
    if revision != head:
        await store.close()
        raise ConfigError(
            f"the database is at migration {revision or 'none'}, this worker needs "
            f"{head}: run `demandflow migrate` first"
        )


def _warn_unconfirmed_calendar(policy_file: Path) -> None:
    """Deadlines set now can reach next year: say so when its holidays are not confirmed."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from domain.calendar import unconfirmed_ahead
    from domain.policy import load_policy

    year = datetime.now(ZoneInfo("Asia/Shanghai")).year
    for problem in unconfirmed_ahead(year, load_policy(policy_file.read_bytes()).calendar):
        log.warning(
            "deadlines in a year without a confirmed holiday schedule",
            year=problem,
            fix="enter the State Council's notice under calendar.years in the policy",
        )


async def run_worker(settings: Settings, converter: DataConverter | None = None) -> None:
    """`converter`: the settings' encrypting converter unless given (the bench's codec-off
    worker, bench/plain_worker.py, passes the plain one)."""
    if settings.temporal_address is None or settings.database_url is None:
        raise ConfigError(
            "the worker needs TEMPORAL_ADDRESS and DATABASE_URL "
            "(`demandflow up` sets both for its children)"
        )
    host = settings.metrics_host
    if settings.metrics_port is not None:
        ensure_port_free(settings.metrics_port, "METRICS_PORT", host)
    runtime = (
        sdk_metrics_runtime(host, settings.temporal_metrics_port)
        if settings.temporal_metrics_port is not None
        else None
    )
    traced = tracing.configure("demandflow-worker")
    client = await connect_temporal(
        settings.temporal_address,
        settings.temporal_namespace,
        converter or converter_from_settings(settings, worker=True),
        attempts=20,
        runtime=runtime,
        interceptors=tracing.temporal_interceptors() if traced else [],
    )
    store = await EventStore.open(settings.database_url, settings.database_app_role)
    await _require_head(store)
    if settings.metrics_port is not None:
        metrics.serve(host, settings.metrics_port)
    worker = build_worker(client, settings.temporal_task_queue, store, settings.policy_file)
    words("预热")  # load jieba's dictionary now, not inside the first workflow task
    _warn_unconfirmed_calendar(settings.policy_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    log.info(
        "worker started",
        task_queue=settings.temporal_task_queue,
        metrics_port=settings.metrics_port,
        temporal_metrics_port=settings.temporal_metrics_port,
        traces=traced,
    )
    async with worker:
        await stop.wait()
        log.info("worker stopping: finishing the tasks in flight")
    await store.close()
    log.info("worker stopped")

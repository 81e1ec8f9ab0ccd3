"""Needs to submit and the staff actions that carry them to closed; shared by the benchmarks
and the fault tests. Residents' street-lamp reports (rule `street-lamp`: daily life, grid tier,
routed to the grid of the location) at distinct buildings, so none is merged as a repeat.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError

from domain.commands import Accept, Complete, Evaluate, NoteProgress, Submission
from domain.model import (
    Actor,
    Channel,
    Location,
    Rating,
    Requester,
    RequesterKind,
    Role,
    ServiceMode,
    Stage,
)
from workflows import client as needs
from workflows.messages import Snapshot

INTEGRATOR = Actor(id="integrator-bench", role=Role.INTEGRATOR)
GRID = "grid-dongting-1"


def staff(unit: str) -> Actor:
    return Actor(id=f"staff-{unit}", role=Role.STAFF, unit=unit)


def requester_actor(requester_id: str) -> Actor:
    return Actor(id=requester_id, role=Role.REQUESTER)


def lamp_need(
    tag: str,
    i: int,
    *,
    name: str = "王小明",
    phone: str = "13812345678",
    address: str = "洞庭街 7 号",
    title: str = "路灯坏了，晚上很黑",
    external_id: str | None = None,
) -> Submission:
    """A need that the rules classify and route to grid-dongting-1 without a dispatcher."""
    return Submission(
        channel=Channel.APP,
        external_id=external_id or f"ext-{tag}-{i}-{uuid.uuid4().hex[:8]}",
        title=title,
        requester=Requester(
            requester_id=f"res-{tag}-{i}", kind=RequesterKind.RESIDENT, name=name, phone=phone
        ),
        location=Location(
            street="street-hanzheng",
            community="community-dongting",
            grid=GRID,
            building=f"b-{tag}-{i}",
            address=address,
        ),
    )


async def submit(client: Client, submission: Submission, task_queue: str) -> str:
    return await needs.submit_need(client, submission, INTEGRATOR, task_queue=task_queue)


async def summary_row(pool: asyncpg.Pool, need_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT stage, assigned_unit, last_version, requester_id FROM need_summary "
        "WHERE stream_id = $1",
        need_id,
    )


async def wait_projected(
    pool: asyncpg.Pool, need_id: str, stage: str, *, timeout: float = 120, tick: float = 0.02
) -> asyncpg.Record:
    """Poll the projection (not Temporal) until the need reaches `stage`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        row = await summary_row(pool, need_id)
        if row is not None and row["stage"] == stage:
            return row
        if loop.time() > deadline:
            raise TimeoutError(f"{need_id} not at {stage} (last: {dict(row) if row else None})")
        await asyncio.sleep(tick)


async def happy_lifecycle(
    client: Client, pool: asyncpg.Pool, need_id: str, requester_id: str, *, notes: int = 0
) -> None:
    """accept → (notes) → complete → evaluate: the need closes, resolved and satisfied."""
    row = await wait_projected(pool, need_id, Stage.ASSIGNMENT.value)
    unit = staff(row["assigned_unit"])
    await needs.act(client, need_id, unit, Accept())
    for k in range(notes):
        await needs.act(client, need_id, unit, NoteProgress(note=f"progress {k}"))
    await needs.act(
        client,
        need_id,
        unit,
        Complete(result_summary="lamp replaced", service_mode=ServiceMode.ON_SITE),
    )
    await needs.act(
        client,
        need_id,
        requester_actor(requester_id),
        Evaluate(reviewer_id=requester_id, rating=Rating.SATISFIED),
    )


class StreamDiverged(AssertionError):
    """The workflow's state is behind its stored stream (a VersionConflict on its own append)."""


async def drive_to_closed(
    client: Client, need_id: str, *, timeout: float = 150, act_timeout: float = 15
) -> Snapshot:
    """Carry a need to closed whatever happens meanwhile (timers firing, servers restarting):
    read the snapshot, send the action its stage needs as whoever holds it now, repeat.
    Refused actions (a timer moved the need first) and unreachable servers are retried."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: object = None
    while loop.time() < deadline:
        try:
            snap = await asyncio.wait_for(needs.snapshot(client, need_id), act_timeout)
        except (RPCError, TimeoutError, RuntimeError, WorkflowQueryFailedError) as exc:
            last = exc
            finished = await _final(client, need_id, act_timeout)
            if finished is not None:
                return finished
            await asyncio.sleep(0.3)
            continue
        s = snap.state
        if s.stage == Stage.CLOSED:
            return snap
        action = None
        if s.stage in (Stage.ASSIGNMENT,) and s.assigned_unit:
            action = (staff(s.assigned_unit), Accept())
        elif s.stage == Stage.HANDLING and s.assigned_unit and s.pending_information is None:
            action = (
                staff(s.assigned_unit),
                Complete(result_summary="done", service_mode=ServiceMode.ON_SITE),
            )
        elif s.stage == Stage.EVALUATION:
            pending = [
                r
                for r in s.reviewers
                if r.reviewer_id not in s.ratings and r.reviewer_id not in s.no_response
            ]
            if pending:
                rid = pending[0].reviewer_id
                action = (requester_actor(rid), Evaluate(reviewer_id=rid, rating=Rating.SATISFIED))
        if action is None:
            last = (
                f"waiting at {s.stage} unit={s.assigned_unit} "
                f"dispatcher={s.awaiting_dispatcher} info={s.pending_information} "
                f"timeline={[e.type for e in snap.timeline]}"
            )
            await asyncio.sleep(0.2)
            continue
        try:
            await asyncio.wait_for(needs.act(client, need_id, *action), act_timeout)
        except WorkflowUpdateFailedError as exc:
            cause = getattr(exc.cause, "type", None)
            if cause == "VersionConflict":
                # The workflow serialises its own appends: a conflict means its state and the
                # stored stream have diverged, and it will not heal by retrying.
                raise StreamDiverged(f"{need_id}: {exc.cause}") from exc
            last = exc  # refused: the need moved on (timer) — look again
        except (
            RPCError,
            TimeoutError,
            RuntimeError,
            WorkflowUpdateRPCTimeoutOrCancelledError,
        ) as exc:
            last = exc  # server or worker away: the update may or may not land; look again
            await asyncio.sleep(0.3)
    raise TimeoutError(f"{need_id} did not close in {timeout} s; last problem: {last!r}")


async def _final(client: Client, need_id: str, timeout: float) -> Snapshot | None:
    """The workflow's result if it has finished (a closed need's last answer), else None."""
    handle = needs.need_handle(client, need_id)
    try:
        info = await asyncio.wait_for(handle.describe(), timeout)
    except (RPCError, TimeoutError, RuntimeError):
        return None
    if info.status is None or info.status == WorkflowExecutionStatus.RUNNING:
        return None
    if info.status != WorkflowExecutionStatus.COMPLETED:
        raise StreamDiverged(f"{need_id}: the workflow ended {info.status.name}, not closed")
    return await asyncio.wait_for(handle.result(), timeout)

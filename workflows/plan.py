"""PlanWorkflow: one durable workflow per service plan (定期服务, domain/plans.py), and
PlanTickWorkflow, what the plan's Temporal Schedule starts each time it fires.

The plan's workflow is the only writer of the plan's stream: it records the plan's creation,
pauses, resumptions, changes and end (updates from the API), and each occurrence. A tick
tells it the moment the schedule fired (a signal); the pure `decide_plan` says whether that
is an occurrence (a need of its own, started as a child workflow that outlives the plan), a
skipped one (paused; a non-working day when the plan says so) or nothing (a Tuesday that is
not the month's last). The schedule mirrors the plan (paused with it, changed with it,
deleted at its end) so the Web UI and `temporal schedule` show it as it is; the plan's own
state decides, so a tick that arrives while paused is skipped either way.
"""

from __future__ import annotations

import asyncio
import contextlib

from temporalio import workflow
from temporalio.common import SearchAttributeKey, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from domain.commands import need_id_for
    from domain.errors import DomainError
    from domain.events import EventEnvelope
    from domain.model import SYSTEM_ACTOR, Actor
    from domain.plans import (
        PLAN_EVENT_ADAPTER,
        CreatePlan,
        OccurrenceStarted,
        PlanCommand,
        PlanEvent,
        PlanState,
        PlanStatus,
        Tick,
        decide_plan,
        evolve_plan,
        occurrence_submission,
        recurrence_words,
    )
    from workflows import sidestream
    from workflows.messages import (
        START_GENERATION,
        NeedStart,
        PlanAction,
        PlanScheduleRequest,
        PlanSnapshot,
        PlanStart,
    )
    from workflows.need import NeedWorkflow

SCHEDULED_AT = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
CONTINUE_AFTER_EVENTS = 2_000  # each tick costs a handful of history events
# Occurrences started before this patch carried no serving unit: the rules routed them.
SERVED_PATCH = "occurrence-served-by-the-plans-unit"


@workflow.defn
class PlanWorkflow:
    @workflow.init
    def __init__(self, start: PlanStart) -> None:
        self._id = workflow.info().workflow_id
        self._start = start
        self._state = start.carried or PlanState()
        self._ticks: list[Tick] = []
        self._lock = asyncio.Lock()

    @workflow.run
    async def run(self, start: PlanStart) -> PlanSnapshot:
        if start.carried is None:
            async with self._lock:
                await self._apply(CreatePlan(spec=start.spec), start.actor)
                await self._mirror()
        while not self._ended():
            long = workflow.info().get_current_history_length() > CONTINUE_AFTER_EVENTS
            if long and not self._ticks:  # never with a tick still to decide
                await workflow.wait_condition(workflow.all_handlers_finished)
                # a plan lives for years: its state goes on in a fresh run (same id)
                workflow.continue_as_new(start.model_copy(update={"carried": self._state}))
            await workflow.wait_condition(lambda: bool(self._ticks) or self._ended())
            while self._ticks and not self._ended():
                tick = self._ticks.pop(0)
                async with self._lock:
                    await self._apply(tick, SYSTEM_ACTOR)
        await workflow.execute_local_activity(
            "delete_plan_schedule", self._id, start_to_close_timeout=sidestream.ACTIVITY_TIMEOUT
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.snapshot()

    def _ended(self) -> bool:
        return self._state.status == PlanStatus.ENDED

    @workflow.signal
    def tick(self, tick: Tick) -> None:
        self._ticks.append(tick)

    @workflow.update
    async def act(self, action: PlanAction) -> PlanSnapshot:
        """Pause, resume, change or end (a supervisor, or the serving unit's staff)."""
        async with self._lock:
            stored = await self._apply(action.command, action.actor)
            if stored and not self._ended():
                await self._mirror()
        return self.snapshot()

    @act.validator
    def _validate(self, action: PlanAction) -> None:
        if self._state.status is None:
            raise ApplicationError(
                "the plan is still being set up; retry in a moment",
                {"code": "not_ready", "field": None},
                type="NotReady",
            )
        self._decide(action.command, action.actor)

    @workflow.query
    def snapshot(self) -> PlanSnapshot:
        return PlanSnapshot(plan_id=self._id, state=self._state)

    def _need_id(self, command: PlanCommand) -> str:
        if not isinstance(command, Tick) or self._state.spec is None:
            return ""
        sub = occurrence_submission(self._id, self._state.spec, command.scheduled_at)
        return need_id_for(sub.channel, sub.external_id, self._start.actor.id)

    def _decide(self, command: PlanCommand, actor: Actor) -> list[PlanEvent]:
        try:
            return decide_plan(
                self._state,
                command,
                actor,
                plan=self._id,
                need_id=self._need_id(command),
                calendar=self._start.calendar,
            )
        except DomainError as exc:
            raise ApplicationError(
                exc.message,
                {"code": exc.code, "field": exc.field},
                type=type(exc).__name__,
                non_retryable=True,
            ) from None

    async def _apply(self, command: PlanCommand, actor: Actor) -> list[PlanEvent]:
        events = self._decide(command, actor)
        if not events:
            return []
        sent = sidestream.envelopes_for(self._id, self._state.version, list(events), actor)
        adopted = await sidestream.store("append_plan_events", self._id, self._state.version, sent)
        await self._record(adopted or sent)
        if adopted is not None and not sidestream.answers(adopted, sent):
            return await self._apply(command, actor)  # decided again on the caught-up state
        return events

    async def _record(self, stored: list[EventEnvelope]) -> None:
        for envelope in stored:
            event = PLAN_EVENT_ADAPTER.validate_python(envelope.payload | {"type": envelope.type})
            self._state = evolve_plan(self._state, event)
            if isinstance(event, OccurrenceStarted):
                await self._start_occurrence(event)  # again, if adopted: the same child

    async def _start_occurrence(self, event: OccurrenceStarted) -> None:
        spec = self._state.spec
        assert spec is not None
        submission = occurrence_submission(self._id, spec, event.scheduled_at)
        with contextlib.suppress(WorkflowAlreadyStartedError):  # started already: the same need
            await workflow.start_child_workflow(
                NeedWorkflow.run,
                NeedStart(
                    submission=submission,
                    actor=self._start.actor,
                    started_by=START_GENERATION,
                    occurrence_of=self._id,
                    # runs recorded before this patch started occurrences the rules routed
                    serving_unit=spec.unit if workflow.patched(SERVED_PATCH) else None,
                ),
                id=event.need_id,
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )

    async def _mirror(self) -> None:
        assert self._state.spec is not None
        await workflow.execute_local_activity(
            "put_plan_schedule",
            PlanScheduleRequest(
                plan_id=self._id,
                recurrence=self._state.spec.recurrence,
                paused=self._state.status == PlanStatus.PAUSED,
                note=recurrence_words(self._state.spec.recurrence),  # no title: not encrypted
            ),
            start_to_close_timeout=sidestream.ACTIVITY_TIMEOUT,
        )


@workflow.defn
class PlanTickWorkflow:
    """Started by the plan's schedule: tells the plan when it fired, and ends."""

    @workflow.run
    async def run(self, plan_id: str) -> None:
        scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_AT) or workflow.now()
        try:
            await workflow.get_external_workflow_handle(plan_id).signal(
                PlanWorkflow.tick, Tick(scheduled_at=scheduled)
            )
        except ApplicationError:
            workflow.logger.info("the plan has ended: nothing to do")

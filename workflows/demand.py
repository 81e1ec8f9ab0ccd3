"""DemandWorkflow: one durable workflow per need, from submission to closing.

The loop is decide → append → evolve. The pure decider (domain/) says what happened; the
append activity stores it (the event store is the audit trail); the state then moves by
folding the events *as stored*, so a replay rebuilds exactly the recorded state even if a
later release of the rules would decide differently. Timers come from the state itself:
`next_deadline` names the next moment something is due, and the loop sleeps until then.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain import commands as cmd
    from domain.decider import DecisionContext, decide
    from domain.errors import DomainError
    from domain.events import EventEnvelope
    from domain.model import SYSTEM_ACTOR, Actor
    from domain.policy import Policy
    from domain.state import DemandState, evolve, next_deadline
    from workflows import search_attributes as sa
    from workflows.messages import (
        Action,
        ActionResult,
        Carried,
        DemandStart,
        DuplicateAnswer,
        DuplicateQuery,
        LinkedReport,
        LoadedPolicy,
        PolicyRequest,
        Snapshot,
        TimelineEntry,
    )
    from activities.store import AppendRequest, AppendResult

# Continue-as-new well before Temporal's history limits; a need rarely gets near this.
HISTORY_EVENTS_BEFORE_CONTINUE = 2_000
APPEND_TIMEOUT = timedelta(seconds=30)
# Retries are safe: the append is idempotent on event ids (a retried write stores nothing twice).
APPEND_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10),
                           non_retryable_error_types=["VersionConflict", "InvalidEvent"])


@workflow.defn
class DemandWorkflow:
    @workflow.init
    def __init__(self, start: DemandStart) -> None:
        self._id = workflow.info().workflow_id
        self._lock = asyncio.Lock()  # one decide→append→evolve at a time
        self._policy: Policy | None = None
        self._reports: list[LinkedReport] = []
        carried = start.carried
        self._state = carried.state if carried else DemandState()
        self._version = carried.version if carried else 0
        self._timeline = list(carried.timeline) if carried else []
        self._seen = set(carried.seen_submissions) if carried else set()

    @workflow.run
    async def run(self, start: DemandStart) -> Snapshot:
        self._policy = await self._load_policy()
        if start.carried is None:
            await self._intake(start.submission, start.actor)
        while not self._state.closed:
            if workflow.info().get_current_history_length() > HISTORY_EVENTS_BEFORE_CONTINUE:
                await self._continue_as_new(start)
            await self._sleep_until_something_happens()
            await self._process_reports()
            await self._fire_due_timer()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.snapshot()

    # --- messages ---------------------------------------------------------------------------

    @workflow.signal
    def report(self, report: LinkedReport) -> None:
        """A repeated report (or a resent submission) for this need."""
        self._reports.append(report)

    @workflow.update
    async def act(self, action: Action) -> ActionResult:
        async with self._lock:
            stored = await self._apply(action.command, action.actor)
        return ActionResult(version=self._version, stage=self._state.stage.value,
                            events=[e.type for e in stored])

    @act.validator
    def _validate_act(self, action: Action) -> None:
        # Reject before anything is written: a refused action leaves no trace in the history.
        self._decide(action.command, action.actor)

    @workflow.query
    def snapshot(self) -> Snapshot:
        return Snapshot(demand_id=self._id, version=self._version, state=self._state,
                        timeline=self._timeline,
                        policy_version=self._policy.version if self._policy else "")

    # --- the loop ---------------------------------------------------------------------------

    async def _intake(self, submission: cmd.Submission, actor: Actor) -> None:
        self._seen.add(submission.external_id)
        async with self._lock:
            await self._apply(cmd.Submit(submission=submission), actor)
            await self._link_if_repeated(submission, actor)

    async def _link_if_repeated(self, submission: cmd.Submission, actor: Actor) -> None:
        """A report of a need that is already open joins it instead of a second handling."""
        assert self._policy is not None
        query = self._state.duplicate_query(self._id, workflow.now(), self._policy)
        if query is None:
            return
        answer: DuplicateAnswer = await workflow.execute_local_activity(
            "find_open_duplicate", DuplicateQuery(**query), result_type=DuplicateAnswer,
            start_to_close_timeout=timedelta(seconds=10),
        )
        if answer.primary_stream_id is None:
            await self._apply(cmd.Route(), SYSTEM_ACTOR)
            return
        primary = answer.primary_stream_id
        await self._apply(cmd.MergeInto(primary_stream_id=primary), SYSTEM_ACTOR)
        # The primary records the link and will ask this requester to evaluate too.
        await workflow.get_external_workflow_handle(primary).signal(
            DemandWorkflow.report, LinkedReport(stream_id=self._id, submission=submission, actor=actor)
        )

    async def _sleep_until_something_happens(self) -> None:
        version = self._version
        due = next_deadline(self._state)
        timeout = None
        if due is not None:
            timeout = max((due[0] - workflow.now()).total_seconds(), 0.0)
        try:
            await workflow.wait_condition(
                lambda: bool(self._reports) or self._version != version, timeout=timeout
            )
        except asyncio.TimeoutError:
            pass

    async def _fire_due_timer(self) -> None:
        # Recomputed after waking: an action may have moved the deadline meanwhile.
        due = next_deadline(self._state)
        if due is None or due[0] > workflow.now():
            return
        async with self._lock:
            await self._apply(due[1], SYSTEM_ACTOR)

    async def _process_reports(self) -> None:
        while self._reports:
            report = self._reports.pop(0)
            if report.stream_id == self._id and report.submission.external_id in self._seen:
                continue  # the same submission sent again: already handled
            self._seen.add(report.submission.external_id)
            async with self._lock:
                try:
                    await self._apply(cmd.LinkReport(stream_id=report.stream_id,
                                                     submission=report.submission), report.actor)
                except ApplicationError as exc:
                    workflow.logger.warning("linked report refused", extra={"reason": exc.message})

    # --- decide → append → evolve -----------------------------------------------------------

    def _decide(self, command: object, actor: Actor) -> list:  # type: ignore[type-arg]
        assert self._policy is not None
        ctx = DecisionContext(now=workflow.now(), actor=actor, policy=self._policy)
        try:
            return decide(self._state, command, ctx)
        except DomainError as exc:
            raise ApplicationError(exc.message, {"code": exc.code, "field": exc.field},
                                   type=type(exc).__name__, non_retryable=True) from None

    async def _apply(self, command: object, actor: Actor) -> list[EventEnvelope]:
        events = self._decide(command, actor)
        if not events:
            return []
        now = workflow.now()
        envelopes = [
            EventEnvelope.wrap(e, event_id=str(workflow.uuid4()), stream_id=self._id,
                               version=self._version + i + 1, actor=actor, occurred_at=now)
            for i, e in enumerate(events)
        ]
        result: AppendResult = await workflow.execute_local_activity(
            "append_events",
            AppendRequest(stream_id=self._id, expected_version=self._version, events=envelopes),
            result_type=AppendResult, start_to_close_timeout=APPEND_TIMEOUT, retry_policy=APPEND_RETRY,
        )
        for stored in envelopes:
            self._record(stored)
        self._upsert_search_attributes()
        return envelopes

    def _record(self, stored: EventEnvelope) -> None:
        self._state = evolve(self._state, stored.event())
        self._version = stored.version
        self._timeline.append(TimelineEntry(
            version=stored.version, type=stored.type, occurred_at=stored.occurred_at,
            actor_role=stored.actor.role.value, actor_unit=stored.actor.unit,
        ))

    def _upsert_search_attributes(self) -> None:
        s = self._state
        updates = [sa.STAGE.value_set(s.stage.value), sa.OVERDUE.value_set(s.overdue)]
        if s.category is not None:
            updates.append(sa.CATEGORY.value_set(s.category.value))
        if s.tier is not None:
            updates.append(sa.TIER.value_set(s.tier.value))
        if s.assigned_unit is not None:
            updates.append(sa.UNIT.value_set(s.assigned_unit))
        if s.due_at is not None:
            updates.append(sa.DUE_AT.value_set(s.due_at))
        workflow.upsert_search_attributes(updates)

    async def _load_policy(self) -> Policy:
        loaded: LoadedPolicy = await workflow.execute_local_activity(
            "load_policy", PolicyRequest(), result_type=LoadedPolicy,
            start_to_close_timeout=timedelta(seconds=10),
        )
        return loaded.policy

    async def _continue_as_new(self, start: DemandStart) -> None:
        await workflow.wait_condition(workflow.all_handlers_finished)
        carried = Carried(state=self._state, version=self._version, timeline=self._timeline,
                          seen_submissions=sorted(self._seen))
        workflow.continue_as_new(DemandStart(submission=start.submission, actor=start.actor,
                                             carried=carried))

"""What a need's workflow does, as a plain class that NeedWorkflow (workflows/need.py)
hands every message to.

The loop is decide → append → evolve. The pure decider (domain/) says what happened; the
append activity stores it in the event store (the audit trail); only then does the state
move. Timers come from the state itself: `next_deadline` names the next moment something is
due and the command to send then, and the loop sleeps until that moment or until an action
changes the state.

Why a separate module: the sandbox loads the workflow's own module afresh for every workflow
run, code objects included (~50 KB and an unmarshal per run for this logic). This module is
passed through instead, so every cached run shares one copy. The price is that the sandbox's
import-time checks do not look inside: only `temporalio.workflow` APIs may bring time,
randomness or I/O here, and the recorded histories in tests/replay/ must keep replaying
(under the sandboxed Replayer; the worker itself runs without the sandbox, see
workers/worker.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta, timezone
from typing import Any, cast

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate, WorkflowIDReusePolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    FailureError,
    WorkflowAlreadyStartedError,
)
from temporalio.workflow import ParentClosePolicy

from domain import commands as cmd
from domain import events as ev
from domain.collection import OpenNeedSummary, matches
from domain.context import DecisionContext
from domain.decider import decide_split
from domain.errors import DomainError
from domain.events import AppendResult
from domain.model import SYSTEM_ACTOR, Actor, Stage
from domain.policy import Policy, shared
from domain.repeats import split_id
from domain.state import NeedState, evolve, next_deadline
from workflows import search_attributes as sa
from workflows.messages import (
    START_GENERATION,
    Action,
    ActionResult,
    AppendRequest,
    Carried,
    DuplicateAnswer,
    DuplicateQuery,
    IntakeContext,
    IntakeRequest,
    LinkedReport,
    LoadedPolicy,
    NeedStart,
    PolicyRequest,
    ReadStreamRequest,
    ReadStreamResult,
    Snapshot,
    TimelineEntry,
)

ACTIVITY_TIMEOUT = timedelta(seconds=30)
# Retrying an append is safe: it is idempotent on event ids, which a retry keeps.
APPEND_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=["VersionConflict", "InvalidEvent"],
)
# Runs started before this patch load the policy and query duplicates in two local activities.
ID_PATCH = "need-id-names-its-content"
SHANGHAI = timezone(timedelta(hours=8))
INTAKE_PATCH = "intake-in-one-activity"
# A stored batch answers a command only if its actors match too (before: its types alone).
CATCH_UP_PATCH = "catch-up-compares-actors"
# A split need's DemandSplit names the supervisor who split it and why (2026-12-07).
SPLIT_BY_PATCH = "split-names-its-supervisor"


def ids_for(start: NeedStart) -> set[str]:
    """The ids a start may run under: named after its submitter (today), without it (needs
    started before 2026-12), or, for a merged report split back out, after the merged stream."""
    submission = start.submission
    ids = {
        cmd.need_id_for(submission.channel, submission.external_id, start.actor.id),
        cmd.need_id_for(submission.channel, submission.external_id),
    }
    if start.split_from is not None:
        ids.add(split_id(start.split_from.merged_stream_id))
    return ids


class NeedLifecycle:
    """One need's state and loop; every method runs inside its workflow's context."""

    def __init__(self, start: NeedStart) -> None:
        self._id = workflow.info().workflow_id
        self._submission = start.submission
        self._lock = asyncio.Lock()  # one decide→append→evolve at a time
        self._reports: list[LinkedReport] = []
        carried = start.carried
        self._policy: Policy | None = shared(carried.policy) if carried else None
        self._state = carried.state if carried else NeedState()
        if carried is not None and carried.overdue and not self._state.overdue:
            # carried by a run from before the state held it
            self._state = self._state.model_copy(update={"overdue": True})
        self._timeline = list(carried.timeline) if carried else []

    async def run(self, start: NeedStart) -> Snapshot:
        if start.carried is None:
            await self._intake(start)
        while self._state.stage != Stage.CLOSED:
            # Well before Temporal's history limits; a need rarely gets near this.
            if workflow.info().get_current_history_length() > start.continue_after_events:
                await self._continue_as_new(start)
            await self._sleep_until_something_happens()
            await self._process_reports()
            await self._fire_due_timer()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.snapshot()

    # --- messages ---------------------------------------------------------------------------

    def report(self, report: LinkedReport) -> None:
        """A repeated report of this need, or the same submission sent again."""
        self._reports.append(report)

    async def act(self, action: Action) -> ActionResult:
        """A staff, supervisor or reviewer action; the answer says what it recorded."""
        async with self._lock:
            await self._tell_before_linking(action)
            stored = await self._apply(action.command, action.actor)
        unlinked = next((e for e in stored if e.type == "ReportUnlinked"), None)
        if unlinked is not None:  # a supervisor split a merged report back out
            # event() parses the payload by the envelope's type: a ReportUnlinked here
            await self._start_split(cast(ev.ReportUnlinked, unlinked.event()), action.actor)
        return ActionResult(
            version=self._state.version, stage=self._stage_name(), events=[e.type for e in stored]
        )

    def validate(self, action: Action) -> None:
        # Refuse before anything is written: a refused action leaves no trace.
        if self._state.stage is None:  # the first run task has not recorded the submission yet
            raise ApplicationError(
                "the need is still being registered; retry in a moment",
                {"code": "not_ready", "field": None},
                type="NotReady",
            )
        self._decide(action.command, action.actor)

    def snapshot(self) -> Snapshot:
        return Snapshot(
            demand_id=self._id,
            version=self._state.version,
            state=self._state,
            timeline=self._timeline,
            overdue=self._state.overdue,
            policy_version=self._policy.version if self._policy else "",
        )

    # --- the loop ---------------------------------------------------------------------------

    async def _intake(self, start: NeedStart) -> None:
        submission, actor = start.submission, start.actor
        # A need's id names its content (channel, submitter, external id): a start under any
        # other id is refused before anything is written (runs started before this check
        # replay without it).
        if workflow.patched(ID_PATCH) and self._id not in ids_for(start):
            raise ApplicationError(
                "the workflow id does not name this submission (channel, submitter, external id)",
                type="IdMismatch",
                non_retryable=True,
            )
        async with self._lock:
            # A patch costs every run that asks a marker and a TemporalChangeVersion upsert:
            # runs started by today's client skip it (their start input says so, and replays
            # read the same input).
            verdict = None
            if start.split_from is not None or start.occurrence_of is not None:
                # a merged report split back out, or a plan's occurrence: never a repeat
                primary, verdict = await self._prepare_intake(submission, judge=False)
            elif start.started_by >= 1 or workflow.patched(INTAKE_PATCH):
                primary, verdict = await self._prepare_intake(submission)
            else:  # runs started before the patch: the policy, then the duplicate query
                self._policy = await self._load_policy()
                primary = await self._open_need_repeated_by(submission)
            if verdict is not None and primary is not None:
                # A sure repeat tells its need first: if that need closed meanwhile, the
                # report goes on as a need of its own instead of closing into nothing.
                if not await self._tell_primary(primary, actor):
                    primary, verdict = None, cmd.RepeatVerdict()
                await self._apply(cmd.Submit(submission=submission, repeat=verdict), actor)
                return
            await self._apply(
                cmd.Submit(
                    submission=submission,
                    duplicate_of=primary,
                    repeat=verdict,
                    split=start.split_from,
                    route_to=start.serving_unit,
                ),
                actor,
            )
        if primary is not None:  # the older rule: merged first, then the need is told
            await self._tell_primary(primary, actor)

    async def _tell_before_linking(self, action: Action) -> None:
        """A dispatcher's link merges this need into the other: that need is told first, and
        if it has closed meanwhile the link is refused (nothing written)."""
        command, other = action.command, self._state.possible_repeat_of
        if not isinstance(command, cmd.ResolvePossibleRepeat) or command.decision != "link":
            return
        if other is not None and not await self._tell_primary(other, action.actor):
            raise ApplicationError(
                "the need it may repeat has closed: dismiss the doubt instead",
                {"code": "wrong_stage", "field": "decision"},
                type="WrongStage",
                non_retryable=True,
            )

    async def _start_split(self, unlinked: ev.ReportUnlinked, by: Actor) -> None:
        """Start the split report as a need of its own, from its stored submission, as its
        original submitter (a child that outlives this need), naming the supervisor who split
        it and why. Once only: its id is fixed."""
        read = await workflow.execute_local_activity(
            "read_stream",
            ReadStreamRequest(stream_id=unlinked.linked_stream_id, from_version=1),
            result_type=ReadStreamResult,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        first = read.events[0] if read.events else None
        submitted = first.event() if first else None
        if first is None or not isinstance(submitted, ev.DemandSubmitted):
            workflow.logger.warning("the split report's submission was not found")
            return
        origin = cmd.SplitOrigin(
            merged_stream_id=unlinked.linked_stream_id,
            primary_stream_id=self._id,
            submitted_at=first.occurred_at,
        )
        if workflow.patched(SPLIT_BY_PATCH):  # splits before the patch name neither
            origin = origin.model_copy(update={"split_by": by.id, "reason": unlinked.reason})
        submission = cmd.Submission(
            **submitted.model_dump(include=set(cmd.Submission.model_fields))
        )
        try:
            await workflow.start_child_workflow(
                "DemandWorkflow",
                NeedStart(
                    submission=submission,
                    actor=first.actor,
                    split_from=origin,
                    started_by=START_GENERATION,
                ),
                id=unlinked.split_stream_id,
                task_queue=workflow.info().task_queue,
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info("the split need exists already")

    async def _tell_primary(self, primary: str, actor: Actor) -> bool:
        """The open need records the link and will ask this requester to evaluate too.
        False when it cannot be told (it has closed)."""
        try:
            await workflow.get_external_workflow_handle(primary).signal(
                "report",
                LinkedReport(stream_id=self._id, submission=self._submission, actor=actor),
            )
        except FailureError as exc:
            workflow.logger.warning("the repeated need could not be told: %s", exc.message)
            return False
        return True

    async def _prepare_intake(
        self, submission: cmd.Submission, *, judge: bool = True
    ) -> tuple[str | None, cmd.RepeatVerdict | None]:
        """The policy in force and the open need this submission repeats, if any, in one
        local activity: the repeat rules' verdict (reached under the intake lock), or, for
        older policies, the candidates that the pure rules match here."""
        context = await workflow.execute_local_activity(
            "prepare_intake",
            IntakeRequest(
                stream_id=self._id, submission=submission, now=workflow.now(), judge=judge
            ),
            result_type=IntakeContext,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        self._policy = shared(context.policy)
        verdict = context.verdict
        if verdict is not None:
            return (verdict.of_stream_id if verdict.kind == "merge" else None), verdict
        return _first_match(context.candidates, submission, self._policy, workflow.now()), None

    async def _open_need_repeated_by(self, submission: cmd.Submission) -> str | None:
        """Same category (as the rules classify it), same place, within the window."""
        policy = self._require_policy()
        now = workflow.now()
        query = DuplicateQuery.for_submission(self._id, submission, policy, now)
        if query is None:
            return None
        answer = await workflow.execute_local_activity(
            "find_open_duplicate",
            query,
            result_type=DuplicateAnswer,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        return _first_match(answer.candidates, submission, policy, now)

    async def _sleep_until_something_happens(self) -> None:
        if self._reports:
            return  # work is waiting: start no timer that would be cancelled at once
        version = self._state.version
        due = next_deadline(self._state)
        timeout = None if due is None else max((due[0] - workflow.now()).total_seconds(), 0.0)
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: bool(self._reports) or self._state.version != version, timeout=timeout
            )

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
            if report.stream_id == self._id:
                continue  # the need's own submission, sent again: already handled
            if report.stream_id in self._state.linked_reports:
                continue  # a repeated signal of a link already recorded
            command = cmd.LinkReport(
                linked_stream_id=report.stream_id,
                channel=report.submission.channel,
                requester=report.submission.requester,
            )
            async with self._lock:
                try:
                    await self._apply(command, report.actor)
                except ApplicationError as exc:
                    workflow.logger.warning("linked report refused: %s", exc.message)

    # --- decide → append → evolve -----------------------------------------------------------

    def _decide(
        self, command: cmd.Command, actor: Actor
    ) -> tuple[list[ev.DomainEvent], list[ev.DomainEvent]]:
        """The command's own events and the automatic follow-ups, or a clear refusal."""
        ctx = DecisionContext(now=workflow.now(), actor=actor, policy=self._require_policy())
        try:
            return decide_split(self._state, command, ctx)
        except DomainError as exc:
            raise ApplicationError(
                exc.message,
                {"code": exc.code, "field": exc.field},
                type=type(exc).__name__,
                non_retryable=True,
            ) from None

    async def _apply(self, command: cmd.Command, actor: Actor) -> list[ev.EventEnvelope]:
        own, automatic = self._decide(command, actor)
        events = own + automatic
        if not events:
            return []
        now, base = workflow.now(), self._state.version
        actors = [actor] * len(own) + [SYSTEM_ACTOR] * len(automatic)
        # Ids are named after the version (they came from workflow.uuid4() before): no patch
        # is needed, as the commands stay the same and the state keeps no event ids.
        envelopes = [
            ev.EventEnvelope.wrap(
                e,
                event_id=ev.EventEnvelope.id_for(self._id, base + i + 1),
                stream_id=self._id,
                version=base + i + 1,
                actor=who,
                occurred_at=now,
            )
            for i, (e, who) in enumerate(zip(events, actors, strict=True))
        ]
        try:
            await workflow.execute_local_activity(
                "append_events",
                AppendRequest(stream_id=self._id, expected_version=base, events=envelopes),
                result_type=AppendResult,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=APPEND_RETRY,
            )
        except (ActivityError, ApplicationError) as err:
            if not _is_version_conflict(err):
                raise
            return await self._catch_up(command, actor, envelopes, err)
        for envelope, event in zip(envelopes, events, strict=True):
            self._record(envelope, event)
        self._upsert_search_attributes()
        return envelopes

    async def _catch_up(
        self,
        command: cmd.Command,
        actor: Actor,
        envelopes: list[ev.EventEnvelope],
        err: Exception,
    ) -> list[ev.EventEnvelope]:
        """The stream is ahead of this workflow's state.

        Only this workflow writes its stream, so what is stored beyond our version was written
        by an earlier attempt of one of our own workflow tasks: a local activity runs again
        when its task is retried (a worker killed after the append committed, a server
        restart), and the retry may carry another time or, when the server lost the task,
        another command. The stored events are the truth: adopt them all. If they are this
        command's batch (same types, same actors), that is its answer; otherwise the command
        is decided again on the caught-up state (its events then take the versions, and so
        the ids, after them). Payloads are not compared: a retry decides at another time, so
        its deadlines differ. One person's two actions of the same type, the first lost with
        the server, are therefore answered by the first.
        """
        read: ReadStreamResult = await workflow.execute_local_activity(
            "read_stream",
            ReadStreamRequest(stream_id=self._id, from_version=self._state.version + 1),
            result_type=ReadStreamResult,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        if not read.events:
            raise err
        for stored in read.events:
            self._record(stored, stored.event())
        self._upsert_search_attributes()
        workflow.logger.info(
            "adopted %d events stored by an earlier task attempt", len(read.events)
        )
        if _same_batch(
            read.events[: len(envelopes)], envelopes, by_actor=workflow.patched(CATCH_UP_PATCH)
        ):
            return read.events
        return await self._apply(command, actor)

    def _record(self, stored: ev.EventEnvelope, event: ev.DomainEvent) -> None:
        self._state = evolve(self._state, event)
        self._timeline.append(
            TimelineEntry(
                version=stored.version,
                type=stored.type,
                occurred_at=stored.occurred_at,
                actor_role=stored.actor.role.value,
                actor_unit=stored.actor.unit,
            )
        )

    def _upsert_search_attributes(self) -> None:
        s = self._state
        updates: list[SearchAttributeUpdate[Any]] = [
            sa.STAGE.value_set(self._stage_name()),
            sa.OVERDUE.value_set(s.overdue),
        ]
        if s.channel is not None:
            updates.append(sa.CHANNEL.value_set(s.channel.value))
        if s.category is not None:
            updates.append(sa.CATEGORY.value_set(s.category.value))
        if s.tier is not None:
            updates.append(sa.TIER.value_set(s.tier.value))
        if s.assigned_unit is not None:
            updates.append(sa.UNIT.value_set(s.assigned_unit))
        due = s.due_at if s.stage == Stage.HANDLING else s.accept_due_at
        if due is not None:
            updates.append(sa.DUE_AT.value_set(due))
        workflow.upsert_search_attributes(updates)
        workflow.set_current_details(self._details(due))

    def _details(self, due: datetime | None) -> str:
        """What the Temporal Web UI shows as the need's current details: category, unit,
        stage, due time in Asia/Shanghai, overdue. No personal data (no text, no names).
        (Workflow metadata, not a command: replays are unaffected.)"""
        s = self._state
        parts = [
            s.category.value if s.category else "unclassified",
            s.assigned_unit or "no unit",
            self._stage_name(),
        ]
        if due is not None:
            parts.append("due " + due.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") + " CST")
        if s.overdue:
            parts.append("OVERDUE")
        return " · ".join(parts)

    def _stage_name(self) -> str:
        return self._state.stage.value if self._state.stage else "new"

    def _require_policy(self) -> Policy:
        assert self._policy is not None, "the policy is loaded before anything is decided"
        return self._policy

    async def _load_policy(self) -> Policy:
        loaded = await workflow.execute_local_activity(
            "load_policy",
            PolicyRequest(),
            result_type=LoadedPolicy,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        return shared(loaded.policy)

    async def _continue_as_new(self, start: NeedStart) -> None:
        await workflow.wait_condition(workflow.all_handlers_finished)
        carried = Carried(
            state=self._state,
            policy=self._require_policy(),
            timeline=self._timeline,
            overdue=self._state.overdue,
        )
        workflow.continue_as_new(start.model_copy(update={"carried": carried}))


def _first_match(
    candidates: list[OpenNeedSummary], submission: cmd.Submission, policy: Policy, now: datetime
) -> str | None:
    return next((c.stream_id for c in candidates if matches(c, submission, policy, now=now)), None)


def _is_version_conflict(err: BaseException) -> bool:
    """A local activity's non-retryable failure arrives as the ApplicationError itself here;
    a regular activity's arrives wrapped in ActivityError. Accept both shapes."""
    cause = err.cause if isinstance(err, ActivityError) else err
    return isinstance(cause, ApplicationError) and cause.type == "VersionConflict"


def _same_batch(
    stored: list[ev.EventEnvelope], sent: list[ev.EventEnvelope], *, by_actor: bool
) -> bool:
    """Whether the stored events are an earlier try of the batch sent (see _catch_up)."""
    if by_actor:
        return [(e.type, e.actor) for e in stored] == [(e.type, e.actor) for e in sent]
    return [e.type for e in stored] == [e.type for e in sent]

"""WishWorkflow: one durable workflow per micro-wish (domain/wishes.py), from posting to
confirmation or withdrawal.

The same loop as a need's (workflows/lifecycle.py), smaller: decide (pure) → append the
events to the event store (a local activity, idempotent on event ids named after their
version) → evolve. Actions arrive as the `act` update (a validator refuses before anything is
written; two claimants racing are serialised by a lock, so the second is decided against the
first's claim and refused); the claim's lapse and the pool's escalation are timers the state
names. A wish lives for weeks at most: no continue-as-new.
"""

from __future__ import annotations

import asyncio
import contextlib

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain.errors import DomainError
    from domain.events import EventEnvelope
    from domain.model import SYSTEM_ACTOR, Actor
    from domain.wishes import (
        CLOSED,
        WISH_EVENT_ADAPTER,
        PostWish,
        WishCommand,
        WishEvent,
        WishState,
        WishTaken,
        decide_wish,
        evolve_wish,
        next_wish_deadline,
    )
    from workflows import sidestream
    from workflows.messages import (
        TimelineEntry,
        WishAction,
        WishSnapshot,
        WishStart,
    )


@workflow.defn
class WishWorkflow:
    @workflow.init
    def __init__(self, start: WishStart) -> None:
        self._id = workflow.info().workflow_id
        self._rules = start.rules
        self._state = WishState()
        self._timeline: list[TimelineEntry] = []
        self._lock = asyncio.Lock()

    @workflow.run
    async def run(self, start: WishStart) -> WishSnapshot:
        async with self._lock:
            await self._apply(PostWish(submission=start.submission), start.actor)
        while self._state.status not in CLOSED:
            await self._sleep_until_something_happens()
            due = next_wish_deadline(self._state)
            if due is not None and due[0] <= workflow.now():
                async with self._lock:
                    await self._apply(due[1], SYSTEM_ACTOR)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.snapshot()

    async def _sleep_until_something_happens(self) -> None:
        version = self._state.version
        due = next_wish_deadline(self._state)
        timeout = None if due is None else max((due[0] - workflow.now()).total_seconds(), 0)
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self._state.version != version, timeout=timeout)

    @workflow.update
    async def act(self, action: WishAction) -> WishSnapshot:
        """A claimant's, the wisher's or the community's action; answers the new state."""
        async with self._lock:
            await self._apply(action.command, action.actor)
        return self.snapshot()

    @act.validator
    def _validate(self, action: WishAction) -> None:
        if self._state.status is None:
            raise ApplicationError(
                "the wish is still being posted; retry in a moment",
                {"code": "not_ready", "field": None},
                type="NotReady",
            )
        self._decide(action.command, action.actor)

    @workflow.query
    def snapshot(self) -> WishSnapshot:
        return WishSnapshot(wish_id=self._id, state=self._state, timeline=self._timeline)

    def _decide(self, command: WishCommand, actor: Actor) -> list[WishEvent]:
        try:
            return decide_wish(self._state, command, actor, workflow.now(), self._rules)
        except DomainError as exc:
            details = {"code": exc.code, "field": exc.field}
            if isinstance(exc, WishTaken):
                details["holder"] = exc.holder
            raise ApplicationError(
                exc.message, details, type=type(exc).__name__, non_retryable=True
            ) from None

    async def _apply(self, command: WishCommand, actor: Actor) -> None:
        events = self._decide(command, actor)
        if not events:
            return
        sent = sidestream.envelopes_for(self._id, self._state.version, list(events), actor)
        adopted = await sidestream.store("append_wish_events", self._id, self._state.version, sent)
        for envelope in adopted or sent:
            self._record(envelope)
        if adopted is not None and not sidestream.answers(adopted, sent):
            await self._apply(command, actor)  # decided again on the caught-up state

    def _record(self, stored: EventEnvelope) -> None:
        event = WISH_EVENT_ADAPTER.validate_python(stored.payload | {"type": stored.type})
        self._state = evolve_wish(self._state, event, stored.occurred_at, stored.actor)
        self._timeline.append(
            TimelineEntry(
                version=stored.version,
                type=stored.type,
                occurred_at=stored.occurred_at,
                actor_role=stored.actor.role.value,
                actor_unit=stored.actor.unit,
            )
        )

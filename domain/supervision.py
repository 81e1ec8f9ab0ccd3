"""督办: a supervision order with its own deadline and a required written reply.

A supervisor orders the assigned unit to report on the need within a number of working
hours (one order open at a time). The unit holding the need replies in writing; a reply after
the deadline is recorded as late. The order follows the need: when it changes hands
(reassigned, escalated) the new holder answers it, with the same deadline
(domain.deadlines.supervision_answerer). When the deadline passes with no reply, the miss is
recorded against the unit that had to reply and reported to the unit above it
(`escalated_to`); the order stays open until the holder replies. Orders, replies and missed
replies are events: they show on the need and count.
"""

from __future__ import annotations

from datetime import timedelta

from domain import events as ev
from domain.commands import ReplySupervision, Supervise, SupervisionDue
from domain.context import DecisionContext
from domain.errors import InvalidCommand
from domain.guards import require_assignee, timer_is_current
from domain.sla import next_rung
from domain.state import NeedState

Events = list[ev.DomainEvent]


def supervise(state: NeedState, command: Supervise, ctx: DecisionContext) -> Events:
    if state.pending_supervision is not None:
        raise InvalidCommand("note", "a supervision order is already waiting for its reply")
    if state.assigned_unit is None:
        raise InvalidCommand("note", "the need has no assigned unit to supervise")
    window = (
        timedelta(hours=command.reply_hours)
        if command.reply_hours
        else ctx.policy.sla.supervision_reply
    )
    due_at, _ = ctx.after_working(window)
    return [
        ev.SupervisionOrdered(
            note=command.note,
            unit_id=state.assigned_unit,
            reply_due_at=due_at,
            order_count=state.supervision_count + 1,
        )
    ]


def reply(state: NeedState, command: ReplySupervision, ctx: DecisionContext) -> Events:
    pending = state.pending_supervision
    if pending is None:
        raise InvalidCommand("reply", "no supervision order is waiting for a reply")
    require_assignee(state, "ReplySupervision", ctx)
    return [ev.SupervisionReplied(reply=command.reply, in_time=ctx.now <= pending.reply_due_at)]


def reply_due(state: NeedState, command: SupervisionDue, ctx: DecisionContext) -> Events:
    pending = state.pending_supervision
    if pending is None or pending.missed:
        return []
    if not timer_is_current(pending.reply_due_at, command.due_at, ctx.now):
        return []
    above = next_rung(state, ctx.policy)
    return [
        ev.SupervisionReplyMissed(
            reply_due_at=pending.reply_due_at, escalated_to=above.id if above else None
        )
    ]

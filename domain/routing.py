"""Assignment: one accountable unit for every need.

小事不出网格、大事不出社区: a grid-tier need goes to the grid of its location, a community-tier
need to its community, a street-tier need to the unit its classification rule names, else the
department or service team its category maps to; a service plan's occurrence goes to the
unit the plan names (unless that unit returned it). When nothing matches, the street office
(first receiver) takes it. A unit may return (退单) a need; after `max_returns` returns the
street office decides.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from domain import events as ev
from domain.commands import Adjudicate, Assign, DispatchOverdue, Reassign, Return
from domain.context import DecisionContext
from domain.deadlines import waiting_for_dispatcher
from domain.errors import InvalidCommand
from domain.guards import require_assignee, timer_is_current
from domain.model import Frozen, Stage, Tier
from domain.policy import Policy, Unit
from domain.sla import need_calendar
from domain.state import NeedState

Reason = Literal[
    "routing",
    "first_receiver",
    "return_limit",
    "reassigned",
    "handed_to_grid",
    "dispatch_timeout",
    "adjudicated",
]


class RoutingDecision(Frozen):
    unit: Unit
    rule_id: str
    reason: Reason


def _candidates(state: NeedState, policy: Policy) -> list[tuple[str | None, str]]:
    place = state.location
    if place is None:
        return []
    if state.tier == Tier.GRID:
        grid = [(place.grid, "routing.tier.grid")]
        unnamed = place.grid is None or policy.unit(place.grid) is None
        if unnamed and policy.routing.grid_need_without_grid == "community":
            return [*grid, (place.community, "routing.tier.grid.community")]
        return grid
    if state.tier == Tier.COMMUNITY:
        return [(place.community, "routing.tier.community")]
    rule = policy.rule(state.classification_rule)
    by_category = policy.routing.category_units.get(state.category) if state.category else None
    return [
        (rule.unit if rule else None, f"routing.rule.{state.classification_rule}"),
        (by_category, f"routing.category.{state.category}"),
    ]


def route(state: NeedState, policy: Policy, exclude: tuple[str, ...] = ()) -> RoutingDecision:
    """The unit the rules give, skipping `exclude`; the street office if none fits."""
    if state.handed_to_grid and state.location:
        grid = policy.unit(state.location.grid)
        if grid:
            return RoutingDecision(
                unit=grid, rule_id="routing.handed_to_grid", reason="handed_to_grid"
            )
    served = policy.unit(state.route_to) if state.route_to else None
    if served is not None and served.id not in exclude:  # a plan's occurrence: its unit
        return RoutingDecision(unit=served, rule_id="routing.plan_unit", reason="routing")
    for unit_id, rule_id in _candidates(state, policy):
        unit = policy.unit(unit_id)
        if unit and unit.id not in exclude:
            return RoutingDecision(unit=unit, rule_id=rule_id, reason="routing")
    return first_receiver(policy, "routing.first_receiver", "first_receiver")


def first_receiver(policy: Policy, rule_id: str, reason: Reason) -> RoutingDecision:
    unit = policy.unit(policy.first_receiver)
    assert unit is not None  # load_policy checked the reference
    return RoutingDecision(unit=unit, rule_id=rule_id, reason=reason)


def assigned(
    decision: RoutingDecision,
    state: NeedState,
    ctx: DecisionContext,
    start: datetime | None = None,
    note: str = "",
) -> ev.DemandAssigned:
    """The assignee must accept within the policy's acceptance limit (on the need's clock:
    calendar hours for an emergency), counted from now or, for a need split out of a merge,
    from its own submission (`start`)."""
    accept_due_at, _ = ctx.after_working(
        ctx.policy.sla.acceptance, start, need_calendar(state, ctx)
    )
    return ev.DemandAssigned(
        rule_id=decision.rule_id,
        policy_version=ctx.version,
        unit_id=decision.unit.id,
        unit_kind=decision.unit.kind,
        accept_due_at=accept_due_at,
        reason=decision.reason,
        note=note,
    )


def routing_step(state: NeedState, ctx: DecisionContext) -> list[ev.DomainEvent]:
    """A freshly classified need is routed at once."""
    if state.stage != Stage.CLASSIFICATION or state.category is None or state.assigned_unit:
        return []
    first = state.return_count == 0 and state.escalation_count == 0
    return [
        assigned(route(state, ctx.policy), state, ctx, start=state.clock_from if first else None)
    ]


def reroute_if_target_changed(state: NeedState, ctx: DecisionContext) -> list[ev.DomainEvent]:
    decision = route(state, ctx.policy, exclude=state.returned_by)
    return [] if decision.unit.id == state.assigned_unit else [assigned(decision, state, ctx)]


def _known_unit(policy: Policy, unit_id: str) -> Unit:
    unit = policy.unit(unit_id)
    if unit is None:
        raise InvalidCommand("unit_id", f"unknown unit {unit_id}")
    return unit


def assign(state: NeedState, command: Assign, ctx: DecisionContext) -> list[ev.DomainEvent]:
    """A dispatcher hands an unowned need to a unit, or re-runs the routing rules
    (skipping units that returned it) when no unit is named."""
    if state.category is None:
        raise InvalidCommand("category", "classify the need before assigning it")
    if state.assigned_unit:
        raise InvalidCommand("unit_id", f"already assigned to {state.assigned_unit}; use Reassign")
    if state.awaiting_adjudication:
        raise InvalidCommand(
            "unit_id",
            "returned as often as allowed: a supervisor rules who is responsible (Adjudicate)",
        )
    if command.unit_id is None:
        return [
            assigned(
                route(state, ctx.policy, exclude=state.returned_by), state, ctx, note=command.reason
            )
        ]
    unit = _known_unit(ctx.policy, command.unit_id)
    return [
        assigned(
            RoutingDecision(unit=unit, rule_id="manual", reason="routing"),
            state,
            ctx,
            note=command.reason,
        )
    ]


def return_need(state: NeedState, command: Return, ctx: DecisionContext) -> list[ev.DomainEvent]:
    """退单: the assignee sends the need back; at the return limit the street office decides."""
    require_assignee(state, "Return", ctx)
    if state.adjudicated_unit is not None and state.adjudicated_unit == state.assigned_unit:
        raise InvalidCommand(
            "reason", f"a ruling made {state.adjudicated_unit} responsible: it cannot be returned"
        )
    limit = ctx.policy.routing.max_returns
    if state.assigned_unit == ctx.policy.first_receiver and state.return_count >= limit:
        raise InvalidCommand("reason", "the street office decides after the return limit")
    assert state.assigned_unit is not None
    count = state.return_count + 1
    if count < limit:
        due_at, warn_at = dispatch_clock(ctx)
        return [
            ev.DemandReturned(
                unit_id=state.assigned_unit,
                reason=command.reason,
                return_count=count,
                due_at=due_at,
                warn_at=warn_at,
            )
        ]
    returned = ev.DemandReturned(
        unit_id=state.assigned_unit, reason=command.reason, return_count=count
    )
    if ctx.policy.routing.adjudication:
        due_at, warn_at = dispatch_clock(ctx)
        return [
            returned,
            ev.AdjudicationRequested(return_count=count, due_at=due_at, warn_at=warn_at),
        ]
    decision = first_receiver(ctx.policy, "routing.return_limit", "return_limit")
    return [returned, assigned(decision, state, ctx)]


def dispatch_clock(ctx: DecisionContext) -> tuple[datetime | None, dict[int, datetime]]:
    """When a dispatcher must have acted on a need that starts waiting now, and its warning
    points (none without `sla.dispatch`)."""
    wait = ctx.policy.sla.dispatch
    if wait is None:
        return None, {}
    return ctx.after_working(wait)[0], ctx.warn_points(wait)


def dispatch_overdue(
    state: NeedState, command: DispatchOverdue, ctx: DecisionContext
) -> list[ev.DomainEvent]:
    """Nobody dispatched it in time: the first receiver (the street office) owns it now and
    must accept it, whatever its classification (首接负责)."""
    if not waiting_for_dispatcher(state):
        return []
    if not timer_is_current(state.due_at, command.due_at, ctx.now):
        return []
    decision = first_receiver(ctx.policy, "routing.dispatch_timeout", "dispatch_timeout")
    return [assigned(decision, state, ctx)]


def adjudicate(state: NeedState, command: Adjudicate, ctx: DecisionContext) -> list[ev.DomainEvent]:
    """裁定: the named unit is responsible, bindingly; it must accept the need afresh unless
    it already holds it."""
    unit = _known_unit(ctx.policy, command.unit_id)
    ruled = ev.NeedAdjudicated(unit_id=unit.id, unit_kind=unit.kind, reason=command.reason)
    if unit.id == state.assigned_unit:
        return [ruled]
    decision = RoutingDecision(unit=unit, rule_id="manual", reason="adjudicated")
    return [ruled, assigned(decision, state, ctx, note=command.reason)]


def reassign(state: NeedState, command: Reassign, ctx: DecisionContext) -> list[ev.DomainEvent]:
    """A supervisor moves the need to another unit, which must accept it afresh."""
    unit = _known_unit(ctx.policy, command.unit_id)
    if unit.id == state.assigned_unit:
        raise InvalidCommand("unit_id", f"already assigned to {unit.id}")
    decision = RoutingDecision(unit=unit, rule_id="manual", reason="reassigned")
    return [assigned(decision, state, ctx, note=command.reason)]

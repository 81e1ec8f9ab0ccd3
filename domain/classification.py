"""Tiered classification (分级分类): category, tier and urgency from keyword rules.

A rule matches when one of its keywords (Chinese or English, case-insensitive) occurs in the
title, description or details, and its requester-kind and channel filters hold. The most
confident match wins (a `category_hint` from the channel adds `hint_bonus`); below the
policy's threshold, or with no match, the community's dispatcher classifies by hand.
"""

from __future__ import annotations

from domain import events as ev
from domain.commands import Classify, Reclassify
from domain.context import DecisionContext
from domain.errors import InvalidCommand
from domain.guards import require_stage
from domain.model import Category, Channel, Frozen, RequesterKind, Role, Stage, Tier, Urgency
from domain.policy import ClassificationRule, Policy
from domain.routing import reroute_if_target_changed
from domain.state import DemandState, evolve


class Classification(Frozen):
    rule_id: str
    category: Category
    tier: Tier
    urgency: Urgency
    confidence: float


def rule_matches(
    rule: ClassificationRule, text: str, kind: RequesterKind | None, channel: Channel | None
) -> bool:
    """Keywords (any), requester kinds and channels (if listed) must all hold."""
    lowered = text.casefold()
    if rule.keywords and not any(k.casefold() in lowered for k in rule.keywords):
        return False
    if rule.requester_kinds and kind not in rule.requester_kinds:
        return False
    if rule.channels and channel not in rule.channels:
        return False
    return bool(rule.keywords or rule.requester_kinds or rule.channels)


def classify(
    text: str, kind: RequesterKind | None, channel: Channel | None, hint: Category | None,
    policy: Policy,
) -> Classification | None:
    """The most confident matching rule (first in the file wins ties), or None."""
    best: Classification | None = None
    settings = policy.classification
    for rule in settings.rules:
        if not rule_matches(rule, text, kind, channel):
            continue
        bonus = settings.hint_bonus if hint == rule.category else 0.0
        confidence = round(min(1.0, rule.confidence + bonus), 4)
        if best is None or confidence > best.confidence:
            urgent = any(k.casefold() in text.casefold() for k in settings.urgent_keywords)
            best = Classification(
                rule_id=rule.id, category=rule.category, tier=rule.tier, confidence=confidence,
                urgency=Urgency.URGENT if urgent else rule.urgency,
            )
    return best


def classify_state(state: DemandState, policy: Policy) -> Classification | None:
    kind = state.requesters[0].kind if state.requesters else None
    return classify(state.text, kind, state.channel, state.category_hint, policy)


def dispatcher_for(state: DemandState, policy: Policy) -> str:
    """The community of the need's location dispatches; the street office if unknown."""
    community = state.location.community if state.location else None
    return community if policy.unit(community) else policy.first_receiver


def classification_step(state: DemandState, ctx: DecisionContext) -> list[ev.DomainEvent]:
    """Automatic classification once collection is complete (runs after the collection
    step, so an unanswered information request holds it back)."""
    if state.stage != Stage.COLLECTION or state.pending_information:
        return []
    found = classify_state(state, ctx.policy)
    if found and found.confidence >= ctx.policy.classification.confidence_threshold:
        return [ev.DemandClassified(**found.model_dump(), policy_version=ctx.version)]
    return [ev.ClassificationRequested(
        dispatcher_unit=dispatcher_for(state, ctx.policy),
        reason="low_confidence" if found else "no_rule",
        confidence=found.confidence if found else 0.0,
    )]


def classify_by_hand(
    state: DemandState, command: Classify, ctx: DecisionContext
) -> list[ev.DomainEvent]:
    """A dispatcher sets category, tier and urgency (rule_id 'manual', confidence 1)."""
    ctx.require_role("Classify", Role.DISPATCHER, Role.SUPERVISOR)
    require_stage(state, "Classify", Stage.CLASSIFICATION)
    if state.category is not None:
        raise InvalidCommand("category", "already classified; use Reclassify")
    return [ev.DemandClassified(
        rule_id="manual", policy_version=ctx.version, category=command.category,
        tier=command.tier, urgency=command.urgency, confidence=1.0, manual=True,
    )]


def reclassify(
    state: DemandState, command: Reclassify, ctx: DecisionContext
) -> list[ev.DomainEvent]:
    """Staff correct the classification; before acceptance the need follows the new route."""
    ctx.require_role("Reclassify", Role.DISPATCHER, Role.SUPERVISOR, Role.STAFF)
    require_stage(state, "Reclassify", Stage.CLASSIFICATION, Stage.ASSIGNMENT, Stage.HANDLING)
    if state.category is None or state.tier is None:
        raise InvalidCommand("category", "not classified yet; use Classify")
    if (command.category, command.tier, command.urgency) == (
        state.category, state.tier, state.urgency
    ):
        raise InvalidCommand("category", "category, tier and urgency are unchanged")
    changed = ev.DemandReclassified(
        category=command.category, tier=command.tier, urgency=command.urgency,
        previous_category=state.category, previous_tier=state.tier, reason=command.reason,
    )
    if state.stage != Stage.ASSIGNMENT:
        return [changed]
    return [changed, *reroute_if_target_changed(evolve(state, changed), ctx)]

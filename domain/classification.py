"""Tiered classification (分级分类): which service item a report is about, hence its category,
tier and urgency.

Each rule of the policy is an item with the words that name it. The `words` matcher reads the
report as jieba segments it: a term counts where a word starts, the longest of overlapping
terms wins, words in the title weigh more, and the item with the best score wins against the
runner-up. (Older policies use the `substring` matcher: any keyword anywhere.) A
`category_hint` from the channel adds `hint_bonus`. Where no item's words are sure, a policy
with `learned` asks the classifier learned from the labelled reports (domain/learned.py).
Below the policy's threshold, or with no match, the community's dispatcher classifies by
hand. The words that matched are recorded (the learned model's marked '≈').
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, partial
from typing import Any, TypeVar, cast

from pydantic import Field

from domain import events as ev
from domain.commands import Classify, Reclassify
from domain.context import DecisionContext
from domain.errors import InvalidCommand
from domain.learned import Guess
from domain.learned import load as load_model
from domain.model import Category, Channel, Frozen, RequesterKind, Stage, Tier, Urgency
from domain.policy import ClassificationPolicy, ClassificationRule, Policy
from domain.routing import dispatch_clock, reroute_if_target_changed
from domain.state import NeedState, evolve
from domain.text import normalise, words

T = TypeVar("T")


class Classification(Frozen):
    rule_id: str
    category: Category
    tier: Tier
    urgency: Urgency
    confidence: float
    matched_terms: list[str] = Field(default_factory=list)


def rule_matches(
    rule: ClassificationRule, text: str, kind: RequesterKind | None, channel: Channel | None
) -> bool:
    """Keywords (any), requester kinds and channels (if listed) must all hold."""
    lowered = text.casefold()
    if rule.keywords and not any(k.casefold() in lowered for k in rule.keywords):
        return False
    return _filters_hold(rule, kind, channel) and bool(
        rule.keywords or rule.requester_kinds or rule.channels
    )


def _filters_hold(
    rule: ClassificationRule, kind: RequesterKind | None, channel: Channel | None
) -> bool:
    return (not rule.requester_kinds or kind in rule.requester_kinds) and (
        not rule.channels or channel in rule.channels
    )


def classify(
    text: str,
    kind: RequesterKind | None,
    channel: Channel | None,
    hint: Category | None,
    policy: Policy,
    *,
    title: str = "",
) -> Classification | None:
    """The item the report is about, or None. `text` is the whole report; `title`, when
    given, is its first part (the word matcher weighs words there more)."""
    if policy.classification.matcher == "words":
        body = text[len(title) :] if title else text
        if not policy.version:
            return classify_words(title, body, kind, channel, hint, policy)
        return _remembered(policy)(title, body, kind, channel, hint)
    return _classify_substring(text, kind, channel, hint, policy)


REMEMBERED = 512
"""Reports whose classification each worker keeps, per policy: one need's intake asks for it
four times (its fingerprint, the place and field checks, the classification), and segmenting
and scoring are the largest part of intake's own CPU (docs/benchmarks.md)."""

Classifier = Callable[
    [str, str, RequesterKind | None, Channel | None, Category | None], Classification | None
]
_MEMOS: dict[str, list[tuple[ClassificationPolicy, Classifier]]] = {}
_MEMO_VERSIONS = 8


def _remembered(policy: Policy) -> Classifier:
    """`classify_words` on `policy`, remembering its last REMEMBERED answers. One memo per
    classification policy *as it is*, not per version alone: a copy of a policy with other
    rules under the same version (tests make them) gets a memo of its own. Found by identity
    first (the worker hands every workflow one instance per version, `domain.policy.shared`),
    by equality otherwise. lru_cache is thread-safe; the workflows run in a thread pool."""
    settings = policy.classification
    memos = _MEMOS.setdefault(policy.version, [])
    for kept, found in memos:
        if kept is settings:
            return found
    equal = next((found for kept, found in memos if kept == settings), None)
    memo = equal or lru_cache(maxsize=REMEMBERED)(partial(classify_words, policy=policy))
    memos.append((settings, memo))  # the next lookup of this instance is by identity
    del memos[:-4]
    while len(_MEMOS) > _MEMO_VERSIONS:
        _MEMOS.pop(next(iter(_MEMOS)))
    return memo


def _classify_substring(
    text: str,
    kind: RequesterKind | None,
    channel: Channel | None,
    hint: Category | None,
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
                rule_id=rule.id,
                category=rule.category,
                tier=rule.tier,
                confidence=confidence,
                urgency=Urgency.URGENT if urgent else rule.urgency,
            )
    return best


def classify_words(
    title: str,
    body: str,
    kind: RequesterKind | None,
    channel: Channel | None,
    hint: Category | None,
    policy: Policy,
) -> Classification | None:
    """Score every item by the words of the report that name it; the best item wins.

    A keyword scores 1, a hint `hint_weight`, each counted once, times `title_weight` when
    it stands in the title. Confidence is the rule's own confidence, scaled by how strong
    the best score is (up to `full_score`) and by its share against the runner-up of
    another category, so a lift report that mentions old people stays a lift report; the
    channel's category hint adds `hint_bonus`. Below the threshold, the learned model's
    guess (`_learned`) stands if it is surer.
    """
    settings = policy.classification
    found = terms_found(title, body, policy)
    scored: list[tuple[float, int, ClassificationRule, list[str]]] = []
    for order, rule in enumerate(settings.rules):
        if not _filters_hold(rule, kind, channel):
            continue
        score, matched = _score(rule, found, settings.hint_weight)
        if not rule.keywords and not rule.hints and (rule.requester_kinds or rule.channels):
            score = settings.full_score * 0.5  # a filter-only rule: a fallback, never sure
        if score > 0:
            scored.append((score, -order, rule, matched))
    urgent = _mentions(title + " " + body, settings.urgent_keywords)
    best = _best(scored, hint, policy, urgent=urgent)
    if settings.learned and (best is None or best.confidence < settings.confidence_threshold):
        # No item's words name the report surely: the learned model guesses, and the surer
        # of the two guesses stands (below the threshold it is the dispatcher's best guess).
        guess = _learned(title, body, kind, channel, hint, policy, urgent=urgent)
        if guess is not None and (best is None or guess.confidence > best.confidence):
            return guess
    return best


def _best(
    scored: list[tuple[float, int, ClassificationRule, list[str]]],
    hint: Category | None,
    policy: Policy,
    *,
    urgent: bool,
) -> Classification | None:
    if not scored:
        return None
    settings = policy.classification
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    score, _, rule, matched = scored[0]
    rival = next((s for s, _, r, _ in scored[1:] if r.category != rule.category), 0.0)
    strength = min(1.0, score / settings.full_score)
    share = score / (score + rival)
    bonus = settings.hint_bonus if hint == rule.category else 0.0
    confidence = round(min(1.0, rule.confidence * strength * (0.5 + 0.5 * share) + bonus), 4)
    return Classification(
        rule_id=rule.id,
        category=rule.category,
        tier=rule.tier,
        confidence=confidence,
        urgency=Urgency.URGENT if urgent else rule.urgency,
        matched_terms=matched,
    )


def _learned(
    title: str,
    body: str,
    kind: RequesterKind | None,
    channel: Channel | None,
    hint: Category | None,
    policy: Policy,
    *,
    urgent: bool,
) -> Classification | None:
    """The learned model's guess among the items whose filters hold, when no item's words name
    the report: its confidence is the policy's `learned.confidence` times the guess's
    probability, scaled down when it rests on fewer than `min_support` features (plus the
    channel's hint bonus); its matched terms are the features that spoke most for it, '≈'."""
    settings = policy.classification
    assert settings.learned is not None
    guess = _model_guess(title, body, kind, channel, policy)
    rule = policy.rule(guess.item) if guess else None
    if guess is None or rule is None:
        return None
    bonus = settings.hint_bonus if hint == rule.category else 0.0
    rests = min(1.0, guess.support / settings.learned.min_support)
    confidence = settings.learned.confidence * guess.probability * rests + bonus
    return Classification(
        rule_id=rule.id,
        category=rule.category,
        tier=rule.tier,
        confidence=round(min(1.0, confidence), 4),
        urgency=Urgency.URGENT if urgent else rule.urgency,
        matched_terms=list(dict.fromkeys("≈" + f.removeprefix("w:") for f in guess.features)),
    )


def second_reader(
    title: str, body: str, kind: RequesterKind | None, channel: Channel | None, policy: Policy
) -> str | None:
    """The item the learned model reads in the report, whatever the words said (None without
    a model, or when the report shares no feature with its training reports)."""
    guess = _model_guess(title, body, kind, channel, policy)
    return guess.item if guess else None


def _model_guess(
    title: str, body: str, kind: RequesterKind | None, channel: Channel | None, policy: Policy
) -> Guess | None:
    """The policy's learned model's guess among the items whose filters hold (None without a
    model)."""
    learned = policy.classification.learned
    if learned is None:
        return None
    allowed = [r.id for r in policy.classification.rules if _filters_hold(r, kind, channel)]
    return load_model(learned.model, learned.sha256).guess(title, body, allowed)


def terms_found(title: str, body: str, policy: Policy) -> dict[str, float]:
    """Every policy term the report contains where a word starts, with its weight (the
    title's weight if it stands there). Where terms overlap the longest wins, so a short
    term inside a longer one (施工 inside 施工许可证) counts only as the longer."""
    settings = policy.classification
    by_first = _vocabulary(policy)
    found: dict[str, float] = {}
    for part, weight in ((title, settings.title_weight), (body, 1.0)):
        text = normalise(part)
        hits = [
            (start, term)
            for start, _ in words(part)
            for term in by_first.get(text[start : start + 1], ())
            if text.startswith(term, start)
        ]
        taken = [False] * len(text)
        for start, term in sorted(hits, key=lambda hit: (-len(hit[1]), hit[0])):
            span = range(start, start + len(term))
            if not any(taken[i] for i in span):
                for i in span:
                    taken[i] = True
                found[term] = max(found.get(term, 0.0), weight)
    return found


def _mentions(text: str, terms: list[str]) -> bool:
    """Whether any of `terms` occurs where a word starts (whatever longer term holds it)."""
    return bool(mentioned(text, terms, first_only=True))


def mentioned(text: str, terms: list[str], *, first_only: bool = False) -> set[str]:
    """Those of `terms` (normalised) that occur where a word starts, whatever longer term
    holds them (路灯 in 路灯不亮); with `first_only`, the first one found."""
    plain = normalise(text)
    starts = {start for start, _ in words(text)}
    found: set[str] = set()
    for term in map(normalise, terms):
        position = plain.find(term)
        while position >= 0:
            if position in starts:
                found.add(term)
                if first_only:
                    return found
                break
            position = plain.find(term, position + 1)
    return found


def _vocabulary(policy: Policy) -> dict[str, tuple[str, ...]]:
    """All terms of the policy by their first character (one table per policy version)."""

    def build() -> dict[str, tuple[str, ...]]:
        rules = policy.classification.rules
        terms = {normalise(t) for r in rules for t in (*r.keywords, *r.hints)}
        table: dict[str, list[str]] = {}
        for term in sorted(t for t in terms if t):
            table.setdefault(term[0], []).append(term)
        return {first: tuple(group) for first, group in table.items()}

    return _per_version(policy, "vocabulary", build)


def term_items(policy: Policy) -> dict[str, str]:
    """Each policy term -> '#' + the first rule that lists it (what the term means)."""

    def build() -> dict[str, str]:
        meaning: dict[str, str] = {}
        for rule in policy.classification.rules:
            for term in (*rule.keywords, *rule.hints):
                meaning.setdefault(normalise(term), "#" + rule.id)
        return meaning

    return _per_version(policy, "term_items", build)


_PER_VERSION: dict[tuple[str, str], Any] = {}


def _per_version(policy: Policy, name: str, build: Callable[[], T]) -> T:
    """`build()` once per policy version (a version is the hash of its file, so equal
    versions read alike); hand-built policies without a version are built every time."""
    if not policy.version:
        return build()
    key = (policy.version, name)
    if key not in _PER_VERSION:
        _PER_VERSION[key] = build()
    # one table of every `name`'s value: each key's value is what its own `build` returned
    return cast(T, _PER_VERSION[key])


@lru_cache(maxsize=4096)
def _normalised(terms: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(map(normalise, terms)))


def _score(
    rule: ClassificationRule, found: dict[str, float], hint_weight: float
) -> tuple[float, list[str]]:
    score, matched = 0.0, []
    for terms, weight in ((rule.keywords, 1.0), (rule.hints, hint_weight)):
        for term in _normalised(tuple(terms)):
            if term in found and term not in matched:
                score += weight * found[term]
                matched.append(term)
    return score, matched


def classify_state(state: NeedState, policy: Policy) -> Classification | None:
    kind = state.requesters[0].kind if state.requesters else None
    return classify(state.text, kind, state.channel, state.category_hint, policy, title=state.title)


def dispatcher_for(state: NeedState, policy: Policy) -> str:
    """The community of the need's location dispatches; the street office if unknown."""
    community = state.location.community if state.location else None
    return community if community is not None and policy.unit(community) else policy.first_receiver


def classification_step(state: NeedState, ctx: DecisionContext) -> list[ev.DomainEvent]:
    """Automatic classification once collection is complete (runs after the collection
    step, so an unanswered information request holds it back)."""
    if state.stage != Stage.COLLECTION or state.pending_information:
        return []
    found = classify_state(state, ctx.policy)
    if found and found.confidence >= ctx.policy.classification.confidence_threshold:
        return [ev.DemandClassified(**found.model_dump(), policy_version=ctx.version)]
    due_at, warn_at = dispatch_clock(ctx)
    return [
        ev.ClassificationRequested(
            due_at=due_at,
            warn_at=warn_at,
            dispatcher_unit=dispatcher_for(state, ctx.policy),
            reason="low_confidence" if found else "no_rule",
            confidence=found.confidence if found else 0.0,
            best_guess=found.rule_id if found else None,
            matched_terms=found.matched_terms if found else [],
        )
    ]


def classify_by_hand(
    state: NeedState, command: Classify, ctx: DecisionContext
) -> list[ev.DomainEvent]:
    """A dispatcher sets category, tier and urgency (rule_id 'manual', confidence 1)."""
    if state.category is not None:
        raise InvalidCommand("category", "already classified; use Reclassify")
    return [
        ev.DemandClassified(
            rule_id="manual",
            policy_version=ctx.version,
            category=command.category,
            tier=command.tier,
            urgency=command.urgency,
            confidence=1.0,
            manual=True,
            note=command.reason,
        )
    ]


def reclassify(state: NeedState, command: Reclassify, ctx: DecisionContext) -> list[ev.DomainEvent]:
    """Staff correct the classification; before acceptance the need follows the new route,
    unless a ruling (裁定) decided who owns it or one is awaited. A need that reached a unit
    unclassified (nobody dispatched it in time) is classified here the first time."""
    if state.stage == Stage.CLASSIFICATION and (state.category is None or state.tier is None):
        raise InvalidCommand("category", "not classified yet; use Classify")
    if (command.category, command.tier, command.urgency) == (
        state.category,
        state.tier,
        state.urgency,
    ):
        raise InvalidCommand("category", "category, tier and urgency are unchanged")
    changed = ev.DemandReclassified(
        category=command.category,
        tier=command.tier,
        urgency=command.urgency,
        previous_category=state.category,
        previous_tier=state.tier,
        reason=command.reason,
    )
    ruled = state.awaiting_adjudication or (
        state.adjudicated_unit is not None and state.adjudicated_unit == state.assigned_unit
    )
    if state.stage != Stage.ASSIGNMENT or ruled:
        return [changed]
    return [changed, *reroute_if_target_changed(evolve(state, changed), ctx)]

"""Repeated reports (重复诉求): when a new report is the same need as an open one.

A report repeats an open need only when it is about the same item (the rule that classifies
it), at the same place, and says much the same thing; a report no rule names surely is
compared by place and wording alone, and is at most a possible repeat. The place is the building or house
number, from the location's fields or named in the text (6栋, 2号楼, 汉正街857号), or
coordinates within the policy's distance; two reports that name different places, or lie in
different grids, are different needs. A report that names no place (only a grid) is at most a
*possible* repeat, for a dispatcher to link or dismiss, never merged by itself. A question or
request of one person (an item not `at_place`) is never the same need as someone else's, and
is never merged by itself: the same person's second question of one kind is a possible repeat.

    score = place_weight x place + text_weight x similarity
    place = 1 at the same place; 0.5 near (one side names no place, same grid, or same
            community where one names no grid); 0.3 when one side names no community

A sure repeat (same item, same place, score >= merge_score, and with `same_specifics` the
same words, floors, spots and things: `same_specifics`) merges; one above possible_score
goes on as its own need and is flagged as a possible repeat.
"""

from __future__ import annotations

import math
from datetime import datetime
from functools import partial
from typing import Literal

from pydantic import Field
from rapidfuzz import fuzz

from domain import events as ev
from domain.classification import (
    classify,
    dispatcher_for,
    mentioned,
    second_reader,
    term_items,
    terms_found,
)
from domain.commands import (
    RepeatVerdict,
    ResolvePossibleRepeat,
    Submission,
    UnlinkReport,
    need_id_for,
)
from domain.context import DecisionContext
from domain.errors import InvalidCommand
from domain.model import Category, Frozen, Outcome
from domain.policy import ClassificationRule, Policy, RepeatPolicy
from domain.state import NeedState, evolve
from domain.text import (
    building_key,
    content_words,
    coordinates,
    digest,
    floors_in,
    is_placeholder,
    normalise,
    numbered_things_in,
    places_in,
    spots_in,
    without_places,
)

Place = Literal["same", "near", "unknown", "different"]
PLACE_VALUE = {"same": 1.0, "near": 0.5, "unknown": 0.3}
"""How much each place relation counts in the score (times place_weight)."""
DEFAULT_REPEATS = RepeatPolicy()


class Fingerprint(Frozen):
    """What repeat detection compares of a report. Places are digests, never addresses."""

    stream_id: str
    item: str | None = Field(description="the rule its words name confidently, if any")
    category: Category | None
    at_place: bool = True
    street: str
    community: str | None = None
    grid: str | None = None
    places: list[str] = Field(default_factory=list)
    latitude: float | None = None
    longitude: float | None = None
    requester_id: str | None = None
    text: str = ""
    submitted_at: datetime
    second_reading: str | None = Field(
        default=None,
        description="the learned model's item for the new report (not stored with claims)",
    )


def fingerprint(
    stream_id: str, submission: Submission, policy: Policy, now: datetime
) -> Fingerprint:
    """The report as repeat detection sees it (pure: the same report gives the same print)."""
    s, loc = submission, submission.location
    text = " ".join([s.title, s.description, *s.details.values()])
    found = classify(text, s.requester.kind, s.channel, s.category_hint, policy, title=s.title)
    sure = found and found.confidence >= policy.classification.confidence_threshold
    rule = policy.rule(found.rule_id) if sure and found else None
    places = place_digests(loc.community or loc.grid or loc.street, text, loc.building, loc.address)
    lat, lon = coordinates(s.details)
    return Fingerprint(
        stream_id=stream_id,
        item=rule.id if rule else None,
        category=rule.category if rule else s.category_hint,
        at_place=rule.at_place if rule else True,
        street=loc.street,
        community=loc.community,
        grid=loc.grid,
        places=sorted(places),
        latitude=lat,
        longitude=lon,
        requester_id=s.requester.requester_id,
        text=text[:500],
        submitted_at=now,
        second_reading=second_reader(
            s.title, text[len(s.title) :], s.requester.kind, s.channel, policy
        )
        if rule and rule.at_place and _specifics_matter(policy)
        else None,
    )


def judge(new: Fingerprint, old: Fingerprint, policy: Policy) -> RepeatVerdict:
    """Whether `new` repeats the open need `old` (see the module's rule)."""
    rules = policy.collection.repeats or DEFAULT_REPEATS
    none = RepeatVerdict(of_stream_id=old.stream_id)
    if new.stream_id == old.stream_id:
        return none
    if None not in (new.category, old.category) and new.category != old.category:
        return none
    same_item = new.item is not None and new.item == old.item
    if new.item is not None and old.item is not None and not same_item:
        return none  # two known items: two problems, even at one place
    mergeable = new.at_place and old.at_place
    if not mergeable:
        # A person's own question: only that person's earlier report can be the same need,
        # and even then a dispatcher decides (one person may ask two things of one kind).
        if new.requester_id != old.requester_id or not same_item:
            return none
        place: Place = "same"
    else:
        place = compare_places(new, old, rules.distance_m)
    if place == "different":
        return none
    text = similarity(new.text, old.text, policy)
    score = round(rules.place_weight * PLACE_VALUE[place] + rules.text_weight * text, 4)
    sure = mergeable and same_item and place == "same" and score >= rules.merge_score
    if sure and rules.same_specifics and not same_specifics(new, old, policy):
        sure = False  # one place, one item, but perhaps two problems there: a dispatcher sees
    if sure:
        return RepeatVerdict(
            kind="merge",
            of_stream_id=old.stream_id,
            score=score,
            rule_id=f"collection.repeats.{new.item}",
        )
    if score >= rules.possible_score:
        named = new.item or (new.category.value if new.category else "unclassified")
        return RepeatVerdict(
            kind="possible",
            of_stream_id=old.stream_id,
            score=score,
            rule_id=f"collection.repeats.{named}",
        )
    return none.model_copy(update={"score": score})


def _specifics_matter(policy: Policy) -> bool:
    """Whether the policy's sure repeats are checked for their specifics (`same_specifics`):
    only then is the learned model asked for a second reading."""
    return bool(policy.collection.repeats and policy.collection.repeats.same_specifics)


def same_specifics(new: Fingerprint, old: Fingerprint, policy: Policy) -> bool:
    """Whether two reports of one item at one place agree on what and where exactly: the
    learned model (if any) reads no other item in the new one; both say one of the item's
    words (keywords or hints), wherever a word starts (路灯 in 路灯不亮 and in 路灯坏了;
    自来水发黄 and 停电 are both water and power, not one problem); and they name no different
    floors (502 against 701), spots (大门口 against 后巷), numbered things (1号梯 against
    2号梯) or things of the item (its `objects`: a venue's table-tennis table against its
    reading room). A report the learned model classified may say none of its item's words:
    then it agrees with nothing surely.
    On same-place pairs written for it (2026-12-06), 0 of 15 different problems of one item
    at one place merge (14 did before); docs/intake.md, section 4."""
    rule = policy.rule(new.item)
    if rule is None:
        return False
    if new.second_reading is not None and new.second_reading != new.item:
        return False  # the learned model reads another problem in it
    terms = [*rule.keywords, *rule.hints]
    mine = mentioned(without_places(new.text), terms)
    if not mine & mentioned(without_places(old.text), terms):
        return False
    for found in (floors_in, spots_in, numbered_things_in, partial(_objects_in, rule)):
        a, b = found(new.text), found(old.text)
        if a and b and not a & b:
            return False
    return True


def _objects_in(rule: ClassificationRule, text: str) -> set[int]:
    """Which of the rule's groups of `objects` the text names (by their index)."""
    plain = without_places(text)
    return {i for i, group in enumerate(rule.objects) if mentioned(plain, group)}


def best_verdict(new: Fingerprint, candidates: list[Fingerprint], policy: Policy) -> RepeatVerdict:
    """A sure repeat before a possible one, the higher score first, the older need on ties."""
    verdicts = [judge(new, old, policy) for old in candidates]
    rank = {"merge": 2, "possible": 1, "none": 0}
    best = max(verdicts, key=lambda v: (rank[v.kind], v.score), default=RepeatVerdict())
    return best if best.kind != "none" else RepeatVerdict()


def place_digests(scope: str, text: str, building: str | None, address: str | None) -> list[str]:
    """Digests of the places a report names, in its fields or its text, scoped by its
    community (or grid, or street): buildings 'b:', units of a building 'u:', courtyards 'y:',
    house numbers or addresses 'a:'. A placeholder ('无', '不详') names nothing, nor does an
    address without a number (a street alone is no place). With a building field, the
    buildings the text names besides it (and their units) are not the report's place."""
    named = places_in(text)
    if building and not is_placeholder(building):
        # The building field is where the report is; another building its text names is
        # mentioned, not reported (不晓得是不是跟22栋一个维保公司 in a report from 24栋).
        field = building_key(building)
        named = {key for key in named if not _other_building(key, field)}
        named.add(field)
        named |= {key for key in places_in(building) if key[:2] in ("u:", "y:")}
    if address and not is_placeholder(address):
        in_address = places_in(address)
        if in_address:
            named |= in_address
        elif any(ch.isdigit() for ch in address):
            named.add("a:" + normalise(address).strip())
    return sorted(f"{key[:2]}{digest(scope, key)}" for key in named)


def _other_building(key: str, field: str) -> bool:
    """Whether `key` (a building 'b:6' or a unit 'u:6/2' named in a text) is of a building
    other than the building field's `field` ('b:...')."""
    if key.startswith("b:"):
        return key != field
    if key.startswith("u:"):
        return f"b:{key[2:].split('/')[0]}" != field
    return False


MERGING_PLACES = ("b:", "y:", "a:")
"""The kinds of place digest a sure repeat can share (units only refine a shared building)."""


def can_merge(new: Fingerprint) -> bool:
    """Whether `new` can be merged into an open need at all: it names an item surely, the item
    is bound to a place, and it names a place (a building, courtyard or address, or
    coordinates). Anything else is at most a possible repeat (see `judge`)."""
    if new.item is None or not new.at_place:
        return False
    named = any(p.startswith(MERGING_PLACES) for p in new.places)
    return named or (new.latitude is not None and new.longitude is not None)


def buildings_decide(report: Fingerprint) -> bool:
    """Whether `report`'s buildings decide its place against another report of its community
    (`compare_places` compares digests only between reports that both name a community): it
    names a building and a community. Against such a report, a report at another building of
    the community is never the same place."""
    return report.community is not None and any(p.startswith("b:") for p in report.places)


def compare_places(new: Fingerprint, old: Fingerprint, distance_m: float) -> Place:
    """Buildings first (and their units); coordinates confirm or refute, and decide when no
    building is named on both sides; then courtyards and house numbers. Digests are compared
    only when both reports name a community (they are scoped by it)."""
    if new.street != old.street:
        return "different"
    for mine, theirs in ((new.community, old.community), (new.grid, old.grid)):
        if mine and theirs and mine != theirs:
            return "different"
    comparable = new.community is not None and old.community is not None
    near = _near(new, old, distance_m)
    if comparable:
        buildings = _shared(new, old, "b:")
        if buildings is False or (buildings and _shared(new, old, "u:") is False):
            return "different"
        if buildings:
            if near is False:
                return "different"
            # A report naming several buildings (24栋…跟22栋一个维保公司) may be about any of
            # them: sharing one is near, never surely the same place.
            return "near" if _several_buildings(new) or _several_buildings(old) else "same"
    if near is not None:
        return "same" if near else "different"
    if comparable:
        for kind in ("y:", "a:"):
            shared = _shared(new, old, kind)
            if shared is not None:
                return "same" if shared else "different"
    same_area = (new.grid and new.grid == old.grid) or (
        new.community and new.community == old.community and not (new.grid and old.grid)
    )
    return "near" if same_area else "unknown"


def _several_buildings(report: Fingerprint) -> bool:
    return sum(p.startswith("b:") for p in report.places) > 1


def _shared(new: Fingerprint, old: Fingerprint, kind: str) -> bool | None:
    """Whether the two share a place of `kind`; None when one of them names none."""
    mine = {p for p in new.places if p.startswith(kind)}
    theirs = {p for p in old.places if p.startswith(kind)}
    return bool(mine & theirs) if mine and theirs else None


def _near(new: Fingerprint, old: Fingerprint, distance_m: float) -> bool | None:
    if None in (new.latitude, new.longitude, old.latitude, old.longitude):
        return None
    return _metres(new, old) <= distance_m


def similarity(a: str, b: str, policy: Policy) -> float:
    """How much two reports say the same, 0..1: over their content words (jieba's
    segmentation, filler words and places left out), where every word the policy lists for an
    item stands for that item (卫生 and 垃圾 both say sanitation), the mean of rapidfuzz's
    token-set ratio (the words they share) and token-sort ratio (all their words). The set
    ratio alone rates a short report (路灯不亮) as close to every longer one as to its own
    repeat, its words being a subset of theirs; measured on the tuning part (2026-12-04): the
    same merges, no missed repeat, 22 false possible repeats instead of 35."""
    left, right = _meaning(a, policy), _meaning(b, policy)
    if not left or not right:
        return 0.0
    joined_left, joined_right = " ".join(left), " ".join(right)
    shared = fuzz.token_set_ratio(joined_left, joined_right)
    whole = fuzz.token_sort_ratio(joined_left, joined_right)
    return (shared + whole) / 200


def _meaning(text: str, policy: Policy) -> list[str]:
    """The report's content words, those inside a policy term replaced by the term's item."""
    items = term_items(policy)
    terms = list(terms_found("", without_places(text), policy))
    kept = [w for w in content_words(text) if not any(w in term for term in terms)]
    return kept + sorted({items[term] for term in terms if term in items})


def _metres(a: Fingerprint, b: Fingerprint) -> float:
    """Equirectangular distance: exact enough at the scale of a street."""
    assert a.latitude is not None and a.longitude is not None
    assert b.latitude is not None and b.longitude is not None
    mid = math.radians((a.latitude + b.latitude) / 2)
    dx = math.radians(b.longitude - a.longitude) * math.cos(mid)
    dy = math.radians(b.latitude - a.latitude)
    return 6_371_000 * math.hypot(dx, dy)


def repeat_events(
    state: NeedState, submitted: ev.DemandSubmitted, verdict: RepeatVerdict, ctx: DecisionContext
) -> list[ev.DomainEvent]:
    """What the verdict adds to a new need's submission: a merge that ends it, or the flag
    that puts it before a dispatcher."""
    if verdict.kind == "none" or verdict.of_stream_id is None:
        return [submitted]
    if verdict.kind == "merge":
        return [
            submitted,
            ev.DemandMerged(
                rule_id=verdict.rule_id,
                policy_version=ctx.version,
                into_stream_id=verdict.of_stream_id,
                score=verdict.score,
            ),
            ev.DemandClosed(outcome=Outcome.MERGED),
        ]
    return [
        submitted,
        ev.PossibleRepeatFlagged(
            rule_id=verdict.rule_id,
            policy_version=ctx.version,
            of_stream_id=verdict.of_stream_id,
            score=verdict.score,
            dispatcher_unit=dispatcher_for(evolve(state, submitted), ctx.policy),
        ),
    ]


def resolve_possible_repeat(
    state: NeedState, command: ResolvePossibleRepeat, ctx: DecisionContext
) -> list[ev.DomainEvent]:
    """A dispatcher links the need to the one it may repeat (it merges there and closes) or
    dismisses the doubt (it goes on as its own need)."""
    other = state.possible_repeat_of
    if other is None:
        raise InvalidCommand("decision", "no possible repeat is pending on this need")
    if command.decision == "dismiss":
        return [ev.PossibleRepeatResolved(of_stream_id=other, decision="dismissed")]
    return [
        ev.PossibleRepeatResolved(of_stream_id=other, decision="linked"),
        ev.DemandMerged(rule_id="manual", policy_version=ctx.version, into_stream_id=other),
        ev.DemandClosed(outcome=Outcome.MERGED),
    ]


def split_id(merged_stream_id: str) -> str:
    """The id of the need a merged report becomes when it is split back out: a need id of the
    report's channel, named after the merged stream (so a second split finds the first)."""
    channel = merged_stream_id.split("-")[1]
    return need_id_for(channel, merged_stream_id, "split")


def unlink_report(
    state: NeedState, command: UnlinkReport, ctx: DecisionContext
) -> list[ev.DomainEvent]:
    """Unmerge: a report merged into this open need was not the same need after all. It
    leaves this need (its requester no longer evaluates it) and goes on as its own, from
    intake (the workflow starts it under `split_id`)."""
    if command.linked_stream_id not in state.linked_reports:
        raise InvalidCommand("linked_stream_id", "is not a report merged into this need")
    return [
        ev.ReportUnlinked(
            linked_stream_id=command.linked_stream_id,
            split_stream_id=split_id(command.linked_stream_id),
            reason=command.reason,
        )
    ]

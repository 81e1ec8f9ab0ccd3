"""The district's policy: directory of units, rules, SLA table, ladder, evaluation, limits.

Loaded from YAML by `load_policy`; `version` is the first 12 hex digits of the sha256 of the
file's bytes, recorded on every event that applied a rule. Durations are written as a number
of hours (`8`, `0.5`) or with a unit suffix (`90s`, `15m`, `8h`, `2d` = 48 hours), so a test
policy can run in seconds. Handling durations count working time; windows count wall-clock time.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Annotated, Any, Literal

import yaml
from pydantic import BeforeValidator, Field, model_validator

from domain.calendar import WorkingCalendar
from domain.learned import load as load_model
from domain.model import (
    Category,
    Channel,
    Frozen,
    RequesterKind,
    Tier,
    UnitKind,
    Urgency,
    WishKind,
)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")


def parse_duration(value: Any) -> Any:
    """Numbers are hours; '90s', '15m', '8h', '2d' carry their unit; anything else is
    left to pydantic (timedelta objects, ISO 8601 'PT8H' after a JSON round trip)."""
    if isinstance(value, bool):
        raise ValueError("a duration cannot be a boolean")  # noqa: TRY004 (pydantic wants ValueError)
    if isinstance(value, int | float):
        return timedelta(hours=value)
    if isinstance(value, str) and (match := _DURATION.match(value)):
        return timedelta(seconds=float(match[1]) * _UNITS[match[2]])
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class Unit(Frozen):
    """A unit that can receive work; `parent` is the next rung of the escalation ladder."""

    id: str = Field(min_length=1, max_length=64)
    name: str
    kind: UnitKind
    parent: str | None = None


class ClassificationRule(Frozen):
    """A service item: the words that name it, the filters it needs, where it goes.

    With the `substring` matcher it matches when any keyword occurs; with the `words` matcher
    (domain/classification.py) its keywords and weaker `hints` are scored where they start a
    word. A rule without keywords matches on its requester-kind / channel filters alone.
    `at_place` marks a problem at a place (a lamp, a lift): only such items can be repeats of
    another requester's report, and a report of one needs a place a unit can act on."""

    id: str
    keywords: list[str] = Field(default_factory=list)
    hints: list[str] = Field(default_factory=list, description="words that suggest the item")
    at_place: bool = False
    requester_kinds: list[RequesterKind] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)
    category: Category
    tier: Tier
    urgency: Urgency = Urgency.NORMAL
    confidence: float = Field(ge=0, le=1)
    unit: str | None = Field(default=None, description="preferred unit for street-tier needs")
    objects: list[list[str]] = Field(
        default_factory=list,
        description="groups of words for the different things one item covers (a venue's "
        "table-tennis table, its reading room): two reports at one place naming things of "
        "different groups only are no sure repeat (collection.repeats.same_specifics)",
    )


class LearnedPolicy(Frozen):
    """The classifier learned from the labelled tuning reports (domain/learned.py), asked when
    no item's words name a report surely (no word, or below the confidence threshold). Its
    guess carries `confidence` times the guess's probability; the surer of the two guesses
    stands, and below the threshold it goes to the dispatcher as the best guess."""

    model: str = Field(description="a file of domain/models")
    sha256: str = Field(pattern=r"^[0-9a-f]{16}$", description="its digest's first 16 hex")
    confidence: float = Field(default=0.65, ge=0, le=1)
    min_support: int = Field(
        default=4,
        ge=1,
        description="a guess resting on fewer of the report's features (that the item's "
        "training reports had) is scaled down by support / min_support: 有个事情想咨询一下 is "
        "no legal question yet",
    )


class ClassificationPolicy(Frozen):
    rules: list[ClassificationRule]
    confidence_threshold: float = Field(default=0.6, ge=0, le=1)
    hint_bonus: float = Field(default=0.1, ge=0, le=1)
    urgent_keywords: list[str] = Field(default_factory=list)
    # Policies written before the word matcher keep their substring reading (running needs
    # hold their policy for life, so their decisions replay unchanged).
    matcher: Literal["substring", "words"] = "substring"
    title_weight: float = Field(default=1.5, ge=1, description="a word in the title counts more")
    hint_weight: float = Field(default=0.4, ge=0, le=1, description="a hint against a keyword")
    full_score: float = Field(default=1.0, gt=0, description="the score of full confidence")
    learned: LearnedPolicy | None = Field(
        default=None, description="unset: no words, no item (policies before 2026-12-06)"
    )


class RepeatPolicy(Frozen):
    """When a new report repeats an open need (domain/repeats.py). score = place_weight x
    place (1 same place, 0.5 same grid with no place named, 0.3 vaguer) + text_weight x
    similarity."""

    merge_score: float = Field(default=0.7, ge=0, le=1)
    possible_score: float = Field(default=0.5, ge=0, le=1)
    place_weight: float = Field(default=0.5, ge=0, le=1)
    text_weight: float = Field(default=0.5, ge=0, le=1)
    distance_m: float = Field(default=30, ge=0, description="coordinates this close: one place")
    same_specifics: bool = Field(
        default=False,
        description="a sure repeat also uses one of the item's words the other used, and "
        "names no other floor or spot (门口 against 后巷) at the place; else it is possible "
        "(policies before 2026-12-06: item, place and score alone)",
    )


class CollectionPolicy(Frozen):
    required_fields: dict[Category, list[str]] = Field(default_factory=dict)
    information_request_limit: Duration = timedelta(hours=16)
    on_information_expiry: Literal["close", "hand_to_grid"] = "hand_to_grid"
    duplicate_window: Duration = timedelta(days=7)
    repeats: RepeatPolicy | None = Field(
        default=None, description="unset: the category-and-place rule of older policies"
    )
    location_request_limit: Duration | None = Field(
        default=None, description="set: a place-bound report with no place is asked for one"
    )
    landmarks_are_places: bool = Field(
        default=False,
        description="a landmark named in the text (多福路小学后面, 汉正街和多福路路口) is a place "
        "a unit can go to, so its report is not asked where (policies written before this "
        "field: only buildings, courtyards and house numbers are)",
    )
    addresses_name_places: bool = Field(
        default=False,
        description="an address counts as the report's place only when it names one (a "
        "number, a landmark, a named facility: domain/text.py address_names_a_place); a "
        "street alone (汉正街) is asked where (policies written before this field: any "
        "address that is not a placeholder counts)",
    )
    landmark_forms: Literal[1, 2] = Field(
        default=1,
        description="2: also a gate before the side (多福路小学正门对面) and a crossing said at "
        "length (大兴路跟多福路交叉的那个路口) (domain/text.py landmarks_in)",
    )


class RoutingPolicy(Frozen):
    category_units: dict[Category, str] = Field(default_factory=dict)
    max_returns: int = Field(default=2, ge=1)
    adjudication: bool = Field(
        default=False,
        description="at the return limit a supervisor rules which unit is "
        "responsible (binding) instead of the first receiver taking the need at once",
    )
    grid_need_without_grid: Literal["first_receiver", "community"] = Field(
        default="first_receiver",
        description="where a grid-tier need goes whose report names its community but no "
        "grid: the community, which knows its grids, or (policies written before this "
        "field: running needs keep their routing) the first receiver",
    )


UrgencyHours = dict[Urgency, Duration]


class UrgencyLevel(Frozen):
    """One urgency level of the regulations: the most time any need of that urgency may get,
    and the clock it runs on. `calendar`: every hour counts, nights and holidays included
    (emergencies, 24 × 7); `working`: the working calendar's hours."""

    clock: Literal["calendar", "working"] = "working"
    limit: Duration | None = Field(default=None, description="a duration on the level's clock")
    working_days: int | None = Field(
        default=None,
        ge=1,
        description="the limit in working days (each the calendar's "
        "working day long); only with the working clock",
    )

    def budget(self, calendar: WorkingCalendar) -> timedelta | None:
        if self.limit is not None:
            return self.limit
        if self.working_days is not None:
            day = timedelta(
                hours=calendar.day_end.hour, minutes=calendar.day_end.minute
            ) - timedelta(hours=calendar.day_start.hour, minutes=calendar.day_start.minute)
            return day * self.working_days
        return None


class SlaPolicy(Frozen):
    acceptance: Duration = timedelta(hours=2)
    handling: dict[Category, dict[Tier, UrgencyHours]] = Field(default_factory=dict)
    default_handling: Duration = timedelta(hours=40)
    escalation: Duration = timedelta(hours=16)
    extension_decision: Duration | None = Field(
        default=None,
        description="working time the approving unit has to decide an extension "
        "request; then the request goes one rung up (at the top it lapses, refused). Unset: no "
        "clock",
    )
    dispatch: Duration | None = Field(
        default=None,
        description="working time a need may wait for a dispatcher (to be "
        "classified by hand, or to get an owner after a return) before the first receiver "
        "takes it; warnings at `warning_percents`. Unset: no clock, as policies before it",
    )
    supervision_reply: Duration = Field(
        default=timedelta(hours=24),
        description="督办: working time a unit has to reply to a supervision order, unless "
        "the order names its own",
    )
    assist: Duration = Field(
        default=timedelta(hours=24),
        gt=timedelta(0),
        description="联合办理: working time an assisting unit gets for a sub-task unless the "
        "lead names its hours; cut to the lead's own deadline",
    )
    warning_percents: list[int] = Field(default_factory=lambda: [50, 75])
    max_extensions: int = Field(default=2, ge=0)
    levels: dict[Urgency, UrgencyLevel] = Field(
        default_factory=dict,
        description="per urgency: its clock and the most time any "
        "deadline of a need of that urgency may give (handling, escalation); unset: working "
        "time and no cap, as policies before the levels",
    )
    # Unused: the ladder is the units' `parent` chain. Kept because recorded histories and
    # carried workflow state hold policies dumped with it (the model forbids unknown keys).
    ladder: dict[UnitKind, int] = Field(
        default_factory=lambda: {
            UnitKind.GRID: 0,
            UnitKind.COMMUNITY: 1,
            UnitKind.STREET: 2,
            UnitKind.DEPARTMENT: 2,
            UnitKind.SERVICE_TEAM: 2,
            UnitKind.SUPERVISION: 3,
        }
    )


class ReviewerRule(Frozen):
    """A reviewer the policy adds for enterprise needs: `unit` is the reviewer id (it need
    not be a unit of the directory, e.g. the park's audit office), or '@community' for the
    community of the need's location."""

    role: Literal["community_committee", "park_audit", "organisation"]
    unit: str


class EvaluationPolicy(Frozen):
    window: Duration = timedelta(days=7)
    max_reopenings: int = Field(default=2, ge=0)
    enterprise_kinds: list[RequesterKind] = Field(
        default_factory=lambda: [RequesterKind.ENTERPRISE]
    )
    enterprise_categories: list[Category] = Field(
        default_factory=lambda: [Category.ENTERPRISE_AFFAIRS]
    )
    enterprise_reviewers: list[ReviewerRule] = Field(default_factory=list)


class WishPolicy(Frozen):
    """微心愿: how long a claim lasts without progress, how long a wish may wait unclaimed
    before its community is told, and the points a confirmed wish of each kind earns."""

    claim_lapse: Duration = Field(default=timedelta(days=7), gt=timedelta(0))
    unclaimed_escalation: Duration = Field(default=timedelta(days=14), gt=timedelta(0))
    points: dict[WishKind, int] = Field(
        default_factory=lambda: dict.fromkeys(WishKind, 5),
        description="points a confirmed wish of each kind credits its claimant",
    )

    @model_validator(mode="after")
    def _points_are_not_negative(self) -> WishPolicy:
        if any(n < 0 for n in self.points.values()):
            raise ValueError("wishes.points: a kind's points cannot be negative")
        return self


class Policy(Frozen):
    version: str = ""
    name: str
    calendar: WorkingCalendar = WorkingCalendar()
    first_receiver: str = Field(description="the street office that takes what nothing matches")
    units: list[Unit]
    collection: CollectionPolicy = CollectionPolicy()
    classification: ClassificationPolicy
    routing: RoutingPolicy = RoutingPolicy()
    sla: SlaPolicy = SlaPolicy()
    evaluation: EvaluationPolicy = EvaluationPolicy()
    wishes: WishPolicy = WishPolicy()

    @model_validator(mode="after")
    def _a_ruling_has_a_deadline(self) -> Policy:
        if self.routing.adjudication and self.sla.dispatch is None:
            raise ValueError(
                "routing.adjudication needs sla.dispatch: a need waiting for a "
                "ruling must have a deadline"
            )
        return self

    def unit(self, unit_id: str | None) -> Unit | None:
        return next((u for u in self.units if u.id == unit_id), None) if unit_id else None

    def parent_of(self, unit_id: str) -> Unit | None:
        unit = self.unit(unit_id)
        return self.unit(unit.parent) if unit else None

    def rule(self, rule_id: str | None) -> ClassificationRule | None:
        return next((r for r in self.classification.rules if r.id == rule_id), None)


# libyaml's loader when PyYAML was built with it (the wheels are): same result, ~10x faster.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def policy_version(raw: bytes) -> str:
    """First 12 hex digits of the sha256 of the policy file's bytes."""
    return hashlib.sha256(raw).hexdigest()[:12]


_SHARED: dict[str, Policy] = {}
_SHARED_MAX = 8


def shared(policy: Policy) -> Policy:
    """One instance per policy version in this process.

    Every need holds its policy for its whole life; a parsed policy is ~54 KB of objects, most
    of an open need's memory in the worker. Policies are frozen and their version is the hash
    of their file, so handing every workflow the first instance of a version is equal to
    handing it its own copy (and as deterministic)."""
    if not policy.version:
        return policy  # hand-built policies in tests carry no version: nothing to share by
    kept = _SHARED.get(policy.version)
    if kept is not None and kept == policy:
        return kept
    if len(_SHARED) >= _SHARED_MAX:
        _SHARED.pop(next(iter(_SHARED)))
    _SHARED[policy.version] = policy
    return policy


def load_policy(text: str | bytes) -> Policy:
    """Parse a YAML policy and check its references (parents, first receiver, rule units)."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    policy = Policy.model_validate(
        yaml.load(raw, Loader=_YAML_LOADER) | {"version": policy_version(raw)}
    )
    _check_references(policy)
    return policy


def _check_references(policy: Policy) -> None:
    ids = [u.id for u in policy.units]
    if len(ids) != len(set(ids)):
        raise ValueError("policy: unit ids must be unique")
    referenced = [policy.first_receiver, *(u.parent for u in policy.units if u.parent)]
    referenced += [r.unit for r in policy.classification.rules if r.unit]
    referenced += list(policy.routing.category_units.values())
    unknown = sorted({ref for ref in referenced if ref not in ids})
    if unknown:
        raise ValueError(f"policy: unknown unit ids {unknown}")
    learned = policy.classification.learned
    if learned is not None:
        items = load_model(learned.model, learned.sha256).items
        strangers = sorted(set(items) - {r.id for r in policy.classification.rules})
        if strangers:
            raise ValueError(f"policy: the learned model names items without a rule {strangers}")

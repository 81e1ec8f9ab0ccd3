"""Full collection (群众需求全收集): a record complete enough to act on, one need per problem.

Each category names the detail fields it needs; when some are missing the requester is
asked, with a wall-clock limit. On expiry the policy closes the need (incomplete) or hands
it to the grid worker of the location. A report of the same category at the same place
within the duplicate window joins the open need instead of starting another.
"""

from __future__ import annotations

from datetime import datetime

from domain import events as ev
from domain.classification import classify, classify_state
from domain.commands import (
    ExpireInformationRequest,
    LinkReport,
    ProvideInformation,
    RequestInformation,
    Submission,
    Submit,
)
from domain.context import DecisionContext
from domain.errors import InvalidCommand, WrongStage
from domain.guards import OPEN_STAGES, require_assignee, require_stage, timer_is_current
from domain.model import Category, Frozen, Outcome, Stage, UnitKind
from domain.policy import Policy
from domain.repeats import repeat_events
from domain.sla import resumed
from domain.state import NeedState, evolve
from domain.text import landmarks_in, places_in

Events = list[ev.DomainEvent]


class OpenNeedSummary(Frozen):
    """What duplicate detection needs to know of an open need (from a projection)."""

    stream_id: str
    category: Category | None
    place_key: str
    submitted_at: datetime


def matches(
    open_need: OpenNeedSummary, submission: Submission, policy: Policy, *, now: datetime
) -> bool:
    """Same category (as the rules classify the new report), same place, within the window."""
    category = likely_category(submission, policy)
    return (
        category is not None
        and category == open_need.category
        and submission.location.place_key() == open_need.place_key
        and now - open_need.submitted_at <= policy.collection.duplicate_window
    )


def likely_category(submission: Submission, policy: Policy) -> Category | None:
    """The category the rules give a fresh report (or the channel's hint): what repeated
    reports are compared by, before the report is classified for real."""
    text = " ".join([submission.title, submission.description, *submission.details.values()])
    found = classify(
        text,
        submission.requester.kind,
        submission.channel,
        submission.category_hint,
        policy,
        title=submission.title,
    )
    return found.category if found else submission.category_hint


def missing_fields(state: NeedState, policy: Policy) -> list[str]:
    """Detail fields the likely category requires and the record lacks. Only a confident
    rule (or the channel's hint) names the likely category: a weak guess asks for nothing."""
    found = classify_state(state, policy)
    confident = (
        found if found and found.confidence >= policy.classification.confidence_threshold else None
    )
    category = state.category or (confident.category if confident else state.category_hint)
    required = policy.collection.required_fields.get(category, []) if category else []
    return [f for f in required if f not in state.known_fields]


PLACE_FIELDS = ("community", "grid", "building", "address")
"""Answers that give a need its place (an information request for `location` asks for one)."""


def needs_a_place(state: NeedState, policy: Policy) -> bool:
    """A problem at a place (a confidently named `at_place` item) reported with nothing a unit
    can go to: no community, grid, building, address, coordinates or place in its text.
    Only policies with a `location_request_limit` ask."""
    if policy.collection.location_request_limit is None or "location" in state.known_fields:
        return False
    found = classify_state(state, policy)
    rule = policy.rule(found.rule_id) if found else None
    if not (
        found
        and rule
        and rule.at_place
        and found.confidence >= policy.classification.confidence_threshold
    ):
        return False
    loc = state.location
    placed = loc is not None and (loc.community or loc.grid or loc.building)
    collection = policy.collection
    landmark = collection.landmarks_are_places and landmarks_in(
        state.text, collection.landmark_forms
    )
    named = places_in(state.text) or landmark
    address = state.address_names_place if collection.addresses_name_places else state.address_given
    return not (placed or address or named or state.has_coordinates)


def collection_step(state: NeedState, ctx: DecisionContext) -> Events:
    """Ask for what is missing, once; otherwise collection is complete."""
    if state.stage != Stage.COLLECTION or state.pending_information:
        return []
    if not state.handed_to_grid and needs_a_place(state, ctx.policy):
        limit = ctx.policy.collection.location_request_limit
        assert limit is not None
        return [
            ev.InformationRequested(
                rule_id="collection.location",
                policy_version=ctx.version,
                missing_fields=["location"],
                ask="requester",
                due_at=ctx.now + limit,
            )
        ]
    missing = [] if state.handed_to_grid else missing_fields(state, ctx.policy)
    if not missing:
        return []
    return [
        ev.InformationRequested(
            rule_id="collection.required_fields",
            policy_version=ctx.version,
            missing_fields=missing,
            ask="requester",
            due_at=ctx.now + ctx.policy.collection.information_request_limit,
        )
    ]


def submit(state: NeedState, command: Submit, ctx: DecisionContext) -> Events:
    """Start the stream; a duplicate is merged into the open need and ends here."""
    if state.stage is not None:
        raise WrongStage("Submit", state.stage.value, ("none",))
    s = command.submission
    submitted = ev.DemandSubmitted(
        channel=s.channel,
        external_id=s.external_id,
        requester=s.requester,
        location=s.location,
        title=s.title,
        description=s.description,
        details=s.details,
        policy_version=ctx.version,
        category_hint=s.category_hint,
        route_to=command.route_to,
    )
    if command.split is not None:
        origin = command.split
        return [
            submitted,
            ev.DemandSplit(
                merged_stream_id=origin.merged_stream_id,
                primary_stream_id=origin.primary_stream_id,
                submitted_at=origin.submitted_at,
                split_by=origin.split_by,
                reason=origin.reason,
            ),
        ]
    if command.repeat is not None:
        return repeat_events(state, submitted, command.repeat, ctx)
    if command.duplicate_of is None:
        return [submitted]
    merged = ev.DemandMerged(
        rule_id="collection.duplicate_window",
        policy_version=ctx.version,
        into_stream_id=command.duplicate_of,
    )
    return [submitted, merged, ev.DemandClosed(outcome=Outcome.MERGED)]


def provide_information(
    state: NeedState, command: ProvideInformation, ctx: DecisionContext
) -> Events:
    """Answers fill the record; when a paused handling clock has all it asked for, it resumes."""
    if state.pending_information is None:
        raise InvalidCommand("fields", "no information request is pending")
    provided = ev.InformationProvided(fields=_place_answer(command.fields, state, ctx.policy))
    after = evolve(state, provided)
    if after.pending_information is None and state.pending_information.paused_at:
        return [provided, resumed(state, ctx)]
    return [provided]


def _place_answer(fields: dict[str, str], state: NeedState, policy: Policy) -> dict[str, str]:
    """The answer, checked: a grid or community given must be one of the need's street (a
    grid brings its community along)."""
    street = state.location.street if state.location else None
    community = fields.get("community")
    if "grid" in fields:
        grid = policy.unit(fields["grid"])
        if grid is None or grid.kind != UnitKind.GRID or (community and grid.parent != community):
            raise InvalidCommand(
                "fields.grid", "is not a grid of this district or of that community"
            )
        community = grid.parent
    if community is not None:
        unit = policy.unit(community)
        if unit is None or unit.kind != UnitKind.COMMUNITY or unit.parent != street:
            raise InvalidCommand("fields.community", "is not a community of the need's street")
        return fields | {"community": community}
    return fields


def request_information(
    state: NeedState, command: RequestInformation, ctx: DecisionContext
) -> Events:
    """The assignee needs more from the requester: the handling clock stops until answered."""
    require_assignee(state, "RequestInformation", ctx)
    if state.pending_information:
        raise InvalidCommand("missing_fields", "an information request is already pending")
    return [
        ev.InformationRequested(
            rule_id="handling.information_request",
            policy_version=ctx.version,
            missing_fields=command.missing_fields,
            ask="requester",
            due_at=ctx.now + ctx.policy.collection.information_request_limit,
            paused_at=ctx.now,
        )
    ]


def expire_information(
    state: NeedState, command: ExpireInformationRequest, ctx: DecisionContext
) -> Events:
    """No answer in time: close as incomplete, or hand to the grid worker and go on."""
    pending = state.pending_information
    if pending is None or not timer_is_current(pending.due_at, command.due_at, ctx.now):
        return []
    action = ctx.policy.collection.on_information_expiry
    expired = ev.InformationRequestExpired(
        rule_id=f"collection.information_expiry.{action}",
        policy_version=ctx.version,
        missing_fields=list(pending.missing_fields),
        action=action,
    )
    if action == "close":
        return [expired, ev.DemandClosed(outcome=Outcome.INCOMPLETE)]
    if pending.paused_at:
        return [expired, resumed(state, ctx)]
    return [expired]


def link_report(state: NeedState, command: LinkReport, ctx: DecisionContext) -> Events:
    """Another report of this need joins it; its requester will be asked to evaluate."""
    require_stage(state, "LinkReport", *OPEN_STAGES)
    if command.linked_stream_id in state.linked_reports:
        return []
    return [
        ev.ReportLinked(
            linked_stream_id=command.linked_stream_id,
            channel=command.channel,
            requester=command.requester,
        )
    ]

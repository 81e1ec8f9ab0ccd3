"""微心愿认领: the micro-wish pool, as pure rules (no I/O, no clock of its own).

A wish (a resident's small wish: a hearing aid, a tutor for a child, a visit) is posted to its
community's pool with no personal data showing: title, community, kind, posted date. A
claimant (a party member, a volunteer, a member unit's staff) claims it; one claimant at a
time. A claim lapses when the claimant records no progress for the policy's
`wishes.claim_lapse` (wall-clock time): the wish goes back to the pool. The claimant marks it
fulfilled; the wisher (through the channel that posted it, or the community's staff on the
wisher's behalf) confirms it or rejects it (the claimant goes on, with a fresh lapse clock).
A confirmed wish credits the claimant the points its kind earns (党员积分制; the policy's
table, fixed when the wish was posted), once. A wish that stays in the pool for
`wishes.unclaimed_escalation` goes to its community once, as an overdue need does.

The loop is the need's: `decide_wish` says what happens, the workflow stores the events,
`evolve_wish` moves the state, `next_wish_deadline` names the next timer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, field_validator

from domain.errors import DomainError, InvalidCommand, NotPermitted
from domain.events import DomainEvent, ShortText
from domain.model import Actor, Channel, Frozen, Requester, Role, WishKind, holds_personal_number
from domain.policy import Policy, WishPolicy

Note = ShortText  # a progress note, a reason: the events' short text


class WishStatus(StrEnum):
    POOLED = "pooled"  # in the pool, nobody holds it
    CLAIMED = "claimed"  # a claimant is on it
    FULFILLED = "fulfilled"  # the claimant says it is done; the wisher has not answered
    CONFIRMED = "confirmed"  # the wisher confirmed: closed, points credited
    WITHDRAWN = "withdrawn"  # taken off the pool (the wisher no longer needs it)


CLOSED = frozenset({WishStatus.CONFIRMED, WishStatus.WITHDRAWN})


class WishRules(WishPolicy):
    """The policy's `wishes` section as a wish was posted under it (carried for its life)."""

    policy_version: str = ""

    @classmethod
    def of(cls, policy: Policy) -> WishRules:
        return cls(**policy.wishes.model_dump(), policy_version=policy.version)


# --- events --------------------------------------------------------------------------------
class WishEvent(DomainEvent):
    """A wish's event: stored like a need's (domain.events.EventEnvelope), but in its own
    registry, WISH_EVENT_TYPES: a need's stream never holds one, nor a wish's a need's."""


class WishPosted(WishEvent):
    """The wish entered its community's pool; the stream starts here."""

    type: Literal["WishPosted"] = "WishPosted"
    channel: Channel
    external_id: str
    title: ShortText
    description: str = Field(default="", max_length=4000)
    community: str
    kind: WishKind
    wisher: Requester
    points: int = Field(ge=0, description="what confirming it will credit (policy at posting)")
    pool_due_at: datetime = Field(description="unclaimed by then: it goes to the community")
    policy_version: str = ""


class WishClaimed(WishEvent):
    type: Literal["WishClaimed"] = "WishClaimed"
    claimant_id: str
    lapse_at: datetime = Field(description="no progress by then: back to the pool")


class WishProgressNoted(WishEvent):
    type: Literal["WishProgressNoted"] = "WishProgressNoted"
    note: Note
    lapse_at: datetime


class WishReleased(WishEvent):
    """The claimant gave the wish back to the pool."""

    type: Literal["WishReleased"] = "WishReleased"
    claimant_id: str
    reason: Note
    pool_due_at: datetime


class WishClaimLapsed(WishEvent):
    """No progress within the lapse period: the wish went back to the pool."""

    type: Literal["WishClaimLapsed"] = "WishClaimLapsed"
    claimant_id: str
    lapse_at: datetime
    pool_due_at: datetime


class WishFulfilled(WishEvent):
    type: Literal["WishFulfilled"] = "WishFulfilled"
    claimant_id: str
    note: Note


class WishRejected(WishEvent):
    """The wisher says it is not fulfilled: the claimant goes on."""

    type: Literal["WishRejected"] = "WishRejected"
    reason: Note
    lapse_at: datetime


class WishConfirmed(WishEvent):
    """The wisher confirmed: the claimant earns `points` (once: the wish is closed)."""

    type: Literal["WishConfirmed"] = "WishConfirmed"
    claimant_id: str
    points: int = Field(ge=0)


class WishEscalated(WishEvent):
    """Nobody claimed it in time: the community must find someone (once per wish)."""

    type: Literal["WishEscalated"] = "WishEscalated"
    to_unit: str
    pool_due_at: datetime


class WishWithdrawn(WishEvent):
    type: Literal["WishWithdrawn"] = "WishWithdrawn"
    reason: Note


AnyWishEvent = Annotated[
    WishPosted
    | WishClaimed
    | WishProgressNoted
    | WishReleased
    | WishClaimLapsed
    | WishFulfilled
    | WishRejected
    | WishConfirmed
    | WishEscalated
    | WishWithdrawn,
    Field(discriminator="type"),
]
WISH_EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyWishEvent)
WISH_EVENT_TYPES: dict[str, type[WishEvent]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        WishPosted,
        WishClaimed,
        WishProgressNoted,
        WishReleased,
        WishClaimLapsed,
        WishFulfilled,
        WishRejected,
        WishConfirmed,
        WishEscalated,
        WishWithdrawn,
    )
}


# --- commands ------------------------------------------------------------------------------
class WishSubmission(Frozen):
    """A wish as a channel sends it (the wish wall, WeChat, a worker's entry)."""

    channel: Channel = Channel.WISH_WALL
    external_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")
    title: str = Field(min_length=1, max_length=200, description="no personal data: it is shown")
    description: str = Field(default="", max_length=4000)
    community: str = Field(min_length=1, max_length=64, description="a community unit id")
    kind: WishKind
    wisher: Requester

    @field_validator("title", "description")
    @classmethod
    def _nobody_named_by_number(cls, text: str) -> str:
        # the pool shows title and kind to every claimant: no phone or identity numbers
        if holds_personal_number(text):
            raise ValueError("no phone or identity numbers: the pool shows it to everyone")
        return text


class WishCommand(Frozen):
    type: str


class PostWish(WishCommand):
    type: Literal["PostWish"] = "PostWish"
    submission: WishSubmission


class ClaimWish(WishCommand):
    type: Literal["ClaimWish"] = "ClaimWish"


class NoteWishProgress(WishCommand):
    type: Literal["NoteWishProgress"] = "NoteWishProgress"
    note: Note


class ReleaseWish(WishCommand):
    type: Literal["ReleaseWish"] = "ReleaseWish"
    reason: Note


class FulfilWish(WishCommand):
    type: Literal["FulfilWish"] = "FulfilWish"
    note: Note


class ConfirmWish(WishCommand):
    type: Literal["ConfirmWish"] = "ConfirmWish"


class RejectWish(WishCommand):
    type: Literal["RejectWish"] = "RejectWish"
    reason: Note


class WithdrawWish(WishCommand):
    type: Literal["WithdrawWish"] = "WithdrawWish"
    reason: Note


class WishClaimDue(WishCommand):
    """Timer: the claim's lapse moment came."""

    type: Literal["WishClaimDue"] = "WishClaimDue"
    due_at: datetime


class WishPoolDue(WishCommand):
    """Timer: the wish has waited in the pool for the escalation period."""

    type: Literal["WishPoolDue"] = "WishPoolDue"
    due_at: datetime


AnyWishCommand = Annotated[
    PostWish
    | ClaimWish
    | NoteWishProgress
    | ReleaseWish
    | FulfilWish
    | ConfirmWish
    | RejectWish
    | WithdrawWish
    | WishClaimDue
    | WishPoolDue,
    Field(discriminator="type"),
]


# --- errors --------------------------------------------------------------------------------
class WishTaken(DomainError):
    """Another claimant holds the wish (or it is closed): a 409. `holder` is said only to
    those who may see it (the API decides)."""

    code = "wish_taken"

    def __init__(self, status: WishStatus, holder: str | None) -> None:
        what = "is closed" if status in CLOSED else f"is {status.value}"
        super().__init__(f"the wish {what}", field="status")
        self.status = status
        self.holder = holder


class WishWrongStatus(DomainError):
    code = "wrong_stage"

    def __init__(self, command: str, status: WishStatus | None, allowed: str) -> None:
        super().__init__(
            f"{command} is not allowed while the wish is {status.value if status else 'new'} "
            f"(allowed: {allowed})",
            field="status",
        )


# --- state ---------------------------------------------------------------------------------
class WishState(Frozen):
    version: int = 0
    status: WishStatus | None = None
    community: str | None = None
    kind: WishKind | None = None
    title: str = ""
    posted_by: str | None = Field(default=None, description="the principal that posted it")
    posted_at: datetime | None = None
    wisher_id: str | None = None
    points: int = 0
    claimant_id: str | None = None
    lapse_at: datetime | None = None
    pool_due_at: datetime | None = None
    escalated: bool = False
    claims: int = 0
    credited_to: str | None = None
    fulfilled_at: datetime | None = None
    closed_at: datetime | None = None


# --- decide --------------------------------------------------------------------------------
CLAIMANTS = {Role.CLAIMANT, Role.ADMIN}


def _speaks_for_wisher(state: WishState, actor: Actor) -> bool:
    """The channel that posted it (the wisher's own voice there), the community's staff on
    the wisher's behalf, or an admin."""
    if actor.role == Role.ADMIN:
        return True
    if actor.role == Role.INTEGRATOR:
        return actor.id == state.posted_by
    return actor.role == Role.STAFF and actor.unit == state.community


def _require_status(state: WishState, command: str, *allowed: WishStatus) -> None:
    if state.status not in allowed:
        raise WishWrongStatus(command, state.status, ", ".join(s.value for s in allowed))


def _require_claimant(state: WishState, command: str, actor: Actor) -> None:
    if actor.role not in CLAIMANTS:
        raise NotPermitted(command, actor.role.value)
    if actor.role != Role.ADMIN and actor.id != state.claimant_id:
        raise WishTaken(state.status or WishStatus.CLAIMED, state.claimant_id)


def decide_wish(
    state: WishState, command: WishCommand, actor: Actor, now: datetime, rules: WishRules
) -> list[WishEvent]:
    """What `command` by `actor` at `now` records; a DomainError if it may not happen."""
    match command:
        case PostWish(submission=sub):
            if state.status is not None:
                return []  # posted already: the same wish sent again
            if actor.role not in (Role.INTEGRATOR, Role.STAFF, Role.SUPERVISOR, Role.ADMIN):
                raise NotPermitted("PostWish", actor.role.value)
            return [
                WishPosted(
                    channel=sub.channel,
                    external_id=sub.external_id,
                    title=sub.title,
                    description=sub.description,
                    community=sub.community,
                    kind=sub.kind,
                    wisher=sub.wisher,
                    points=rules.points.get(sub.kind, 0),
                    pool_due_at=now + rules.unclaimed_escalation,
                    policy_version=rules.policy_version,
                )
            ]
        case ClaimWish():
            if actor.role not in CLAIMANTS:
                raise NotPermitted("ClaimWish", actor.role.value)
            if state.status != WishStatus.POOLED:
                if state.status == WishStatus.CLAIMED and state.claimant_id == actor.id:
                    return []  # the same claim sent again
                raise WishTaken(state.status or WishStatus.POOLED, state.claimant_id)
            return [WishClaimed(claimant_id=actor.id, lapse_at=now + rules.claim_lapse)]
        case NoteWishProgress(note=note):
            _require_status(state, "NoteWishProgress", WishStatus.CLAIMED)
            _require_claimant(state, "NoteWishProgress", actor)
            return [WishProgressNoted(note=note, lapse_at=now + rules.claim_lapse)]
        case ReleaseWish(reason=reason):
            _require_status(state, "ReleaseWish", WishStatus.CLAIMED)
            _require_claimant(state, "ReleaseWish", actor)
            assert state.claimant_id is not None
            return [
                WishReleased(
                    claimant_id=state.claimant_id,
                    reason=reason,
                    pool_due_at=now + rules.unclaimed_escalation,
                )
            ]
        case FulfilWish(note=note):
            _require_status(state, "FulfilWish", WishStatus.CLAIMED)
            _require_claimant(state, "FulfilWish", actor)
            assert state.claimant_id is not None
            return [WishFulfilled(claimant_id=state.claimant_id, note=note)]
        case ConfirmWish():
            if state.status == WishStatus.CONFIRMED and _speaks_for_wisher(state, actor):
                return []  # a resent confirmation: credited once already
            _require_status(state, "ConfirmWish", WishStatus.FULFILLED)
            if not _speaks_for_wisher(state, actor):
                raise NotPermitted("ConfirmWish", actor.role.value)
            assert state.claimant_id is not None
            return [WishConfirmed(claimant_id=state.claimant_id, points=state.points)]
        case RejectWish(reason=reason):
            _require_status(state, "RejectWish", WishStatus.FULFILLED)
            if not _speaks_for_wisher(state, actor):
                raise NotPermitted("RejectWish", actor.role.value)
            return [WishRejected(reason=reason, lapse_at=now + rules.claim_lapse)]
        case WithdrawWish(reason=reason):
            if state.status in CLOSED:
                raise WishTaken(state.status or WishStatus.WITHDRAWN, None)
            if not (
                _speaks_for_wisher(state, actor)
                or actor.role == Role.SUPERVISOR
                or (actor.role == Role.STAFF and actor.unit == state.community)
            ):
                raise NotPermitted("WithdrawWish", actor.role.value)
            return [WishWithdrawn(reason=reason)]
        case WishClaimDue(due_at=due):
            if state.status != WishStatus.CLAIMED or state.lapse_at != due or now < due:
                return []  # stale: progress moved the lapse, or the wish moved on
            assert state.claimant_id is not None
            return [
                WishClaimLapsed(
                    claimant_id=state.claimant_id,
                    lapse_at=due,
                    pool_due_at=now + rules.unclaimed_escalation,
                )
            ]
        case WishPoolDue(due_at=due):
            if state.status != WishStatus.POOLED or state.escalated or state.pool_due_at != due:
                return []
            if now < due:
                return []
            assert state.community is not None
            return [WishEscalated(to_unit=state.community, pool_due_at=due)]
    raise InvalidCommand("type", f"{command.type} is not a wish command")


# --- evolve --------------------------------------------------------------------------------
def _posted(s: WishState, e: WishPosted, at: datetime, actor: Actor) -> dict[str, Any]:
    return {
        "status": WishStatus.POOLED,
        "community": e.community,
        "kind": e.kind,
        "title": e.title,
        "posted_by": actor.id,
        "posted_at": at,
        "wisher_id": e.wisher.requester_id,
        "points": e.points,
        "pool_due_at": e.pool_due_at,
    }


_EVOLVE: dict[str, Callable[[WishState, Any, datetime, Actor], dict[str, Any]]] = {
    "WishPosted": _posted,
    "WishClaimed": lambda s, e, at, a: {
        "status": WishStatus.CLAIMED,
        "claimant_id": e.claimant_id,
        "lapse_at": e.lapse_at,
        "pool_due_at": None,
        "claims": s.claims + 1,
    },
    "WishProgressNoted": lambda s, e, at, a: {"lapse_at": e.lapse_at},
    "WishReleased": lambda s, e, at, a: {
        "status": WishStatus.POOLED,
        "claimant_id": None,
        "lapse_at": None,
        "pool_due_at": e.pool_due_at,
    },
    "WishClaimLapsed": lambda s, e, at, a: {
        "status": WishStatus.POOLED,
        "claimant_id": None,
        "lapse_at": None,
        "pool_due_at": e.pool_due_at,
    },
    "WishFulfilled": lambda s, e, at, a: {
        "status": WishStatus.FULFILLED,
        "lapse_at": None,
        "fulfilled_at": at,
    },
    "WishRejected": lambda s, e, at, a: {"status": WishStatus.CLAIMED, "lapse_at": e.lapse_at},
    "WishConfirmed": lambda s, e, at, a: {
        "status": WishStatus.CONFIRMED,
        "credited_to": e.claimant_id,
        "closed_at": at,
    },
    "WishEscalated": lambda s, e, at, a: {"escalated": True},
    "WishWithdrawn": lambda s, e, at, a: {
        "status": WishStatus.WITHDRAWN,
        "lapse_at": None,
        "pool_due_at": None,
        "closed_at": at,
    },
}
assert set(_EVOLVE) == set(WISH_EVENT_TYPES), "every wish event needs its evolve rule"


def evolve_wish(state: WishState, event: WishEvent, at: datetime, actor: Actor) -> WishState:
    """Record one event (at `at`, by `actor`): the new state, never a decision."""
    update = _EVOLVE[event.type](state, event, at, actor)
    return state.model_copy(update=update | {"version": state.version + 1})


def next_wish_deadline(state: WishState) -> tuple[datetime, WishCommand] | None:
    """The timer the wish waits for, with the command to send when it fires."""
    if state.status == WishStatus.CLAIMED and state.lapse_at is not None:
        return state.lapse_at, WishClaimDue(due_at=state.lapse_at)
    if state.status == WishStatus.POOLED and not state.escalated and state.pool_due_at:
        return state.pool_due_at, WishPoolDue(due_at=state.pool_due_at)
    return None


def wish_id(channel: Channel, external_id: str, submitter: str) -> str:
    """`wish-<16 hex>`: named after who sent it and its id there, never after its content
    (no personal data in workflow ids), so the same wish sent again finds its workflow."""
    digest = hashlib.sha256(f"{submitter}\x1f{channel.value}\x1f{external_id}".encode())
    return f"wish-{digest.hexdigest()[:16]}"

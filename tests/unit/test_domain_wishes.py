"""The micro-wish rules (domain/wishes.py), pure: a wish's life as the issue tells it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import NotPermitted
from domain.model import Actor, Requester, RequesterKind, Role, WishKind
from domain.wishes import (
    ClaimWish,
    ConfirmWish,
    FulfilWish,
    NoteWishProgress,
    PostWish,
    RejectWish,
    ReleaseWish,
    WishClaimDue,
    WishCommand,
    WishPoolDue,
    WishRules,
    WishState,
    WishStatus,
    WishSubmission,
    WishTaken,
    WishWithdrawn,
    WithdrawWish,
    decide_wish,
    evolve_wish,
    next_wish_deadline,
    wish_id,
)

T0 = datetime(2026, 12, 1, 2, tzinfo=UTC)
RULES = WishRules(
    claim_lapse=timedelta(days=7),
    unclaimed_escalation=timedelta(days=14),
    points={WishKind.MATERIAL: 5, WishKind.SERVICE: 10},
)
WALL = Actor(id="integrator-demo", role=Role.INTEGRATOR)
STAFF = Actor(id="staff-community-dongting", role=Role.STAFF, unit="community-dongting")
ALICE = Actor(id="member-alice", role=Role.CLAIMANT)
BOB = Actor(id="member-bob", role=Role.CLAIMANT)


class Wish:
    def __init__(self) -> None:
        self.state, self.now = WishState(), T0

    def run(self, command: WishCommand, actor: Actor) -> list[str]:
        events = decide_wish(self.state, command, actor, self.now, RULES)
        for e in events:
            self.state = evolve_wish(self.state, e, self.now, actor)
        return [e.type for e in events]

    def fire(self) -> list[str]:
        due = next_wish_deadline(self.state)
        assert due is not None
        self.now = max(self.now, due[0])
        return self.run(due[1], Actor(id="system", role=Role.SYSTEM))


def posted(kind: WishKind = WishKind.SERVICE) -> Wish:
    wish = Wish()
    sub = WishSubmission(
        external_id="wall-1",
        title="想请人帮忙修一下家里的旧收音机",
        community="community-dongting",
        kind=kind,
        wisher=Requester(requester_id="res-1", kind=RequesterKind.RESIDENT, name="王奶奶"),
    )
    assert wish.run(PostWish(submission=sub), WALL) == ["WishPosted"]
    return wish


def test_a_wish_lapses_is_claimed_again_and_credits_points_once() -> None:
    wish = posted()
    assert wish.state.status == WishStatus.POOLED and wish.state.points == 10
    assert wish.run(ClaimWish(), ALICE) == ["WishClaimed"]
    assert wish.fire() == ["WishClaimLapsed"]  # seven days without progress
    assert wish.state.status == WishStatus.POOLED and wish.state.claimant_id is None
    assert wish.run(ClaimWish(), BOB) == ["WishClaimed"]
    wish.now += timedelta(days=6)
    wish.run(NoteWishProgress(note="零件已买到"), BOB)
    assert wish.state.lapse_at == wish.now + timedelta(days=7)  # progress keeps the claim
    assert wish.run(FulfilWish(note="修好了"), BOB) == ["WishFulfilled"]
    assert wish.run(RejectWish(reason="还是没声音"), WALL) == ["WishRejected"]
    assert wish.state.status == WishStatus.CLAIMED and wish.state.claimant_id == "member-bob"
    wish.run(FulfilWish(note="换了喇叭"), BOB)
    assert wish.run(ConfirmWish(), STAFF) == ["WishConfirmed"]  # on the wisher's behalf
    assert wish.state.credited_to == "member-bob" and wish.state.status == WishStatus.CONFIRMED
    assert wish.run(ConfirmWish(), WALL) == []  # sent again: nothing more
    assert next_wish_deadline(wish.state) is None


def test_one_claimant_at_a_time() -> None:
    wish = posted()
    wish.run(ClaimWish(), ALICE)
    with pytest.raises(WishTaken) as taken:
        wish.run(ClaimWish(), BOB)
    assert taken.value.holder == "member-alice"
    assert wish.run(ClaimWish(), ALICE) == []  # her own claim again
    with pytest.raises(WishTaken):  # only the claimant moves it on
        wish.run(FulfilWish(note="done"), BOB)
    wish.run(ReleaseWish(reason="出差"), ALICE)
    assert wish.run(ClaimWish(), BOB) == ["WishClaimed"]


def test_who_may_do_what() -> None:
    wish = posted()
    for actor in (WALL, STAFF):
        with pytest.raises(NotPermitted):  # claimants claim
            wish.run(ClaimWish(), actor)
    wish.run(ClaimWish(), ALICE)
    wish.run(FulfilWish(note="送到了"), ALICE)
    other_wall = Actor(id="integrator-partner", role=Role.INTEGRATOR)
    other_staff = Actor(id="s", role=Role.STAFF, unit="community-xinhua")
    for actor in (ALICE, other_wall, other_staff):  # the claimant cannot confirm her own
        with pytest.raises(NotPermitted):
            wish.run(ConfirmWish(), actor)


def test_an_unclaimed_wish_goes_to_its_community_once() -> None:
    wish = posted()
    assert wish.fire() == ["WishEscalated"]
    assert wish.state.escalated and next_wish_deadline(wish.state) is None
    assert wish.run(WishPoolDue(due_at=wish.now), Actor(id="system", role=Role.SYSTEM)) == []
    assert wish.run(ClaimWish(), ALICE) == ["WishClaimed"]  # still claimable


def test_stale_timers_do_nothing_and_withdrawal_closes() -> None:
    wish = posted()
    wish.run(ClaimWish(), ALICE)
    lapse = wish.state.lapse_at
    assert lapse is not None
    wish.now += timedelta(days=1)
    wish.run(NoteWishProgress(note="在联系"), ALICE)
    wish.now = lapse
    system = Actor(id="system", role=Role.SYSTEM)
    assert wish.run(WishClaimDue(due_at=lapse), system) == []  # the lapse moved
    assert wish.run(WithdrawWish(reason="已不需要"), STAFF) == [
        WishWithdrawn.model_fields["type"].default
    ]
    with pytest.raises(WishTaken):
        wish.run(ClaimWish(), BOB)


def test_wish_ids_name_the_sender_not_the_content() -> None:
    from domain.model import Channel

    a = wish_id(Channel.WISH_WALL, "wall-1", "integrator-demo")
    assert a == wish_id(Channel.WISH_WALL, "wall-1", "integrator-demo")
    assert a != wish_id(Channel.WISH_WALL, "wall-1", "integrator-partner")
    assert a.startswith("wish-") and len(a) == 21

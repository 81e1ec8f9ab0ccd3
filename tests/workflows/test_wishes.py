"""A micro-wish's timers on the time-skipping server (issue 20, item 1): a claim without
progress lapses and the wish returns to the pool; claimed again, fulfilled and confirmed, it
credits its claimant once; a wish nobody claims goes to its community once. The store's pool
row and ledger are checked against the workflow's own state."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.model import Actor, Requester, RequesterKind, Role, WishKind
from domain.wishes import (
    ClaimWish,
    ConfirmWish,
    FulfilWish,
    NoteWishProgress,
    WishCommand,
    WishRules,
    WishStatus,
    WishSubmission,
    wish_id,
)
from store import wishes as pool
from tests.workflows.conftest import Needs
from workflows.messages import WishAction, WishSnapshot, WishStart
from workflows.wish import WishWorkflow

# seconds, like deploy/policy-fast.yaml: the shared time-skipping server is not asked to
# skip minutes at once (other tests' workflows share it)
RULES = WishRules(
    claim_lapse=timedelta(seconds=6),
    unclaimed_escalation=timedelta(seconds=20),
    points={k: 8 for k in WishKind},
)
WALL = Actor(id="integrator-wall", role=Role.INTEGRATOR)
STAFF = Actor(id="staff-c", role=Role.STAFF, unit="community-dongting")
ZHANG = Actor(id="claimant-zhang", role=Role.CLAIMANT)
ZHAO = Actor(id="claimant-zhao", role=Role.CLAIMANT)


async def post(n: Needs, title: str) -> str:
    sub = WishSubmission(
        external_id=f"wall-{uuid.uuid4().hex[:10]}",
        title=title,
        community="community-dongting",
        kind=WishKind.COMPANIONSHIP,
        wisher=Requester(requester_id="res-w", kind=RequesterKind.RESIDENT, name="李爷爷"),
    )
    wid = wish_id(sub.channel, sub.external_id, WALL.id)
    await n.client.start_workflow(
        WishWorkflow.run,
        WishStart(submission=sub, actor=WALL, rules=RULES),
        id=wid,
        task_queue=n.task_queue,
    )
    return wid


async def act(client: Client, wid: str, actor: Actor, command: WishCommand) -> WishSnapshot:
    handle = client.get_workflow_handle_for(WishWorkflow.run, wid)
    return await handle.execute_update(WishWorkflow.act, WishAction(command=command, actor=actor))


async def state_of(client: Client, wid: str) -> WishSnapshot:
    return await client.get_workflow_handle_for(WishWorkflow.run, wid).query(WishWorkflow.snapshot)


async def wait_status(env: WorkflowEnvironment, client: Client, wid: str, status: WishStatus):
    for _ in range(200):
        try:
            snap = await state_of(client, wid)
            if snap.state.status == status:
                return snap
        except Exception:  # noqa: BLE001 (not running its first task yet)
            pass
        await env.sleep(timedelta(seconds=1))
    raise AssertionError(f"{wid} never reached {status}")


async def test_a_claim_lapses_then_another_claimant_fulfils_and_is_credited_once(
    skipping_env: WorkflowEnvironment, skipping_needs: Needs
) -> None:
    n, env = skipping_needs, skipping_env
    wid = await post(n, "想有人陪我去公园走走")
    await wait_status(env, n.client, wid, WishStatus.POOLED)
    await act(n.client, wid, ZHANG, ClaimWish())
    snap = await wait_status(env, n.client, wid, WishStatus.POOLED)  # 6 s, no progress
    assert [t.type for t in snap.timeline][-1] == "WishClaimLapsed"
    await act(n.client, wid, ZHAO, ClaimWish())
    await env.sleep(timedelta(seconds=4))
    await act(n.client, wid, ZHAO, NoteWishProgress(note="约了周日上午"))
    await env.sleep(timedelta(seconds=4))  # 8 s after the claim: progress kept it
    assert (await state_of(n.client, wid)).state.claimant_id == "claimant-zhao"
    await act(n.client, wid, ZHAO, FulfilWish(note="陪老人逛了公园"))
    done = await act(n.client, wid, STAFF, ConfirmWish())
    assert done.state.status == WishStatus.CONFIRMED and done.state.credited_to == ZHAO.id

    stored = await n.store.read_stream(wid)
    assert [e.type for e in stored] == [
        "WishPosted",
        "WishClaimed",
        "WishClaimLapsed",
        "WishClaimed",
        "WishProgressNoted",
        "WishFulfilled",
        "WishConfirmed",
    ]
    row = await pool.wish(n.store.pool, wid)
    assert row is not None
    assert (row["status"], row["claimant_id"], row["claims"]) == ("confirmed", ZHAO.id, 2)
    assert [
        c["points"] for c in await pool.ledger(n.store.pool, ZHAO.id) if c["stream_id"] == wid
    ] == [8]
    assert not [c for c in await pool.ledger(n.store.pool, ZHANG.id) if c["stream_id"] == wid]
    # the read models again from the events alone: the same row, the same single credit
    before = (row, await pool.ledger(n.store.pool, ZHAO.id))
    async with n.store.pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE stream_heads IN EXCLUSIVE MODE")
        assert await pool.rebuild_wishes(conn) >= 1
    after = (await pool.wish(n.store.pool, wid), await pool.ledger(n.store.pool, ZHAO.id))
    assert after == before
    await n.record_history(wid, "wish_lapsed_then_confirmed")


async def test_a_wish_nobody_claims_goes_to_its_community_once(
    skipping_env: WorkflowEnvironment, skipping_needs: Needs
) -> None:
    n, env = skipping_needs, skipping_env
    wid = await post(n, "想要几本大字版的书")
    await wait_status(env, n.client, wid, WishStatus.POOLED)
    for _ in range(30):  # 20 s in the pool
        await env.sleep(timedelta(seconds=2))
        snap = await state_of(n.client, wid)
        if snap.state.escalated:
            break
    assert snap.state.escalated and snap.state.status == WishStatus.POOLED
    for _ in range(10):  # and long after: once
        await env.sleep(timedelta(seconds=5))
    stored = [e.type for e in await n.store.read_stream(wid)]
    assert stored.count("WishEscalated") == 1
    row = await pool.wish(n.store.pool, wid)
    assert row is not None and row["escalated"] and row["status"] == "pooled"

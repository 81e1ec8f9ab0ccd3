"""Every timer path of a need, on the time-skipping server with the short-duration policy
(deploy/policy-fast.yaml: seconds instead of hours, every second a working second)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from domain.commands import Accept, Complete, DecideExtension, Evaluate, RequestExtension
from domain.model import Actor, Channel, Outcome, Rating, RequesterKind, Role, ServiceMode, Stage
from store import fold
from tests.workflows.conftest import Needs
from tests.workflows.test_journeys import a_need, assert_store_agrees, staff

SUPERVISOR = Actor(id="sup-1", role=Role.SUPERVISOR, unit="supervision-district")


async def skip(env: WorkflowEnvironment, seconds: float) -> None:
    await env.sleep(timedelta(seconds=seconds))


def types(snap) -> list[str]:
    return [t.type for t in snap.timeline]


async def test_unanswered_information_request_hands_the_need_to_the_grid_worker(
    skipping_env: WorkflowEnvironment,
    skipping_needs: Needs,
) -> None:
    n = skipping_needs
    need_id = await n.submit(
        a_need(
            "员工健康证需要换证",
            requester="ent-1",
            kind=RequesterKind.ENTERPRISE,
            channel=Channel.DEMAND_CARD,
        )
    )
    await n.wait_for(need_id, lambda s: s.state.pending_information is not None)
    await skip(skipping_env, 11)  # information_request_limit is 10 s
    snap = await n.wait_for(need_id, lambda s: s.state.pending_information is None)
    assert "InformationRequestExpired" in types(snap)
    assert snap.state.handed_to_grid and snap.state.assigned_unit == "grid-dongting-1"
    await assert_store_agrees(n, need_id)
    await n.record_history(need_id, "information_expired_hand_to_grid")


async def test_an_unaccepted_need_escalates_to_the_unit_above(
    skipping_env: WorkflowEnvironment,
    skipping_needs: Needs,
) -> None:
    n = skipping_needs
    need_id = await n.submit(a_need("楼下路灯坏了"))
    await n.wait_for(need_id, lambda s: s.state.assigned_unit == "grid-dongting-1")
    await skip(skipping_env, 6)  # acceptance limit 5 s
    snap = await n.wait_for(need_id, lambda s: s.state.escalation_count == 1)
    assert snap.state.assigned_unit == "community-dongting"
    assert snap.overdue is True
    await assert_store_agrees(n, need_id)


async def test_warnings_then_breaches_climb_the_whole_ladder(
    skipping_env: WorkflowEnvironment,
    skipping_needs: Needs,
) -> None:
    n = skipping_needs
    need_id = await n.submit_assigned(a_need("楼下路灯坏了，晚上很黑"))
    await n.act(need_id, staff("grid-dongting-1"), Accept())  # handling: 8 s, warnings at 4 s, 6 s
    await skip(skipping_env, 5)
    snap = await n.wait_for(need_id, lambda s: 50 in s.state.warnings_issued)
    await skip(skipping_env, 2)
    snap = await n.wait_for(need_id, lambda s: 75 in s.state.warnings_issued)
    for _ in range(60):  # breach after breach, a second at a time, until the top is reached
        await skip(skipping_env, 1)
        snap = await n.snapshot(need_id)
        if 100 in snap.state.warnings_issued:
            break
    stored = [e.event() for e in await n.stored(need_id)]
    climbed = [(e.from_unit, e.to_unit) for e in stored if e.type == "HandlingEscalated"]
    assert climbed == [
        ("grid-dongting-1", "community-dongting"),
        ("community-dongting", "street-hanzheng"),
        ("street-hanzheng", "supervision-district"),
    ]
    assert all(e.cause == "deadline_breached" for e in stored if e.type == "HandlingEscalated")
    assert snap.overdue and snap.state.assigned_unit == "supervision-district"
    assert types(snap).count("DeadlineWarningIssued") >= 2
    await assert_store_agrees(n, need_id)
    await n.record_history(need_id, "ladder_climbed_to_the_top")


@pytest.mark.parametrize("approve", [True, False], ids=["approved", "refused"])
async def test_an_extension_is_decided_by_the_level_above(
    skipping_env: WorkflowEnvironment,
    skipping_needs: Needs,
    approve: bool,
) -> None:
    n = skipping_needs
    need_id = await n.submit_assigned(a_need("楼下路灯坏了，需要更换灯杆"))
    grid = staff("grid-dongting-1")
    await n.act(need_id, grid, Accept())
    due_before = (await n.snapshot(need_id)).state.due_at
    await n.act(need_id, grid, RequestExtension(extra_hours=1, reason="需要采购灯杆"))
    community = staff("community-dongting")
    result = await n.act(
        need_id, community, DecideExtension(approve=approve, reason="同意" if approve else "不同意")
    )
    assert result.events[0] == ("ExtensionApproved" if approve else "ExtensionRefused")
    snap = await n.snapshot(need_id)
    assert (snap.state.due_at > due_before) is approve
    await skip(skipping_env, 10)  # past the original deadline
    snap = await n.wait_for(need_id, lambda s: True)
    assert (snap.state.escalation_count == 0) is approve
    await assert_store_agrees(n, need_id)


async def test_silence_in_the_evaluation_window_closes_as_no_response(
    skipping_env: WorkflowEnvironment,
    skipping_needs: Needs,
) -> None:
    n = skipping_needs
    need_id = await n.submit_assigned(a_need("路灯不亮"))
    grid = staff("grid-dongting-1")
    await n.act(need_id, grid, Accept())
    await n.act(
        need_id, grid, Complete(result_summary="已更换灯泡", service_mode=ServiceMode.ON_SITE)
    )
    await skip(skipping_env, 16)  # evaluation window 15 s
    snap = await n.wait_for(need_id, lambda s: s.state.stage == Stage.CLOSED)
    assert snap.state.outcome == Outcome.NO_RESPONSE and snap.state.satisfied is None
    assert list(snap.state.no_response) == ["res-1"]
    await assert_store_agrees(n, need_id)
    await n.record_history(need_id, "evaluation_no_response")


async def test_an_unsatisfied_requester_reopens_handling(
    skipping_env: WorkflowEnvironment,
    skipping_needs: Needs,
) -> None:
    n = skipping_needs
    need_id = await n.submit_assigned(a_need("路灯又坏了"))
    grid, resident = staff("grid-dongting-1"), Actor(id="res-1", role=Role.REQUESTER)
    await n.act(need_id, grid, Accept())
    done = Complete(result_summary="已修复", service_mode=ServiceMode.ON_SITE)
    await n.act(need_id, grid, done)
    reopened = await n.act(
        need_id, resident, Evaluate(reviewer_id="res-1", rating=Rating.UNSATISFIED)
    )
    assert "DemandReopened" in reopened.events and reopened.stage == "handling"
    await n.act(need_id, grid, done)
    closed = await n.act(
        need_id, resident, Evaluate(reviewer_id="res-1", rating=Rating.BASICALLY_SATISFIED)
    )
    assert closed.stage == "closed"
    snap = await n.snapshot(need_id)
    assert snap.state.reopen_count == 1 and snap.state.satisfied is True
    await assert_store_agrees(n, need_id)
    await n.record_history(need_id, "reopened_then_satisfied")


async def test_a_supervision_order_without_a_reply_goes_up_when_its_deadline_passes(
    skipping_env: WorkflowEnvironment,
    skipping_needs: Needs,
) -> None:
    from domain.commands import ReplySupervision, Supervise

    n = skipping_needs
    need_id = await n.submit_assigned(a_need("小区路灯坏了一周"))
    await n.act(need_id, staff("grid-dongting-1"), Accept())
    await n.act(need_id, SUPERVISOR, Supervise(note="请书面说明为何一周未修"))  # policy: 3 s
    snap = await n.snapshot(need_id)
    assert snap.state.pending_supervision is not None and snap.state.supervision_count == 1
    await skip(skipping_env, 4)
    snap = await n.wait_for(need_id, lambda s: "SupervisionReplyMissed" in types(s))
    assert snap.state.pending_supervision.missed
    row = await n.store.need_summary(need_id)  # 督办 counted (migration 0011)
    assert (row["supervisions"], row["supervision_unit"]) == (1, "grid-dongting-1")
    assert row["supervision_due_at"] == snap.state.pending_supervision.reply_due_at
    _, credits = fold.fold(None, need_id, await n.store.read_stream(need_id))
    earned = {
        key: (c["supervised"], c["supervision_missed"])
        for key, c in credits.items()
        if key[0] == "grid-dongting-1" and (c["supervised"] or c["supervision_missed"])
    }
    assert sorted(earned.values()) in ([(1, 1)], [(0, 1), (1, 0)])  # one month, or two
    for (unit, month), (supervised, missed) in earned.items():  # other tests count there too
        counted = await n.store.pool.fetchrow(
            "SELECT supervised, supervision_missed FROM unit_monthly_stats "
            "WHERE unit_id = $1 AND month = $2",
            unit,
            month,
        )
        assert counted["supervised"] >= supervised and counted["supervision_missed"] >= missed
    unit = snap.state.assigned_unit  # the ladder may have moved it meanwhile
    await n.act(need_id, staff(unit), ReplySupervision(reply="配件到货后已修复"))
    snap = await n.snapshot(need_id)
    assert snap.state.pending_supervision is None
    row = await n.store.need_summary(need_id)
    assert (row["supervisions"], row["supervision_unit"], row["supervision_due_at"]) == (
        1,
        None,
        None,
    )
    replied = next(t for t in snap.timeline if t.type == "SupervisionReplied")
    assert replied is not None
    await assert_store_agrees(n, need_id)
    await n.record_history(need_id, "supervision_reply_missed")


async def test_a_sub_tasks_breach_goes_up_the_assisting_units_ladder(
    skipping_env: WorkflowEnvironment,
    skipping_needs: Needs,
) -> None:
    """联合办理 on the time-skipping server: the assisting unit lets its sub-task's 4 s pass;
    the sub-task goes to the unit above it (not the lead's), which reports back; only then
    does the lead complete. The sub-task rows agree with the workflow and with a rebuild."""
    from domain.commands import ReportAssist, RequestAssist
    from store import assists

    n = skipping_needs
    need_id = await n.submit_assigned(a_need("路灯坏了，需要社区通知居民"))
    await n.act(need_id, staff("grid-dongting-1"), Accept())
    await n.act(
        need_id,
        staff("grid-dongting-1"),
        RequestAssist(unit_id="community-dongting", task="通知楼栋居民夜间停电检修"),
    )
    await skip(skipping_env, 5)  # policy-fast: sla.assist 4 s, the lead's own 8 s
    snap = await n.wait_for(need_id, lambda s: "AssistEscalated" in types(s))
    (sub,) = snap.state.assists
    assert (sub.asked_unit, sub.unit_id, sub.overdue) == (
        "community-dongting",
        "street-hanzheng",
        True,
    )
    assert snap.state.assigned_unit == "grid-dongting-1"  # the lead keeps the need
    warned = [t for t in types(snap) if t == "AssistWarningIssued"]
    assert len(warned) == 2  # 50 % and 75 %, before the breach

    async def rows() -> list[dict]:
        got = await n.store.pool.fetch(
            f"SELECT {', '.join(assists.COLUMNS)} FROM need_assists WHERE stream_id = $1",
            need_id,
        )
        return [dict(r) for r in got]

    (row,) = await rows()
    assert (row["unit_id"], row["status"], row["overdue"], row["escalations"]) == (
        "street-hanzheng",
        "requested",
        True,
        1,
    )
    assert row["due_at"] == sub.due_at

    with pytest.raises(WorkflowUpdateFailedError) as refused:  # the unit first asked
        await n.act(
            need_id, staff("community-dongting"), ReportAssist(assist_id="assist-1", result="x")
        )
    assert "street-hanzheng" in str(refused.value.cause)
    await n.act(
        need_id, staff("street-hanzheng"), ReportAssist(assist_id="assist-1", result="已通知居民")
    )
    await n.act(
        need_id,
        staff(snap.state.assigned_unit or ""),
        Complete(result_summary="已修复", service_mode=ServiceMode.ON_SITE),
    )
    snap = await n.wait_for(need_id, lambda s: s.state.stage == Stage.EVALUATION)
    live = await rows()
    # in time for the deadline in force (the escalation's), as a need's completion is judged
    assert [(r["status"], r["in_time"], r["overdue"]) for r in live] == [("reported", True, False)]
    await n.store.rebuild_projections()
    assert await rows() == live
    await assert_store_agrees(n, need_id)
    await n.record_history(need_id, "joint_handling_assist_escalated")

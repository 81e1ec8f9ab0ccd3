"""A clock on every wait for a dispatcher, and adjudication (issue 19, items 1 and 5): a need the rules
could not classify, and a need returned below the return limit, each get a deadline
(`sla.dispatch`), warnings at 50 % and 75 %, and past it the first receiver (the street
office) owns the need and must accept it. On the time-skipping server, with the fast policy
plus a 6-second dispatch limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.commands import Return
from domain.model import Stage
from store.eventstore import EventStore
from tests.fixtures.temporal import CONVERTER
from tests.workflows.conftest import FAST_POLICY, Needs
from tests.workflows.test_journeys import a_need, assert_store_agrees, staff
from tests.workflows.test_timers import skip
from workers.worker import build_worker


@pytest.fixture
async def dispatch_needs(
    skipping_env: WorkflowEnvironment, task_queue: str, wf_store: EventStore, tmp_path: Path
) -> AsyncIterator[Needs]:
    text = (
        FAST_POLICY.read_text(encoding="utf-8")
        .replace("sla:\n", "sla:\n  dispatch: 6s\n  extension_decision: 3s\n", 1)
        .replace("routing:\n", "routing:\n  adjudication: true\n", 1)
    )
    policy = tmp_path / "policy-dispatch.yaml"
    policy.write_text(text, encoding="utf-8")
    plain = await Client.connect(
        skipping_env.client.service_client.config.target_host, data_converter=CONVERTER
    )
    async with build_worker(plain, task_queue, wf_store, policy):
        yield Needs(plain, task_queue, wf_store)


async def test_a_need_nobody_classifies_goes_to_the_first_receiver(
    skipping_env: WorkflowEnvironment,
    dispatch_needs: Needs,
) -> None:
    n = dispatch_needs
    need_id = await n.submit(a_need("有件事想反映一下，不知道找谁"))
    snap = await n.wait_for(need_id, lambda s: s.state.awaiting_dispatcher is not None)
    assert snap.state.due_at is not None and sorted(snap.state.warn_at) == [50, 75]
    await skip(skipping_env, 4)
    await n.wait_for(need_id, lambda s: 50 in s.state.warnings_issued)
    await skip(skipping_env, 3)
    snap = await n.wait_for(need_id, lambda s: s.state.stage == Stage.ASSIGNMENT)
    assert snap.state.assigned_unit == "street-hanzheng"
    stored = [e.event() for e in await n.stored(need_id)]
    assigned = next(e for e in stored if e.type == "DemandAssigned")
    assert (assigned.reason, assigned.rule_id) == ("dispatch_timeout", "routing.dispatch_timeout")
    requested = next(e for e in stored if e.type == "ClassificationRequested")
    assert requested.due_at is not None
    warned = [e.threshold_percent for e in stored if e.type == "DeadlineWarningIssued"]
    assert warned == [50, 75]
    await assert_store_agrees(n, need_id)
    row = await n.store.need_summary(need_id)
    assert row is not None and row["assigned_unit"] == "street-hanzheng"
    await n.record_history(need_id, "dispatch_timeout_classification")


async def test_a_returned_need_without_an_owner_goes_to_the_first_receiver(
    skipping_env: WorkflowEnvironment,
    dispatch_needs: Needs,
) -> None:
    n = dispatch_needs
    need_id = await n.submit_assigned(a_need("楼下路灯坏了"))
    await n.act(need_id, staff("grid-dongting-1"), Return(reason="不属于本网格"))
    snap = await n.wait_for(need_id, lambda s: s.state.assigned_unit is None)
    assert snap.state.stage == Stage.ASSIGNMENT and snap.state.due_at is not None
    row = await n.store.need_summary(need_id)
    assert row is not None and row["due_at"] == snap.state.due_at  # the dispatcher queue's order
    await skip(skipping_env, 7)
    snap = await n.wait_for(need_id, lambda s: s.state.assigned_unit is not None)
    assert snap.state.assigned_unit == "street-hanzheng"
    assert snap.state.accept_due_at is not None
    await assert_store_agrees(n, need_id)
    await n.record_history(need_id, "dispatch_timeout_after_return")


async def test_a_dispatcher_in_time_stops_the_clock(
    skipping_env: WorkflowEnvironment,
    dispatch_needs: Needs,
) -> None:
    from domain.commands import Classify
    from domain.model import Actor, Category, Role, Tier

    n = dispatch_needs
    need_id = await n.submit(a_need("有件事想反映一下，找谁都行"))
    await n.wait_for(need_id, lambda s: s.state.awaiting_dispatcher is not None)
    dispatcher = Actor(id="disp-1", role=Role.DISPATCHER, unit="community-dongting")
    await n.act(need_id, dispatcher, Classify(category=Category.DAILY_LIFE, tier=Tier.GRID))
    snap = await n.wait_for(need_id, lambda s: s.state.assigned_unit is not None)
    assert snap.state.assigned_unit == "grid-dongting-1"
    await skip(skipping_env, 8)
    stored = [e.event() for e in await n.stored(need_id)]
    assert [e.reason for e in stored if e.type == "DemandAssigned"] == ["routing"]


async def test_an_adjudication_after_two_returns(
    skipping_env: WorkflowEnvironment,
    dispatch_needs: Needs,
) -> None:
    from domain.commands import Accept, Adjudicate, Assign
    from domain.model import Actor, Role

    n = dispatch_needs
    supervisor = Actor(id="sup-street", role=Role.SUPERVISOR, unit="street-hanzheng")
    need_id = await n.submit_assigned(a_need("楼下路灯坏了，晚上很黑"))
    await n.act(need_id, staff("grid-dongting-1"), Return(reason="不属于本网格"))
    await n.act(need_id, supervisor, Assign(unit_id="grid-dongting-2"))
    await n.act(need_id, staff("grid-dongting-2"), Return(reason="也不属于本网格"))
    snap = await n.wait_for(need_id, lambda s: s.state.awaiting_adjudication)
    assert snap.state.assigned_unit is None and snap.state.due_at is not None
    await skip(skipping_env, 2)  # within the 6 s the supervisor has
    await n.act(need_id, supervisor, Adjudicate(unit_id="grid-dongting-1", reason="属地管理"))
    snap = await n.wait_for(need_id, lambda s: s.state.assigned_unit == "grid-dongting-1")
    assert snap.state.adjudicated_unit == "grid-dongting-1"
    await n.act(need_id, staff("grid-dongting-1"), Accept())
    await skip(skipping_env, 6)  # the old dispatch deadline has passed: nothing happens
    stored = [e.event() for e in await n.stored(need_id)]
    assert [e.reason for e in stored if e.type == "DemandAssigned"][-1] == "adjudicated"
    assert "DemandAccepted" in [e.type for e in stored]
    await assert_store_agrees(n, need_id)
    await n.record_history(need_id, "adjudicated_after_two_returns")


async def test_an_undecided_extension_request_goes_up_a_rung(
    skipping_env: WorkflowEnvironment,
    dispatch_needs: Needs,
) -> None:
    from domain.commands import Accept, RequestExtension

    n = dispatch_needs
    need_id = await n.submit_assigned(a_need("楼道灯坏了，要换整条线路"))
    await n.act(need_id, staff("grid-dongting-1"), Accept())
    await n.act(
        need_id, staff("grid-dongting-1"), RequestExtension(extra_hours=1, reason="等电工排班")
    )
    await skip(skipping_env, 3.5)
    await n.wait_for(
        need_id,
        lambda s: (
            s.state.pending_extension is None
            or s.state.pending_extension.approver_unit != "community-dongting"
        ),
    )
    stored = [e.event() for e in await n.stored(need_id)]
    moved = [e for e in stored if e.type == "ExtensionDecisionEscalated"]
    assert moved and moved[0].to_unit == "street-hanzheng", [e.type for e in stored]
    await assert_store_agrees(n, need_id)
    await n.record_history(need_id, "extension_decision_escalated")

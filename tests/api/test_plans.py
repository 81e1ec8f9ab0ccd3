"""定期服务 over HTTP on the real stack (issue 20, item 2): a plan over a need template, its
Temporal Schedule fired by hand (`trigger`, so the test waits for no calendar), three
occurrences each a need of its own, a pause that skips one, the end that stops them and
deletes the schedule; bad recurrences refused naming the field.

The schedule runs on the dev server (the time-skipping test server has no schedules), so
the occurrences are triggered rather than waited for; the calendar rules (the last Tuesday,
non-working days) are pure and tested in tests/unit/test_domain_plans.py."""

from __future__ import annotations

import asyncio
import json
import os
import uuid

import pytest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from tests.api.conftest import a_need, wait_for
from tests.workflows.conftest import HISTORIES


def a_plan(**recurrence: object) -> dict:
    template = a_need(
        "华鼎餐饮员工健康证上门体检",
        kind="enterprise",
        community="community-xinhua",
        grid="grid-xinhua-1",
    )
    template["requester"]["requester_id"] = "ent-huading"
    template["details"] = {"staff_count": "1800"}
    return {
        "external_id": f"plan-{uuid.uuid4().hex[:10]}",
        "title": "华鼎餐饮每月上门健康证体检",
        "unit": "dept-health",
        "template": template,
        "recurrence": recurrence or {"kind": "interval", "every_days": 30},
        "skip_non_working_days": False,
    }


async def plan_where(client, pid: str, check, timeout: float = 30) -> dict:
    loop = asyncio.get_running_loop()
    deadline, body = loop.time() + timeout, None
    while loop.time() < deadline:
        answer = await client.get(f"/plans/{pid}")
        if answer.status_code == 200:
            body = answer.json()
            if check(body):
                return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"plan condition not reached: {body}")


async def test_occurrences_pause_and_end(as_, dev_env: WorkflowEnvironment) -> None:
    supervisor = as_("sup_district")
    answer = await supervisor.post("/plans", json=a_plan())
    assert answer.status_code == 202, answer.text
    pid = answer.json()["id"]
    await plan_where(supervisor, pid, lambda p: p["status"] == "active")
    schedule = dev_env.client.get_schedule_handle(pid)
    assert (await schedule.describe()).schedule.state.paused is False  # the Web UI sees it

    async def fire(expected_occurrences: int) -> dict:
        await schedule.trigger()
        body = await plan_where(
            supervisor,
            pid,
            lambda p: (
                len(p["occurrences"]) == expected_occurrences
                and len(p["occurrences"]) + p["skipped"] >= expected_occurrences
            ),
        )
        await asyncio.sleep(1.1)  # occurrences are named to the second
        return body

    await fire(1)
    paused = await supervisor.post(f"/plans/{pid}/pause", json={"reason": "春节停诊"})
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert (await schedule.describe()).schedule.state.paused is True
    await schedule.trigger()  # while paused: nothing starts (skipped, if the tick comes)
    await asyncio.sleep(2)
    assert len((await supervisor.get(f"/plans/{pid}")).json()["occurrences"]) == 1
    assert (await supervisor.post(f"/plans/{pid}/resume")).json()["status"] == "active"
    await fire(2)
    body = await fire(3)

    needs = body["occurrences"]
    assert len(set(needs)) == 3  # three needs, each its own
    for need_id in needs:  # each its own deadline, served by the plan's unit
        need = await wait_for(supervisor, need_id, lambda b: b["stage"] == "assignment")
        assert need["assigned_unit"] == "dept-health", need["assigned_unit"]
        assigned = next(i for i in need["timeline"] if i["type"] == "DemandAssigned")
        assert assigned["detail"]["rule_id"] == "routing.plan_unit"
    # and each its own evaluation: the first is done, the others still wait for the unit
    health = as_("staff_health")
    assert (await health.post(f"/needs/{needs[0]}/accept")).status_code == 200
    done = await health.post(
        f"/needs/{needs[0]}/complete",
        json={"result_summary": "本月体检完成", "service_mode": "on_site"},
    )
    assert done.status_code == 200, done.text
    first = await wait_for(supervisor, needs[0], lambda b: b["stage"] == "evaluation")
    assert any(i["type"] == "EvaluationRequested" for i in first["timeline"])
    others = [(await supervisor.get(f"/needs/{n}")).json()["stage"] for n in needs[1:]]
    assert others == ["assignment", "assignment"]
    ended = await supervisor.post(f"/plans/{pid}/end", json={"reason": "合同到期"})
    assert ended.status_code == 200 and ended.json()["status"] == "ended"
    for _ in range(50):
        try:
            await schedule.describe()
        except RPCError:
            break  # deleted with the plan
        await asyncio.sleep(0.2)
    else:
        pytest.fail("the schedule outlived its plan")
    again = await supervisor.post(f"/plans/{pid}/pause", json={"reason": "x"})
    assert again.status_code == 409
    types = [e["type"] for e in (await supervisor.get(f"/plans/{pid}")).json()["timeline"]]
    assert types[0] == "PlanCreated" and "PlanPaused" in types and types[-1] == "PlanEnded"
    assert types.count("OccurrenceStarted") == 3
    if os.environ.get("RECORD_HISTORIES") == "1":  # for tests/replay
        history = await dev_env.client.get_workflow_handle(pid).fetch_history()
        record = {"workflow_id": pid, "history": json.loads(history.to_json())}
        (HISTORIES / "plan_paused_then_ended.json").write_text(json.dumps(record, indent=1))


@pytest.mark.parametrize(
    ("recurrence", "field"),
    [
        ({"kind": "monthly", "day_of_month": 31, "months": [2]}, "recurrence"),
        ({"kind": "monthly", "day_of_month": 30, "months": [4, 2]}, "recurrence"),
        ({"kind": "interval", "every_days": 0}, "recurrence.every_days"),
        ({"kind": "monthly", "weekday": 2}, "recurrence"),
        ({"kind": "weekly", "weekday": 8}, "recurrence.weekday"),
    ],
)
async def test_an_impossible_recurrence_is_refused_naming_the_field(as_, recurrence, field) -> None:
    answer = await as_("sup_district").post("/plans", json=a_plan(**recurrence))
    assert answer.status_code == 422 and answer.json()["error"]["field"] == field


async def test_who_may_set_up_plans(as_) -> None:
    body = a_plan()
    assert (await as_("integrator").post("/plans", json=body)).status_code == 403
    assert (
        await as_("staff_dongting1").post("/plans", json=body)
    ).status_code == 403  # not its unit
    unknown = await as_("sup_district").post("/plans", json=body | {"unit": "dept-nowhere"})
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "unit"
    pid = (await as_("staff_health").post("/plans", json=body)).json()["id"]
    await plan_where(as_("staff_health"), pid, lambda p: p["status"] == "active")
    assert (await as_("staff_health").post("/plans", json=body)).json()["id"] == pid  # again
    other = await as_("staff_health").post("/plans", json=body | {"title": "另一个计划"})
    assert other.status_code == 409 and other.json()["error"]["field"] == "external_id"
    assert (await as_("staff_dongting1").get(f"/plans/{pid}")).status_code == 404
    assert (await as_("sup_dongting").get(f"/plans/{pid}")).status_code == 404  # not its scope
    ended = await as_("staff_health").post(f"/plans/{pid}/end", json={"reason": "试运行结束"})
    assert ended.json()["status"] == "ended"

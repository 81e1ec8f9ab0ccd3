"""裁定 over HTTP on the real stack (issue 19, item 5): at the return limit the need waits for
a supervisor's ruling instead of landing on the street office; the ruling names the unit
with a reason, and binds it (it cannot return the need again)."""

from __future__ import annotations

from tests.api.conftest import a_need, wait_for


async def _returned_to_the_limit(as_) -> str:
    integrator, supervisor = as_("integrator"), as_("sup_street")
    first, second = as_("staff_dongting1"), as_("staff_xinhua1")
    need_id = (await integrator.post("/needs", json=a_need("楼下路灯不亮"))).json()["id"]
    await wait_for(integrator, need_id, lambda b: b["assigned_unit"] == "grid-dongting-1")
    back = await first.post(f"/needs/{need_id}/return", json={"reason": "灯杆不在本网格"})
    assert back.status_code == 200, back.text
    given = await supervisor.post(f"/needs/{need_id}/assign", json={"unit_id": "grid-xinhua-1"})
    assert given.status_code == 200, given.text
    again = await second.post(f"/needs/{need_id}/return", json={"reason": "也不在本网格"})
    assert again.status_code == 200, again.text
    assert again.json()["events"] == ["DemandReturned", "AdjudicationRequested"]
    return need_id


async def test_a_ruling_after_the_return_limit_binds_the_unit(as_) -> None:
    supervisor, first = as_("sup_street"), as_("staff_dongting1")
    need_id = await _returned_to_the_limit(as_)
    waiting = await wait_for(
        supervisor,
        need_id,
        lambda b: (
            b["assigned_unit"] is None and b["timeline"][-1]["type"] == "AdjudicationRequested"
        ),
    )
    assert waiting["due_at"] is not None  # the supervisor's clock (sla.dispatch)

    assign = await supervisor.post(f"/needs/{need_id}/assign", json={"unit_id": "grid-dongting-1"})
    assert assign.status_code == 422 and "Adjudicate" in assign.json()["error"]["message"]

    ruled = await supervisor.post(
        f"/needs/{need_id}/adjudicate",
        json={"unit_id": "grid-dongting-1", "reason": "路灯在洞庭一网格范围内"},
    )
    assert ruled.status_code == 200, ruled.text
    assert ruled.json()["events"] == ["NeedAdjudicated", "DemandAssigned"]

    detail = await wait_for(first, need_id, lambda b: b["assigned_unit"] == "grid-dongting-1")
    ruling = next(t for t in detail["timeline"] if t["type"] == "NeedAdjudicated")
    assert ruling["detail"] == {"unit_id": "grid-dongting-1", "reason": "路灯在洞庭一网格范围内"}
    refused = await first.post(f"/needs/{need_id}/return", json={"reason": "还是不归我们"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == "reason"
    assert (await first.post(f"/needs/{need_id}/accept")).status_code == 200


async def test_staff_cannot_rule(as_) -> None:
    need_id = await _returned_to_the_limit(as_)
    staff = as_("staff_dongting1")
    answer = await staff.post(
        f"/needs/{need_id}/adjudicate", json={"unit_id": "grid-dongting-1", "reason": "我们来"}
    )
    assert answer.status_code == 403, answer.text

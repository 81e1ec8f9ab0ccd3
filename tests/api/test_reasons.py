"""Every decision keeps its reason (issue 19, item 6): a classification by hand, a
reassignment, an extension granted; the timeline shows them."""

from __future__ import annotations

from tests.api.conftest import a_need, wait_for


def detail(body: dict, event_type: str) -> dict:
    return next(t for t in reversed(body["timeline"]) if t["type"] == event_type)["detail"]


async def test_the_reasons_of_decisions_are_in_the_timeline(as_) -> None:
    integrator, supervisor = as_("integrator"), as_("sup_street")
    grid, community = as_("staff_dongting1"), as_("staff_comm_dongting")
    need_id = (await integrator.post("/needs", json=a_need("有件事想反映一下，关于楼下"))).json()[
        "id"
    ]
    await wait_for(supervisor, need_id, lambda b: b["stage"] == "classification")
    classified = await supervisor.post(
        f"/needs/{need_id}/classify",
        json={"category": "daily_life", "tier": "grid", "reason": "楼下公共设施，属网格"},
    )
    assert classified.status_code == 200, classified.text
    assert (await grid.post(f"/needs/{need_id}/accept")).status_code == 200
    asked = await grid.post(
        f"/needs/{need_id}/extension", json={"extra_hours": 2, "reason": "等物业配合"}
    )
    assert asked.status_code == 200, asked.text
    granted = await community.post(
        f"/needs/{need_id}/extension-decision",
        json={"approve": True, "reason": "物业周末不上班，同意"},
    )
    assert granted.status_code == 200, granted.text
    moved = await supervisor.post(
        f"/needs/{need_id}/reassign",
        json={"unit_id": "grid-dongting-2", "reason": "实际位置在二网格"},
    )
    assert moved.status_code == 200, moved.text

    body = await wait_for(supervisor, need_id, lambda b: b["assigned_unit"] == "grid-dongting-2")
    assert detail(body, "DemandClassified")["note"] == "楼下公共设施，属网格"
    assert detail(body, "ExtensionApproved")["reason"] == "物业周末不上班，同意"
    assert detail(body, "DemandAssigned") == {
        "rule_id": "manual",
        "unit_id": "grid-dongting-2",
        "reason": "reassigned",
        "note": "实际位置在二网格",
    }

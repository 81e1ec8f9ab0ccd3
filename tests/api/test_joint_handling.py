"""联合办理 over HTTP on the real stack (issue 20, item 3): the lead asks other units for
sub-tasks; the assisting unit sees the sub-task in its inbox and may read the need (personal
data masked); the lead completes only when every sub-task is answered; a decline is back with
the lead; a supervisor releases; bad input is refused naming the field with nothing written."""

from __future__ import annotations

from tests.api.conftest import a_need, wait_for

LEAD = "grid-dongting-1"


async def _in_handling(as_) -> str:
    integrator, lead = as_("integrator"), as_("staff_dongting1")
    need_id = (await integrator.post("/needs", json=a_need("路灯坏了，灯杆也歪了"))).json()["id"]
    await wait_for(integrator, need_id, lambda b: b["stage"] == "assignment")
    assert (await lead.post(f"/needs/{need_id}/accept")).status_code == 200
    return need_id


def _row(rows: list[dict], need_id: str, task: str) -> dict | None:
    return next((r for r in rows if r["id"] == need_id and r["task"] == task), None)


async def test_the_lead_completes_only_once_its_sub_task_is_reported(as_) -> None:
    lead, urban, health = as_("staff_dongting1"), as_("staff_urban"), as_("staff_health")
    need_id = await _in_handling(as_)
    assert (await urban.get(f"/needs/{need_id}")).status_code == 404  # not asked yet

    asked = await lead.post(
        f"/needs/{need_id}/assist-request",
        json={"unit_id": "dept-urban", "task": "扶正灯杆并检查线路", "hours": 4},
    )
    assert asked.status_code == 200, asked.text
    assert asked.json()["events"] == ["AssistRequested"]

    # the assisting unit: the sub-task in its inbox, the need readable, personal data masked
    inbox = (await urban.get("/units/dept-urban/inbox")).json()
    row = _row(inbox, need_id, "assist")
    assert row is not None, inbox
    assert (row["assist_id"], row["assist_status"], row["lead_unit"]) == (
        "assist-1",
        "requested",
        LEAD,
    )
    assert row["assist_task"] == "扶正灯杆并检查线路" and row["due_at"] is not None
    seen = await urban.get(f"/needs/{need_id}")
    assert seen.status_code == 200 and seen.json()["personal_data"] == "masked"
    assert "13812345678" not in seen.text
    assert (await health.get(f"/needs/{need_id}")).status_code == 404  # not asked
    # and the lead's own row counts what it waits for
    lead_row = _row((await lead.get(f"/units/{LEAD}/inbox")).json(), need_id, "handle")
    assert lead_row is not None and lead_row["assists_open"] == 1

    done = {"result_summary": "更换灯泡，灯杆已扶正", "service_mode": "on_site"}
    refused = await lead.post(f"/needs/{need_id}/complete", json=done)
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "assist_conflict" and error["field"] == "result_summary"
    assert "assist-1" in error["message"]

    # only the unit asked answers it; another unit cannot even see the need
    assert (
        await health.post(f"/needs/{need_id}/assist-accept", json={"assist_id": "assist-1"})
    ).status_code == 404
    for path, body in (
        ("assist-accept", {"assist_id": "assist-1"}),
        ("assist-report", {"assist_id": "assist-1", "result": "灯杆已扶正，线路正常"}),
    ):
        answered = await urban.post(f"/needs/{need_id}/{path}", json=body)
        assert answered.status_code == 200, answered.text
    assert _row((await urban.get("/units/dept-urban/inbox")).json(), need_id, "assist") is None
    again = await urban.post(
        f"/needs/{need_id}/assist-report", json={"assist_id": "assist-1", "result": "再报一次"}
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "assist_conflict"

    detail = (await lead.get(f"/needs/{need_id}")).json()
    (sub,) = detail["assists"]
    assert (sub["status"], sub["unit_id"], sub["answer"], sub["in_time"]) == (
        "reported",
        "dept-urban",
        "灯杆已扶正，线路正常",
        True,
    )
    assert sub["closed_at"] is not None
    completed = await lead.post(f"/needs/{need_id}/complete", json=done)
    assert completed.status_code == 200, completed.text
    # the unit that assisted may still read the need it helped with
    assert (await urban.get(f"/needs/{need_id}")).status_code == 200


async def test_a_decline_is_back_with_the_lead_and_a_supervisor_releases(as_) -> None:
    lead, community = as_("staff_dongting1"), as_("staff_comm_dongting")
    supervisor, urban = as_("sup_street"), as_("staff_urban")
    need_id = await _in_handling(as_)
    for unit, task in (("community-dongting", "通知楼栋居民"), ("dept-urban", "检查线路")):
        asked = await lead.post(
            f"/needs/{need_id}/assist-request", json={"unit_id": unit, "task": task}
        )
        assert asked.status_code == 200, asked.text

    declined = await community.post(
        f"/needs/{need_id}/assist-decline",
        json={"assist_id": "assist-1", "reason": "该楼栋不在本社区"},
    )
    assert declined.status_code == 200, declined.text
    lead_row = _row((await lead.get(f"/units/{LEAD}/inbox")).json(), need_id, "handle")
    assert lead_row is not None
    assert (lead_row["assists_open"], lead_row["assists_declined"]) == (1, 1)

    # the lead may not release its own wait; a supervisor over the need may
    denied = await lead.post(
        f"/needs/{need_id}/assist-release", json={"assist_id": "assist-2", "reason": "不需要了"}
    )
    assert denied.status_code == 403
    released = await supervisor.post(
        f"/needs/{need_id}/assist-release",
        json={"assist_id": "assist-2", "reason": "灯杆由供电所处理"},
    )
    assert released.status_code == 200, released.text
    assert _row((await urban.get("/units/dept-urban/inbox")).json(), need_id, "assist") is None
    statuses = [a["status"] for a in (await lead.get(f"/needs/{need_id}")).json()["assists"]]
    assert statuses == ["declined", "released"]
    completed = await lead.post(
        f"/needs/{need_id}/complete", json={"result_summary": "已修复", "service_mode": "on_site"}
    )
    assert completed.status_code == 200, completed.text


async def test_an_assist_to_no_unit_or_to_the_lead_is_refused_with_nothing_written(as_) -> None:
    lead, supervisor = as_("staff_dongting1"), as_("sup_street")
    need_id = await _in_handling(as_)
    before = (await supervisor.get(f"/needs/{need_id}")).json()
    for body, field in (
        ({"unit_id": "dept-nowhere", "task": "协助"}, "unit_id"),
        ({"unit_id": LEAD, "task": "协助"}, "unit_id"),
        ({"unit_id": "dept-urban", "task": ""}, "task"),
        ({"unit_id": "dept-urban", "task": "协助", "hours": 0}, "hours"),
        ({"unit_id": "dept-urban", "task": "协助", "hours": 500}, "hours"),  # past the lead's
    ):
        refused = await lead.post(f"/needs/{need_id}/assist-request", json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.json()["error"]["field"] == field, refused.text
    after = (await supervisor.get(f"/needs/{need_id}")).json()
    assert after["timeline"] == before["timeline"] and after["assists"] == []

"""催办 and 督办 with effect, over HTTP on the real stack (issue 19, item 4): a reminder flags
the need in the unit's inbox and counts on the need and in the unit's month; a supervision
order shows its reply deadline in the inbox of the unit ordered and counts; a reply clears it;
completing the need clears the reminder flag, the counts stay."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from tests.api.conftest import a_need, wait_for

UNIT = "grid-dongting-1"


async def _counts(supervisor, month: str) -> dict[str, int]:
    stats = (await supervisor.get("/stats/units", params={"month": month, "min_needs": 0})).json()
    mine = next((s for s in stats if s["unit_id"] == UNIT), {})
    return {k: mine.get(k, 0) for k in ("reminded", "supervised", "supervision_missed")}


def _inbox_row(rows: list[dict], need_id: str) -> dict:
    return next(r for r in rows if r["id"] == need_id)


async def test_reminders_and_supervision_flag_the_inbox_and_count(as_) -> None:
    integrator, staff, supervisor = as_("integrator"), as_("staff_dongting1"), as_("sup_street")
    need_id = (await integrator.post("/needs", json=a_need("路灯坏了三天了"))).json()["id"]
    detail = await wait_for(integrator, need_id, lambda b: b["stage"] == "assignment")
    submitted = datetime.fromisoformat(detail["timeline"][0]["occurred_at"])
    month = submitted.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    before = await _counts(supervisor, month)

    row = _inbox_row((await staff.get(f"/units/{UNIT}/inbox")).json(), need_id)
    assert (row["reminders"], row["reminded"], row["supervision_due_at"]) == (0, False, None)

    for note in ("请尽快处理", "群众再次来电"):
        assert (
            await supervisor.post(f"/needs/{need_id}/remind", json={"note": note})
        ).status_code == 200
    row = _inbox_row((await staff.get(f"/units/{UNIT}/inbox")).json(), need_id)
    assert row["reminders"] == 2 and row["reminded"] and row["reminded_at"] is not None
    listed = (await supervisor.get("/needs", params={"unit": UNIT, "limit": 500})).json()
    assert next(i for i in listed["items"] if i["id"] == need_id)["reminders"] == 2

    assert (await staff.post(f"/needs/{need_id}/accept")).status_code == 200
    ordered = await supervisor.post(
        f"/needs/{need_id}/supervise", json={"note": "请书面说明进展", "reply_hours": 8}
    )
    assert ordered.status_code == 200, ordered.text
    row = _inbox_row((await staff.get(f"/units/{UNIT}/inbox")).json(), need_id)
    assert row["supervision_due_at"] is not None and row["reminded"]  # accepting is no answer
    need = (await supervisor.get(f"/needs/{need_id}")).json()
    assert (need["supervisions"], need["supervision_unit"]) == (1, UNIT)

    after = await _counts(supervisor, month)
    assert after["reminded"] - before["reminded"] == 2
    assert after["supervised"] - before["supervised"] == 1
    assert after["supervision_missed"] == before["supervision_missed"]

    replied = await staff.post(
        f"/needs/{need_id}/supervision-reply", json={"reply": "已联系供电所，明日更换"}
    )
    assert replied.status_code == 200, replied.text
    row = _inbox_row((await staff.get(f"/units/{UNIT}/inbox")).json(), need_id)
    assert row["supervision_due_at"] is None and row["reminded"]

    done = await staff.post(
        f"/needs/{need_id}/complete", json={"result_summary": "更换灯泡", "service_mode": "on_site"}
    )
    assert done.status_code == 200
    need = (await supervisor.get(f"/needs/{need_id}")).json()
    assert need["reminders"] == 2 and need["reminded_at"] is None  # answered; still counted
    assert need["supervisions"] == 1 and need["supervision_due_at"] is None

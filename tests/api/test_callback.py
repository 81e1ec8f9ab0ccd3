"""回访 over HTTP on the real stack (issue 19, item 7): the dispatch centre phones a requester
and records the rating as that requester's evaluation; the need concludes on it and the
unit's monthly satisfaction counts it like any other. The unit that handled the need cannot
record it, nor can a reviewer be recorded twice."""

from __future__ import annotations

from tests.api.conftest import a_need, wait_for


async def _at_evaluation(as_) -> tuple[str, str]:
    integrator, staff = as_("integrator"), as_("staff_dongting1")
    body = a_need("楼下路灯不亮，晚上很黑")
    need_id = (await integrator.post("/needs", json=body)).json()["id"]
    await wait_for(integrator, need_id, lambda b: b["stage"] == "assignment")
    assert (await staff.post(f"/needs/{need_id}/accept")).status_code == 200
    done = await staff.post(
        f"/needs/{need_id}/complete", json={"result_summary": "更换灯泡", "service_mode": "on_site"}
    )
    assert done.json()["stage"] == "evaluation"
    return need_id, body["requester"]["requester_id"]


async def _satisfied(supervisor, month: str) -> int:
    stats = (await supervisor.get("/stats/units", params={"month": month, "min_needs": 0})).json()
    return next(s for s in stats if s["unit_id"] == "grid-dongting-1")["satisfied"]


async def test_a_rating_taken_by_phone_closes_the_need_and_counts(as_) -> None:
    supervisor, staff = as_("sup_street"), as_("staff_dongting1")
    need_id, requester_id = await _at_evaluation(as_)
    detail = await wait_for(supervisor, need_id, lambda b: b["stage"] == "evaluation")
    month = detail["timeline"][0]["occurred_at"][:7]
    before = await _satisfied(supervisor, month)

    refused = await staff.post(
        f"/needs/{need_id}/callback", json={"reviewer_id": requester_id, "rating": "satisfied"}
    )
    assert refused.status_code == 403, refused.text  # the handling unit never rates itself

    called = await supervisor.post(
        f"/needs/{need_id}/callback",
        json={"reviewer_id": requester_id, "rating": "satisfied", "comment": "电话回访：灯已修好"},
    )
    assert called.status_code == 200, called.text
    assert called.json()["stage"] == "closed"

    final = await wait_for(supervisor, need_id, lambda b: b["stage"] == "closed")
    assert final["outcome"] == "resolved" and final["satisfied"] is True
    rated = next(t for t in final["timeline"] if t["type"] == "EvaluationSubmitted")
    assert rated["detail"] == {"rating": "satisfied", "via": "phone_callback"}
    assert rated["actor"]["id"] == "supervisor-street"
    assert await _satisfied(supervisor, month) == before + 1

    again = await supervisor.post(
        f"/needs/{need_id}/callback", json={"reviewer_id": requester_id, "rating": "unsatisfied"}
    )
    assert again.status_code == 409, again.text


async def test_only_a_requester_is_called_back_and_the_reviewer_must_be_asked(as_) -> None:
    supervisor = as_("sup_street")
    need_id, _ = await _at_evaluation(as_)
    await wait_for(supervisor, need_id, lambda b: b["stage"] == "evaluation")
    stranger = await supervisor.post(
        f"/needs/{need_id}/callback", json={"reviewer_id": "someone-else", "rating": "satisfied"}
    )
    assert stranger.status_code == 422, stranger.text
    assert stranger.json()["error"]["field"] == "reviewer_id"

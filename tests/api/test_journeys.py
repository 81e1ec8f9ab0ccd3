"""Every user's journey through HTTP on the real stack: an integrator submits, staff accept
and complete, the requester evaluates (relayed by the integrator), a supervisor reads the
timeline, the inbox, the statistics and the demand list."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

from tests.api.conftest import a_need, wait_for

SHANGHAI = timezone(timedelta(hours=8))


async def test_a_street_lamp_from_submission_to_statistics(as_) -> None:
    integrator, staff = as_("integrator"), as_("staff_dongting1")
    supervisor = as_("sup_district")
    body = a_need("路灯坏了，晚上很黑")
    sent = await integrator.post("/needs", json=body)
    assert sent.status_code == 202
    need_id = sent.json()["id"]
    assert sent.headers["location"] == f"/needs/{need_id}"
    again = await integrator.post("/needs", json=body)
    assert again.status_code == 202 and again.json()["id"] == need_id  # idempotent

    mine = await wait_for(integrator, need_id, lambda b: b["stage"] == "assignment")
    assert mine["assigned_unit"] == "grid-dongting-1" and mine["personal_data"] == "masked"
    assert mine["requester"]["name"] == "王**" and mine["requester"]["phone"] == "138******78"

    inbox = (await staff.get("/units/grid-dongting-1/inbox")).json()
    assert need_id in [i["id"] for i in inbox]
    task = next(i for i in inbox if i["id"] == need_id)
    assert task["task"] == "accept" and task["overdue"] is False
    assert [i["due_at"] for i in inbox] == sorted(i["due_at"] for i in inbox if i["due_at"]) + [
        None
    ] * sum(1 for i in inbox if i["due_at"] is None)

    detail = (await staff.get(f"/needs/{need_id}")).json()
    assert detail["personal_data"] == "unmasked" and detail["requester"]["name"] == "王小明"
    accepted = await staff.post(f"/needs/{need_id}/accept")
    assert accepted.status_code == 200 and accepted.json()["stage"] == "handling"
    noted = await staff.post(f"/needs/{need_id}/progress", json={"note": "已报修"})
    assert noted.json()["events"] == ["ProgressNoted"]
    done = await staff.post(
        f"/needs/{need_id}/complete", json={"result_summary": "更换灯泡", "service_mode": "on_site"}
    )
    assert done.status_code == 200 and done.json()["stage"] == "evaluation"

    requester_id = body["requester"]["requester_id"]
    rated = await integrator.post(
        f"/needs/{need_id}/evaluation", json={"reviewer_id": requester_id, "rating": "satisfied"}
    )
    assert rated.status_code == 200, rated.text
    assert rated.json()["stage"] == "closed"

    final = await wait_for(supervisor, need_id, lambda b: b["stage"] == "closed")
    assert final["outcome"] == "resolved" and final["satisfied"] is True
    types = [t["type"] for t in final["timeline"]]
    assert types[0] == "DemandSubmitted" and types[-1] == "DemandClosed"
    actors = {t["type"]: t["actor"] for t in final["timeline"]}
    assert actors["DemandSubmitted"]["id"] == "integrator-demo"
    assert actors["DemandAccepted"] == {
        "id": "staff-grid-dongting-1",
        "role": "staff",
        "unit": "grid-dongting-1",
    }
    assert actors["EvaluationSubmitted"]["unit"] == requester_id  # spoken for by the integrator

    month = final["timeline"][0]["occurred_at"][:7]
    stats = (await supervisor.get("/stats/units", params={"month": month, "min_needs": 1})).json()
    grid = next(s for s in stats if s["unit_id"] == "grid-dongting-1")
    assert grid["completed"] >= 1 and grid["rank"] is not None
    unranked = (
        await supervisor.get("/stats/units", params={"month": month, "min_needs": 100000})
    ).json()
    assert all(s["rank"] is None for s in unranked)
    listed = (await supervisor.get("/lists/demand")).json()
    lamp = next(r for r in listed if r["item"] == "street-lamp")
    assert lamp["category"] == "daily_life" and lamp["resolved"] >= 1


async def test_a_dispatcher_classifies_assigns_and_staff_reclassify(as_) -> None:
    """No rule knows the text: the need waits for a dispatcher. Only a supervisor may
    classify it (the routing rules then assign it); after the unit returns it, a supervisor
    assigns it within the scope, and that unit's staff accept it and correct the urgency."""
    integrator, grid_staff = as_("integrator"), as_("staff_dongting1")
    community_staff, supervisor = as_("staff_comm_dongting"), as_("sup_dongting")
    need_id = (await integrator.post("/needs", json=a_need("有个事情想问问"))).json()["id"]
    waiting = await wait_for(supervisor, need_id, lambda b: b["stage"] == "classification")
    assert waiting["assigned_unit"] is None and waiting["category"] is None
    body = {"category": "daily_life", "tier": "grid"}
    assert (await grid_staff.post(f"/needs/{need_id}/classify", json=body)).status_code == 403
    assert (await integrator.post(f"/needs/{need_id}/classify", json=body)).status_code == 403
    bad = await supervisor.post(f"/needs/{need_id}/classify", json={**body, "tier": "planet"})
    assert bad.status_code == 422 and bad.json()["error"]["field"].endswith("tier")

    classified = await supervisor.post(f"/needs/{need_id}/classify", json=body)
    assert classified.status_code == 200, classified.text
    assert classified.json()["events"] == ["DemandClassified", "DemandAssigned"]
    routed = await wait_for(grid_staff, need_id, lambda b: b["stage"] == "assignment")
    assert routed["assigned_unit"] == "grid-dongting-1" and routed["category"] == "daily_life"

    returned = await grid_staff.post(f"/needs/{need_id}/return", json={"reason": "不归网格管"})
    assert returned.status_code == 200 and returned.json()["events"] == ["DemandReturned"]
    outside = await supervisor.post(f"/needs/{need_id}/assign", json={"unit_id": "grid-xinhua-1"})
    assert outside.status_code == 422 and outside.json()["error"]["field"] == "unit_id"
    assigned = await supervisor.post(
        f"/needs/{need_id}/assign", json={"unit_id": "community-dongting"}
    )
    assert assigned.status_code == 200 and assigned.json()["events"] == ["DemandAssigned"]

    accepted = await community_staff.post(f"/needs/{need_id}/accept")
    assert accepted.status_code == 200 and accepted.json()["stage"] == "handling"
    fix = {**body, "urgency": "urgent", "reason": "老人独居"}  # after acceptance: no new route
    assert (await grid_staff.post(f"/needs/{need_id}/reclassify", json=fix)).status_code == 404
    fixed = await community_staff.post(f"/needs/{need_id}/reclassify", json=fix)
    assert fixed.status_code == 200 and fixed.json()["events"] == ["DemandReclassified"]
    final = await wait_for(supervisor, need_id, lambda b: b["urgency"] == "urgent")
    assert final["assigned_unit"] == "community-dongting"
    actors = {t["type"]: t["actor"] for t in final["timeline"]}
    assert actors["DemandClassified"]["role"] == "supervisor"
    assert actors["DemandReclassified"] == {
        "id": "staff-community-dongting",
        "role": "staff",
        "unit": "community-dongting",
    }


async def test_enterprise_information_request_answered_by_the_integrator(as_) -> None:
    integrator, health = as_("integrator"), as_("staff_health")
    body = a_need("员工健康证需要换证", kind="enterprise", channel="joint_meeting")
    need_id = (await integrator.post("/needs", json=body)).json()["id"]
    pending = await wait_for(
        integrator, need_id, lambda b: (b["live"] or {}).get("pending_information") is not None
    )
    assert pending["live"]["pending_information"]["missing_fields"] == ["staff_count"]
    answered = await integrator.post(
        f"/needs/{need_id}/information", json={"fields": {"staff_count": "1800"}}
    )
    assert answered.status_code == 200, answered.text
    await wait_for(health, need_id, lambda b: b["stage"] == "assignment")
    refused = await health.post(
        f"/needs/{need_id}/complete", json={"result_summary": "x", "service_mode": "on_site"}
    )
    assert refused.status_code == 409
    assert refused.json()["error"] == {
        "code": "wrong_stage",
        "field": "stage",
        "message": refused.json()["error"]["message"],
    }
    assert (await health.post(f"/needs/{need_id}/accept")).status_code == 200
    asked = await health.post(
        f"/needs/{need_id}/extension", json={"extra_hours": 8, "reason": "体检机构排期"}
    )
    assert asked.json()["events"] == ["ExtensionRequested"]
    district = as_("sup_district")
    decided = await district.post(f"/needs/{need_id}/extension-decision", json={"approve": True})
    assert decided.status_code == 200 and decided.json()["events"] == ["ExtensionApproved"]


async def test_supervisor_filters_pages_and_exports(as_) -> None:
    integrator, supervisor = as_("integrator"), as_("sup_street")
    ids = [
        (
            await integrator.post(
                "/needs",
                json=a_need(
                    f"小区垃圾没人清扫 {i}", grid="grid-xinhua-1", community="community-xinhua"
                ),
            )
        ).json()["id"]
        for i in range(3)
    ]
    for need_id in ids:
        await wait_for(supervisor, need_id, lambda b: b["stage"] == "assignment")
    today = datetime.now(SHANGHAI).date().isoformat()
    params = {
        "category": "daily_life",
        "unit": "community-xinhua",
        "stage": "assignment",
        "submitted_from": today,
        "limit": 2,
    }
    first = (await supervisor.get("/needs", params=params)).json()
    assert len(first["items"]) == 2 and first["next"] == "offset=2"
    rest = (await supervisor.get("/needs", params=params | {"offset": 2, "limit": 100})).json()
    seen = [i["id"] for i in first["items"] + rest["items"]]
    assert set(ids) <= set(seen) and len(seen) == len(set(seen))
    assert all(i["category"] == "daily_life" for i in first["items"] + rest["items"])
    csv_text = (await supervisor.get("/lists/demand", params={"format": "csv"})).text
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert any(r["item"] == "sanitation" and int(r["needs"]) >= 3 for r in rows)
    by_accept = await supervisor.get("/stats/units", headers={"Accept": "text/csv"})
    assert by_accept.headers["content-type"].startswith("text/csv")
    assert by_accept.text.splitlines()[0].startswith("unit_id,unit_name,month,rank")
    audit = (await as_("admin").get("/audit/verify")).json()
    assert audit["ok"] is True and audit["events"] > 0


async def test_bad_input_is_422_naming_the_field_without_echoing_it(as_) -> None:
    integrator = as_("integrator")
    body = a_need("x")
    body["requester"]["phone"] = "1" * 80
    response = await integrator.post("/needs", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "requester.phone" and "1" * 80 not in response.text
    missing = await as_("nobody").get("/needs")
    assert missing.status_code == 401 and missing.json()["error"]["field"] == "X-API-Key"


async def test_nul_characters_are_refused_at_the_boundary(as_) -> None:
    body = a_need("路灯\x00坏了")
    response = await as_("integrator").post("/needs", json=body)
    assert response.status_code == 422 and response.json()["error"]["field"] == "title"
    lone = await as_("integrator").post(
        "/needs", content=_json_with_lone_surrogate(), headers={"content-type": "application/json"}
    )
    assert lone.status_code == 422 and lone.json()["error"]["field"] == "description"


def _json_with_lone_surrogate() -> bytes:
    import json

    body = a_need("路灯坏了") | {"description": "PLACEHOLDER"}
    return json.dumps(body).replace("PLACEHOLDER", "\\ud800").encode()


async def test_a_month_that_does_not_exist_is_a_422_and_the_next_request_still_works(as_):
    supervisor = as_("sup_district")
    response = await supervisor.get("/stats/units", params={"month": "0000-01"})
    assert response.status_code == 422 and response.json()["error"]["field"] == "month"
    assert (await supervisor.get("/stats/units", params={"month": "2026-12"})).status_code == 200

"""Intake over HTTP on the real stack: a need's identity per submitter, repeats judged on item
and place, possible repeats settled by a dispatcher, the joined need named in the receipt,
and bad text or places refused naming the field."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.api.conftest import a_need, wait_for


def at_building(title: str, building: str, **extra) -> dict:
    body = a_need(title, **extra)
    body["location"]["building"] = building
    return body


async def test_two_integrators_with_one_external_id_get_two_needs(as_) -> None:
    first, second = as_("integrator"), as_("partner")
    body = a_need("路灯坏了")
    other = a_need("电梯坏了", grid="grid-xinhua-1", community="community-xinhua")
    other["external_id"] = body["external_id"]
    a = await first.post("/needs", json=body)
    b = await second.post("/needs", json=other)
    assert a.status_code == b.status_code == 202
    assert a.json()["id"] != b.json()["id"]
    mine = await wait_for(second, b.json()["id"], lambda n: n["stage"] != "collection")
    assert mine["title"] == "电梯坏了"


async def test_a_resend_with_other_content_is_a_409_naming_the_need(as_) -> None:
    integrator = as_("integrator")
    body = a_need("路灯坏了")
    need_id = (await integrator.post("/needs", json=body)).json()["id"]
    await wait_for(integrator, need_id, lambda n: n["stage"] == "assignment")
    same = await integrator.post("/needs", json=body)
    assert same.status_code == 202 and same.json()["id"] == need_id
    changed = await integrator.post("/needs", json=body | {"title": "路灯又坏了，还漏电"})
    assert changed.status_code == 409
    error = changed.json()["error"]
    assert error["field"] == "external_id" and need_id in error["message"]


async def test_a_changed_resend_right_after_the_first_is_a_409_and_the_first_content_stays(
    as_,
) -> None:
    """Before the need's first event is stored (the first 202 has just come back, or both are
    sent at once) the workflow's start input says which content the need holds."""
    integrator = as_("integrator")
    body = a_need("98栋楼道灯不亮")
    first = await integrator.post("/needs", json=body)
    changed = await integrator.post("/needs", json=body | {"title": "98栋电梯坏了"})
    assert first.status_code == 202 and changed.status_code == 409
    assert first.json()["id"] in changed.json()["error"]["message"]
    both = a_need("99栋楼道灯不亮")
    answers = await asyncio.gather(
        integrator.post("/needs", json=both),
        integrator.post("/needs", json=both | {"title": "99栋电梯坏了"}),
    )
    assert sorted(a.status_code for a in answers) == [202, 409]
    won = next(a for a in answers if a.status_code == 202)
    need = await wait_for(integrator, won.json()["id"], lambda n: n["stage"] != "collection")
    kept = both["title"] if answers[0].status_code == 202 else "99栋电梯坏了"
    assert need["title"] == kept
    again = await integrator.post("/needs", json=body)  # the same content: the same need
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]


async def test_a_repeat_merges_and_its_receipt_names_the_need_it_joined(as_) -> None:
    first, second = as_("integrator"), as_("partner")
    building = f"{uuid.uuid4().int % 900 + 100}栋"
    primary = (
        await first.post("/needs", json=at_building("楼道灯坏了，晚上很黑", building))
    ).json()["id"]
    await wait_for(first, primary, lambda n: n["stage"] == "assignment")
    repeat = (
        await second.post("/needs", json=at_building("楼道的灯不亮好几天了，很黑", building))
    ).json()["id"]
    merged = await wait_for(second, repeat, lambda n: n["stage"] == "closed")
    assert merged["outcome"] == "merged"
    assert merged["joined"] == {"id": primary, "stage": "assignment", "outcome": None}
    detail = next(t["detail"] for t in merged["timeline"] if t["type"] == "DemandMerged")
    assert detail["into_stream_id"] == primary and detail["score"] >= 0.7
    # The primary's requester list now holds the merged report's requester: asked to evaluate.
    staff = as_("staff_dongting1")
    await staff.post(f"/needs/{primary}/accept")
    done = await staff.post(
        f"/needs/{primary}/complete", json={"result_summary": "换了灯泡", "service_mode": "on_site"}
    )
    assert done.status_code == 200
    shown = await wait_for(
        as_("sup_district"), primary, lambda n: len((n.get("live") or {}).get("reviewers", [])) == 2
    )
    assert len(set(shown["live"]["reviewers"])) == 2


async def test_a_classification_shows_its_matched_words_in_the_timeline(as_) -> None:
    integrator = as_("integrator")
    need_id = (await integrator.post("/needs", json=a_need("电梯坏了，老人下不了楼"))).json()["id"]
    need = await wait_for(integrator, need_id, lambda n: n["stage"] == "assignment")
    detail = next(t["detail"] for t in need["timeline"] if t["type"] == "DemandClassified")
    assert detail["rule_id"] == "lift" and "电梯" in detail["matched_terms"]
    assert need["assigned_unit"] == "community-dongting"


async def test_a_report_no_words_name_is_classified_by_the_learned_model(as_) -> None:
    """No item's words are sure of 水顺着墙往下流: the learned classifier (domain/learned.py)
    names the leak, and the timeline shows the features that spoke, marked ≈."""
    integrator = as_("integrator")
    body = a_need("水顺着墙往下流，家里到处湿漉漉")
    need_id = (await integrator.post("/needs", json=body)).json()["id"]
    need = await wait_for(integrator, need_id, lambda n: n["stage"] == "assignment")
    detail = next(t["detail"] for t in need["timeline"] if t["type"] == "DemandClassified")
    assert detail["rule_id"] == "water-leak"
    assert detail["matched_terms"] and all(t.startswith("≈") for t in detail["matched_terms"])
    assert 0.6 <= detail["confidence"] <= 0.65


async def test_a_possible_repeat_waits_for_a_dispatcher_who_links_or_dismisses_it(as_) -> None:
    integrator, supervisor = as_("integrator"), as_("sup_district")
    grid_only = a_need("小区门口的垃圾没人清运，很臭")
    del grid_only["location"]["building"]
    grid_only["location"].pop("address")
    grid_only |= {
        "location": grid_only["location"]
        | {"grid": "grid-qinghe-2", "community": "community-qinghe"}
    }
    first = (await integrator.post("/needs", json=grid_only)).json()["id"]
    await wait_for(integrator, first, lambda n: n["stage"] == "assignment")
    again = grid_only | {
        "external_id": f"ext-{uuid.uuid4().hex}",
        "title": "小区门口垃圾好几天没人清运了",
    }
    second = (await integrator.post("/needs", json=again)).json()["id"]
    flagged = await wait_for(supervisor, second, lambda n: n["stage"] == "assignment")
    assert flagged["possible_repeat_of"] == first
    listed = (await supervisor.get("/needs", params={"possible_repeat": "true"})).json()
    assert second in [i["id"] for i in listed["items"]]
    refused = await as_("staff_comm_dongting").post(
        f"/needs/{second}/repeat-decision", json={"decision": "link"}
    )
    assert refused.status_code == 403
    linked = await supervisor.post(f"/needs/{second}/repeat-decision", json={"decision": "link"})
    assert linked.status_code == 200, linked.text
    assert linked.json()["events"] == ["PossibleRepeatResolved", "DemandMerged", "DemandClosed"]
    listed = (await supervisor.get("/needs", params={"possible_repeat": "true"})).json()
    assert second not in [i["id"] for i in listed["items"]]
    primary = await wait_for(
        supervisor, first, lambda n: any(t["type"] == "ReportLinked" for t in n["timeline"])
    )
    assert primary["stage"] == "assignment"
    twice = await supervisor.post(f"/needs/{second}/repeat-decision", json={"decision": "link"})
    assert twice.status_code == 409  # closed: nothing left to settle, nothing written


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": "   "}, "title"),
        ({"title": "\u200b"}, "title"),
        ({"title": "！？。"}, "title"),
        ({"location": {"street": "street-hanzheng", "grid": "dept-health"}}, "location.grid"),
        (
            {
                "location": {
                    "street": "street-hanzheng",
                    "community": "community-xinhua",
                    "grid": "grid-dongting-1",
                }
            },
            "location.grid",
        ),
        ({"location": {"street": "community-dongting"}}, "location.street"),
    ],
)
async def test_invisible_text_or_a_place_outside_the_directory_is_a_422(as_, change, field):
    response = await as_("integrator").post("/needs", json=a_need("路灯坏了") | change)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


async def test_a_lamp_at_an_address_of_a_street_alone_is_asked_where(as_) -> None:
    integrator = as_("integrator")
    place = {"street": "street-hanzheng", "address": "汉正街附近"}
    need_id = (
        await integrator.post("/needs", json=a_need("路灯坏了，晚上很黑") | {"location": place})
    ).json()["id"]
    asked = await wait_for(
        integrator, need_id, lambda n: (n.get("live") or {}).get("pending_information")
    )
    assert asked["live"]["pending_information"]["missing_fields"] == ["location"]
    assert asked["stage"] == "collection" and asked["assigned_unit"] is None


async def test_a_lamp_reported_with_only_a_street_is_asked_where(as_) -> None:
    integrator = as_("integrator")
    body = a_need("路灯坏了，晚上很黑") | {"location": {"street": "street-hanzheng"}}
    need_id = (await integrator.post("/needs", json=body)).json()["id"]
    asked = await wait_for(
        integrator, need_id, lambda n: (n.get("live") or {}).get("pending_information")
    )
    assert asked["live"]["pending_information"]["missing_fields"] == ["location"]
    answered = await integrator.post(
        f"/needs/{need_id}/information",
        json={"fields": {"grid": "grid-dongting-2", "building": "9栋"}},
    )
    assert answered.status_code == 200, answered.text
    routed = await wait_for(integrator, need_id, lambda n: n["stage"] == "assignment")
    assert routed["assigned_unit"] == "grid-dongting-2"
    # the need is where the answer put it: in the listing (a community's supervisor finds
    # it there) and in its detail
    assert (routed["community"], routed["grid"]) == ("community-dongting", "grid-dongting-2")
    assert routed["location"]["grid"] == "grid-dongting-2"
    assert routed["location"]["building"] == "9栋"
    listed = (await integrator.get("/needs", params={"limit": 500})).json()["items"]
    assert [n["grid"] for n in listed if n["id"] == need_id] == ["grid-dongting-2"]


async def test_a_supervisor_splits_a_merged_report_back_into_a_need_of_its_own(as_) -> None:
    first, second, supervisor = as_("integrator"), as_("partner"), as_("sup_district")
    building = f"{uuid.uuid4().int % 900 + 100}栋"
    primary = (
        await first.post("/needs", json=at_building("楼道灯坏了，晚上很黑", building))
    ).json()["id"]
    await wait_for(first, primary, lambda n: n["stage"] == "assignment")
    body = at_building("楼道的灯不亮好几天了，很黑", building)
    repeat = (await second.post("/needs", json=body)).json()["id"]
    await wait_for(second, repeat, lambda n: n["stage"] == "closed")
    await wait_for(
        supervisor, primary, lambda n: any(t["type"] == "ReportLinked" for t in n["timeline"])
    )

    assert (
        await as_("staff_dongting1").post(f"/needs/{repeat}/unmerge", json={"reason": "另一盏灯"})
    ).status_code == 403
    split = await supervisor.post(f"/needs/{repeat}/unmerge", json={"reason": "是另一盏灯"})
    assert split.status_code == 200, split.text
    assert split.json()["events"] == ["ReportUnlinked"]
    split_id = split.headers["location"].removeprefix("/needs/")
    assert split_id.startswith("need-app-") and split_id not in (repeat, primary)
    own = await wait_for(second, split_id, lambda n: n["stage"] == "assignment")
    assert own["assigned_unit"] == "grid-dongting-1" and own["title"] == body["title"]
    assert split.json()["split_id"] == split_id and split.json()["id"] == primary
    origin = next(t["detail"] for t in own["timeline"] if t["type"] == "DemandSplit")
    assert origin["merged_stream_id"] == repeat and origin["primary_stream_id"] == primary
    # the split is the supervisor's, with the reason, though the new need is its submitter's
    assert origin["split_by"] == "supervisor-district" and origin["reason"] == "是另一盏灯"
    unlinked = (await supervisor.get(f"/needs/{primary}")).json()["timeline"]
    assert any(
        t["type"] == "ReportUnlinked" and t["detail"]["reason"] == "是另一盏灯" for t in unlinked
    )
    merged_report = (await second.get(f"/needs/{repeat}")).json()
    assert merged_report["split_into"] == {"id": split_id, "stage": "assignment", "outcome": None}
    assert merged_report["joined"]["id"] == primary  # what happened first stays told
    reviewers = (await supervisor.get(f"/needs/{primary}")).json()["live"]["reviewers"]
    assert body["requester"]["requester_id"] not in reviewers
    again = await supervisor.post(f"/needs/{repeat}/unmerge", json={"reason": "再拆一次"})
    assert again.status_code == 409
    never = await supervisor.post(f"/needs/{primary}/unmerge", json={"reason": "没合并过"})
    assert never.status_code == 409 and never.json()["error"]["code"] == "not_merged"

"""The three lists over HTTP on the real stack (issue 20, item 4): needs consolidated into
demand items, resources that can serve them, a co-building project over two items whose
completion completes the open needs it covers and asks every requester to evaluate; bad
input refused naming the field with nothing written; supervisors only, within their scope;
CSV exports.

The project's needs are at 清河社区 (community-qinghe), which no other API test uses, and the
project's period is today: its completion reaches only the needs made here."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from tests.api.conftest import a_need, wait_for

QINGHE = {"community": "community-qinghe"}
TODAY = datetime.now(ZoneInfo("Asia/Shanghai")).date()
LAMP = {"category": "daily_life", "item": "street-lamp"}
DRAINAGE = {"category": "daily_life", "item": "drainage"}


def qinghe(title: str, grid: str) -> dict:
    return a_need(title, grid=grid, community="community-qinghe")


def resource_body(**change: object) -> dict:
    return {
        "owner_unit": "dept-urban",
        "kind": "service",
        "name": "路灯抢修服务队",
        "description": "城管局路灯抢修，夜间值守",
        "capacity": 6,
        "items": [LAMP],
    } | change


def project_body(resources: list[str], **change: object) -> dict:
    return {
        "name": "清河社区亮灯畅排共建",
        "description": "路灯更换与下水道疏通",
        "community": "community-qinghe",
        "period_from": str(TODAY - timedelta(days=1)),
        "period_to": str(TODAY + timedelta(days=1)),
        "items": [LAMP, DRAINAGE],
        "resources": resources,
        "owner_units": ["dept-urban", "community-qinghe"],
        "starts_on": str(TODAY),
        "ends_on": str(TODAY + timedelta(days=30)),
    } | change


async def _submit(integrator, body: dict, stage: str = "assignment") -> tuple[str, str]:
    sent = await integrator.post("/needs", json=body)
    assert sent.status_code == 202, sent.text
    need_id = sent.json()["id"]
    await wait_for(integrator, need_id, lambda b: b["stage"] == stage)
    return need_id, body["requester"]["requester_id"]


async def test_a_project_over_two_items_completes_their_needs_and_asks_every_requester(
    as_,
) -> None:
    integrator, admin, district = as_("integrator"), as_("admin"), as_("sup_district")
    # needs of two items at 清河社区: two lamps (one accepted, one not) and a blocked drain
    lamp_1, res_1 = await _submit(integrator, qinghe("楼道灯不亮了，晚上看不见", "grid-qinghe-1"))
    lamp_2, res_2 = await _submit(integrator, qinghe("路灯坏了好几天", "grid-qinghe-2"))
    drain, res_3 = await _submit(integrator, qinghe("下水道堵了，污水外溢", "grid-qinghe-1"))
    other, _ = await _submit(integrator, qinghe("租房合同纠纷，想咨询律师", "grid-qinghe-2"))
    for need_id in (lamp_1, drain):  # the assigned units take two of them on
        assert (await admin.post(f"/needs/{need_id}/accept")).status_code == 200
    # the demand list consolidates them into items
    items = {
        (r["category"], r["item"]): r
        for r in (await district.get("/lists/demand", params={"submitted_from": str(TODAY)})).json()
    }
    assert items[("daily_life", "street-lamp")]["open"] >= 2
    assert items[("daily_life", "drainage")]["open"] >= 1

    # the resource list: what two units offer for those items
    made = await district.post("/lists/resources", json=resource_body())
    assert made.status_code == 201, made.text
    repair = made.json()
    assert made.headers["location"] == f"/lists/resources/{repair['id']}"
    assert (repair["status"], repair["owner_name"], repair["version"]) == (
        "active",
        "区城管局 Urban management",
        1,
    )
    volunteers = (
        await district.post(
            "/lists/resources",
            json=resource_body(
                owner_unit="community-qinghe",
                kind="volunteers",
                name="清河疏通志愿服务队",
                capacity=20,
                items=[DRAINAGE],
            ),
        )
    ).json()
    listed = (await district.get("/lists/resources", params=LAMP)).json()
    assert repair["id"] in {r["id"] for r in listed}
    assert volunteers["id"] not in {r["id"] for r in listed}  # it serves another item

    # the project list: a project over both items with both resources
    made = await district.post(
        "/lists/projects", json=project_body([repair["id"], volunteers["id"]])
    )
    assert made.status_code == 201, made.text
    project = made.json()
    assert project["status"] == "planned"
    detail = (await district.get(f"/lists/projects/{project['id']}")).json()
    assert detail["needs"]["open"] >= 3 and detail["needs"]["by_stage"]["handling"] >= 2
    # completing needs a running project
    early = await district.post(
        f"/lists/projects/{project['id']}/complete", json={"result_summary": "提前"}
    )
    assert early.status_code == 409 and early.json()["error"]["field"] == "status"
    started = await district.post(f"/lists/projects/{project['id']}/start")
    assert started.json()["status"] == "running"

    done = await district.post(
        f"/lists/projects/{project['id']}/complete",
        json={"result_summary": "更换路灯12盏，疏通下水道3处", "service_mode": "on_site"},
    )
    assert done.status_code == 200, done.text
    answer = done.json()
    assert answer["project"]["status"] == "completed"
    assert answer["project"]["completed_at"] is not None
    assert {lamp_1, lamp_2, drain} <= set(answer["completed"])
    assert not {lamp_1, lamp_2, drain} & {s["id"] for s in answer["skipped"]}

    # every covered need is in evaluation, its result names the project, its requester asked
    for need_id, requester in ((lamp_1, res_1), (lamp_2, res_2), (drain, res_3)):
        body = await wait_for(district, need_id, lambda b: b["stage"] == "evaluation")
        completed = next(e for e in body["timeline"] if e["type"] == "HandlingCompleted")
        assert "清河社区亮灯畅排共建" in completed["detail"]["result_summary"]
        assert completed["actor"]["role"] == "supervisor"
        assert requester in body["live"]["reviewers"]
        rated = await integrator.post(
            f"/needs/{need_id}/evaluation", json={"reviewer_id": requester, "rating": "satisfied"}
        )
        assert rated.status_code == 200, rated.text
        await wait_for(integrator, need_id, lambda b: b["stage"] == "closed")
    # the unaccepted need was completed without an acceptance on its record
    unaccepted = (await district.get(f"/needs/{lamp_2}")).json()
    assert "DemandAccepted" not in [e["type"] for e in unaccepted["timeline"]]
    # a need of another item is left alone
    assert (await district.get(f"/needs/{other}")).json()["stage"] == "assignment"

    # the project's history: created, started, completed, each with its actor
    history = (await district.get(f"/lists/projects/{project['id']}")).json()["history"]
    assert [h["change"] for h in history] == ["created", "started", "completed"]
    assert {h["actor_id"] for h in history} == {"supervisor-district"}
    again = await district.post(
        f"/lists/projects/{project['id']}/complete", json={"result_summary": "再次"}
    )
    assert again.status_code == 409


async def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(as_) -> None:
    district = as_("sup_district")
    resources_before = (await district.get("/lists/resources")).json()
    projects_before = (await district.get("/lists/projects")).json()
    bad_resources = [
        (resource_body(owner_unit="dept-nowhere"), "owner_unit"),
        (resource_body(capacity=0), "capacity"),
        (resource_body(items=[{"category": "daily_life", "item": "no-such-item"}]), "items.0"),
        (resource_body(kind="castle"), "kind"),
        (resource_body(description="联系人电话13812345678"), "description"),
    ]
    for body, field in bad_resources:
        refused = await district.post("/lists/resources", json=body)
        assert refused.status_code == 422, (field, refused.text)
        assert refused.json()["error"]["field"] == field
        assert "13812345678" not in refused.text
    bad_projects = [
        (project_body([], ends_on=str(TODAY - timedelta(days=1))), "ends_on"),
        (project_body([], items=[{"category": "legal", "item": "street-lamp"}]), "items.0"),
        (project_body([], owner_units=["dept-nowhere"]), "owner_units.0"),
        (project_body([], community="dept-urban"), "community"),
        (project_body(["res-doesnotexist"]), "resources.0"),
        (project_body([], items=[]), "items"),
    ]
    for body, field in bad_projects:
        refused = await district.post("/lists/projects", json=body)
        assert refused.status_code == 422, (field, refused.text)
        assert refused.json()["error"]["field"] == field
    made = (await district.post("/lists/resources", json=resource_body())).json()
    refused = await district.patch(f"/lists/resources/{made['id']}", json={"capacity": 0})
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "capacity"
    refused = await district.patch(f"/lists/resources/{made['id']}", json={"owner_unit": "x"})
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "owner_unit"
    assert (await district.get(f"/lists/resources/{made['id']}")).json()["version"] == 1
    # nothing written but the one valid resource
    after = (await district.get("/lists/resources")).json()
    assert len(after) == len(resources_before) + 1
    assert len((await district.get("/lists/projects")).json()) == len(projects_before)
    # a change on an old version is refused
    changed = await district.patch(
        f"/lists/resources/{made['id']}", json={"capacity": 8, "version": 1}
    )
    assert changed.status_code == 200 and changed.json()["version"] == 2
    stale = await district.patch(
        f"/lists/resources/{made['id']}", json={"capacity": 9, "version": 1}
    )
    assert stale.status_code == 409
    retired = await district.post(f"/lists/resources/{made['id']}/retire")
    assert retired.json()["status"] == "retired"
    refused = await district.post("/lists/projects", json=project_body([made["id"]]))
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "resources.0"


async def test_supervisors_only_and_within_their_scope(as_) -> None:
    district, dongting, street = as_("sup_district"), as_("sup_dongting"), as_("sup_street")
    resource = (
        await district.post(
            "/lists/resources",
            json=resource_body(owner_unit="community-qinghe", kind="venue", name="清河活动室"),
        )
    ).json()
    project = (await district.post("/lists/projects", json=project_body([resource["id"]]))).json()
    for who in ("staff_dongting1", "integrator"):
        client = as_(who)
        for path in ("/lists/resources", "/lists/projects"):
            assert (await client.get(path)).status_code == 403, (who, path)
        denied = await client.post("/lists/resources", json=resource_body())
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "not_permitted"
        assert (await client.post(f"/lists/projects/{project['id']}/start")).status_code == 403
    # 洞庭社区's supervisor sees neither 清河's resource nor its project
    assert resource["id"] not in {r["id"] for r in (await dongting.get("/lists/resources")).json()}
    assert project["id"] not in {p["id"] for p in (await dongting.get("/lists/projects")).json()}
    for path in (f"/lists/resources/{resource['id']}", f"/lists/projects/{project['id']}"):
        hidden = await dongting.get(path)
        assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "not_found"
    assert (await dongting.post(f"/lists/projects/{project['id']}/start")).status_code == 404
    outside = await dongting.post("/lists/resources", json=resource_body())  # dept-urban's
    assert outside.status_code == 422 and outside.json()["error"]["field"] == "owner_unit"
    # the street's supervisor reaches 清河 (its subtree), not the district's departments
    assert (await street.get(f"/lists/projects/{project['id']}")).status_code == 200
    assert (await street.get(f"/lists/resources/{resource['id']}")).status_code == 200
    cancelled = await street.post(f"/lists/projects/{project['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert (await street.post(f"/lists/projects/{project['id']}/start")).status_code == 409


async def test_one_need_completed_by_a_project_that_covers_it_only(as_) -> None:
    integrator, district = as_("integrator"), as_("sup_district")
    lamp, _ = await _submit(integrator, qinghe("楼梯灯闪个不停", "grid-qinghe-2"))
    other, _ = await _submit(integrator, qinghe("邻居家狗叫扰民，太吵", "grid-qinghe-1"))
    project = (await district.post("/lists/projects", json=project_body([], items=[LAMP]))).json()
    body = {"project_id": project["id"], "result_summary": "已更换"}
    planned = await district.post(f"/needs/{lamp}/complete-by-project", json=body)
    assert planned.status_code == 422 and planned.json()["error"]["field"] == "project_id"
    await district.post(f"/lists/projects/{project['id']}/start")
    uncovered = await district.post(f"/needs/{other}/complete-by-project", json=body)
    assert uncovered.status_code == 422 and uncovered.json()["error"]["field"] == "project_id"
    done = await district.post(f"/needs/{lamp}/complete-by-project", json=body)
    assert done.status_code == 200, done.text
    assert done.json()["stage"] == "evaluation"
    assert done.json()["events"] == ["HandlingCompleted", "EvaluationRequested"]
    staff = as_("staff_dongting1")
    assert (await staff.post(f"/needs/{lamp}/complete-by-project", json=body)).status_code == 403


async def test_both_lists_export_as_csv(as_) -> None:
    district = as_("sup_district")
    resource = (await district.post("/lists/resources", json=resource_body(name="=cmd"))).json()
    (await district.post("/lists/projects", json=project_body([resource["id"]]))).json()
    for path, name in (("/lists/resources", "resource-list"), ("/lists/projects", "project-list")):
        answer = await district.get(path, params={"format": "csv"})
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/csv")
        assert f'filename="{name}.csv"' in answer.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(answer.text.lstrip("\ufeff"))))
        assert rows and "id" in rows[0] and "items" in rows[0]
        if name == "resource-list":
            mine = next(r for r in rows if r["id"] == resource["id"])
            assert mine["items"] == "daily_life/street-lamp" and mine["name"] == "'=cmd"
            assert mine["capacity"] == "6" and mine["owner_unit"] == "dept-urban"
        else:
            assert any(r["items"] == "daily_life/street-lamp;daily_life/drainage" for r in rows)
            assert any(resource["id"] in r["resources"] for r in rows)
    accept = await district.get("/lists/projects", headers={"Accept": "text/csv"})
    assert accept.headers["content-type"].startswith("text/csv")


async def test_the_demo_lists_load_once(embedded_database: str, as_) -> None:
    from workers.settings import Settings
    from workers.stack.demo_lists import DEMO_RESOURCES, load_demo_lists

    for _ in range(2):  # a second `make run` finds them and adds nothing
        await load_demo_lists(Settings(), embedded_database)
    district = as_("sup_district")
    project = (await district.get("/lists/projects/prj-demo-lights")).json()
    assert project["status"] == "running"
    assert [h["change"] for h in project["history"]] == ["created", "started"]
    assert project["resources"] == list(DEMO_RESOURCES)
    assert {(i["category"], i["item"]) for i in project["items"]} == {
        ("daily_life", "street-lamp"),
        ("worker_care", "worker-care"),
    }
    ids = {r["id"] for r in (await district.get("/lists/resources")).json()}
    assert set(DEMO_RESOURCES) <= ids
    dongting = {p["id"] for p in (await as_("sup_dongting").get("/lists/projects")).json()}
    assert "prj-demo-lights" in dongting


async def test_the_app_role_may_only_append_to_the_lists_history(api_pool) -> None:
    for statement in (
        "UPDATE list_changes SET change = 'rewritten'",
        "DELETE FROM list_changes",
        "DELETE FROM list_resources",
        "DELETE FROM list_projects",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await api_pool.execute(statement)

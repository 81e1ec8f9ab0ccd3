"""The authorization matrix: every role × endpoint × (own, other unit's) need.

Need A: a street lamp at grid-dongting-1, submitted by integrator-demo. Need B: the same at
grid-xinhua-1, submitted by integrator-partner. Both wait in the assignment stage, so every
permitted action is refused by the workflow (or harmless), and the table stays valid.
Expected: a role the endpoint does not admit gets 403; a need the principal may not see gets
404 (exactly as a missing one); otherwise the endpoint's own answer.
"""

from __future__ import annotations

import pytest

from domain.actions import BY_NAME
from domain.model import Role
from tests.api.conftest import a_need, wait_for

# Who may see each need (literal, from the access rules in docs/api.md).
VISIBLE = {
    "A": {"integrator", "staff_dongting1", "sup_dongting", "sup_street", "sup_district", "admin"},
    "B": {"partner", "staff_xinhua1", "sup_street", "sup_district", "admin"},
}
PRINCIPALS = [
    "integrator",
    "partner",
    "staff_dongting1",
    "staff_xinhua1",
    "staff_comm_dongting",
    "sup_dongting",
    "sup_street",
    "sup_district",
    "admin",
]
ROLE_OF = {
    "integrator": Role.INTEGRATOR,
    "partner": Role.INTEGRATOR,
    "admin": Role.ADMIN,
    **{p: Role.STAFF for p in PRINCIPALS if p.startswith("staff")},
    **{p: Role.SUPERVISOR for p in PRINCIPALS if p.startswith("sup")},
}


def admitted(action: str) -> set[str]:
    """The principals the one table of actions (domain/actions.py) admits for a row."""
    return {p for p in PRINCIPALS if BY_NAME[action].allows(ROLE_OF[p])}


# endpoint: (method, path, body, roles admitted, answer when admitted and visible)
ENDPOINTS = {
    "read": ("GET", "/needs/{id}", None, set(PRINCIPALS), 200),
    # GeoReport reads are public: every key gets 200 (the description only where visible)
    "open311": ("GET", "/open311/v2/requests/{id}.json", None, set(PRINCIPALS), "200 always"),
    "accept_wrong_unit_none": (
        "POST",
        "/needs/{id}/complete",
        {"result_summary": "x", "service_mode": "on_site"},
        admitted("complete"),
        409,
    ),
    # no body at all: the role is judged first (403), then the body (422, before visibility)
    "complete_without_body": (
        "POST",
        "/needs/{id}/complete",
        None,
        admitted("complete"),
        "422 always",
    ),
    "progress": ("POST", "/needs/{id}/progress", {"note": "n"}, admitted("progress"), 409),
    "information": (
        "POST",
        "/needs/{id}/information",
        {"fields": {"a": "b"}},
        admitted("information"),
        422,
    ),
    # 催办 from a supervisor or the requester (through its integrator), never from staff
    "remind": ("POST", "/needs/{id}/remind", {"note": "催办"}, admitted("remind"), 200),
    # neither need is a possible repeat: a dispatcher's decision has nothing to settle
    "repeat_decision": (
        "POST",
        "/needs/{id}/repeat-decision",
        {"decision": "dismiss"},
        admitted("repeat-decision"),
        422,
    ),
    "unmerge_not_merged": (
        "POST",
        "/needs/{id}/unmerge",
        {"reason": "不是同一件事"},
        admitted("unmerge"),
        409,
    ),
    "reassign_same": (
        "POST",
        "/needs/{id}/reassign",
        {"unit_id": "{unit}"},
        admitted("reassign"),
        422,
    ),
    # A and B are classified and assigned: classify is the wrong stage, assign finds an owner,
    # reclassify to the same classification changes nothing.
    "classify": (
        "POST",
        "/needs/{id}/classify",
        {"category": "care", "tier": "grid"},
        admitted("classify"),
        409,
    ),
    "assign_owned": ("POST", "/needs/{id}/assign", {"unit_id": "{unit}"}, admitted("assign"), 422),
    "reclassify_same": (
        "POST",
        "/needs/{id}/reclassify",
        {"category": "daily_life", "tier": "grid", "reason": "check"},
        admitted("reclassify"),
        422,
    ),
    # no such project: refused naming project_id, once the need is visible
    "complete_by_project": (
        "POST",
        "/needs/{id}/complete-by-project",
        {"project_id": "prj-none", "result_summary": "x"},
        admitted("complete-by-project"),
        422,
    ),
    # 联合办理: asking is for handling (A and B wait for acceptance); neither has a sub-task
    "assist_request": (
        "POST",
        "/needs/{id}/assist-request",
        {"unit_id": "dept-urban", "task": "协助"},
        admitted("assist-request"),
        409,
    ),
    "assist_accept_none": (
        "POST",
        "/needs/{id}/assist-accept",
        {"assist_id": "assist-1"},
        admitted("assist-accept"),
        422,
    ),
    "assist_release_none": (
        "POST",
        "/needs/{id}/assist-release",
        {"assist_id": "assist-1", "reason": "不再需要"},
        admitted("assist-release"),
        422,
    ),
    "extension_decision": (
        "POST",
        "/needs/{id}/extension-decision",
        {"approve": True},
        admitted("extension-decision"),
        409,
    ),
}
UNITS = {"A": "grid-dongting-1", "B": "grid-xinhua-1"}


@pytest.fixture(scope="module")
async def needs_ab(app) -> dict[str, str]:
    import httpx

    from tests.api.conftest import KEYS

    ids = {}
    for name, who, grid, community in (
        ("A", "integrator", "grid-dongting-1", "community-dongting"),
        ("B", "partner", "grid-xinhua-1", "community-xinhua"),
    ):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app),
            base_url="http://api",
            headers={"X-API-Key": KEYS[who]},
        ) as client:
            sent = await client.post(
                "/needs", json=a_need("路灯不亮", grid=grid, community=community)
            )
            ids[name] = sent.json()["id"]
            body = await wait_for(client, ids[name], lambda b: b["stage"] == "assignment")
        if body["possible_repeat_of"]:  # like another test's lamp: settle it, so no row sees it
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app),
                base_url="http://api",
                headers={"X-API-Key": KEYS["admin"]},
            ) as admin:
                settled = await admin.post(
                    f"/needs/{ids[name]}/repeat-decision", json={"decision": "dismiss"}
                )
                assert settled.status_code == 200, settled.text
    return ids


def expected(who: str, endpoint: str, need: str) -> int:
    _, _, _, roles, answer = ENDPOINTS[endpoint]
    if who not in roles:
        return 403
    if answer == "422 always":
        return 422
    if answer == "200 always":
        return 200
    if who not in VISIBLE[need]:
        return 404
    return answer


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
async def test_matrix(as_, needs_ab: dict[str, str], endpoint: str) -> None:
    method, path, body, _, _ = ENDPOINTS[endpoint]
    failures = []
    for who in PRINCIPALS:
        client = as_(who)
        for need in ("A", "B"):
            url = path.format(id=needs_ab[need])
            payload = (
                {
                    k: (v.format(unit=UNITS[need]) if isinstance(v, str) else v)
                    for k, v in body.items()
                }
                if body
                else None
            )
            response = await client.request(method, url, json=payload)
            want = expected(who, endpoint, need)
            if response.status_code != want:
                failures.append((who, need, response.status_code, want, response.text[:120]))
            if endpoint == "open311" and response.status_code == 200:
                full = response.json()[0]["description"] is not None
                if full != (who in VISIBLE[need]):
                    failures.append((who, need, "description shown", full))
            if response.status_code == 404 and endpoint != "open311":
                assert response.json()["error"]["code"] in ("not_found", "not_your_unit")
    assert not failures, failures


async def test_lists_show_only_visible_needs(as_, needs_ab: dict[str, str]) -> None:
    for who in PRINCIPALS:
        page = (await as_(who).get("/needs", params={"limit": 500})).json()
        seen = {i["id"] for i in page["items"]}
        for need, need_id in needs_ab.items():
            assert (need_id in seen) == (who in VISIBLE[need]), (who, need)


async def test_inbox_stats_lists_and_audit_by_role(as_) -> None:
    table = {  # who: (own inbox, other inbox, stats, demand list, audit, resources, projects)
        "integrator": (403, 403, 403, 403, 403, 403, 403),
        "staff_dongting1": (200, 404, 200, 403, 403, 403, 403),
        "sup_dongting": (200, 404, 200, 200, 200, 200, 200),
        "sup_district": (200, 200, 200, 200, 200, 200, 200),
        "admin": (200, 200, 200, 200, 200, 200, 200),
    }
    for who, want in table.items():
        client = as_(who)
        got = (
            (await client.get("/units/grid-dongting-1/inbox")).status_code,
            (await client.get("/units/grid-xinhua-1/inbox")).status_code,
            (await client.get("/stats/units")).status_code,
            (await client.get("/lists/demand")).status_code,
            (await client.get("/audit/verify")).status_code,
            (await client.get("/lists/resources")).status_code,
            (await client.get("/lists/projects")).status_code,
        )
        assert got == want, who


async def test_personal_data_is_unmasked_only_for_the_assigned_staff(as_, needs_ab) -> None:
    for who in VISIBLE["A"]:
        body = (await as_(who).get(f"/needs/{needs_ab['A']}")).json()
        unmasked = who == "staff_dongting1"
        assert body["personal_data"] == ("unmasked" if unmasked else "masked"), who
        assert (body["requester"]["phone"] == "13812345678") == unmasked, who
        assert (body["location"]["address"] == "洞庭街 7 号") == unmasked, who

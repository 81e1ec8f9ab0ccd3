"""The web console over HTTP (ASGI, real stack): sign-in, sessions, CSRF, lockout, pages and
forms. The same journeys in a real browser: test_console_browser.py."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from api.console.messages import catalogue, t
from domain.actions import ACTIONS
from domain.model import Category, Rating, ServiceMode, Stage, Tier, Urgency
from domain.policy import load_policy
from tests.api.conftest import a_need, wait_for

PASSWORD = "demo1234"  # every demo console user's (deploy/console-users.yaml)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


@pytest.fixture
async def browser_like(app: FastAPI) -> AsyncIterator[Callable[[], httpx.AsyncClient]]:
    """Clients that keep cookies, as a browser does (no API key)."""
    clients: list[httpx.AsyncClient] = []

    def make() -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://api", timeout=30
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def sign_in(client: httpx.AsyncClient, user: str, password: str = PASSWORD) -> httpx.Response:
    form = await client.get("/console/login")
    return await client.post(
        "/console/login",
        data={"user": user, "password": password, "csrf": csrf_of(form.text), "next": ""},
    )


async def test_every_label_the_console_needs_is_in_the_catalogue() -> None:
    sections = {
        Stage: "stage",
        Category: "category",
        Tier: "tier",
        Urgency: "urgency",
        ServiceMode: "service_mode",
        Rating: "rating",
    }
    for enum_type, section in sections.items():
        for member in enum_type:
            assert member.value in catalogue()[section], (section, member.value)
    for action in ACTIONS:
        assert action.name in catalogue()["action"], action.name
    for file in ("policy.yaml", "policy-fast.yaml"):  # every service item has its name
        policy = load_policy((Path(__file__).parents[2] / "deploy" / file).read_bytes())
        for rule in policy.classification.rules:
            assert rule.id in catalogue()["item"], (file, rule.id)
    assert t("stage", "handling") == "办理中"
    assert t("item", "routing.tier.community") == "routing.tier.community"  # others as written


async def test_the_root_and_the_console_lead_a_person_to_the_login_page(browser_like) -> None:
    client = browser_like()
    root = await client.get("/")
    assert root.status_code == 307 and root.headers["location"] == "/console/"
    console = await client.get("/console/")
    assert console.status_code == 303
    assert console.headers["location"].startswith("/console/login")
    login = await client.get("/console/login")
    assert login.status_code == 200 and "登录" in login.text and "用户名" in login.text


async def test_sign_in_sets_a_strict_session_cookie_and_logout_ends_it(browser_like) -> None:
    client = browser_like()
    signed = await sign_in(client, "staff-grid-dongting-1")
    assert signed.status_code == 303 and signed.headers["location"] == "/console/inbox"
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/console" in cookie
    inbox = await client.get("/console/inbox")
    assert inbox.status_code == 200 and "本单位待办" in inbox.text
    assert "Content-Security-Policy" in inbox.headers
    token = dict(client.cookies)["demandflow_console"]
    out = await client.post("/console/logout", data={"csrf": csrf_of(inbox.text)})
    assert out.status_code == 303
    stale = httpx.AsyncClient(
        transport=client._transport, base_url="http://api", cookies={"demandflow_console": token}
    )
    async with stale:  # the old cookie, replayed after logout, opens nothing
        again = await stale.get("/console/inbox")
    assert again.status_code == 303 and again.headers["location"].startswith("/console/login")


async def test_a_form_without_its_csrf_token_is_refused(browser_like, as_) -> None:
    client = browser_like()
    await sign_in(client, "staff-grid-dongting-1")
    sent = await as_("integrator").post("/needs", json=a_need("楼道灯不亮"))
    need_id = sent.json()["id"]
    await wait_for(as_("integrator"), need_id, lambda b: b["stage"] == "assignment")
    no_token = await client.post(f"/console/needs/{need_id}/act/accept", data={})
    assert no_token.status_code == 403 and "页面已过期" in no_token.text
    wrong = await client.post(f"/console/needs/{need_id}/act/accept", data={"csrf": "forged"})
    assert wrong.status_code == 403
    body = (await as_("staff_dongting1").get(f"/needs/{need_id}")).json()
    assert body["stage"] == "assignment"  # nothing happened
    login_without = await client.post(
        "/console/login", data={"user": "staff-grid-dongting-1", "password": PASSWORD, "csrf": "x"}
    )
    assert login_without.status_code == 403


async def test_wrong_passwords_lock_the_name_even_for_the_right_one(browser_like) -> None:
    client = browser_like()
    name = "staff-dept-tax"
    for _ in range(4):
        wrong = await sign_in(client, name, "not-the-password")
        assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text
    locked = await sign_in(client, name, "still-wrong")
    assert locked.status_code == 429 and "锁定" in locked.text
    right = await sign_in(client, name)
    assert right.status_code == 429 and "锁定" in right.text
    assert "demandflow_console" not in dict(client.cookies)


async def test_an_unknown_name_is_answered_like_a_wrong_password(browser_like) -> None:
    answer = await sign_in(browser_like(), f"nobody-{uuid.uuid4().hex[:6]}", "x")
    assert answer.status_code == 401 and "用户名或密码错误" in answer.text


async def test_staff_accept_and_complete_from_the_need_page(browser_like, as_) -> None:
    sent = await as_("integrator").post("/needs", json=a_need("小区路灯不亮，晚上很黑"))
    need_id = sent.json()["id"]
    await wait_for(as_("integrator"), need_id, lambda b: b["stage"] == "assignment")
    client = browser_like()
    await sign_in(client, "staff-grid-dongting-1")
    inbox = await client.get("/console/inbox")
    assert need_id in inbox.text
    page = await client.get(f"/console/needs/{need_id}")
    assert page.status_code == 200 and 'data-action="accept"' in page.text
    assert "13812345678" in page.text  # the assigned unit sees the requester unmasked
    accepted = await client.post(
        f"/console/needs/{need_id}/act/accept", data={"csrf": csrf_of(page.text)}
    )
    assert accepted.status_code == 303 and "done=accept" in accepted.headers["location"]
    page = await client.get(accepted.headers["location"])
    assert "操作成功" in page.text and 'data-action="complete"' in page.text
    empty = await client.post(
        f"/console/needs/{need_id}/act/complete",
        data={"csrf": csrf_of(page.text), "result_summary": "", "service_mode": "on_site"},
    )
    assert "problem=invalid_input" in empty.headers["location"]
    shown = await client.get(empty.headers["location"])
    assert "输入有误" in shown.text and "办理结果" in shown.text  # names the field, in Chinese
    done = await client.post(
        f"/console/needs/{need_id}/act/complete",
        data={
            "csrf": csrf_of(page.text),
            "result_summary": "已更换灯泡",
            "service_mode": "on_site",
        },
    )
    assert "done=complete" in done.headers["location"]
    body = await wait_for(as_("staff_dongting1"), need_id, lambda b: b["stage"] == "evaluation")
    completed = next(i for i in body["timeline"] if i["type"] == "HandlingCompleted")
    assert completed["actor"]["id"] == "staff-grid-dongting-1"
    assert completed["detail"]["result_summary"] == "已更换灯泡"


async def test_a_refusal_shows_as_a_chinese_message_not_a_trace(browser_like, as_) -> None:
    sent = await as_("integrator").post("/needs", json=a_need("路灯坏了"))
    need_id = sent.json()["id"]
    await wait_for(as_("integrator"), need_id, lambda b: b["stage"] == "assignment")
    client = browser_like()
    await sign_in(client, "staff-grid-dongting-1")
    page = await client.get(f"/console/needs/{need_id}")
    # completing before accepting: the workflow refuses (wrong stage)
    refused = await client.post(
        f"/console/needs/{need_id}/act/complete",
        data={"csrf": csrf_of(page.text), "result_summary": "x", "service_mode": "on_site"},
    )
    shown = await client.get(refused.headers["location"])
    assert "当前所处阶段不能执行此操作" in shown.text
    assert "Traceback" not in shown.text


async def test_other_units_staff_get_the_same_page_as_for_a_missing_need(browser_like, as_) -> None:
    sent = await as_("integrator").post("/needs", json=a_need("路灯不亮"))
    need_id = sent.json()["id"]
    await wait_for(as_("integrator"), need_id, lambda b: b["stage"] == "assignment")
    client = browser_like()
    await sign_in(client, "staff-grid-xinhua-1")
    other = await client.get(f"/console/needs/{need_id}")
    missing = await client.get("/console/needs/need-app-0000000000000000")
    assert other.status_code == missing.status_code == 404
    strip = re.compile(r'name="csrf" value="[^"]+"')
    assert strip.sub("", other.text) == strip.sub("", missing.text)
    acted = await client.post(
        f"/console/needs/{need_id}/act/accept",
        data={"csrf": csrf_of((await client.get("/console/inbox")).text)},
    )
    assert acted.status_code == 404
    supervisor = browser_like()
    await sign_in(supervisor, "supervisor-dongting")
    seen = await supervisor.get(f"/console/needs/{need_id}")
    assert seen.status_code == 200 and "13812345678" not in seen.text  # masked


async def test_a_supervisor_classifies_a_waiting_need_from_the_queue(browser_like, as_) -> None:
    sent = await as_("integrator").post("/needs", json=a_need("有个事情想咨询一下"))
    need_id = sent.json()["id"]
    await wait_for(as_("integrator"), need_id, lambda b: b["stage"] == "classification")
    client = browser_like()
    await sign_in(client, "supervisor-street")
    queue = await client.get("/console/queue")
    assert need_id in queue.text and "人工分类" in queue.text
    page = await client.get(f"/console/needs/{need_id}")
    assert 'data-action="classify"' in page.text
    classified = await client.post(
        f"/console/needs/{need_id}/act/classify",
        data={
            "csrf": csrf_of(page.text),
            "category": "daily_life",
            "tier": "grid",
            "urgency": "normal",
        },
    )
    assert "done=classify" in classified.headers["location"]
    body = await wait_for(as_("sup_street"), need_id, lambda b: b["stage"] == "assignment")
    assert body["category"] == "daily_life"


async def test_lists_export_csv_that_excel_reads_and_docs_need_no_network(browser_like) -> None:
    client = browser_like()
    await sign_in(client, "supervisor-district")
    listing = await client.get("/console/needs")
    assert listing.status_code == 200 and "诉求列表" in listing.text
    exported = await client.get("/console/needs", params={"format": "csv"})
    assert exported.content.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM
    assert exported.headers["content-type"].startswith("text/csv")
    dashboard = await client.get("/console/dashboard")
    assert dashboard.status_code == 200 and 'id="chart-data"' in dashboard.text
    docs = (await client.get("/docs")).text
    redoc = (await client.get("/redoc")).text
    for html in (docs, redoc):
        assert "cdn.jsdelivr.net" not in html and "fonts.googleapis" not in html
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs
    assert (await client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")).status_code == 200


async def test_the_approver_units_staff_decide_an_extension_they_cannot_otherwise_open(
    browser_like, as_
) -> None:
    sent = await as_("integrator").post("/needs", json=a_need("楼道灯坏了，要换整条线路"))
    need_id = sent.json()["id"]
    await wait_for(as_("integrator"), need_id, lambda b: b["stage"] == "assignment")
    grid = as_("staff_dongting1")
    assert (await grid.post(f"/needs/{need_id}/accept")).status_code == 200
    asked = await grid.post(
        f"/needs/{need_id}/extension", json={"extra_hours": 4, "reason": "等电工排班"}
    )
    assert asked.status_code == 200, asked.text
    community = browser_like()  # the rung above grid-dongting-1 approves
    await sign_in(community, "staff-community-dongting")
    listing = await community.get("/console/extensions")
    assert need_id in listing.text and "等电工排班" in listing.text
    assert (await community.get(f"/console/needs/{need_id}")).status_code == 404
    refused = await community.post(
        f"/console/needs/{need_id}/act/extension-decision",
        data={
            "csrf": csrf_of(listing.text),
            "approve": "false",
            "reason": "请先调配现有人员",
            "back": "/console/extensions",
        },
    )
    assert refused.status_code == 303
    assert refused.headers["location"] == "/console/extensions?done=extension-decision"
    body = await wait_for(
        grid, need_id, lambda b: any(i["type"] == "ExtensionRefused" for i in b["timeline"])
    )
    decision = next(i for i in body["timeline"] if i["type"] == "ExtensionRefused")
    assert decision["actor"]["id"] == "staff-community-dongting"
    assert decision["detail"]["reason"] == "请先调配现有人员"
    after = await community.get("/console/extensions")
    assert need_id not in after.text  # decided: no longer pending
    other = browser_like()  # a unit that is not the approver sees nothing of it
    await sign_in(other, "staff-community-xinhua")
    assert need_id not in (await other.get("/console/extensions")).text

    again = await grid.post(
        f"/needs/{need_id}/extension", json={"extra_hours": 2, "reason": "材料未到"}
    )
    assert again.status_code == 200, again.text
    listing = await community.get("/console/extensions")
    assert "材料未到" in listing.text and "审批时限" in listing.text  # the approver's own clock
    granted = await community.post(
        f"/console/needs/{need_id}/act/extension-decision",
        data={
            "csrf": csrf_of(listing.text),
            "approve": "true",
            "reason": "同意",
            "back": "/console/extensions",
        },
    )
    assert granted.status_code == 303
    await wait_for(
        grid, need_id, lambda b: any(i["type"] == "ExtensionApproved" for i in b["timeline"])
    )
    assert need_id not in (await community.get("/console/extensions")).text  # granted: gone


async def test_a_supervision_order_from_the_console_is_answered_in_writing(
    browser_like, as_
) -> None:
    sent = await as_("integrator").post("/needs", json=a_need("路灯坏了，一周没人修"))
    need_id = sent.json()["id"]
    await wait_for(as_("integrator"), need_id, lambda b: b["stage"] == "assignment")
    assert (await as_("staff_dongting1").post(f"/needs/{need_id}/accept")).status_code == 200
    boss = browser_like()
    await sign_in(boss, "supervisor-dongting")
    page = await boss.get(f"/console/needs/{need_id}")
    assert 'data-action="supervise"' in page.text and 'data-action="remind"' in page.text
    ordered = await boss.post(
        f"/console/needs/{need_id}/act/supervise",
        data={"csrf": csrf_of(page.text), "note": "请书面说明进展", "reply_hours": "8"},
    )
    assert "done=supervise" in ordered.headers["location"]
    shown = await boss.get(f"/console/needs/{need_id}")
    assert 'id="supervision"' in shown.text and 'data-action="supervise"' not in shown.text
    staff = browser_like()
    await sign_in(staff, "staff-grid-dongting-1")
    mine = await staff.get(f"/console/needs/{need_id}")
    assert 'data-action="supervision-reply"' in mine.text
    replied = await staff.post(
        f"/console/needs/{need_id}/act/supervision-reply",
        data={"csrf": csrf_of(mine.text), "reply": "已更换灯泡并复查"},
    )
    assert "done=supervision-reply" in replied.headers["location"]
    body = (await as_("staff_dongting1").get(f"/needs/{need_id}")).json()
    reply = next(i for i in body["timeline"] if i["type"] == "SupervisionReplied")
    assert reply["detail"] == {"reply": "已更换灯泡并复查", "in_time": True}
    assert (
        body["live"]["supervision_orders"] == 1 and body["live"]["supervision_reply_due_at"] is None
    )
    staff_order = await as_("staff_dongting1").post(
        f"/needs/{need_id}/supervise", json={"note": "x"}
    )
    assert staff_order.status_code == 403  # supervision comes from a supervisor


async def test_the_queue_names_a_need_waiting_for_a_ruling(browser_like, as_) -> None:
    from tests.api.test_adjudication import _returned_to_the_limit

    need_id = await _returned_to_the_limit(as_)
    await wait_for(
        as_("sup_street"), need_id, lambda b: b["timeline"][-1]["type"] == "AdjudicationRequested"
    )
    client = browser_like()
    await sign_in(client, "supervisor-street")
    queue = (await client.get("/console/queue")).text
    row = queue[queue.index(f'data-need="{need_id}"') :]
    row = row[: row.index("</li>")]
    assert "请裁定责任单位" in row and "重新派单" not in row


async def test_joint_handling_from_the_console_lead_asks_and_the_assisting_unit_answers(
    browser_like, as_
) -> None:
    """联合办理 in the console: the lead asks the urban department from the need page; the
    department's staff see the sub-task in their inbox, answer it from the need page (with
    the requester masked), and the lead then completes."""
    sent = await as_("integrator").post("/needs", json=a_need("路灯坏了，灯杆倾斜"))
    need_id = sent.json()["id"]
    await wait_for(as_("integrator"), need_id, lambda b: b["stage"] == "assignment")
    assert (await as_("staff_dongting1").post(f"/needs/{need_id}/accept")).status_code == 200
    lead = browser_like()
    await sign_in(lead, "staff-grid-dongting-1")
    page = await lead.get(f"/console/needs/{need_id}")
    assert 'data-action="assist-request"' in page.text
    assert 'data-action="assist-report"' not in page.text  # nothing asked of the lead
    asked = await lead.post(
        f"/console/needs/{need_id}/act/assist-request",
        data={"csrf": csrf_of(page.text), "unit_id": "dept-urban", "task": "扶正灯杆"},
    )
    assert "done=assist-request" in asked.headers["location"], asked.headers["location"]
    shown = await lead.get(f"/console/needs/{need_id}")
    assert 'id="assists"' in shown.text and "扶正灯杆" in shown.text and "待接收" in shown.text
    assert 'id="assists-waiting"' in shown.text and "尚有 1 项协办未完成" in shown.text

    helper = browser_like()
    await sign_in(helper, "staff-dept-urban")
    inbox = await helper.get("/console/inbox")
    assert need_id in inbox.text and "协办" in inbox.text and "assist-1" in inbox.text
    mine = await helper.get(f"/console/needs/{need_id}")
    assert mine.status_code == 200 and "13812345678" not in mine.text  # masked for helpers
    assert 'data-action="assist-accept"' in mine.text and 'data-action="complete"' not in mine.text
    reported = await helper.post(
        f"/console/needs/{need_id}/act/assist-report",
        data={"csrf": csrf_of(mine.text), "assist_id": "assist-1", "result": "灯杆已扶正"},
    )
    assert "done=assist-report" in reported.headers["location"], reported.headers["location"]
    assert need_id not in (await helper.get("/console/inbox")).text

    page = await lead.get(f"/console/needs/{need_id}")
    assert 'id="assists-waiting"' not in page.text  # answered: nothing holds the lead back
    done = await lead.post(
        f"/console/needs/{need_id}/act/complete",
        data={"csrf": csrf_of(page.text), "result_summary": "已修复", "service_mode": "on_site"},
    )
    assert "done=complete" in done.headers["location"]

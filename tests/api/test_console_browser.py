"""The console in a real browser: Debian's headless Chromium driven by Playwright, against
the real stack (dev Temporal server, embedded PostgreSQL, a real worker) served by uvicorn on
a local port. The browser may reach nothing but that port: every other request is aborted,
so a page that needs the internet fails here as it would on an intranet.

Each test saves a screenshot of every page it visits into tests/artifacts/console/
(git-ignored). The test command installs the browser (make browser); with CI=true a missing
browser fails the run instead of skipping it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from tests.api.conftest import a_need, wait_for
from tests.api.test_console import PASSWORD

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

if CHROMIUM is None and os.environ.get("CI") == "true":
    raise RuntimeError("CI=true and no Chromium: `make browser` installs Debian's chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (make browser)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
async def base_url(app: FastAPI) -> AsyncIterator[str]:
    """The test app on a real local port (the services are already connected)."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, lifespan="off", log_config=None, access_log=False
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        launched = await p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        await launched.close()


class Visit:
    """A browser context that reaches only the app, and names its screenshots."""

    def __init__(self, context, test: str, base: str, shots: list[int]) -> None:
        self.context, self.test, self.base, self.shots = context, test, base, shots
        self.blocked: list[str] = []

    async def page(self):
        page = await self.context.new_page()
        page.set_default_timeout(20_000)
        return page

    async def shot(self, page, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.shots[0] += 1  # one count per test, across its browser contexts
        path = ARTIFACTS / f"{self.test}-{self.shots[0]:02d}-{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
async def visit(browser, base_url: str, request) -> AsyncIterator:
    contexts, shots = [], [0]

    async def make(width: int = 1280, height: int = 900) -> Visit:
        context = await browser.new_context(
            viewport={"width": width, "height": height}, locale="zh-CN", timezone_id="Asia/Shanghai"
        )
        opened = Visit(context, request.node.name.removeprefix("test_")[:40], base_url, shots)

        async def only_the_app(route) -> None:
            if route.request.url.startswith(base_url):
                await route.continue_()
            else:
                opened.blocked.append(route.request.url)
                await route.abort()

        await context.route("**/*", only_the_app)
        contexts.append(opened)
        return opened

    yield make
    for opened in contexts:
        await opened.context.close()
        assert not opened.blocked, f"the page tried to reach the internet: {opened.blocked}"


async def sign_in(visit: Visit, page, user: str, password: str = PASSWORD) -> None:
    await page.goto(f"{visit.base}/console/")
    await page.fill("input[name=user]", user)
    await page.fill("input[name=password]", password)
    await visit.shot(page, "login")
    await page.click("form[action='/console/login'] button[type=submit]")
    await page.wait_for_load_state()


async def a_waiting_need(as_, title: str, stage: str = "assignment", **where) -> str:
    sent = await as_("integrator").post("/needs", json=a_need(title, **where))
    need_id = sent.json()["id"]
    await wait_for(as_("integrator"), need_id, lambda b: b["stage"] == stage)
    return need_id


async def test_staff_accept_and_complete_with_a_template_then_the_supervisor_sees_it(
    visit, as_
) -> None:
    need_id = await a_waiting_need(as_, "小区路灯不亮，晚上出行不便")
    staff = await visit()
    page = await staff.page()
    await sign_in(staff, page, "staff-grid-dongting-1")
    assert page.url.endswith("/console/inbox")
    task = page.locator(f"li.task[data-need='{need_id}']")
    await task.wait_for()
    await staff.shot(page, "inbox")
    await task.locator("a").click()
    await page.wait_for_selector("form[data-action=accept]")
    assert "13812345678" in await page.content()
    await staff.shot(page, "need")
    await page.click("form[data-action=accept] button[type=submit]")
    await page.wait_for_selector(".flash.ok")
    assert "签收" in await page.inner_text(".flash.ok")
    complete = page.locator("form[data-action=complete]")
    await complete.locator(".reply-picker").select_option(label="已现场维修")
    summary = await complete.locator("textarea[name=result_summary]").input_value()
    assert summary.startswith("经现场核实")  # the template filled the summary
    await complete.locator("select[name=service_mode]").select_option("on_site")
    await staff.shot(page, "complete-form")
    await complete.locator("button[type=submit]").click()
    await page.wait_for_selector(".flash.ok")
    await staff.shot(page, "completed")
    body = await wait_for(as_("staff_dongting1"), need_id, lambda b: b["stage"] == "evaluation")
    assert any(
        i["type"] == "HandlingCompleted" and i["detail"]["result_summary"] == summary
        for i in body["timeline"]
    )

    boss = await visit()
    page = await boss.page()
    await sign_in(boss, page, "supervisor-dongting")
    assert page.url.endswith("/console/dashboard")
    await page.wait_for_selector("#chart-stages svg")  # ECharts drew, from the vendored file
    data = json.loads(await page.inner_text("#chart-data"))
    evaluation = next(s for s in data["stages"] if s["key"] == "evaluation")
    assert evaluation["value"] >= 1 and evaluation["name"] == "待评价"
    await boss.shot(page, "dashboard")
    await page.goto(f"{boss.base}/console/needs/{need_id}")
    assert await page.inner_text("#stage") == "待评价"
    assert "哈希链完整" in await page.inner_text("#audit")
    await boss.shot(page, "need-as-supervisor")


async def test_a_supervisor_classifies_a_waiting_need_and_approves_an_extension(visit, as_) -> None:
    waiting = await a_waiting_need(as_, "有件事情想咨询一下", stage="classification")
    extending = await a_waiting_need(as_, "楼道里的灯坏了好几天")
    staff = as_("staff_dongting1")
    assert (await staff.post(f"/needs/{extending}/accept")).status_code == 200
    asked = await staff.post(
        f"/needs/{extending}/extension", json={"extra_hours": 8, "reason": "需要等配件到货"}
    )
    assert asked.status_code == 200, asked.text

    boss = await visit()
    page = await boss.page()
    await sign_in(boss, page, "supervisor-dongting")
    await page.goto(f"{boss.base}/console/queue")
    await page.locator(f"li.task[data-need='{waiting}'] a").click()
    await boss.shot(page, "queue-need")
    form = page.locator("form[data-action=classify]")
    await form.locator("select[name=category]").select_option("daily_life")
    await form.locator("select[name=tier]").select_option("grid")
    await form.locator("button[type=submit]").click()
    await page.wait_for_selector(".flash.ok")
    await boss.shot(page, "classified")
    body = await wait_for(as_("sup_dongting"), waiting, lambda b: b["stage"] == "assignment")
    assert body["category"] == "daily_life"

    await page.goto(f"{boss.base}/console/extensions")
    request = page.locator(f"li[data-need='{extending}']")
    await request.wait_for()
    assert "需要等配件到货" in await request.inner_text()
    await boss.shot(page, "extensions")
    await request.locator("select[name=approve]").select_option("true")
    await request.locator("button[type=submit]").click()
    await page.wait_for_selector(".flash.ok")
    await boss.shot(page, "extension-approved")
    body = await wait_for(
        as_("sup_dongting"),
        extending,
        lambda b: any(i["type"] == "ExtensionApproved" for i in b["timeline"]),
    )
    approved = next(i for i in body["timeline"] if i["type"] == "ExtensionApproved")
    assert approved["actor"]["id"] == "supervisor-dongting"


async def test_the_inbox_flags_reminders_and_supervision_orders(visit, as_) -> None:
    need_id = await a_waiting_need(as_, "楼道灯坏了好几天，老人上下楼不方便")
    supervisor = as_("sup_street")
    assert (
        await supervisor.post(f"/needs/{need_id}/remind", json={"note": "群众再次来电"})
    ).status_code == 200
    assert (await as_("staff_dongting1").post(f"/needs/{need_id}/accept")).status_code == 200
    assert (
        await supervisor.post(
            f"/needs/{need_id}/supervise", json={"note": "请书面说明进展", "reply_hours": 8}
        )
    ).status_code == 200
    staff = await visit()
    page = await staff.page()
    await sign_in(staff, page, "staff-grid-dongting-1")
    task = page.locator(f"li.task[data-need='{need_id}']")
    await task.wait_for()
    flags = await task.locator(".flag.reminded, .flag.supervised").all_inner_texts()
    assert flags[0] == "催办 1 次" and flags[1].startswith("督办 ") and flags[1].endswith("前回复")
    await staff.shot(page, "inbox-flags")
    await task.locator("a").click()
    await page.wait_for_selector("#reminders")
    assert (await page.inner_text("#reminders")).startswith("1")
    assert "待书面回复" in await page.inner_text("#supervision")
    await staff.shot(page, "need-reminded")


async def test_staff_of_another_unit_get_the_not_found_page(visit, as_) -> None:
    need_id = await a_waiting_need(as_, "路灯不亮")
    other = await visit()
    page = await other.page()
    await sign_in(other, page, "staff-grid-xinhua-1")
    answer = await page.goto(f"{other.base}/console/needs/{need_id}")
    assert answer.status == 404
    hidden = await page.inner_text("main")
    await other.shot(page, "hidden-need")
    answer = await page.goto(f"{other.base}/console/needs/need-app-0000000000000000")
    assert answer.status == 404 and await page.inner_text("main") == hidden
    await other.shot(page, "missing-need")


async def test_a_form_without_csrf_is_refused_and_wrong_passwords_lock(visit, as_) -> None:
    need_id = await a_waiting_need(as_, "路灯一闪一闪")
    staff = await visit()
    page = await staff.page()
    await sign_in(staff, page, "staff-grid-dongting-1")
    await page.goto(f"{staff.base}/console/needs/{need_id}")
    await page.evaluate(
        "document.querySelector('form[data-action=accept] input[name=csrf]').remove()"
    )
    await page.click("form[data-action=accept] button[type=submit]")
    await page.wait_for_load_state()
    assert "页面已过期" in await page.inner_text("main")
    await staff.shot(page, "csrf-refused")
    body = (await as_("staff_dongting1").get(f"/needs/{need_id}")).json()
    assert body["stage"] == "assignment"

    stranger = await visit()
    page = await stranger.page()
    await sign_in(stranger, page, "staff-dept-police", "wrong-password")
    assert "用户名或密码错误" in await page.inner_text(".flash.problem")
    await stranger.shot(page, "wrong-password")
    for _ in range(4):
        await sign_in(stranger, page, "staff-dept-police", "wrong-password")
    await sign_in(stranger, page, "staff-dept-police")  # the right one, too late
    assert "锁定" in await page.inner_text(".flash.problem")
    await stranger.shot(page, "locked")


async def test_the_inbox_fits_a_phone(visit, as_) -> None:
    await a_waiting_need(as_, "手机上看待办：小区门口路面坑洼，雨天积水严重，老人出行不便")
    phone = await visit(width=375, height=812)
    page = await phone.page()
    await sign_in(phone, page, "staff-grid-dongting-1")
    await page.wait_for_selector("li.task")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the inbox is {width} px wide at 375"
    await phone.shot(page, "inbox-phone")
    await page.locator("li.task a").first.click()
    await page.wait_for_selector("form.action")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the need page is {width} px wide at 375"
    await phone.shot(page, "need-phone")


async def test_docs_render_their_operations_with_no_network(visit) -> None:
    offline = await visit()
    page = await offline.page()
    await page.goto(f"{offline.base}/docs")
    await page.wait_for_selector(".opblock")
    assert await page.locator(".opblock").count() > 20
    await offline.shot(page, "swagger")
    await page.goto(f"{offline.base}/redoc")
    await page.wait_for_selector("[role=menuitem], .menu-content li", timeout=30_000)
    await offline.shot(page, "redoc")


async def test_the_wish_pool_and_the_plans_pages(visit, as_) -> None:
    from tests.api.test_plans import a_plan, plan_where
    from tests.api.test_wishes import a_wish, posted

    wall = as_("integrator")
    waiting = await posted(wall, a_wish("想请人帮忙换个灯泡", kind="service"))
    taken = await posted(wall, a_wish("想要一副老花镜", kind="material"))
    assert (await as_("claimant_wang").post(f"/wishes/{taken}/claim")).status_code == 200
    done = await posted(wall, a_wish("想找人陪我聊聊天", kind="companionship"))
    li = as_("claimant_li")
    await li.post(f"/wishes/{done}/claim")
    await li.post(f"/wishes/{done}/fulfil", json={"note": "每周陪聊一次"})
    assert (await wall.post(f"/wishes/{done}/confirm")).json()["status"] == "confirmed"
    pid = (
        await as_("sup_district").post("/plans", json=a_plan(kind="monthly", weekday=2, week=-1))
    ).json()["id"]
    await plan_where(as_("sup_district"), pid, lambda p: p["status"] == "active")

    staff = await visit()
    page = await staff.page()
    await sign_in(staff, page, "staff-community-dongting")
    await page.click("nav >> text=微心愿")
    await page.wait_for_selector("#wishes")
    pooled = page.locator(f"li.task[data-wish='{waiting}']")
    assert "待认领" in await pooled.inner_text() and "服务" in await pooled.inner_text()
    claimed = await page.locator(f"li.task[data-wish='{taken}']").inner_text()
    assert "已认领" in claimed and "claimant-party-wang" in claimed
    assert "王奶奶" not in await page.inner_text("main")  # the wisher is never shown
    ranking = await page.inner_text("#wish-ranking")
    assert "claimant-volunteer-li" in ranking
    await staff.shot(page, "wishes")
    await page.goto(f"{staff.base}/console/wishes?status=pooled")
    assert await page.locator(f"li.task[data-wish='{taken}']").count() == 0
    await staff.shot(page, "wishes-pooled")

    supervisor = await visit()
    page = await supervisor.page()
    await sign_in(supervisor, page, "supervisor-district")
    await page.click("nav >> text=定期服务")
    await page.wait_for_selector("#plans")
    plan = await page.locator(f"li.task[data-plan='{pid}']").inner_text()
    assert "每月最后一个周二" in plan and "执行中" in plan
    await supervisor.shot(page, "plans")


async def test_an_assisting_unit_sees_its_sub_task_and_answers_it(visit, as_) -> None:
    """联合办理 in a real browser: the assisting department's inbox lists the sub-task with its
    lead, the need page shows the sub-tasks' table, and its report closes the sub-task (also
    at phone width)."""
    need_id = await a_waiting_need(as_, "路灯坏了，灯杆被车撞歪")
    lead = as_("staff_dongting1")
    assert (await lead.post(f"/needs/{need_id}/accept")).status_code == 200
    for unit, task in (("dept-urban", "扶正灯杆，检查线路"), ("community-dongting", "通知居民")):
        asked = await lead.post(
            f"/needs/{need_id}/assist-request", json={"unit_id": unit, "task": task}
        )
        assert asked.status_code == 200, asked.text
    helper = await visit()
    page = await helper.page()
    await sign_in(helper, page, "staff-dept-urban")
    task = page.locator(f"li.task[data-need='{need_id}']")
    await task.wait_for()
    text = await task.inner_text()
    assert "协办" in text and "assist-1" in text and "扶正灯杆" in text and "待接收" in text
    await helper.shot(page, "assist-inbox")
    await task.locator("a").click()
    await page.wait_for_selector("#assists")
    rows = page.locator("#assists tbody tr")
    assert await rows.count() == 2
    assert await page.locator("form[data-action='assist-report']").count() == 1
    await helper.shot(page, "assist-need")
    form = page.locator("form[data-action='assist-report']")
    await form.locator("textarea[name=result]").fill("灯杆已扶正，线路正常")
    await form.locator("button[type=submit]").click()
    await page.wait_for_selector("#assists tr[data-status='reported']")
    await helper.shot(page, "assist-reported")
    phone = await visit(390, 844)
    small = await phone.page()
    await sign_in(phone, small, "staff-grid-dongting-1")
    await small.goto(f"{phone.base}/console/needs/{need_id}")
    await small.wait_for_selector("#assists")
    width = await small.evaluate("document.documentElement.scrollWidth")
    await phone.shot(small, "assist-phone")
    assert width <= 390 + 1, width

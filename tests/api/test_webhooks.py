"""Webhooks on the real stack: subscriptions over HTTP, the outbox fanned out, deliveries
posted by the real delivery loop to a real local HTTP receiver that fails, answers 500 or
answers slowly; the delivery process killed mid-run; the dead letter and redelivery."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import uvicorn
from fastapi import FastAPI, Request, Response

from tests.api.conftest import a_need, wait_for
from tests.api.test_console_browser import free_port
from workers.delivery import DeliveryPolicy, delivery_loop

FAST = DeliveryPolicy(
    first_delay=timedelta(milliseconds=50),
    max_delay=timedelta(seconds=1),
    lease=timedelta(seconds=2),
    timeout_s=2,
    idle_s=0.05,
    allow_private=True,
    base_url="http://api.test",
)


class Receiver:
    """A real HTTP endpoint on a local port; `fail_first` answers 503, `status` answers every
    later call with that status, `delay` waits before answering."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail_first = 0
        self.status = 204
        self.delay = 0.0
        self.received: list[tuple[dict, bytes]] = []
        self.app = FastAPI()

        @self.app.post("/hook")
        async def hook(request: Request) -> Response:
            self.calls += 1
            body = await request.body()
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.calls <= self.fail_first:
                return Response(status_code=503)
            if self.status >= 300:
                return Response(status_code=self.status)
            self.received.append((dict(request.headers), body))
            return Response(status_code=self.status)

    def messages(self, need_ids: set[str]) -> list[dict]:
        return [json.loads(b) for _, b in self.received if json.loads(b)["need_id"] in need_ids]


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    target, port = Receiver(), free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            target.app,
            host="127.0.0.1",
            port=port,
            lifespan="off",
            log_config=None,
            access_log=False,
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield target, f"http://127.0.0.1:{port}/hook"
    server.should_exit = True
    await task


@pytest.fixture
async def delivering(api_pool) -> AsyncIterator[None]:
    """The delivery loop running beside the test, as `demandflow deliver` runs it."""
    stop = asyncio.Event()
    task = asyncio.create_task(delivery_loop(api_pool, FAST, stop))
    yield
    stop.set()
    await task


def valid(headers: dict, body: bytes, secret: str) -> bool:
    parts = dict(p.split("=", 1) for p in headers["x-demandflow-signature"].split(",")[:2])
    signed = parts["t"].encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(parts["v1"], expected)


async def subscribe(client, url: str, types: list[str] | None = None) -> dict:
    answer = await client.post("/webhooks", json={"url": url, "types": types or []})
    assert answer.status_code == 201, answer.text
    return answer.json()


async def until(check, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "not reached in time"
        await asyncio.sleep(0.05)


async def test_subscriptions_belong_to_their_integrator(as_) -> None:
    mine = await subscribe(as_("integrator"), "https://hooks.example.org/df")
    assert mine["secret"].startswith("whsec_") and mine["id"].startswith("wh-")
    listed = (await as_("integrator").get("/webhooks")).json()
    assert any(s["id"] == mine["id"] and s["secret"] is None for s in listed)
    partner = as_("partner")
    assert all(s["id"] != mine["id"] for s in (await partner.get("/webhooks")).json())
    for call in (
        partner.patch(f"/webhooks/{mine['id']}", json={"types": ["closed"]}),
        partner.delete(f"/webhooks/{mine['id']}"),
        partner.post(f"/webhooks/{mine['id']}/secret"),
    ):
        answer = await call
        assert answer.status_code == 404 and answer.json()["error"]["field"] == "subscription_id"
    rotated = (await as_("integrator").post(f"/webhooks/{mine['id']}/secret")).json()
    assert rotated["secret"] != mine["secret"] and rotated["previous_secret_valid_until"]
    staff = await as_("staff_dongting1").post("/webhooks", json={"url": "https://x.example/h"})
    assert staff.status_code == 403
    gone = await as_("integrator").delete(f"/webhooks/{mine['id']}")
    assert gone.status_code == 204
    assert all(s["id"] != mine["id"] for s in (await as_("integrator").get("/webhooks")).json())


@pytest.mark.parametrize("url", ["ftp://example.org/h", "https://u:p@example.org/h", "not a url"])
async def test_bad_webhook_urls_are_refused_naming_the_field(as_, url: str) -> None:
    answer = await as_("integrator").post("/webhooks", json={"url": url})
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "url"


async def test_every_event_arrives_in_order_and_signed_despite_failures(
    as_, receiver, delivering
) -> None:
    target, url = receiver
    target.fail_first = 3  # the first three posts answer 503, then a slow receiver
    target.delay = 0.05
    sub = await subscribe(as_("integrator"), url)
    ids = set()
    for title in ("路灯不亮", "楼道灯坏了"):
        sent = await as_("integrator").post("/needs", json=a_need(title))
        ids.add(sent.json()["id"])
    staff = as_("staff_dongting1")
    for need_id in ids:
        await wait_for(staff, need_id, lambda b: b["stage"] == "assignment")
        assert (await staff.post(f"/needs/{need_id}/accept")).status_code == 200
        done = await staff.post(
            f"/needs/{need_id}/complete",
            json={"result_summary": "已修好", "service_mode": "on_site"},
        )
        assert done.status_code == 200
    wanted = ["received", "assigned", "accepted", "completed", "evaluation_requested"]
    await until(lambda: all([m["type"] for m in target.messages({n})][:5] == wanted for n in ids))
    for need_id in ids:
        got = target.messages({need_id})
        versions = [m["version"] for m in got]
        assert versions == sorted(versions), "in order per need"
        assert len({m["event_id"] for m in got}) == len(got), "each event once"
        invite = next(m for m in got if m["type"] == "evaluation_requested")
        assert invite["evaluation"]["reviewer_ids"] and invite["status"] == "evaluation"
        assert invite["links"]["need"] == f"http://api.test/needs/{need_id}"
    for headers, body in target.received:
        if json.loads(body)["need_id"] in ids:
            assert valid(headers, body, sub["secret"])
            assert headers["x-demandflow-event-id"] == json.loads(body)["event_id"]
    text = b"".join(b for _, b in target.received).decode()
    assert "王小明" not in text and "13812345678" not in text
    failed = (
        await as_("integrator").get("/webhooks/deliveries", params={"subscription_id": sub["id"]})
    ).json()
    assert all(d["status"] == "delivered" for d in failed)
    assert any(d["attempts"] > 1 for d in failed)  # the 503s were retried
    await as_("integrator").delete(f"/webhooks/{sub['id']}")


async def test_a_dead_receiver_fills_the_dead_letter_and_redelivery_empties_it(
    as_, receiver, api_pool
) -> None:
    target, url = receiver
    target.status = 500
    sub = await subscribe(as_("partner"), url, types=["received"])
    sent = await as_("partner").post(
        "/needs", json=a_need("路灯不亮", grid="grid-xinhua-1", community="community-xinhua")
    )
    need_id = sent.json()["id"]
    short = DeliveryPolicy(**{**FAST.__dict__, "retry_window": timedelta(milliseconds=600)})
    stop = asyncio.Event()
    task = asyncio.create_task(delivery_loop(api_pool, short, stop))
    admin = as_("admin")

    async def dead() -> list[dict]:
        rows = (
            await admin.get(
                "/webhooks/deliveries", params={"status": "dead", "subscription_id": sub["id"]}
            )
        ).json()
        return [d for d in rows if d["need_id"] == need_id]

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not await dead():
        assert loop.time() < deadline, "no dead letter"
        await asyncio.sleep(0.1)
    letter = (await dead())[0]
    assert letter["attempts"] >= 2 and letter["last_status"] == 500
    assert (
        await as_("partner").post(f"/webhooks/deliveries/{letter['id']}/redeliver")
    ).status_code == 403
    target.status = 204  # the receiver is back
    again = await admin.post(f"/webhooks/deliveries/{letter['id']}/redeliver")
    assert again.status_code == 200
    await until(lambda: target.messages({need_id}))
    assert not await dead()
    stop.set()
    await task
    await as_("partner").delete(f"/webhooks/{sub['id']}")


async def test_killing_the_delivery_process_loses_nothing(
    as_, receiver, embedded_database: str
) -> None:
    target, url = receiver
    target.delay = 0.3  # slow: the kill lands while posts are in flight
    sub = await subscribe(as_("integrator"), url, types=["received", "assigned"])
    env = os.environ | {
        "DATABASE_URL": embedded_database,
        "WEBHOOK_FIRST_DELAY_S": "0.05",
        "WEBHOOK_LEASE_S": "1",
        "WEBHOOKS_ALLOW_PRIVATE": "true",
        "LOG_LEVEL": "WARNING",
    }

    def start() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "workers.cli.main", "deliver"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    process = start()
    try:
        ids = set()
        for i in range(6):
            sent = await as_("integrator").post("/needs", json=a_need(f"路灯不亮 {i}"))
            ids.add(sent.json()["id"])
        await until(lambda: len(target.messages(ids)) >= 2)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        process = start()
        await until(
            lambda: (
                {(m["need_id"], m["type"]) for m in target.messages(ids)}
                >= {(n, t) for n in ids for t in ("received", "assigned")}
            ),
            timeout=60,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    got = target.messages(ids)
    by_event: dict[str, list[dict]] = {}
    for m in got:
        by_event.setdefault(m["event_id"], []).append(m)
    assert len(by_event) == 2 * len(ids), "every event arrived"
    for copies in by_event.values():  # a duplicate is the same message, same idempotency key
        assert all(c == copies[0] for c in copies)
    for need_id in ids:
        types = [m["type"] for m in got if m["need_id"] == need_id]
        assert types.index("received") < types.index("assigned")
    await as_("integrator").delete(f"/webhooks/{sub['id']}")


async def test_a_merged_reports_channel_hears_the_need_and_is_invited_to_evaluate(
    as_, receiver, delivering
) -> None:
    from tests.api.test_intake import at_building

    target, url = receiver
    partner = await subscribe(as_("partner"), url, types=["merged", "evaluation_requested"])
    building = f"{uuid.uuid4().int % 900 + 100}栋"
    first, second = as_("integrator"), as_("partner")
    primary = (
        await first.post("/needs", json=at_building("楼道灯坏了，晚上很黑", building))
    ).json()["id"]
    await wait_for(first, primary, lambda n: n["stage"] == "assignment")
    body = at_building("楼道的灯不亮好几天了，很黑", building)
    repeat = (await second.post("/needs", json=body)).json()["id"]
    await wait_for(second, repeat, lambda n: n["outcome"] == "merged")
    staff = as_("staff_dongting1")
    assert (await staff.post(f"/needs/{primary}/accept")).status_code == 200
    assert (
        await staff.post(
            f"/needs/{primary}/complete",
            json={"result_summary": "换了灯", "service_mode": "on_site"},
        )
    ).status_code == 200
    await until(
        lambda: any(m["type"] == "evaluation_requested" for m in target.messages({primary}))
    )
    merged = next(m for m in target.messages({repeat}) if m["type"] == "merged")
    assert merged["merged_into"] == primary
    invite = next(m for m in target.messages({primary}) if m["type"] == "evaluation_requested")
    assert invite["report_id"] == repeat  # heard through its own report, merged here
    assert invite["evaluation"]["reviewer_ids"] == [body["requester"]["requester_id"]]
    rated = await second.post(
        f"/needs/{primary}/evaluation",
        json={"reviewer_id": body["requester"]["requester_id"], "rating": "satisfied"},
    )
    assert rated.status_code == 200, rated.text  # the rating comes back through the old door
    await as_("partner").delete(f"/webhooks/{partner['id']}")

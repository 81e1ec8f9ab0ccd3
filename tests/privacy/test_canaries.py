"""Privacy canaries: unique fake names, phones and addresses go in; none may come out where
personal data does not belong — logs (structlog + stdlib, at the configured level), the
Temporal server's log and its state (the SQLite file and its WAL: every payload is
encrypted, workers/codec.py), workflow ids, search attributes, and the messages of refused
updates. Where they may come out: the codec server, for an admin or a district supervisor.

Journeys: a whole happy path, refused actions (wrong unit, wrong stage, a reviewer who is not
one), and invalid input sent to the workflow (an action that does not validate, a start whose
submission does not validate); and a need submitted and acted on through the HTTP API.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import random
import sys
import uuid

import httpx
import psutil
import pytest
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowUpdateFailedError

from api.app import create_app
from api.deps import Services
from bench.journeys import INTEGRATOR, lamp_need, requester_actor, staff, wait_projected
from bench.stack import FAST_POLICY, Postgres, TemporalDevServer
from domain.commands import Accept, Complete, Evaluate, NoteProgress
from domain.model import Rating, ServiceMode
from store.db import DEFAULT_APP_ROLE, connect, create_pool
from store.eventstore import EventStore
from tests.api.conftest import KEYS, UI_ORIGIN, a_need, wait_for
from workers.logging import configure_logging
from workers.worker import build_worker
from workflows import client as needs
from workflows.codec import ENCODING
from workflows.lifecycle import ID_PATCH

pytestmark = pytest.mark.timeout(180)


def canaries() -> dict[str, str]:
    return {
        "name": f"Canary-{uuid.uuid4().hex[:10]}",
        "phone": f"138{random.randrange(10**8):08d}",
        "address": f"Canaryroad {uuid.uuid4().hex[:10]}-7",
    }


def leaks(text: str, c: dict[str, str]) -> list[str]:
    found = [k for k, v in c.items() if v in text]
    if c["name"].split("-")[1] in text:
        found.append("name tag")
    return found


def state_files(temporal: TemporalDevServer) -> str:
    """The dev server's whole state as it lies on disk: the SQLite file and its WAL."""
    parts = [temporal.db_file, temporal.db_file.with_name(temporal.db_file.name + "-wal")]
    return "".join(p.read_bytes().decode("utf-8", "replace") for p in parts if p.exists())


def payloads_of(message: Message) -> list[Payload]:
    """Every Payload our converter wrote inside a history event (inputs, results, updates,
    local-activity results, failures, memo). Not: search attributes (indexed by the server, so
    plaintext by design, and free of personal data: test above) and the `data` header the
    SDK core itself writes on a local activity's marker (sequence number, attempt, activity
    type, times), nor the `patch-data` of a `workflow.patched` marker (only the patch's name: checked
    below)."""
    if isinstance(message, Payload):
        return [message]
    found: list[Payload] = []
    for desc, value in message.ListFields():
        if desc.message_type is None or desc.name == "search_attributes":
            continue
        if desc.message_type.GetOptions().map_entry:
            items = [
                v
                for k, v in value.items()
                if not (
                    desc.name == "details"
                    and k in ("data", "patch-data")
                    and message.DESCRIPTOR.name == "MarkerRecordedEventAttributes"
                )
            ]
        else:
            items = [value] if isinstance(value, Message) else list(value)
        for item in items:
            if isinstance(item, Message):
                found += payloads_of(item)
    return found


@pytest.fixture
async def captured_logs():
    """Everything in-process logs, through the product's own logging setup, into a buffer."""
    buffer = io.StringIO()
    saved_stderr, root = sys.stderr, logging.getLogger()
    saved = (root.handlers[:], root.level)
    sys.stderr = buffer
    try:
        configure_logging(json_logs=True, level="INFO")
    finally:
        sys.stderr = saved_stderr
    yield buffer
    root.handlers[:], level = saved
    root.setLevel(level)


@pytest.mark.parametrize(
    "invalid_start",
    [
        False,
        True,
    ],
)
async def test_no_canary_leaves_through_logs_ids_attributes_or_errors(
    tmp_path,
    captured_logs,
    invalid_start: bool,
) -> None:
    pg = Postgres(tmp_path)
    pg.start()
    await pg.migrate()
    temporal = TemporalDevServer(tmp_path)
    temporal.start()
    surfaces: dict[str, str] = {}
    c = canaries()
    try:
        client = await temporal.connect()
        store = await EventStore.open(pg.url, DEFAULT_APP_ROLE, min_size=1, max_size=4)
        queue = f"privacy-{uuid.uuid4().hex[:8]}"
        conn = await connect(pg.url, role=None)
        errors: list[str] = []
        try:
            async with build_worker(client, queue, store, FAST_POLICY):
                sub = lamp_need(
                    f"priv-{uuid.uuid4().hex[:6]}",
                    0,
                    name=c["name"],
                    phone=c["phone"],
                    address=c["address"],
                    title=f"路灯坏了 {c['name']} {c['phone']}",
                )
                need_id = await needs.submit_need(client, sub, INTEGRATOR, task_queue=queue)
                row = await wait_projected(conn, need_id, "assignment", timeout=60)  # type: ignore[arg-type]
                unit = staff(row["assigned_unit"])

                async def refused(actor, command) -> None:
                    with pytest.raises(WorkflowUpdateFailedError) as info:
                        await needs.act(client, need_id, actor, command)
                    cause = info.value.cause
                    errors.append(f"{info.value} {cause} {getattr(cause, 'details', '')}")

                await refused(staff("dept-health"), Accept())  # wrong unit
                await refused(
                    unit, Complete(result_summary=c["name"], service_mode=ServiceMode.ON_SITE)
                )  # wrong stage
                await needs.act(client, need_id, unit, Accept())
                await needs.act(
                    client, need_id, unit, NoteProgress(note=f"called {c['name']} at {c['phone']}")
                )
                await needs.act(
                    client,
                    need_id,
                    unit,
                    Complete(
                        result_summary=f"fixed at {c['address']}", service_mode=ServiceMode.ON_SITE
                    ),
                )
                rid = sub.requester.requester_id
                await refused(
                    requester_actor("someone-else"),
                    Evaluate(reviewer_id="someone-else", rating=Rating.SATISFIED),
                )
                # invalid input straight to the workflow: an action that does not validate
                handle = client.get_workflow_handle(need_id)
                with pytest.raises(Exception) as bad:
                    await asyncio.wait_for(
                        handle.execute_update(
                            "act",
                            {
                                "actor": unit.model_dump(mode="json"),
                                "command": {
                                    "type": "NoteProgress",
                                    "note": c["name"],
                                    "phone": c["phone"],
                                },
                            },
                        ),
                        20,
                    )
                errors.append(f"{bad.value} {getattr(bad.value, 'cause', '')}")
                await needs.act(
                    client,
                    need_id,
                    requester_actor(rid),
                    Evaluate(
                        reviewer_id=rid, rating=Rating.SATISFIED, comment=f"thanks, {c['name']}"
                    ),
                )
                if invalid_start:
                    # a start whose submission does not validate (title too long), canaries inside
                    bad_id = f"need-app-{uuid.uuid4().hex[:16]}"
                    bad_sub = sub.model_dump(mode="json") | {"title": "x" * 5000 + c["address"]}
                    bad_handle = await client.start_workflow(
                        "DemandWorkflow",
                        {"submission": bad_sub, "actor": INTEGRATOR.model_dump(mode="json")},
                        id=bad_id,
                        task_queue=queue,
                    )
                    await asyncio.sleep(2)  # let the worker try (and fail) the first task
                    await bad_handle.terminate("privacy test")
                await needs.need_handle(client, need_id).result()
            async for wf in client.list_workflows():
                desc = await client.get_workflow_handle(wf.id).describe()
                surfaces[f"workflow {wf.id}"] = (
                    f"{wf.id} {wf.search_attributes} {desc.typed_search_attributes}"
                )
            surfaces["temporal state (sqlite + wal), running"] = running_state = state_files(
                temporal
            )
            assert need_id in running_state  # the real state, readable where it is not sealed
        finally:
            await conn.close()
            await store.close()
        surfaces["refused update errors"] = "\n".join(errors)
    finally:
        temporal.stop()
        pg_pid = pg.pid()
        pg.stop()
    surfaces["temporal state (sqlite + wal), stopped"] = state_files(temporal)
    assert temporal.pid() is None
    for _ in range(50):
        if pg_pid is None or not psutil.pid_exists(pg_pid):
            break
        await asyncio.sleep(0.1)
    assert pg_pid is None or not psutil.pid_exists(pg_pid), "PostgreSQL left running"
    for handler in logging.getLogger().handlers:
        handler.flush()
    surfaces["in-process logs (structlog + stdlib)"] = captured_logs.getvalue()
    surfaces["temporal server log"] = temporal.log_file.read_text(errors="replace")
    found = {where: leaks(text, c) for where, text in surfaces.items() if leaks(text, c)}
    lines = [
        line[:300] for text in surfaces.values() for line in text.splitlines() if leaks(line, c)
    ]
    assert found == {}, f"canaries leaked: {found}; first lines: {lines[:3]}"


async def test_canaries_sent_through_the_api_are_sealed_in_temporal_and_decode_for_admins_only(
    tmp_path,
    captured_logs,
) -> None:
    pg = Postgres(tmp_path)
    pg.start()
    await pg.migrate()
    temporal = TemporalDevServer(tmp_path)
    temporal.start()
    c = canaries()
    decoded: dict[str, str] = {}
    try:
        client = await temporal.connect()
        pool = await create_pool(pg.url, DEFAULT_APP_ROLE, min_size=1, max_size=4)
        queue = f"privacy-api-{uuid.uuid4().hex[:8]}"
        services = Services(
            temporal=client,
            pool=pool,
            task_queue=queue,
            codec=temporal.codec,
            codec_origins=[UI_ORIGIN],
        )
        app = create_app(services)

        def as_(who: str) -> httpx.AsyncClient:
            return httpx.AsyncClient(
                transport=httpx.ASGITransport(app),
                base_url="http://api",
                headers={"X-API-Key": KEYS[who]} if who in KEYS else {},
                timeout=30,
            )

        try:
            async with (
                build_worker(client, queue, EventStore(pool), FAST_POLICY),
                as_("integrator") as integrator,
                as_("staff_dongting1") as staff_,
            ):
                body = a_need(f"路灯坏了 {c['name']}")
                body["requester"] |= {"name": c["name"], "phone": c["phone"]}
                body["location"]["address"] = c["address"]
                sent = await integrator.post("/needs", json=body)
                assert sent.status_code == 202, sent.text
                need_id = sent.json()["id"]
                await wait_for(integrator, need_id, lambda b: b["stage"] == "assignment")
                assert (await staff_.post(f"/needs/{need_id}/accept")).status_code == 200
                noted = await staff_.post(
                    f"/needs/{need_id}/progress",
                    json={"note": f"called {c['name']} at {c['phone']}"},
                )
                assert noted.status_code == 200, noted.text

                running_state = state_files(temporal)
                assert need_id in running_state
                assert leaks(running_state, c) == [], "canaries in the running server's state"

                history = await client.get_workflow_handle(need_id).fetch_history()
                patches = [
                    e.marker_recorded_event_attributes.details["patch-data"]
                    for e in history.events
                    if e.HasField("marker_recorded_event_attributes")
                    and "patch-data" in e.marker_recorded_event_attributes.details
                ]
                assert patches, "the id check's patch marker"
                for patch in patches:  # plaintext by the SDK's design: only the patch's name
                    assert json.loads(patch.payloads[0].data)["id"] == ID_PATCH
                payloads = [p for e in history.events for p in payloads_of(e)]
                assert payloads and all(p.metadata["encoding"] == ENCODING for p in payloads)
                body = {
                    "payloads": [
                        {
                            "metadata": {k: _b64(v) for k, v in p.metadata.items()},
                            "data": _b64(p.data),
                        }
                        for p in payloads
                    ]
                }
                for who in (
                    "admin",
                    "sup_district",
                    "sup_dongting",
                    "staff_dongting1",
                    "integrator",
                    "nobody",
                ):
                    async with as_(who) as caller:
                        response = await caller.post("/codec/decode", json=body)
                    decoded[who] = f"{response.status_code} " + (
                        " ".join(_unb64(p["data"]) for p in response.json()["payloads"])
                        if response.status_code == 200
                        else response.text
                    )
        finally:
            await pool.close()
    finally:
        temporal.stop()
        pg.stop()
    stopped_state = state_files(temporal)
    assert leaks(stopped_state, c) == [], "canaries in the stopped server's state"
    assert leaks(temporal.log_file.read_text(errors="replace"), c) == []
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert leaks(captured_logs.getvalue(), c) == []
    for who in ("admin", "sup_district"):
        assert decoded[who].startswith("200 ") and set(leaks(decoded[who], c)) >= set(c), who
    for who, status in (
        ("sup_dongting", 403),
        ("staff_dongting1", 403),
        ("integrator", 403),
        ("nobody", 401),
    ):
        assert decoded[who].startswith(f"{status} ") and leaks(decoded[who], c) == [], who


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> str:
    return base64.b64decode(text).decode("utf-8", "replace")

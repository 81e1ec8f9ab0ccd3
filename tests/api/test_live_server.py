"""The real HTTP process: `demandflow api` under uvicorn on a free port, driven by the command
line (`demandflow submit|inbox|accept|complete|show|list|stats|import-csv`) and by
schemathesis against its OpenAPI document (no 5xx, responses match the schema; schema-valid
input may still be refused with 422 by domain rules the JSON schema cannot state, e.g. NUL
characters or unknown unit ids, so the "positive data accepted" check is off).

Sync clients run in threads so this process's event loop keeps serving the worker."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.api.conftest import KEYS, a_need
from tests.fixtures.temporal import CODEC
from workers.cli.main import app as cli
from workers.stack.embedded import venv_binary

pytestmark = pytest.mark.timeout(240)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live_api(embedded_database, dev_env, api_task_queue, api_worker) -> Iterator[str]:
    port = free_port()
    env = os.environ | {
        "DATABASE_URL": embedded_database,
        "API_PORT": str(port),
        "API_HOST": "127.0.0.1",
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_TASK_QUEUE": api_task_queue,
        "LOG_LEVEL": "WARNING",
        "PAYLOAD_KEYS": CODEC.keyring.as_setting(),
        "PAYLOAD_PLAINTEXT_READABLE": "false",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers.cli.main", "api"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _wait_healthy(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"api exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("api did not become healthy")


def run(live_api: str, key: str, *args: str):
    env = {"DEMANDFLOW_API_URL": live_api, "DEMANDFLOW_API_KEY": KEYS[key], "COLUMNS": "220"}
    return CliRunner().invoke(cli, list(args), env=env)


async def test_command_line_journey_over_real_http(live_api: str, tmp_path) -> None:
    need = tmp_path / "need.json"
    need.write_text(json.dumps(a_need("路灯不亮了")), encoding="utf-8")
    sent = await asyncio.to_thread(run, live_api, "integrator", "submit", str(need))
    assert sent.exit_code == 0, sent.output
    need_id = sent.output.strip()
    for _ in range(100):
        inbox = await asyncio.to_thread(
            run, live_api, "staff_dongting1", "inbox", "grid-dongting-1"
        )
        if need_id[:20] in inbox.output:
            break
        await asyncio.sleep(0.1)
    assert need_id in inbox.output and "待签收" in inbox.output  # the task, in Chinese
    accepted = await asyncio.to_thread(run, live_api, "staff_dongting1", "accept", need_id)
    assert accepted.output.strip() == f"{need_id}: handling"
    done = await asyncio.to_thread(
        run,
        live_api,
        "staff_dongting1",
        "complete",
        need_id,
        "--summary",
        "换了灯泡",
        "--mode",
        "on_site",
    )
    assert done.output.strip() == f"{need_id}: evaluation"
    shown = await asyncio.to_thread(run, live_api, "sup_district", "show", need_id)
    assert "HandlingCompleted" in shown.output and "evaluation" in shown.output
    listed = await asyncio.to_thread(run, live_api, "sup_district", "list", "--stage", "evaluation")
    assert listed.exit_code == 0 and "待评价" in listed.output  # the stage, in Chinese
    stats = await asyncio.to_thread(run, live_api, "sup_district", "stats", "--min-needs", "1")
    assert stats.exit_code == 0 and "洞庭社区第一网格" in stats.output  # units by name
    denied = await asyncio.to_thread(run, live_api, "staff_xinhua1", "accept", need_id)
    assert denied.exit_code == 1 and "error 404" in denied.output


async def test_dispatching_from_the_command_line(live_api: str, tmp_path) -> None:
    need = tmp_path / "need.json"
    need.write_text(json.dumps(a_need("有个事情想问问")), encoding="utf-8")
    need_id = (
        await asyncio.to_thread(run, live_api, "integrator", "submit", str(need))
    ).output.strip()
    for _ in range(100):
        listed = await asyncio.to_thread(run, live_api, "sup_dongting", "show", need_id)
        if "ClassificationRequested" in listed.output:
            break
        await asyncio.sleep(0.1)
    wrong = await asyncio.to_thread(
        run,
        live_api,
        "sup_dongting",
        "classify",
        need_id,
        "--category",
        "nonsense",
        "--tier",
        "grid",
    )
    assert wrong.exit_code == 2 and "nonsense" in wrong.output  # typer names the bad choice
    done = await asyncio.to_thread(
        run,
        live_api,
        "sup_dongting",
        "classify",
        need_id,
        "--category",
        "daily_life",
        "--tier",
        "grid",
    )
    assert done.exit_code == 0 and done.output.strip() == f"{need_id}: assignment", done.output
    owned = await asyncio.to_thread(
        run, live_api, "sup_dongting", "assign", need_id, "--unit", "community-dongting"
    )
    assert owned.exit_code == 1 and "already assigned" in owned.output
    async with httpx.AsyncClient(base_url=live_api) as http:  # the CLI has no `return`
        back = await http.post(
            f"/needs/{need_id}/return",
            json={"reason": "不归网格管"},
            headers={"X-API-Key": KEYS["staff_dongting1"]},
        )
    assert back.status_code == 200, back.text
    given = await asyncio.to_thread(
        run, live_api, "sup_dongting", "assign", need_id, "--unit", "community-dongting"
    )
    assert given.exit_code == 0 and given.output.strip() == f"{need_id}: assignment"
    shown = await asyncio.to_thread(run, live_api, "sup_dongting", "show", need_id)
    assert "community-dongting" in shown.output


def _payload_texts(node: object) -> list[str]:
    """The data of every payload in `temporal … --output json` (protobuf JSON: base64)."""
    if isinstance(node, dict):
        if "metadata" in node and "data" in node:
            return [base64.b64decode(node["data"]).decode("utf-8", "replace")]
        return [t for v in node.values() for t in _payload_texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in _payload_texts(v)]
    return []


async def test_the_stock_temporal_cli_shows_a_need_decoded_through_the_codec_server(
    live_api: str,
    dev_env,
    tmp_path,
) -> None:
    """The README's `temporal workflow show --codec-endpoint … --codec-auth …` line."""
    need = tmp_path / "need.json"
    body = a_need("路灯不亮了")
    body["requester"]["name"] = name = f"Cli-{uuid.uuid4().hex[:8]}"
    need.write_text(json.dumps(body), encoding="utf-8")
    need_id = (
        await asyncio.to_thread(run, live_api, "integrator", "submit", str(need))
    ).output.strip()

    def show(*auth: str) -> tuple[int, str]:
        done = subprocess.run(
            [
                str(venv_binary("temporal")),
                "workflow",
                "show",
                "--workflow-id",
                need_id,
                "--address",
                dev_env.client.service_client.config.target_host,
                "--output",
                "json",
                "--codec-endpoint",
                f"{live_api}/codec",
                *auth,
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:  # a refusing codec server: the CLI gives up, shows nothing
            return done.returncode, done.stdout + done.stderr
        return 0, " ".join(_payload_texts(json.loads(done.stdout)))

    status, decoded = await asyncio.to_thread(
        show, "--codec-auth", f"Bearer {KEYS['sup_district']}"
    )
    assert status == 0 and name in decoded, decoded[-500:]
    for refused in (("--codec-auth", f"Bearer {KEYS['sup_dongting']}"), ()):
        status, text = await asyncio.to_thread(show, *refused)
        assert status != 0 and name not in text


async def test_import_csv_submits_valid_rows_and_reports_the_others(
    live_api: str, tmp_path
) -> None:
    header = (
        "external_id,channel,title,requester_id,requester_kind,street,community,grid,building\n"
    )
    rows = [
        (
            f"imp-{time.time_ns()}-1,hotline,小区垃圾多,res-1,resident,street-hanzheng,"
            "community-qinghe,grid-qinghe-1,b-imp1\n"
        ),
        f"imp-{time.time_ns()}-2,hotline,,res-2,resident,street-hanzheng,,,\n",
        f"imp-{time.time_ns()}-3,pigeon,路灯,res-3,resident,street-hanzheng,,,\n",
        (
            f"imp-{time.time_ns()}-4,app,路灯坏了,res-4,resident,street-hanzheng,"
            "community-qinghe,grid-qinghe-2,b-imp4\n"
        ),
    ]
    file = tmp_path / "needs.csv"
    file.write_text(header + "".join(rows), encoding="utf-8")
    result = await asyncio.to_thread(run, live_api, "integrator", "import-csv", str(file))
    assert result.exit_code == 1
    assert "submitted 2 of 4 rows, 2 rejected" in result.output
    assert "row 3: title" in result.output and "row 4: channel" in result.output


def _fuzz(url: str) -> list[str]:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    problems: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=4, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy())
        def check(case) -> None:
            case.call_and_validate(
                headers={"X-API-Key": KEYS["admin"]}, excluded_checks=[positive_data_acceptance]
            )

        try:
            check()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure
            problems.append(f"{operation.label}: {str(exc)[:300]}")
    return problems


async def test_schemathesis_finds_no_5xx_and_no_schema_mismatch(live_api: str) -> None:
    problems = await asyncio.to_thread(_fuzz, live_api)
    assert not problems, "\n".join(problems)


async def test_repeats_from_the_command_line(live_api: str, tmp_path) -> None:
    """A repeat merges and `show` names the need it joined with the rule's score; a
    supervisor unmerges it and gets the new need's id."""
    building = f"{uuid.uuid4().int % 900 + 100}栋"
    ids = []
    for title in ("楼道灯坏了，晚上很黑", "楼道的灯不亮好几天了，很黑"):
        body = a_need(title)
        body["location"]["building"] = building
        path = tmp_path / f"{len(ids)}.json"
        path.write_text(json.dumps(body), encoding="utf-8")
        ids.append(
            (
                await asyncio.to_thread(run, live_api, "integrator", "submit", str(path))
            ).output.strip()
        )
        await asyncio.sleep(1.0)  # the first need is stored before the second arrives
    primary, repeat = ids
    for _ in range(100):
        shown = await asyncio.to_thread(run, live_api, "sup_district", "show", repeat)
        if "DemandMerged" in shown.output:
            break
        await asyncio.sleep(0.1)
    assert f"→ {primary}" in shown.output and "joined" in shown.output
    split = await asyncio.to_thread(
        run, live_api, "sup_district", "unmerge", repeat, "--reason", "是另一盏灯"
    )
    assert split.exit_code == 0, split.output
    assert split.output.strip().startswith("need-app-")
    again = await asyncio.to_thread(
        run, live_api, "sup_district", "unmerge", repeat, "--reason", "再拆一次"
    )
    assert again.exit_code == 1 and "error 409" in again.output
    closed = await asyncio.to_thread(run, live_api, "sup_district", "repeat", repeat, "link")
    assert closed.exit_code == 1 and "error 409" in closed.output  # merged: nothing to settle


async def test_webhook_commands_over_real_http(live_api: str, as_) -> None:
    made = await as_("partner").post("/webhooks", json={"url": "https://hooks.example.org/x"})
    sub_id = made.json()["id"]
    mine = await asyncio.to_thread(run, live_api, "partner", "webhooks")
    assert mine.exit_code == 0 and sub_id in mine.output
    other = await asyncio.to_thread(run, live_api, "integrator", "webhooks")
    assert sub_id not in other.output
    listed = await asyncio.to_thread(run, live_api, "admin", "deliveries", "--status", "dead")
    assert listed.exit_code == 0 and "webhook deliveries" in listed.output
    refused = await asyncio.to_thread(run, live_api, "partner", "redeliver")
    assert refused.exit_code == 1 and "error 403" in refused.output
    emptied = await asyncio.to_thread(run, live_api, "admin", "redeliver", "--subscription", sub_id)
    assert emptied.exit_code == 0 and emptied.output.strip() == "redelivered 0"
    await as_("partner").delete(f"/webhooks/{sub_id}")


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_the_stock_open311_client_reads_everything(live_api: str, fmt: str) -> None:
    """`georeport` from PyPI, unchanged: it sends no key on reads, as GeoReport v2 allows."""
    from georeport import GeoReport

    from tests.api.test_open311 import form

    posted = await asyncio.to_thread(
        httpx.post, f"{live_api}/open311/v2/requests.json", data=form(), timeout=30
    )
    request_id = posted.json()[0]["service_request_id"]
    client = GeoReport(f"{live_api}/open311/v2", output_format=fmt)
    services = await asyncio.to_thread(client.get_service_list)
    codes = {s["service_code"] for s in services}
    assert "daily_life" in codes
    definition = await asyncio.to_thread(client.get_service_definition, "daily_life")
    assert definition["service_code"] == "daily_life"
    one = await asyncio.to_thread(client.get_service_request, request_id)
    one = one[0] if isinstance(one, list) else one
    assert one["service_request_id"] == request_id and one["status"] == "open"
    assert not one.get("description")  # anonymous: no description, no address
    many = await asyncio.to_thread(client.get_service_requests, service_request_id=request_id)
    many = many if isinstance(many, list) else [many]
    assert [r["service_request_id"] for r in many] == [request_id]


def _replay_seeds(url: str) -> list[str]:
    import yaml

    seeds = yaml.safe_load(
        (Path(__file__).with_name("fuzz_seeds.yaml")).read_text(encoding="utf-8")
    )["seeds"]
    problems = []
    for seed in seeds:
        content = (
            bytes.fromhex(seed["body_hex"])
            if "body_hex" in seed
            else ((seed["body"] * seed.get("repeat", 1)).encode() if "body" in seed else None)
        )
        headers = {"content-type": "application/json"} if content is not None else {}
        if "key" in seed:
            headers["X-API-Key"] = KEYS[seed["key"]]
        answer = httpx.request(
            seed["method"],
            url + seed["path"],
            params=seed.get("query"),
            content=content,
            headers=headers,
            timeout=30,
        )
        shaped = answer.headers.get("content-type", "").startswith("application/json") and (
            "error" in answer.json()
            if isinstance(answer.json(), dict)
            else isinstance(answer.json(), list)
        )  # Open311 errors are a list
        if answer.status_code >= 500 or (answer.status_code >= 400 and not shaped):
            problems.append(
                f"{seed['method']} {seed['path']}: {answer.status_code} {answer.text[:120]}"
            )
    return problems


async def test_the_seed_corpus_finds_no_5xx_and_one_error_format(live_api: str) -> None:
    problems = await asyncio.to_thread(_replay_seeds, live_api)
    assert not problems, "\n".join(problems)


async def test_every_action_of_the_table_has_a_command(live_api: str, as_) -> None:
    from domain.actions import ACTIONS

    shown = await asyncio.to_thread(
        lambda: CliRunner().invoke(cli, ["--help"], env={"COLUMNS": "80"})
    )
    for action in ACTIONS:
        if action.name not in ("information", "repeat-decision"):  # (`repeat` is its command)
            assert action.name in shown.output, action.name
    sent = await as_("integrator").post("/needs", json=a_need("路灯坏了，命令行督办"))
    need_id = sent.json()["id"]
    for _ in range(100):
        if (await as_("staff_dongting1").post(f"/needs/{need_id}/accept")).status_code == 200:
            break
        await asyncio.sleep(0.1)
    steps = [
        ("staff_dongting1", ["progress", need_id, "--note", "已联系电工"], "ProgressNoted"),
        ("sup_district", ["remind", need_id, "--note", "请尽快"], "ReminderSent"),
        (
            "sup_district",
            ["supervise", need_id, "--note", "请书面说明", "--reply-hours", "4"],
            "SupervisionOrdered",
        ),
        (
            "staff_dongting1",
            ["supervision-reply", need_id, "--reply", "明天更换"],
            "SupervisionReplied",
        ),
    ]
    for who, args, event in steps:
        done = await asyncio.to_thread(run, live_api, who, *args)
        assert done.exit_code == 0, done.output
        assert done.output.strip() == f"{need_id}: handling ({event})"
    refused = await asyncio.to_thread(
        run, live_api, "staff_dongting1", "remind", need_id, "--note", "自己催自己"
    )
    assert refused.exit_code == 1 and "error 403" in refused.output

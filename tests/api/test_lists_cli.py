"""The lists' command line over real HTTP (`demandflow resources|projects ...` and
`complete-by-project`, workers/cli/lists.py) against `demandflow api` under uvicorn."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.api.conftest import a_need, wait_for
from tests.api.test_live_server import live_api, run  # noqa: F401 - the fixture, the runner

pytestmark = pytest.mark.timeout(240)
TODAY = datetime.now(ZoneInfo("Asia/Shanghai")).date()


async def cli(live_api: str, key: str, *args: str):  # noqa: F811 - the fixture's value
    result = await asyncio.to_thread(run, live_api, key, *args)
    assert result.exit_code == 0, result.output
    return result.output


async def test_resources_and_a_project_from_the_command_line(live_api: str, as_) -> None:  # noqa: F811
    sup = "sup_district"
    resource = (
        await cli(
            live_api,
            sup,
            "resources",
            "add",
            "--owner",
            "dept-urban",
            "--kind",
            "service",
            "--name",
            "路灯抢修队",
            "--capacity",
            "4",
            "--item",
            "daily_life/street-lamp",
        )
    ).strip()
    assert resource.startswith("res-")
    assert "version 2" in await cli(
        live_api, sup, "resources", "change", resource, "--capacity", "5"
    )
    listed = await cli(live_api, sup, "resources", "list", "--csv")
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(listed.lstrip("\ufeff")))}
    assert rows[resource]["capacity"] == "5" and rows[resource]["items"] == "daily_life/street-lamp"
    assert resource in await cli(
        live_api, sup, "resources", "list", "--item", "daily_life/street-lamp"
    )
    bad = await asyncio.to_thread(
        run,
        live_api,
        sup,
        "resources",
        "add",
        "--owner",
        "dept-nowhere",
        "--kind",
        "venue",
        "--name",
        "x",
    )
    assert bad.exit_code == 1 and "owner_unit" in bad.output
    staff = await asyncio.to_thread(run, live_api, "staff_dongting1", "resources", "list")
    assert staff.exit_code == 1 and "403" in staff.output

    need = a_need("楼道声控灯坏了", grid="grid-qinghe-1", community="community-qinghe")
    need_id = (await as_("integrator").post("/needs", json=need)).json()["id"]
    await wait_for(as_("integrator"), need_id, lambda b: b["stage"] == "assignment")
    project = (
        await cli(
            live_api,
            sup,
            "projects",
            "add",
            "--name",
            "命令行亮灯项目",
            "--community",
            "community-qinghe",
            "--period-from",
            str(TODAY - timedelta(days=1)),
            "--period-to",
            str(TODAY + timedelta(days=1)),
            "--starts",
            str(TODAY),
            "--ends",
            str(TODAY + timedelta(days=7)),
            "--owner",
            "dept-urban",
            "--item",
            "daily_life/street-lamp",
            "--resource",
            resource,
        )
    ).strip()
    assert project.startswith("prj-")
    assert "running" in await cli(live_api, sup, "projects", "start", project)
    shown = await cli(live_api, sup, "projects", "show", project)
    assert "命令行亮灯项目" in shown and "started" in shown
    done = await cli(live_api, sup, "projects", "complete", project, "--summary", "灯已换")
    assert f"{project}: completed" in done and f"{need_id}: evaluation" in done
    listed = await cli(live_api, sup, "projects", "list", "--status", "completed", "--json")
    assert project in listed
    await wait_for(as_("sup_district"), need_id, lambda b: b["stage"] == "evaluation")

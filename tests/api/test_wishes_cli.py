"""The micro-wish pool and the plans on the command line over real HTTP (`demandflow wish
...`, `demandflow plan ...`) against `demandflow api` under uvicorn: what a claimant and a
supervisor type, and the Chinese they read back."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.api.test_lists_cli import cli
from tests.api.test_live_server import live_api, run  # noqa: F401 - the fixture, the runner
from tests.api.test_plans import a_plan, plan_where
from tests.api.test_wishes import a_wish, posted

pytestmark = pytest.mark.timeout(240)


async def test_a_claimant_claims_and_fulfils_from_the_command_line(live_api: str, as_) -> None:  # noqa: F811
    wish_id = await posted(as_("integrator"), a_wish("想请人帮忙贴春联", kind="service"))
    pool = await cli(live_api, "claimant_wang", "wish", "list", "--status", "pooled")
    assert wish_id in pool and "想请人帮忙贴春联" in pool and "待认领" in pool
    claimed = await cli(live_api, "claimant_wang", "wish", "claim", wish_id)
    assert "已认领" in claimed and "claimant-party-wang" in claimed
    taken = await asyncio.to_thread(run, live_api, "claimant_li", "wish", "claim", wish_id)
    assert taken.exit_code == 1 and "someone else" in taken.output
    await cli(live_api, "claimant_wang", "wish", "fulfil", wish_id, "--text", "贴好了")
    await cli(live_api, "staff_comm_dongting", "wish", "confirm", wish_id)
    points = await cli(live_api, "claimant_wang", "wish", "points", "claimant-party-wang")
    assert wish_id in points and "10" in points


async def test_a_supervisor_pauses_and_resumes_a_plan(live_api: str, as_) -> None:  # noqa: F811
    body = a_plan(kind="monthly", weekday=2, week=-1)
    pid = (await as_("sup_district").post("/plans", json=body)).json()["id"]
    await plan_where(as_("sup_district"), pid, lambda p: p["status"] == "active")
    listed = await cli(live_api, "sup_district", "plan", "list")
    assert pid in listed and "每月最后一个周二" in listed and "执行中" in listed
    assert "paused" in await cli(
        live_api, "sup_district", "plan", "pause", pid, "--reason", "春节停诊"
    )
    assert "active" in await cli(live_api, "sup_district", "plan", "resume", pid)
    shown = json.loads(await cli(live_api, "sup_district", "plan", "show", pid, "--json"))
    assert [e["type"] for e in shown[0]["timeline"]][-2:] == ["PlanPaused", "PlanResumed"]

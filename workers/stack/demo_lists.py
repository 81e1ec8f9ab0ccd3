"""Demo entries of the resource and project lists (资源清单, 项目清单) for the local stack,
loaded once (fixed ids: an entry that exists is left as it is; store.lists.create).

Three resources of 洞庭社区's partners and one co-building project over two demand items of
the demo needs (the broken lamp, daily_life/street-lamp, and the worker's wish for a lit
basketball court, worker_care/worker-care), running, so that
`demandflow projects complete prj-demo-lights --summary ...` completes both needs and asks
their requesters to evaluate.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import structlog

from domain.lists import ProjectDraft, ResourceDraft, check_project, check_resource
from domain.policy import load_policy
from store import lists
from store.db import create_pool
from workers.settings import Settings

log = structlog.get_logger("demandflow.demo")
LOADER = {"id": "demo-loader", "role": "admin", "unit": None}
LAMP = {"category": "daily_life", "item": "street-lamp"}
COURT = {"category": "worker_care", "item": "worker-care"}

DEMO_RESOURCES: dict[str, ResourceDraft] = {
    "res-demo-lamp-repair": ResourceDraft.model_validate(
        {
            "owner_unit": "dept-urban",
            "kind": "service",
            "name": "路灯抢修服务",
            "description": "区城管局照明维护班组，夜间两小时到场",
            "items": [LAMP],
        }
    ),
    "res-demo-court": ResourceDraft.model_validate(
        {
            "owner_unit": "community-dongting",
            "kind": "venue",
            "name": "洞庭社区篮球场",
            "description": "社区党群服务中心旁的室外篮球场",
            "capacity": 40,
            "items": [COURT, {"category": "culture_sports", "item": "culture-venue"}],
        }
    ),
    "res-demo-volunteers": ResourceDraft.model_validate(
        {
            "owner_unit": "team-orange",
            "kind": "volunteers",
            "name": "暖心橙志愿服务队",
            "description": "周末与晚间的志愿服务",
            "capacity": 30,
            "items": [COURT, {"category": "care", "item": "elderly-care"}],
        }
    ),
}


def demo_project(today: date) -> ProjectDraft:
    return ProjectDraft.model_validate(
        {
            "name": "洞庭社区夜间亮灯共建",
            "description": "修复楼下路灯，篮球场加装灯光，晚间向职工开放",
            "community": "community-dongting",
            "period_from": date(today.year, 1, 1),
            "period_to": date(today.year, 12, 31),
            "items": [LAMP, COURT],
            "resources": list(DEMO_RESOURCES),
            "owner_units": ["dept-urban", "community-dongting", "team-orange"],
            "starts_on": today,
            "ends_on": today + timedelta(days=30),
        }
    )


def _values(draft: ResourceDraft | ProjectDraft) -> dict[str, Any]:
    values = draft.model_dump()
    values["items"] = [{"category": i.category.value, "item": i.item} for i in draft.items]
    return values


async def load_demo_lists(settings: Settings, database_url: str) -> None:
    """Add the demo resources and the demo project (started) unless they exist."""
    policy = load_policy(settings.policy_file.read_bytes())
    today = datetime.now(timezone(timedelta(hours=8))).date()
    project = demo_project(today)
    for draft in DEMO_RESOURCES.values():
        check_resource(draft, policy)
    check_project(project, policy)
    pool = await create_pool(database_url, settings.database_app_role, max_size=2)
    try:
        for resource_id, draft in DEMO_RESOURCES.items():
            await lists.create(pool, "resource", resource_id, _values(draft), LOADER)
        made = await lists.create(pool, "project", "prj-demo-lights", _values(project), LOADER)
        if made is not None:
            await lists.change(
                pool,
                "project",
                made["id"],
                made["version"],
                {"status": "running"},
                "started",
                LOADER,
            )
    finally:
        await pool.close()
    log.info("demo lists loaded", resources=len(DEMO_RESOURCES), projects=1)

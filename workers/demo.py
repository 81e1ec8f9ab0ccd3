"""Demo needs for the local stack: the cases of ../shared/DOMAIN.md, loaded once.

"Once" holds by construction: each demo need has a fixed channel and external id, so its
workflow id is fixed, and intake never starts a second workflow under an id (see
workflows/client.py). The demo directory itself is the policy file (deploy/policy.yaml).
"""

from __future__ import annotations

import asyncio

import structlog
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from domain.commands import Submission
from domain.model import Actor, Channel, Location, Requester, RequesterKind, Role
from workers.codec import converter_from_settings
from workers.connections import connect_temporal
from workers.settings import Settings
from workflows.client import snapshot, submit_need

log = structlog.get_logger("demandflow.demo")

DEMO_INTAKE = Actor(id="demo-loader", role=Role.INTEGRATOR)
DONGTING_1 = Location(
    street="street-hanzheng", community="community-dongting", grid="grid-dongting-1"
)
XINHUA_857 = Location(
    street="street-hanzheng",
    community="community-xinhua",
    grid="grid-xinhua-1",
    building="857",
    address="汉正街857号",
)


def _need(
    external_id: str,
    channel: Channel,
    kind: RequesterKind,
    requester_id: str,
    title: str,
    location: Location = DONGTING_1,
    **extra: object,
) -> Submission:
    return Submission(
        channel=channel,
        external_id=external_id,
        title=title,
        location=location,
        requester=Requester(requester_id=requester_id, kind=kind),
        **extra,
    )


DEMO_SUBMISSIONS = [
    _need(
        "demo-retire-1",
        Channel.WECHAT,
        RequesterKind.RESIDENT,
        "demo-res-1",
        "下个月退休，请问怎么办理退休手续？",
    ),
    _need(
        "demo-huading-1",
        Channel.JOINT_MEETING,
        RequesterKind.ENTERPRISE,
        "demo-ent-huading",
        "1800名员工健康证需要换证，分布在约100个食堂",
        details={"staff_count": "1800"},
    ),
    _need(
        "demo-sanitation-1",
        Channel.GRID_VISIT,
        RequesterKind.PARTY_MEMBER,
        "demo-pm-1",
        "汉正街857号环境卫生脏乱差",
        XINHUA_857,
    ),
    _need(
        "demo-sanitation-2",
        Channel.WECHAT,
        RequesterKind.PARTY_MEMBER,
        "demo-pm-2",
        "857号门口垃圾没人清扫",
        XINHUA_857,
    ),
    _need(
        "demo-lamp-1", Channel.APP, RequesterKind.RESIDENT, "demo-res-2", "楼下路灯坏了，晚上很黑"
    ),
    _need(
        "demo-wish-1",
        Channel.WISH_WALL,
        RequesterKind.WORKER,
        "demo-worker-1",
        "微心愿：希望园区篮球场晚上能亮灯",
    ),
    _need(
        "demo-legal-1",
        Channel.DOOR_KNOCKING,
        RequesterKind.RESIDENT,
        "demo-res-3",
        "租房合同纠纷，想咨询律师",
        Location(street="street-hanzheng", community="community-qinghe", grid="grid-qinghe-1"),
    ),
    # No rule knows this one: it waits in `classification` for a dispatcher (README tour).
    _need(
        "demo-unclear-1", Channel.WECHAT, RequesterKind.RESIDENT, "demo-res-4", "有个事情想问问社区"
    ),
]


async def load_demo(settings: Settings, temporal_address: str) -> None:
    """Submit every demo need; needs that exist already are left as they are."""
    client = await connect_temporal(
        temporal_address,
        settings.temporal_namespace,
        converter_from_settings(settings),
        attempts=20,
    )
    for submission in DEMO_SUBMISSIONS:
        need_id = await submit_need(
            client, submission, DEMO_INTAKE, task_queue=settings.temporal_task_queue
        )
        # Wait for its first events, so a later repeated report finds it open and links to it.
        for _ in range(100):
            try:
                if (await snapshot(client, need_id)).version > 0:
                    break
            except (RPCError, WorkflowQueryFailedError):
                pass  # not yet picked up by the worker
            await asyncio.sleep(0.1)
    log.info("demo needs submitted", count=len(DEMO_SUBMISSIONS))

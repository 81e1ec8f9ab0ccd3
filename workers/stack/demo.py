"""Demo needs for the local stack: the cases of ../shared/DOMAIN.md, loaded once.

"Once" holds by construction: each demo need has a fixed channel and external id, so its
workflow id is fixed, and intake never starts a second workflow under an id (see
workflows/client.py). The demo directory itself is the policy file (deploy/policy.yaml).
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from domain.commands import Accept, RequestAssist, Submission, need_id_for
from domain.model import (
    Actor,
    Channel,
    Location,
    Requester,
    RequesterKind,
    Role,
    Stage,
    WishKind,
)
from domain.plans import PlanSpec, Recurrence, plan_id
from domain.policy import load_policy
from domain.wishes import (
    ClaimWish,
    ConfirmWish,
    FulfilWish,
    WishCommand,
    WishRules,
    WishSubmission,
    wish_id,
)
from workers.codec import converter_from_settings
from workers.connections import connect_temporal
from workers.settings import Settings
from workflows.client import act, snapshot, submit_need
from workflows.messages import PlanStart, WishAction, WishStart
from workflows.plan import PlanWorkflow
from workflows.wish import WishWorkflow

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


async def load_demo(
    settings: Settings, temporal_address: str, database_url: str | None = None
) -> None:
    """Submit every demo need; needs that exist already are left as they are. With the
    database: the demo resources and project too (workers/stack/demo_lists.py)."""
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
    if database_url is not None:
        from workers.stack.demo_lists import load_demo_lists

        await load_demo_lists(settings, database_url)
    await load_demo_wishes(client, settings)
    await load_demo_plan(client, settings)
    await load_demo_joint_handling(client)


DEMO_SUPERVISOR = Actor(id="supervisor-district", role=Role.SUPERVISOR)
HUADING_PLAN = PlanSpec(
    external_id="demo-huading-health",
    title="华鼎餐饮每月上门健康证体检",
    unit="dept-health",
    template=_need(
        "plan-template",
        Channel.JOINT_MEETING,
        RequesterKind.ENTERPRISE,
        "demo-ent-huading",
        "华鼎餐饮员工健康证上门体检（每月）",
        details={"staff_count": "1800"},
    ),
    recurrence=Recurrence(kind="monthly", weekday=2, week=-1),
    skip_non_working_days=True,
    from_need=need_id_for(Channel.JOINT_MEETING, "demo-huading-1", DEMO_INTAKE.id),
)


async def load_demo_plan(client: Client, settings: Settings) -> None:
    """The recurring service of the Huading case: the last Tuesday of every month (its
    schedule shows in the Temporal Web UI under the plan's id)."""
    policy = load_policy(settings.policy_file.read_bytes())
    pid = plan_id(HUADING_PLAN.external_id, DEMO_SUPERVISOR.id)
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            PlanWorkflow.run,
            PlanStart(spec=HUADING_PLAN, actor=DEMO_SUPERVISOR, calendar=policy.calendar),
            id=pid,
            task_queue=settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    log.info("demo plan set up", plan=pid)


HUADING_HELPER = "dept-market"  # catering licences, checked on the examination day


async def load_demo_joint_handling(client: Client) -> None:
    """联合办理 in the Huading case: its lead unit accepts the need and asks market regulation
    to check the canteens' catering licences on the same day (an open sub-task the
    department sees in its inbox). Left as it is when it has sub-tasks already."""
    need_id = need_id_for(Channel.JOINT_MEETING, "demo-huading-1", DEMO_INTAKE.id)
    for _ in range(100):
        state = (await snapshot(client, need_id)).state
        if state.assists or state.stage not in (None, Stage.COLLECTION, Stage.CLASSIFICATION):
            break
        await asyncio.sleep(0.1)
    lead = state.assigned_unit
    if state.assists or lead is None or lead == HUADING_HELPER:
        return
    staff = Actor(id=f"staff-{lead}", role=Role.STAFF, unit=lead)
    try:
        if state.stage == Stage.ASSIGNMENT:
            await act(client, need_id, staff, Accept())
        await act(
            client,
            need_id,
            staff,
            RequestAssist(unit_id=HUADING_HELPER, task="体检当天到场，核查各食堂餐饮服务许可证"),
        )
    except WorkflowUpdateFailedError as exc:
        log.warning("demo joint handling not set up", reason=str(exc.cause or exc))
        return
    log.info("demo joint handling set up", need=need_id, lead=lead, assisting=HUADING_HELPER)


DEMO_WALL = Actor(id="integrator-demo", role=Role.INTEGRATOR)  # the wish wall's key
WANG = Actor(id="claimant-party-wang", role=Role.CLAIMANT)  # demo claimants (api-keys.yaml)
LI = Actor(id="claimant-volunteer-li", role=Role.CLAIMANT)


def _wish(external_id: str, community: str, kind: WishKind, title: str) -> WishSubmission:
    return WishSubmission(
        external_id=external_id,
        title=title,
        community=community,
        kind=kind,
        wisher=Requester(requester_id=f"{external_id}-wisher", kind=RequesterKind.RESIDENT),
    )


# (the wish, what happens to it: nothing, claimed by Wang, or fulfilled and confirmed)
DEMO_WISHES: list[tuple[WishSubmission, list[tuple[Actor, WishCommand]]]] = [
    (_wish("demo-wish-hearing", "community-dongting", WishKind.MATERIAL, "想要一台助听器"), []),
    (
        _wish("demo-wish-radio", "community-dongting", WishKind.SERVICE, "家里的旧收音机坏了"),
        [(WANG, ClaimWish())],
    ),
    (
        _wish("demo-wish-chess", "community-dongting", WishKind.COMPANIONSHIP, "想找人下象棋"),
        [
            (LI, ClaimWish()),
            (LI, FulfilWish(note="每周三下午陪老人下棋")),
            (DEMO_WALL, ConfirmWish()),
        ],
    ),
    (_wish("demo-wish-books", "community-xinhua", WishKind.STUDY, "孩子想要几本课外书"), []),
]


async def load_demo_wishes(client: Client, settings: Settings) -> None:
    """Post the demo wishes and play their steps; a second run changes nothing (the same
    ids; a step already taken is refused or answers with no new event)."""
    rules = WishRules.of(load_policy(settings.policy_file.read_bytes()))
    for submission, steps in DEMO_WISHES:
        wid = wish_id(submission.channel, submission.external_id, DEMO_WALL.id)
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await client.start_workflow(
                WishWorkflow.run,
                WishStart(submission=submission, actor=DEMO_WALL, rules=rules),
                id=wid,
                task_queue=settings.temporal_task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        handle = client.get_workflow_handle_for(WishWorkflow.run, wid)
        for actor, command in steps:
            for _ in range(50):  # until the posting is stored (the update says NotReady)
                try:
                    await handle.execute_update(
                        WishWorkflow.act, WishAction(command=command, actor=actor)
                    )
                    break
                except WorkflowUpdateFailedError as exc:
                    if getattr(exc.cause, "type", None) != "NotReady":
                        break  # done on an earlier run
                    await asyncio.sleep(0.1)
                except RPCError:
                    break  # the wish's workflow finished on an earlier run
    log.info("demo wishes posted", count=len(DEMO_WISHES))

"""The Temporal Schedule behind each service plan (定期服务): created, changed, paused,
resumed and deleted by the plan's workflow through these activities (a schedule is a side
effect: workflows/plan.py calls them, never the client itself).

The schedule's action starts a PlanTickWorkflow (workflows/plan.py), which tells the plan's
workflow the moment it fired; the plan decides. Its spec follows the plan's recurrence in
Asia/Shanghai: monthly on a day of the month; monthly on "the n-th / last weekday" as every
such weekday (the plan keeps the right one, domain.plans.occurs_on); weekly; or an interval.
The schedule shows in the Temporal Web UI and `temporal schedule list` under the plan's id.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from domain.plans import Recurrence, interval_of
from workflows.messages import PlanScheduleRequest

ZONE = "Asia/Shanghai"


def schedule_spec(rule: Recurrence) -> ScheduleSpec:
    every = interval_of(rule)
    if every is not None:
        # Temporal counts intervals from the Unix epoch (UTC): whole days get the offset that
        # puts each firing at the plan's local hour (Shanghai is UTC+8)
        offset = timedelta(hours=(rule.hour - 8) % 24) if rule.every_days else timedelta(0)
        interval = ScheduleIntervalSpec(every=every, offset=offset)
        return ScheduleSpec(intervals=[interval], time_zone_name=ZONE)
    day = dict(
        hour=[ScheduleRange(rule.hour)],
        month=[ScheduleRange(m) for m in rule.months] or [ScheduleRange(1, 12)],
    )
    if rule.day_of_month is not None:
        calendar = ScheduleCalendarSpec(day_of_month=[ScheduleRange(rule.day_of_month)], **day)
    else:
        assert rule.weekday is not None
        # Temporal counts Sunday as 0; ISO as 7
        calendar = ScheduleCalendarSpec(day_of_week=[ScheduleRange(rule.weekday % 7)], **day)
    return ScheduleSpec(calendars=[calendar], time_zone_name=ZONE)


class PlanActivities:
    def __init__(self, client: Client, task_queue: str) -> None:
        self.client, self.task_queue = client, task_queue

    def _schedule(self, request: PlanScheduleRequest) -> Schedule:
        return Schedule(
            action=ScheduleActionStartWorkflow(
                "PlanTickWorkflow",
                request.plan_id,
                id=f"{request.plan_id}-tick",
                task_queue=self.task_queue,
            ),
            spec=schedule_spec(request.recurrence),
            state=ScheduleState(paused=request.paused, note=request.note),
            # ticks are idempotent (the plan names each occurrence by its moment): never drop
            # one because an earlier tick is still running (a worker was down)
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
        )

    @activity.defn(name="put_plan_schedule")
    async def put_plan_schedule(self, request: PlanScheduleRequest) -> None:
        """Create the plan's schedule, or bring it to the request (spec and paused state)."""
        schedule = self._schedule(request)
        try:
            await self.client.create_schedule(request.plan_id, schedule)
        except ScheduleAlreadyRunningError:

            def change(_: ScheduleUpdateInput) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=schedule)

            await self.client.get_schedule_handle(request.plan_id).update(change)

    @activity.defn(name="delete_plan_schedule")
    async def delete_plan_schedule(self, plan_id: str) -> None:
        try:
            await self.client.get_schedule_handle(plan_id).delete()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise

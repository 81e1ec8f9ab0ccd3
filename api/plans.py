"""定期服务 over HTTP: service plans that turn a need into a recurring service.

A supervisor (or the serving unit's staff, for their own unit) sets up a plan: what each
occurrence's need says, when occurrences fall, which unit serves it. Pause, resume, change
and end are actions on the plan's workflow (workflows/plan.py), recorded as events on its
stream; its Temporal Schedule follows. Supervisors see the plans whose serving unit lies in
their scope; staff those of their unit.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, Field
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.access import units_in_scope
from api.auth import Principal, current_principal, require_role, role_in
from api.deps import Services, get_services
from api.errors import ERROR_RESPONSES, ApiError, refusal, reject_nul
from api.needs import admitted
from domain.plans import (
    AnyPlanCommand,
    ChangePlan,
    EndPlan,
    PausePlan,
    PlanSpec,
    PlanState,
    PlanStatus,
    Recurrence,
    ResumePlan,
    plan_id,
)
from store import plans as store
from store.read import first_events
from workflows.messages import PlanAction, PlanStart
from workflows.plan import PlanWorkflow

router = APIRouter(tags=["plans"], responses=ERROR_RESPONSES)
Caller = Annotated[Principal, Depends(current_principal)]
Svc = Annotated[Services, Depends(get_services)]
PlanId = Annotated[str, Path(pattern=r"^plan-[0-9a-f]{16}$", description="plan-<16 hex>")]


class PlanEntry(BaseModel):
    type: str
    occurred_at: datetime
    actor_role: str
    detail: dict[str, Any] = Field(default_factory=dict)


class PlanOut(BaseModel):
    id: str
    title: str
    unit: str
    status: PlanStatus
    recurrence: Recurrence
    skip_non_working_days: bool
    from_need: str | None = None
    occurrences: list[str] = Field(description="the needs it started, oldest first")
    skipped: int
    timeline: list[PlanEntry] = Field(default_factory=list)


class PlanAccepted(BaseModel):
    id: str


class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class Change(BaseModel):
    spec: PlanSpec
    reason: str = Field(min_length=1, max_length=2000)


def _units(principal: Principal, services: Services) -> set[str] | None:
    """The serving units whose plans the caller sees; None: all."""
    units = units_in_scope(principal, services.directory)
    return None if units is None else set(units)


def _out(pid: str, state: PlanState, history: list[Any], timeline: bool) -> PlanOut:
    assert state.spec is not None and state.status is not None
    entries = [
        PlanEntry(
            type=e.type,
            occurred_at=e.occurred_at,
            actor_role=e.actor.role.value,
            detail={k: v for k, v in e.payload.items() if k in ("reason", "need_id")},
        )
        for e in history
    ]
    return PlanOut(
        id=pid,
        title=state.spec.title,
        unit=state.spec.unit,
        status=state.status,
        recurrence=state.spec.recurrence,
        skip_non_working_days=state.spec.skip_non_working_days,
        from_need=state.spec.from_need,
        occurrences=state.occurrences,
        skipped=state.skipped,
        timeline=entries if timeline else [],
    )


def _checked(spec: PlanSpec, principal: Principal, services: Services) -> PlanSpec:
    reject_nul(spec)
    if services.policy.unit(spec.unit) is None:
        raise ApiError(422, "invalid_input", "unit: not a unit of the directory", field="unit")
    units = _units(principal, services)
    if units is not None and spec.unit not in units:
        raise ApiError(403, "not_permitted", "that unit is not yours", field="unit")
    return spec.model_copy(update={"template": admitted(spec.template, services)})


@router.post("/plans", status_code=202, response_model=PlanAccepted)
async def create_plan(
    spec: PlanSpec,
    principal: Annotated[Principal, role_in("supervisor", "staff")],
    services: Svc,
    response: Response,
) -> PlanAccepted:
    """Set up a plan; its schedule starts at once. The same external id from the same
    caller gives the same plan."""
    spec = _checked(spec, principal, services)
    actor = principal.actor()
    pid = plan_id(spec.external_id, actor.id)
    created = (await first_events(services.db, [pid])).get(pid)
    if created is not None and created.payload.get("spec") != spec.model_dump(mode="json"):
        raise ApiError(
            409,
            "conflict",
            f"external_id already names plan {pid}, with other content: change it there "
            "(POST /plans/{id}/change) or use a new external_id",
            field="external_id",
        )
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await services.client.start_workflow(
            PlanWorkflow.run,
            PlanStart(spec=spec, actor=actor, calendar=services.policy.calendar),
            id=pid,
            task_queue=services.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    response.headers["Location"] = f"/plans/{pid}"
    return PlanAccepted(id=pid)


@router.get("/plans", response_model=list[PlanOut])
async def list_plans(principal: Caller, services: Svc) -> list[PlanOut]:
    return await plan_list(principal, services)


async def plan_list(principal: Principal, services: Services) -> list[PlanOut]:
    """The plans whose serving unit the caller sees (the API's list and the console's)."""
    require_role(principal, "supervisor", "staff")
    units = _units(principal, services)
    return [
        _out(pid, state, history, timeline=False)
        for pid, (state, history) in sorted((await store.plans(services.db)).items())
        if state.spec is not None and (units is None or state.spec.unit in units)
    ]


async def _visible(services: Services, principal: Principal, pid: str) -> PlanOut:
    require_role(principal, "supervisor", "staff")
    found = await store.plan(services.db, pid)
    units = _units(principal, services)
    if (
        found is None
        or found[0].spec is None
        or (units is not None and found[0].spec.unit not in units)
    ):
        raise ApiError(404, "not_found", "no such plan", field="id")
    return _out(pid, found[0], found[1], timeline=True)


@router.get("/plans/{pid}", response_model=PlanOut)
async def get_plan(pid: PlanId, principal: Caller, services: Svc) -> PlanOut:
    """The plan, the needs it started and its history (who paused, changed, ended it)."""
    return await _visible(services, principal, pid)


async def _act(
    services: Services, principal: Principal, pid: str, command: AnyPlanCommand
) -> PlanOut:
    await _visible(services, principal, pid)
    handle = services.client.get_workflow_handle_for(PlanWorkflow.run, pid)
    try:
        await handle.execute_update(
            PlanWorkflow.act, PlanAction(command=command, actor=principal.actor())
        )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type == "NotReady":
            raise ApiError(409, "not_ready", cause.message, field="status") from None
        raise refusal(exc) from None
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        raise ApiError(409, "ended", "the plan has ended", field="status") from None
    return await _visible(services, principal, pid)


@router.post("/plans/{pid}/pause", response_model=PlanOut)
async def pause(pid: PlanId, body: Reason, principal: Caller, services: Svc) -> PlanOut:
    """No occurrence while paused: the schedule pauses with the plan (a tick that still
    arrives, a manual trigger, is recorded as skipped)."""
    reject_nul(body)
    return await _act(services, principal, pid, PausePlan(reason=body.reason))


@router.post("/plans/{pid}/resume", response_model=PlanOut)
async def resume(pid: PlanId, principal: Caller, services: Svc) -> PlanOut:
    return await _act(services, principal, pid, ResumePlan())


@router.post("/plans/{pid}/change", response_model=PlanOut)
async def change(pid: PlanId, body: Change, principal: Caller, services: Svc) -> PlanOut:
    """A new recurrence, template or serving unit from now on (the needs started stay)."""
    spec = _checked(body.spec, principal, services)
    reject_nul(body)
    return await _act(services, principal, pid, ChangePlan(spec=spec, reason=body.reason))


@router.post("/plans/{pid}/end", response_model=PlanOut)
async def end(pid: PlanId, body: Reason, principal: Caller, services: Svc) -> PlanOut:
    """No more occurrences; the schedule is deleted; the needs started go on."""
    reject_nul(body)
    return await _act(services, principal, pid, EndPlan(reason=body.reason))

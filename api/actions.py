"""Staff, dispatcher and supervisor actions: each one `act` update of the need's workflow.

The routes come from the one table of actions (domain/actions.py): its roles are admitted
(else 403, before the body is read), the need must be visible to the caller (else 404), then
the workflow decides, and a refusal maps to 409/404/403/422 (api.errors.refusal). Four rows
need more than "visible": assign and reassign name a target unit that must lie in the
caller's scope, unmerge acts on the need the report joined, and an extension decision
belongs to the approver unit.

Dispatching by hand (classify a need the rules could not, assign one nobody owns) is the
supervisors' work here: a need waiting for a dispatcher has no assigned unit, so no staff
member can see it, while a supervisor whose scope holds its place can (api.access).
"""

# no `from __future__ import annotations`: the routes built in a loop annotate their body
# with the row's command class, which must be a real class when FastAPI reads it

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import BaseModel

from api.access import find_need, in_scope, readable_need
from api.auth import Principal, allowed_to, require_action
from api.deps import Services
from api.errors import ERROR_RESPONSES, ApiError, not_found
from api.needs import NeedId, Svc, live_snapshot, perform, rate
from api.views import ActionOut, UnmergeOut
from domain.actions import ACTIONS, BY_NAME, Action
from domain.commands import (
    Assign,
    Command,
    CompleteByProject,
    DecideExtension,
    Evaluate,
    ProvideInformation,
    Reassign,
    UnlinkReport,
)
from domain.events import DemandMerged, ShortText
from domain.repeats import split_id
from store.read import read_stream

router = APIRouter(tags=["actions"], responses=ERROR_RESPONSES)
SPECIAL = {"assign", "reassign", "unmerge", "extension-decision", "information", "evaluation"}
SPECIAL.add("complete-by-project")  # api/lists.py: the project must exist and cover the need


async def act(
    services: Services, principal: Principal, need_id: str, command: Command
) -> ActionOut:
    """The common path: the need must be visible to the caller, then the workflow decides."""
    await readable_need(services, principal, need_id)
    return await perform(services, principal, need_id, command)


def _add_route(action: Action) -> None:
    command_class = action.command
    endpoint: Callable[..., Awaitable[ActionOut]]
    if any(name != "type" for name in command_class.model_fields):
        # FastAPI reads the body's class from the annotation: the row's command class, a
        # value known at run time that no static type can name
        async def endpoint(
            need_id: NeedId,
            body: command_class,  # type: ignore[valid-type]
            principal: Annotated[Principal, allowed_to(action.name)],
            services: Svc,
        ) -> ActionOut:
            return await act(services, principal, need_id, body)
    else:  # nothing to say (accept): no body

        async def endpoint(
            need_id: NeedId, principal: Annotated[Principal, allowed_to(action.name)], services: Svc
        ) -> ActionOut:
            # no field but `type`, which each command class defaults: typing sees only the
            # base class, whose `type` is required
            command = command_class()  # type: ignore[call-arg]
            return await act(services, principal, need_id, command)

    endpoint.__name__ = action.name.replace("-", "_")
    router.add_api_route(
        f"/needs/{{need_id}}/{action.name}",
        endpoint,
        methods=["POST"],
        response_model=ActionOut,
        description=action.summary,
    )


for _action in ACTIONS:
    if _action.name not in SPECIAL:
        _add_route(_action)


def _target_in_scope(principal: Principal, unit_id: str | None, services: Services) -> None:
    if unit_id is not None and not in_scope(
        principal, {"assigned_unit": unit_id}, services.directory
    ):
        raise ApiError(422, "invalid_command", "unit_id is outside your scope", field="unit_id")


async def to_unit(
    services: Services, principal: Principal, need_id: str, command: Assign | Reassign
) -> ActionOut:
    await readable_need(services, principal, need_id)
    _target_in_scope(principal, command.unit_id, services)
    return await perform(services, principal, need_id, command)


@router.post("/needs/{need_id}/assign", response_model=ActionOut)
async def assign(
    need_id: NeedId,
    body: Assign,
    principal: Annotated[Principal, allowed_to("assign")],
    services: Svc,
) -> ActionOut:
    """Give a classified need nobody owns to a unit within the supervisor's scope, or (no
    `unit_id`) let the routing rules choose, skipping units that returned it."""
    return await to_unit(services, principal, need_id, body)


@router.post("/needs/{need_id}/reassign", response_model=ActionOut)
async def reassign(
    need_id: NeedId,
    body: Reassign,
    principal: Annotated[Principal, allowed_to("reassign")],
    services: Svc,
) -> ActionOut:
    """Move the need to another unit (within the supervisor's scope), which must accept it."""
    return await to_unit(services, principal, need_id, body)


class UnmergeBody(BaseModel):
    reason: ShortText


@router.post("/needs/{need_id}/unmerge", response_model=UnmergeOut)
async def unmerge(
    need_id: NeedId,
    body: UnmergeBody,
    principal: Annotated[Principal, allowed_to("unmerge")],
    services: Svc,
    response: Response,
) -> UnmergeOut:
    """Split a report merged into another need back out: it goes on as a need of its own
    (`split_id` and `Location`: its new id), from intake, its acceptance deadline counted from
    its own submission; its requester no longer evaluates the other need. The answer is the
    other need's action result (`id`) with the new need's id. A need that was not merged:
    409."""
    row = await readable_need(services, principal, need_id)
    events = await read_stream(services.db, need_id)
    merged = next((e.event() for e in reversed(events) if e.type == "DemandMerged"), None)
    if row.get("outcome") != "merged" or not isinstance(merged, DemandMerged):
        raise ApiError(409, "not_merged", "this need was not merged into another", field="need_id")
    if await find_need(services, split_id(need_id)) is not None:
        raise ApiError(
            409, "already_split", f"this report is already {split_id(need_id)}", field="need_id"
        )
    await readable_need(services, principal, merged.into_stream_id)
    result = await perform(
        services,
        principal,
        merged.into_stream_id,
        UnlinkReport(linked_stream_id=need_id, reason=body.reason),
    )
    response.headers["Location"] = f"/needs/{split_id(need_id)}"
    return UnmergeOut(**result.model_dump(), split_id=split_id(need_id))


@router.post("/needs/{need_id}/extension-decision", response_model=ActionOut)
async def extension_decision(
    need_id: NeedId,
    body: DecideExtension,
    principal: Annotated[Principal, allowed_to("extension-decision")],
    services: Svc,
) -> ActionOut:
    """The approver (the rung above the assignee) grants or refuses an extension. Staff of the
    approver unit decide; a supervisor decides for an approver within the scope."""
    return await decide_extension(services, principal, need_id, body)


async def decide_extension(
    services: Services, principal: Principal, need_id: str, body: DecideExtension
) -> ActionOut:
    approver = await pending_approver(services, need_id)
    if principal.role == "staff" and approver == principal.unit:
        return await perform(services, principal, need_id, body)
    await readable_need(services, principal, need_id)
    if principal.role == "supervisor" and approver is not None:
        if not in_scope(principal, {"assigned_unit": approver}, services.directory):
            raise not_found()
        return await perform(services, principal, need_id, body, unit=approver)
    return await perform(services, principal, need_id, body)


async def pending_approver(services: Services, need_id: str) -> str | None:
    """The unit a pending extension request asks, from the workflow's live state."""
    snap = await live_snapshot(services.client, need_id)
    pending = snap.state.pending_extension if snap else None
    return pending.approver_unit if pending else None


async def take(
    services: Services, principal: Principal, name: str, need_id: str, command: Command
) -> ActionOut:
    """Any row of the table by name, with the same checks as its HTTP route (the console's
    door): the role, then the row's scope rule, then the workflow."""
    require_action(principal, BY_NAME[name])
    if isinstance(command, Assign | Reassign):
        return await to_unit(services, principal, need_id, command)
    if isinstance(command, DecideExtension):
        return await decide_extension(services, principal, need_id, command)
    if isinstance(command, Evaluate):
        return await rate(services, principal, need_id, command)
    if isinstance(command, UnlinkReport | ProvideInformation | CompleteByProject):
        raise ApiError(422, "invalid_command", "not offered here", field="action")
    return await act(services, principal, need_id, command)

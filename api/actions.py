"""Staff and supervisor actions: each one `act` update of the need's workflow.

The principal must see the need (else 404) and hold a role allowed here (else 403); the
workflow then decides, and a refusal maps to 409/404/403/422 (api.errors.refusal).

Dispatching by hand (classify a need the rules could not, assign one nobody owns) is the
supervisors' work here: a need waiting for a dispatcher has no assigned unit, so no staff
member can see it, while a supervisor whose scope holds its place can (api.access).
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel

from api.access import find_need, in_scope, readable_need
from api.auth import Principal, require_role
from api.deps import Services
from api.errors import ERROR_RESPONSES, ApiError, not_found
from api.needs import Caller, NeedId, Svc, live_snapshot, perform
from api.views import ActionOut
from domain.commands import (
    Accept,
    Assign,
    Classify,
    Complete,
    DecideExtension,
    NoteProgress,
    Reassign,
    Reclassify,
    Remind,
    RequestExtension,
    RequestInformation,
    ResolvePossibleRepeat,
    Return,
    UnlinkReport,
)
from domain.events import ShortText
from domain.repeats import split_id
from store.read import read_stream

router = APIRouter(tags=["actions"], responses=ERROR_RESPONSES)


async def staff_action(services: Services, principal: Principal, need_id: str,
                       command) -> ActionOut:
    require_role(principal, "staff")
    await readable_need(services, principal, need_id)
    return await perform(services, principal, need_id, command)


@router.post("/needs/{need_id}/accept", response_model=ActionOut)
async def accept(need_id: NeedId, principal: Caller, services: Svc) -> ActionOut:
    """The assigned unit takes the need on; the handling deadline starts."""
    return await staff_action(services, principal, need_id, Accept())


@router.post("/needs/{need_id}/progress", response_model=ActionOut)
async def progress(need_id: NeedId, body: NoteProgress, principal: Caller, services: Svc) -> ActionOut:
    return await staff_action(services, principal, need_id, body)


@router.post("/needs/{need_id}/information-request", response_model=ActionOut)
async def information_request(need_id: NeedId, body: RequestInformation, principal: Caller,
                              services: Svc) -> ActionOut:
    """Ask the requester for more; the handling clock stops until it arrives."""
    return await staff_action(services, principal, need_id, body)


@router.post("/needs/{need_id}/extension", response_model=ActionOut)
async def extension(need_id: NeedId, body: RequestExtension, principal: Caller,
                    services: Svc) -> ActionOut:
    return await staff_action(services, principal, need_id, body)


@router.post("/needs/{need_id}/return", response_model=ActionOut)
async def give_back(need_id: NeedId, body: Return, principal: Caller, services: Svc) -> ActionOut:
    """退单: send the need back to dispatch, with a reason."""
    return await staff_action(services, principal, need_id, body)


@router.post("/needs/{need_id}/complete", response_model=ActionOut)
async def complete(need_id: NeedId, body: Complete, principal: Caller, services: Svc) -> ActionOut:
    return await staff_action(services, principal, need_id, body)


@router.post("/needs/{need_id}/classify", response_model=ActionOut)
async def classify(need_id: NeedId, body: Classify, principal: Caller, services: Svc) -> ActionOut:
    """Classify by hand a need the rules left to a dispatcher (stage `classification`); the
    routing rules then assign it, as after an automatic classification."""
    require_role(principal, "supervisor")
    await readable_need(services, principal, need_id)
    return await perform(services, principal, need_id, body)


@router.post("/needs/{need_id}/reclassify", response_model=ActionOut)
async def reclassify(need_id: NeedId, body: Reclassify, principal: Caller,
                     services: Svc) -> ActionOut:
    """Correct the category, tier or urgency, with a reason: the assigned unit's staff or a
    supervisor. Before acceptance the need follows the new route."""
    require_role(principal, "staff", "supervisor")
    await readable_need(services, principal, need_id)
    return await perform(services, principal, need_id, body)


@router.post("/needs/{need_id}/assign", response_model=ActionOut)
async def assign(need_id: NeedId, body: Assign, principal: Caller, services: Svc) -> ActionOut:
    """Give a classified need nobody owns to a unit within the supervisor's scope, or (no
    `unit_id`) let the routing rules choose, skipping units that returned it."""
    require_role(principal, "supervisor")
    await readable_need(services, principal, need_id)
    if body.unit_id is not None and not in_scope(
            principal, {"assigned_unit": body.unit_id}, services.directory):
        raise ApiError(422, "invalid_command", "unit_id is outside your scope", field="unit_id")
    return await perform(services, principal, need_id, body)


@router.post("/needs/{need_id}/repeat-decision", response_model=ActionOut)
async def repeat_decision(need_id: NeedId, body: ResolvePossibleRepeat, principal: Caller,
                          services: Svc) -> ActionOut:
    """A need flagged as a possible repeat (`GET /needs?possible_repeat=true`): `link` merges
    it into the need it may repeat (its requester is then asked to evaluate that one),
    `dismiss` keeps it as a need of its own."""
    require_role(principal, "supervisor")
    await readable_need(services, principal, need_id)
    return await perform(services, principal, need_id, body)


class UnmergeBody(BaseModel):
    reason: ShortText


@router.post("/needs/{need_id}/unmerge", response_model=ActionOut)
async def unmerge(need_id: NeedId, body: UnmergeBody, principal: Caller, services: Svc,
                  response: Response) -> ActionOut:
    """Split a report merged into another need back out: it goes on as a need of its own
    (`Location`: its new id), from intake, its acceptance deadline counted from
    its own submission; its requester no longer evaluates the other need. The answer is the
    other need's action result. A need that was not merged: 409."""
    require_role(principal, "supervisor")
    row = await readable_need(services, principal, need_id)
    events = await read_stream(services.db, need_id)
    merged = next((e.event() for e in reversed(events) if e.type == "DemandMerged"), None)
    if row.get("outcome") != "merged" or merged is None:
        raise ApiError(409, "not_merged", "this need was not merged into another",
                       field="need_id")
    if await find_need(services, split_id(need_id)) is not None:
        raise ApiError(409, "already_split", f"this report is already {split_id(need_id)}",
                       field="need_id")
    await readable_need(services, principal, merged.into_stream_id)
    result = await perform(services, principal, merged.into_stream_id,
                           UnlinkReport(linked_stream_id=need_id, reason=body.reason))
    response.headers["Location"] = f"/needs/{split_id(need_id)}"
    return result


@router.post("/needs/{need_id}/remind", response_model=ActionOut)
async def remind(need_id: NeedId, body: Remind, principal: Caller, services: Svc) -> ActionOut:
    """催办: urge the assignee on."""
    require_role(principal, "supervisor")
    await readable_need(services, principal, need_id)
    return await perform(services, principal, need_id, body)


@router.post("/needs/{need_id}/reassign", response_model=ActionOut)
async def reassign(need_id: NeedId, body: Reassign, principal: Caller, services: Svc) -> ActionOut:
    """Move the need to another unit (within the supervisor's scope), which must accept it."""
    require_role(principal, "supervisor")
    await readable_need(services, principal, need_id)
    if not in_scope(principal, {"assigned_unit": body.unit_id}, services.directory):
        raise ApiError(422, "invalid_command", "unit_id is outside your scope", field="unit_id")
    return await perform(services, principal, need_id, body)


@router.post("/needs/{need_id}/extension-decision", response_model=ActionOut)
async def extension_decision(need_id: NeedId, body: DecideExtension, principal: Caller,
                             services: Svc) -> ActionOut:
    """The approver (the rung above the assignee) grants or refuses an extension. Staff of the
    approver unit decide; a supervisor decides for an approver within the scope."""
    require_role(principal, "staff", "supervisor")
    snap = await live_snapshot(services.client, need_id)
    approver = snap.state.pending_extension.approver_unit if snap and \
        snap.state.pending_extension else None
    if principal.role == "staff" and approver == principal.unit:
        return await perform(services, principal, need_id, body)
    await readable_need(services, principal, need_id)
    if principal.role == "supervisor" and approver is not None:
        if not in_scope(principal, {"assigned_unit": approver}, services.directory):
            raise not_found()
        return await perform(services, principal, need_id, body, unit=approver)
    return await perform(services, principal, need_id, body)

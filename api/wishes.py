"""微心愿认领 over HTTP: post a wish, browse the pools, claim, progress, fulfil, confirm.

Who sees what:
- claimants (party members, volunteers, member units' staff) browse every community's pool:
  title, community, kind, status, posted date and points. Never the wisher, and never who
  else holds a claim (a claim taken by someone else answers 409 without the holder);
- staff see the wishes of the communities in their unit's subtree, supervisors those in their
  scope, with the claimant's id; an integrator sees the wishes it posted;
- the wisher's name and phone stay in the wish's first event: no endpoint returns them.
Every action goes to the wish's workflow (workflows/wish.py), which decides; its refusals map
as a need's do (403 role, 409 status or taken, 422 field).
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, Field
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.access import units_in_scope
from api.auth import Principal, current_principal, require_role, role_in
from api.deps import Services, get_services
from api.errors import ERROR_RESPONSES, ApiError, refusal, reject_nul
from domain.model import UnitKind, WishKind
from domain.wishes import (
    AnyWishCommand,
    ClaimWish,
    ConfirmWish,
    FulfilWish,
    NoteWishProgress,
    RejectWish,
    ReleaseWish,
    WishRules,
    WishStatus,
    WishSubmission,
    WithdrawWish,
    wish_id,
)
from store import wishes as store
from store.read import first_events
from workflows.messages import WishAction, WishStart
from workflows.wish import WishWorkflow

router = APIRouter(tags=["wishes"], responses=ERROR_RESPONSES)
Caller = Annotated[Principal, Depends(current_principal)]
Svc = Annotated[Services, Depends(get_services)]
WishId = Annotated[str, Path(pattern=r"^wish-[0-9a-f]{16}$", description="wish-<16 hex>")]
WISH_REFUSALS = {"WishTaken": 409, "WishWrongStatus": 409, "NotReady": 409}


class WishItem(BaseModel):
    id: str
    title: str
    community: str
    kind: WishKind
    status: WishStatus
    posted_at: datetime
    points: int = Field(description="what confirming it credits its claimant")
    claims: int
    escalated: bool = Field(description="unclaimed too long: its community was told")
    claimant_id: str | None = Field(
        default=None, description="staff, supervisors and the claimant themself only"
    )
    lapse_at: datetime | None = Field(
        default=None, description="the claim lapses then without progress (same audience)"
    )
    fulfilled_at: datetime | None = None
    closed_at: datetime | None = None


class WishAccepted(BaseModel):
    id: str
    status: str = "posting"


class Note(BaseModel):
    note: str = Field(min_length=1, max_length=2000)


class Reason(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class Credit(BaseModel):
    wish_id: str
    title: str
    community: str
    kind: WishKind
    points: int
    credited_at: datetime


class Ledger(BaseModel):
    claimant_id: str
    total: int
    credits: list[Credit]


class Ranked(BaseModel):
    rank: int
    claimant_id: str | None = Field(description="to a claimant, only their own row's")
    points: int
    wishes: int


# --- who sees what -------------------------------------------------------------------------
def _communities(principal: Principal, services: Services) -> list[str] | None:
    """The communities whose wishes the caller sees; None: all of them."""
    if principal.role in ("claimant", "integrator"):
        return None  # every pool (an integrator: only what it posted)
    return units_in_scope(principal, services.directory, staff_subtree=True)


def _visible(principal: Principal, row: dict[str, Any], services: Services) -> bool:
    if principal.role == "integrator":
        return bool(row["posted_by"] == principal.id)
    communities = _communities(principal, services)
    return communities is None or row["community"] in communities


def _item(principal: Principal, row: dict[str, Any]) -> WishItem:
    holder_visible = principal.role != "claimant" or row["claimant_id"] == principal.id
    return WishItem(
        id=row["stream_id"],
        title=row["title"],
        community=row["community"],
        kind=row["kind"],
        status=row["status"],
        posted_at=row["posted_at"],
        points=row["points"],
        claims=row["claims"],
        escalated=row["escalated"],
        claimant_id=row["claimant_id"] if holder_visible else None,
        lapse_at=row["lapse_at"] if holder_visible else None,
        fulfilled_at=row["fulfilled_at"],
        closed_at=row["closed_at"],
    )


async def _row(services: Services, principal: Principal, wish: str) -> dict[str, Any]:
    row = await store.wish(services.db, wish)
    if row is None or not _visible(principal, row, services):
        raise ApiError(404, "not_found", "no such wish", field="id")
    return row


# --- posting and reading -------------------------------------------------------------------
@router.post("/wishes", status_code=202, response_model=WishAccepted)
async def post_wish(
    submission: WishSubmission,
    principal: Annotated[Principal, role_in("integrator", "staff", "supervisor")],
    services: Svc,
    response: Response,
) -> WishAccepted:
    """Post a wish to its community's pool (the wish wall, WeChat, a worker's entry).
    Idempotent per poster: the same channel and external id give the same wish."""
    reject_nul(submission)
    unit = services.policy.unit(submission.community)
    if unit is None or unit.kind != UnitKind.COMMUNITY:
        raise ApiError(
            422, "invalid_input", "community: not a community of the directory", field="community"
        )
    if principal.role in ("staff", "supervisor") and not _visible(
        principal, {"community": unit.id, "posted_by": None}, services
    ):
        raise ApiError(403, "not_permitted", "that community is not yours", field="community")
    actor = principal.actor()
    wish = wish_id(submission.channel, submission.external_id, actor.id)
    posted = (await first_events(services.db, [wish])).get(wish)
    if posted is not None and not _same_wish(submission, posted.payload):
        raise ApiError(
            409,
            "conflict",
            f"external_id already names wish {wish}, with other content: use a new external_id",
            field="external_id",
        )
    with contextlib.suppress(WorkflowAlreadyStartedError):  # sent again: the same wish
        await services.client.start_workflow(
            WishWorkflow.run,
            WishStart(submission=submission, actor=actor, rules=WishRules.of(services.policy)),
            id=wish,
            task_queue=services.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    response.headers["Location"] = f"/wishes/{wish}"
    return WishAccepted(id=wish)


def _same_wish(submission: WishSubmission, posted: dict[str, Any]) -> bool:
    """Whether a resent wish says what its first posting said (the wisher included)."""
    sent = submission.model_dump(mode="json")
    return all(
        sent[k] == posted.get(k) for k in ("title", "description", "community", "kind")
    ) and (sent["wisher"] == posted.get("wisher"))


@router.get("/wishes", response_model=list[WishItem])
async def list_wishes(
    principal: Caller,
    services: Svc,
    community: Annotated[str | None, Query(max_length=64)] = None,
    status: WishStatus | None = None,
    mine: Annotated[bool, Query(description="claimants: only the wishes I hold")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[WishItem]:
    """The pool: wishes newest first (claimants: every community; `status=pooled` for the
    ones waiting for a claimant)."""
    return await wish_list(
        principal, services, community=community, status=status, mine=mine, limit=limit
    )


async def wish_list(
    principal: Principal,
    services: Services,
    *,
    community: str | None = None,
    status: WishStatus | str | None = None,
    mine: bool = False,
    limit: int = 100,
) -> list[WishItem]:
    """The wishes the caller sees (the API's pool and the console's page)."""
    require_role(principal, "claimant", "staff", "supervisor", "integrator")
    communities = _communities(principal, services)
    if community is not None:
        communities = [community] if communities is None or community in communities else []
    rows = await store.pool(
        services.db,
        communities=communities,
        status=WishStatus(status).value if status else None,
        claimant=principal.id if mine else None,
        posted_by=principal.id if principal.role == "integrator" else None,
        limit=limit,
    )
    return [_item(principal, r) for r in rows if _visible(principal, r, services)]


@router.get("/wishes/{wish}", response_model=WishItem)
async def get_wish(wish: WishId, principal: Caller, services: Svc) -> WishItem:
    return _item(principal, await _row(services, principal, wish))


@router.get("/claimants/{claimant}/points", response_model=Ledger)
async def points(
    claimant: Annotated[str, Path(min_length=1, max_length=64)],
    principal: Caller,
    services: Svc,
) -> Ledger:
    """党员积分: a claimant's points ledger (the claimant themself, supervisors, admins)."""
    if not (principal.role == "claimant" and principal.id == claimant):
        require_role(principal, "supervisor")
    rows = await store.ledger(services.db, claimant)
    credits = [
        Credit(
            wish_id=r["stream_id"],
            title=r["title"],
            community=r["community"],
            kind=r["kind"],
            points=r["points"],
            credited_at=r["occurred_at"],
        )
        for r in rows
    ]
    return Ledger(claimant_id=claimant, total=sum(c.points for c in credits), credits=credits)


@router.get("/communities/{community}/wish-ranking", response_model=list[Ranked])
async def ranking(
    community: Annotated[str, Path(min_length=1, max_length=64)],
    principal: Caller,
    services: Svc,
) -> list[Ranked]:
    """Claimants ranked by the points the community's confirmed wishes earned them."""
    require_role(principal, "claimant", "staff", "supervisor")
    communities = _communities(principal, services)
    if communities is not None and community not in communities:
        raise ApiError(404, "not_found", "no such community", field="community")
    ranked = await wish_ranking_of(services, community)
    if principal.role == "claimant":  # another claimant's id is not theirs to see
        ranked = [
            r if r.claimant_id == principal.id else r.model_copy(update={"claimant_id": None})
            for r in ranked
        ]
    return ranked


async def wish_ranking_of(services: Services, community: str) -> list[Ranked]:
    return [Ranked(**r) for r in await store.ranking(services.db, community)]


# --- actions -------------------------------------------------------------------------------
async def _act(
    services: Services, principal: Principal, wish: str, command: AnyWishCommand
) -> WishItem:
    row = await _row(services, principal, wish)
    handle = services.client.get_workflow_handle_for(WishWorkflow.run, wish)
    try:
        await handle.execute_update(
            WishWorkflow.act, WishAction(command=command, actor=principal.actor())
        )
    except WorkflowUpdateFailedError as exc:
        raise _refused(exc, principal) from None
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        # the wish's workflow has finished: a confirmation sent again changes nothing
        if not (isinstance(command, ConfirmWish) and row["status"] == WishStatus.CONFIRMED):
            raise ApiError(409, "closed", "the wish is closed", field="status") from None
    return _item(principal, await _row(services, principal, wish))


def _refused(exc: WorkflowUpdateFailedError, principal: Principal) -> ApiError:
    cause = exc.cause
    if not isinstance(cause, ApplicationError) or cause.type not in WISH_REFUSALS:
        return refusal(exc)
    info = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
    message = cause.message
    holder = info.get("holder")
    if cause.type == "WishTaken" and holder:
        # who holds it, only to those who may see it: never to another claimant
        message += " by someone else" if principal.role == "claimant" else f" by {holder}"
    return ApiError(
        WISH_REFUSALS[cause.type], str(info.get("code", cause.type)), message, field="status"
    )


@router.post("/wishes/{wish}/claim", response_model=WishItem)
async def claim(wish: WishId, principal: Caller, services: Svc) -> WishItem:
    """Claim a pooled wish (claimants); one claimant at a time: 409 if it is taken."""
    return await _act(services, principal, wish, ClaimWish())


@router.post("/wishes/{wish}/progress", response_model=WishItem)
async def progress(wish: WishId, body: Note, principal: Caller, services: Svc) -> WishItem:
    """The claimant's progress note; it keeps the claim from lapsing."""
    reject_nul(body)
    return await _act(services, principal, wish, NoteWishProgress(note=body.note))


@router.post("/wishes/{wish}/release", response_model=WishItem)
async def release(wish: WishId, body: Reason, principal: Caller, services: Svc) -> WishItem:
    """The claimant gives the wish back to the pool."""
    reject_nul(body)
    return await _act(services, principal, wish, ReleaseWish(reason=body.reason))


@router.post("/wishes/{wish}/fulfil", response_model=WishItem)
async def fulfil(wish: WishId, body: Note, principal: Caller, services: Svc) -> WishItem:
    """The claimant says it is done; the wisher confirms or rejects."""
    reject_nul(body)
    return await _act(services, principal, wish, FulfilWish(note=body.note))


@router.post("/wishes/{wish}/confirm", response_model=WishItem)
async def confirm(wish: WishId, principal: Caller, services: Svc) -> WishItem:
    """The wisher confirms (through the channel that posted it, or the community's staff on
    the wisher's behalf): the claimant is credited the wish's points, once."""
    return await _act(services, principal, wish, ConfirmWish())


@router.post("/wishes/{wish}/reject", response_model=WishItem)
async def reject(wish: WishId, body: Reason, principal: Caller, services: Svc) -> WishItem:
    """The wisher says it is not fulfilled: the claimant goes on."""
    reject_nul(body)
    return await _act(services, principal, wish, RejectWish(reason=body.reason))


@router.post("/wishes/{wish}/withdraw", response_model=WishItem)
async def withdraw(wish: WishId, body: Reason, principal: Caller, services: Svc) -> WishItem:
    """Take the wish off the pool (the wisher's channel, the community's staff, supervisors)."""
    reject_nul(body)
    return await _act(services, principal, wish, WithdrawWish(reason=body.reason))

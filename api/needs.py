"""Needs: submit (integrators), list and read (everyone, within their access), provide
information and relay evaluations."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, cast

from fastapi import APIRouter, Depends, Path, Query, Response
from temporalio.client import Client

from api.access import can_read, find_need, reach, readable_need, sees_personal_data
from api.auth import Principal, allowed_to, current_principal, role_in
from api.deps import Services, get_services
from api.errors import ERROR_RESPONSES, ApiError, not_found, reject_nul
from api.views import (
    Accepted,
    ActionOut,
    JoinedNeed,
    NeedDetail,
    NeedItem,
    NeedPage,
    need_links,
)
from domain.admission import admit, same_submission
from domain.commands import (
    AnyCommand,
    Command,
    Evaluate,
    ProvideInformation,
    Submission,
    need_id_for,
)
from domain.errors import InvalidCommand
from domain.events import DemandMerged, DemandSubmitted, EventEnvelope
from domain.repeats import split_id
from store import queries
from store.queries import NeedFilters
from store.read import first_events, read_stream
from workflows import client as needs
from workflows.messages import Snapshot
from workflows.need import NeedWorkflow

router = APIRouter(tags=["needs"], responses=ERROR_RESPONSES)
Caller = Annotated[Principal, Depends(current_principal)]
Svc = Annotated[Services, Depends(get_services)]
NeedId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:\-]+$")]


@router.post("/needs", status_code=202, response_model=Accepted)
async def submit(
    submission: Submission,
    principal: Annotated[Principal, role_in("integrator", "staff")],
    services: Svc,
    response: Response,
) -> Accepted:
    """Submit a need. Idempotent per submitter: the same channel and external id with the same
    content give the same need id; with other content, a 409 naming the need."""
    reject_nul(submission)
    submission = admitted(submission, services)
    need_id = await start_or_find(services, submission, principal)
    response.headers["Location"] = f"/needs/{need_id}"
    return Accepted(id=need_id, links=need_links(need_id))


async def start_or_find(services: Services, submission: Submission, principal: Principal) -> str:
    """The need this submission names: its submitter's earlier need under the same channel
    and external id if it says the same (a resend: nothing is sent again), else a new one.
    The same id with other content is a 409 naming the need."""
    actor = principal.actor()
    own = need_id_for(submission.channel, submission.external_id, actor.id)
    legacy = need_id_for(submission.channel, submission.external_id)  # named before 2026-12
    stored = await first_events(services.db, [own, legacy])
    if legacy in stored and stored[legacy].actor.id != actor.id:
        del stored[legacy]  # another submitter's need: never this one's
    existing = own if own in stored else next(iter(stored), None)
    if existing is None:
        started = await needs.submit_need(
            services.client, submission, actor, task_queue=services.task_queue, need_id=own
        )
        # Its first event may not be stored yet (a resend right after the first 202, or two
        # at once): the workflow's start input says which submission the need holds.
        first_sent = await needs.first_submission(services.client, started)
        if first_sent is not None and not same_submission(submission, first_sent, services.policy):
            raise _other_content(started)
        return started
    first = stored[existing].event()
    if not isinstance(first, DemandSubmitted) or not same_submission(
        submission, first, services.policy
    ):
        raise _other_content(existing)
    return existing


def _other_content(need_id: str) -> ApiError:
    return ApiError(
        409,
        "conflict",
        f"external_id already names need {need_id}, with "
        "other content: send the change to that need or use a new external_id",
        field="external_id",
    )


def admitted(submission: Submission, services: Services) -> Submission:
    """Trimmed and checked against the directory (domain/admission.py), or a 422."""
    try:
        return admit(submission, services.policy)
    except InvalidCommand as exc:
        raise ApiError(422, "invalid_input", exc.message, field=exc.field) from None


@router.get("/needs", response_model=NeedPage)
async def list_needs(
    filters: Annotated[NeedFilters, Query()], principal: Caller, services: Svc
) -> NeedPage:
    """Needs visible to the caller, newest first, with filters and limit/offset pages."""
    if filters.mine and principal.role == "staff":
        filters = filters.model_copy(update={"unit": principal.unit})
    rows = await queries.list_needs(
        services.db, reach(principal, services.directory), filters, extra_limit=1
    )
    items = [NeedItem.from_row(r) for r in rows[: filters.limit]]
    more = len(rows) > filters.limit
    return NeedPage(
        items=items,
        limit=filters.limit,
        offset=filters.offset,
        next=f"offset={filters.offset + filters.limit}" if more else None,
    )


async def live_snapshot(client: Client, need_id: str) -> Snapshot | None:
    """The workflow's own answer, or None when it cannot answer now (the listing still can)."""
    try:
        handle = client.get_workflow_handle_for(NeedWorkflow.run, need_id)
        return await handle.query(NeedWorkflow.snapshot, rpc_timeout=timedelta(seconds=5))
    except Exception:  # noqa: BLE001 - best effort: no worker, history gone, timeout
        return None


@router.get("/needs/{need_id}", response_model=NeedDetail)
async def get_need(need_id: NeedId, principal: Caller, services: Svc) -> NeedDetail:
    """Status, live state (workflow query) and the timeline from the event store."""
    return await need_detail(services, principal, need_id)


async def need_detail(services: Services, principal: Principal, need_id: str) -> NeedDetail:
    """One need as its reader may see it (404 if they may not): the API's and the console's."""
    row = await readable_need(services, principal, need_id)
    events = await read_stream(services.db, need_id)
    snap = await live_snapshot(services.client, need_id)
    return NeedDetail.build(
        row,
        events,
        snap,
        sees_personal_data(principal, row),
        joined=await joined_need(services, events),
        assists=await queries.need_assists(services.db, need_id),
        split_into=await split_need(services, need_id, events),
    )


async def joined_need(services: Services, events: list[EventEnvelope]) -> JoinedNeed | None:
    """For a merged report: the need it joined and that need's status (its id and stage
    only, whoever submitted it: the requester's need is handled there)."""
    merged = next((e.event() for e in reversed(events) if e.type == "DemandMerged"), None)
    if not isinstance(merged, DemandMerged):  # None: not merged
        return None
    joined = merged.into_stream_id
    return await _status_of(services, joined) or JoinedNeed(id=joined, stage="collection")


async def split_need(
    services: Services, need_id: str, events: list[EventEnvelope]
) -> JoinedNeed | None:
    """For a merged report a supervisor split back out: the need it goes on as (the
    requester's need is handled there now)."""
    if not any(e.type == "DemandMerged" for e in events):
        return None
    return await _status_of(services, split_id(need_id))


async def _status_of(services: Services, need_id: str) -> JoinedNeed | None:
    """A need's id, stage and outcome (None before its row exists)."""
    row = await find_need(services, need_id)
    return JoinedNeed(id=need_id, stage=row["stage"], outcome=row.get("outcome")) if row else None


@router.post("/needs/{need_id}/information", response_model=ActionOut)
async def provide_information(
    need_id: NeedId,
    body: ProvideInformation,
    principal: Annotated[Principal, allowed_to("information")],
    services: Svc,
) -> ActionOut:
    """The requester's missing information, relayed by its integrator (or the assignee)."""
    await readable_need(services, principal, need_id)
    return await perform(services, principal, need_id, body)


@router.post("/needs/{need_id}/evaluation", response_model=ActionOut)
async def evaluate(
    need_id: NeedId,
    body: Evaluate,
    principal: Annotated[Principal, allowed_to("evaluation")],
    services: Svc,
) -> ActionOut:
    """An evaluation: integrators relay their requesters' ratings (the actor's unit names the
    reviewer spoken for); staff rate for their unit when the policy made it a reviewer."""
    return await rate(services, principal, need_id, body)


async def rate(services: Services, principal: Principal, need_id: str, body: Evaluate) -> ActionOut:
    snap = await live_snapshot(services.client, need_id)
    reviewers = {r.reviewer_id for r in snap.state.reviewers} if snap else set()
    if principal.role == "integrator":
        if not await relays_for(services, principal, need_id, snap, body.reviewer_id):
            raise not_found()
        return await perform(services, principal, need_id, body, unit=body.reviewer_id)
    if principal.role == "staff" and principal.unit not in reviewers:
        await readable_need(services, principal, need_id)
    return await perform(services, principal, need_id, body)


async def relays_for(
    services: Services, principal: Principal, need_id: str, snap: Snapshot | None, reviewer_id: str
) -> bool:
    """Whether this integrator speaks for the requester `reviewer_id` of the need: it
    submitted the need and that requester is one of its requesters, or it submitted a report
    merged into the need whose requester that is (the invitation reached it, docs/webhooks.md)."""
    if snap is None:
        return False
    row = await find_need(services, need_id)
    requesters = {r.requester_id for r in snap.state.requesters}
    if (
        row is not None
        and can_read(principal, row, services.directory)
        and reviewer_id in requesters
    ):
        return True
    reports = [
        stream
        for stream, requester in snap.state.linked_requesters.items()
        if requester == reviewer_id
    ]
    firsts = await first_events(services.db, reports) if reports else {}
    return any(e.actor.id == principal.id for e in firsts.values())


async def perform(
    services: Services,
    principal: Principal,
    need_id: str,
    command: Command,
    unit: str | None = None,
) -> ActionOut:
    """Send the action as the workflow's `act` update, recorded under the principal's actor."""
    reject_nul(command)
    # the table's command classes are the members of AnyCommand (the update's message checks
    # the union when it is built); typing knows them only as their base class
    result = await needs.act(
        services.client, need_id, principal.actor(unit), cast(AnyCommand, command)
    )
    return ActionOut(id=need_id, version=result.version, stage=result.stage, events=result.events)

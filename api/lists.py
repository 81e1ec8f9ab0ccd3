"""The resource list (资源清单) and the project list (项目清单, 共建项目), kept by supervisors,
and a project's completion, which completes the open needs it covers (docs/api.md, "The
three lists"; the rules: domain/lists.py; the tables: store/lists.py).

Access: supervisors (and admins) only; staff, integrators: 403. A supervisor reaches the
resources whose owner unit and the projects whose community lies in the scope's subtree
(no scope: all); anything else answers 404, like an entry that does not exist. Bad input is
a 422 naming the field, checked before anything is written.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.access import reach, readable_need
from api.auth import Principal, allowed_to, role_in
from api.deps import Services
from api.errors import ERROR_RESPONSES, ApiError, refusal, reject_nul
from api.needs import NeedId, Svc, perform
from api.tabular import CSV_RESPONSE, Format, csv_response, wants_csv
from api.views import ActionOut
from domain.commands import CompleteByProject
from domain.errors import InvalidCommand, WrongStage
from domain.events import ShortText
from domain.lists import (
    DemandItem,
    Description,
    EntryRef,
    Name,
    ProjectDraft,
    ProjectStatus,
    ResourceDraft,
    ResourceKind,
    ResourceStatus,
    UnitId,
    check_move,
    check_project,
    check_resource,
)
from domain.model import Category, ServiceMode, Stage
from store import lists as store

router = APIRouter(tags=["lists"], responses=ERROR_RESPONSES)
Supervisor = Annotated[Principal, role_in("supervisor")]
EntryId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]
TABLE: dict[int | str, dict[str, Any]] = {200: CSV_RESPONSE}
COMPLETABLE = (Stage.ASSIGNMENT.value, Stage.HANDLING.value)
Draft = TypeVar("Draft", ResourceDraft, ProjectDraft)


class Change(BaseModel):
    """One entry of an entry's history (`list_changes`, append-only)."""

    version: int
    change: str = Field(description="created, changed, retired, started, cancelled, completed")
    actor_id: str
    actor_role: str
    actor_unit: str | None = None
    at: datetime


class ResourceOut(BaseModel):
    id: str
    owner_unit: str
    owner_name: str | None = None
    kind: ResourceKind
    name: str
    description: str
    capacity: int | None = None
    items: list[DemandItem]
    status: ResourceStatus
    version: int
    created_at: datetime
    updated_at: datetime


class ResourceDetail(ResourceOut):
    history: list[Change] = Field(default_factory=list)


class ResourceRow(ResourceOut):
    """A CSV line: the items as `category/item;category/item`."""

    items: list[str]  # type: ignore[assignment]


class ResourceChange(BaseModel):
    """The fields to change (the others stay); `version`: the version you read (409 if the
    resource changed since)."""

    model_config = ConfigDict(extra="forbid")

    owner_unit: UnitId | None = None
    kind: ResourceKind | None = None
    name: Name | None = None
    description: Description | None = None
    capacity: int | None = Field(default=None, gt=0, le=1_000_000)
    items: list[DemandItem] | None = Field(default=None, max_length=50)
    version: int | None = Field(default=None, ge=1, le=2**31 - 1)


class ProjectOut(BaseModel):
    id: str
    name: str
    description: str
    community: str
    period_from: date
    period_to: date
    items: list[DemandItem]
    resources: list[str]
    owner_units: list[str]
    starts_on: date
    ends_on: date
    status: ProjectStatus
    result_summary: str | None = None
    completed_at: datetime | None = None
    version: int
    created_at: datetime
    updated_at: datetime


class CoveredNeeds(BaseModel):
    """The needs the project covers (community, items, period; merged repeats left out)."""

    total: int
    open: int
    by_stage: dict[str, int]


class ProjectDetail(ProjectOut):
    needs: CoveredNeeds
    history: list[Change] = Field(default_factory=list)


class ProjectRow(ProjectOut):
    """A CSV line: items as `category/item;…`, resources and owner units `;`-separated."""

    items: list[str]  # type: ignore[assignment]


class ProjectChange(BaseModel):
    """The fields to change (the others stay), while the project is planned or running."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None
    community: UnitId | None = None
    period_from: date | None = None
    period_to: date | None = None
    items: list[DemandItem] | None = Field(default=None, min_length=1, max_length=50)
    resources: list[EntryRef] | None = Field(default=None, max_length=50)
    owner_units: list[UnitId] | None = Field(default=None, min_length=1, max_length=20)
    starts_on: date | None = None
    ends_on: date | None = None
    version: int | None = Field(default=None, ge=1, le=2**31 - 1)


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=1, le=2**31 - 1)


class ProjectCompletion(BaseModel):
    """What the project did: the result every covered need records."""

    model_config = ConfigDict(extra="forbid")

    result_summary: ShortText
    service_mode: ServiceMode = ServiceMode.ON_SITE
    version: int | None = Field(default=None, ge=1, le=2**31 - 1)


class Skipped(BaseModel):
    id: str
    stage: str
    reason: str


class CompletionOut(BaseModel):
    project: ProjectOut
    completed: list[str] = Field(description="needs completed now: they await evaluation")
    skipped: list[Skipped] = Field(
        description="open needs of the project left as they are (no unit yet, already "
        "completed, information awaited), with the reason"
    )


class NeedByProject(BaseModel):
    """A need covered by a running or completed project, completed in its name."""

    model_config = ConfigDict(extra="forbid")

    project_id: EntryId
    result_summary: ShortText
    service_mode: ServiceMode = ServiceMode.ON_SITE


# --- access --------------------------------------------------------------------------------
def places(principal: Principal, services: Services) -> list[str] | None:
    """The units whose resources and projects the caller reaches (None: all)."""
    if principal.role == "admin" or principal.scope is None:
        return None
    return services.directory.subtree(principal.scope)


def _within(principal: Principal, services: Services, unit: str, field: str) -> None:
    reached = places(principal, services)
    if reached is not None and unit not in reached:
        raise ApiError(422, "invalid_input", f"{field}: outside your scope", field=field)


def _invalid(exc: InvalidCommand) -> ApiError:
    return ApiError(422, "invalid_input", exc.message, field=exc.field)


def _actor(principal: Principal) -> dict[str, Any]:
    actor = principal.actor()
    return {"id": actor.id, "role": actor.role.value, "unit": actor.unit}


def _moved() -> ApiError:
    return ApiError(409, "conflict", "the entry changed meanwhile: read it again", field="version")


async def _entry(
    services: Services, principal: Principal, list_name: str, entry_id: str
) -> dict[str, Any]:
    row = await store.entry(services.db, list_name, entry_id)
    column = "owner_unit" if list_name == "resource" else "community"
    reached = places(principal, services)
    if row is None or (reached is not None and row[column] not in reached):
        raise ApiError(404, "not_found", f"no such {list_name}", field="id")
    return row


def _draft(model: type[Draft], data: dict[str, Any]) -> Draft:
    """The entry as it would be after a change, or a 422 naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(422, "invalid_input", f"{field}: {first['msg']}", field=field) from None


def _version(row: dict[str, Any], wanted: int | None) -> int:
    if wanted is not None and wanted != row["version"]:
        raise _moved()
    return int(row["version"])


def _history(rows: list[dict[str, Any]]) -> list[Change]:
    return [Change(**{k: r[k] for k in Change.model_fields}) for r in rows]


def _items(raw: list[dict[str, Any]]) -> list[str]:
    return [f"{i['category']}/{i['item']}" for i in raw]


def _dump_items(items: list[DemandItem]) -> list[dict[str, str]]:
    return [{"category": i.category.value, "item": i.item} for i in items]


# --- resources -----------------------------------------------------------------------------
def _resource(row: dict[str, Any], services: Services) -> ResourceOut:
    fields = {k: row[k] for k in ResourceOut.model_fields if k in row}
    return ResourceOut(**fields, owner_name=services.directory.name(row["owner_unit"]))


@router.get("/lists/resources", response_model=list[ResourceOut], responses=TABLE)
async def list_resources(
    request: Request,
    principal: Supervisor,
    services: Svc,
    status: ResourceStatus | None = None,
    kind: ResourceKind | None = None,
    owner_unit: Annotated[str | None, Query(max_length=64)] = None,
    category: Category | None = None,
    item: Annotated[str | None, Query(max_length=64, description="a demand item")] = None,
    format: Format | None = None,
) -> Response | list[ResourceOut]:
    """资源清单: the resources of the units in the caller's scope, by owner and name;
    `category`/`item`: those that can serve that demand item."""
    reached = places(principal, services)
    owners = [owner_unit] if owner_unit is not None else reached
    if owner_unit is not None and reached is not None and owner_unit not in reached:
        owners = []
    rows = await store.resources(
        services.db,
        owners,
        status=status.value if status else None,
        kind=kind.value if kind else None,
        category=category.value if category else None,
        item=item,
    )
    out = [_resource(r, services) for r in rows]
    if wants_csv(request, format):
        flat = [
            ResourceRow(**(r.model_dump() | {"items": _items(row["items"])}))
            for r, row in zip(out, rows, strict=True)
        ]
        return csv_response(flat, ResourceRow, "resource-list", excel=True)
    return out


@router.post("/lists/resources", status_code=201, response_model=ResourceOut)
async def create_resource(
    body: ResourceDraft, principal: Supervisor, services: Svc, response: Response
) -> ResourceOut:
    """Add a resource a unit in your scope offers; `Location`: the new resource."""
    reject_nul(body)
    try:
        check_resource(body, services.policy)
    except InvalidCommand as exc:
        raise _invalid(exc) from None
    _within(principal, services, body.owner_unit, "owner_unit")
    values = body.model_dump() | {"items": _dump_items(body.items)}
    resource_id = f"res-{uuid.uuid4().hex[:12]}"
    row = await store.create(services.db, "resource", resource_id, values, _actor(principal))
    assert row is not None  # a fresh random id
    response.headers["Location"] = f"/lists/resources/{resource_id}"
    return _resource(row, services)


@router.get("/lists/resources/{resource_id}", response_model=ResourceDetail)
async def get_resource(
    resource_id: EntryId, principal: Supervisor, services: Svc
) -> ResourceDetail:
    """One resource with its history (who changed what, when)."""
    row = await _entry(services, principal, "resource", resource_id)
    changes = await store.history(services.db, "resource", resource_id)
    return ResourceDetail(**_resource(row, services).model_dump(), history=_history(changes))


@router.patch("/lists/resources/{resource_id}", response_model=ResourceOut)
async def change_resource(
    resource_id: EntryId, body: ResourceChange, principal: Supervisor, services: Svc
) -> ResourceOut:
    """Change a resource of your scope (and keep it there)."""
    reject_nul(body)
    row = await _entry(services, principal, "resource", resource_id)
    version = _version(row, body.version)
    given = body.model_dump(exclude_unset=True, exclude={"version"})
    current = {k: row[k] for k in ResourceDraft.model_fields}
    draft = _draft(ResourceDraft, current | given)
    try:
        check_resource(draft, services.policy)
    except InvalidCommand as exc:
        raise _invalid(exc) from None
    _within(principal, services, draft.owner_unit, "owner_unit")
    values = draft.model_dump() | {"items": _dump_items(draft.items)}
    changed = await store.change(
        services.db, "resource", resource_id, version, values, "changed", _actor(principal)
    )
    if changed is None:
        raise _moved()
    return _resource(changed, services)


@router.post("/lists/resources/{resource_id}/retire", response_model=ResourceOut)
async def retire_resource(
    resource_id: EntryId, principal: Supervisor, services: Svc, body: StatusChange | None = None
) -> ResourceOut:
    """No longer offered: it stays on the list, retired, and can no longer join a project."""
    row = await _entry(services, principal, "resource", resource_id)
    version = _version(row, body.version if body else None)
    if row["status"] == ResourceStatus.RETIRED:
        raise ApiError(409, "wrong_stage", "the resource is retired already", field="status")
    changed = await store.change(
        services.db,
        "resource",
        resource_id,
        version,
        {"status": "retired"},
        "retired",
        _actor(principal),
    )
    if changed is None:
        raise _moved()
    return _resource(changed, services)


# --- projects ------------------------------------------------------------------------------
def _project(row: dict[str, Any]) -> ProjectOut:
    return ProjectOut(**{k: row[k] for k in ProjectOut.model_fields if k in row})


async def _check_resources(
    services: Services, principal: Principal, draft: ProjectDraft, linked: set[str]
) -> None:
    """Each resource exists, is within the caller's reach, serves one of the project's items
    (a resource that names no item serves any) and, unless the project had it already, is
    active."""
    if not draft.resources:
        return
    found = {
        r["id"]: r
        for r in await store.resources(
            services.db, places(principal, services), ids=draft.resources
        )
    }
    wanted = set(_items(_dump_items(draft.items)))
    for n, resource_id in enumerate(draft.resources):
        row = found.get(resource_id)
        field = f"resources.{n}"
        if row is None or (row["status"] != ResourceStatus.ACTIVE and resource_id not in linked):
            raise ApiError(422, "invalid_input", f"{field}: no such active resource", field=field)
        if row["items"] and not wanted & set(_items(row["items"])):
            raise ApiError(
                422, "invalid_input", f"{field}: serves none of the project's items", field=field
            )


async def _checked_project(
    services: Services, principal: Principal, draft: ProjectDraft, linked: set[str] | None = None
) -> dict[str, Any]:
    try:
        check_project(draft, services.policy)
    except InvalidCommand as exc:
        raise _invalid(exc) from None
    _within(principal, services, draft.community, "community")
    await _check_resources(services, principal, draft, linked or set())
    return draft.model_dump() | {"items": _dump_items(draft.items)}


@router.get("/lists/projects", response_model=list[ProjectOut], responses=TABLE)
async def list_projects(
    request: Request,
    principal: Supervisor,
    services: Svc,
    status: ProjectStatus | None = None,
    community: Annotated[str | None, Query(max_length=64)] = None,
    format: Format | None = None,
) -> Response | list[ProjectOut]:
    """项目清单: the co-building projects of the communities in the caller's scope, the
    soonest start first."""
    rows = await store.projects(
        services.db,
        places(principal, services),
        status=status.value if status else None,
        community=community,
    )
    out = [_project(r) for r in rows]
    if wants_csv(request, format):
        flat = [
            ProjectRow(**(p.model_dump() | {"items": _items(r["items"])}))
            for p, r in zip(out, rows, strict=True)
        ]
        return csv_response(flat, ProjectRow, "project-list", excel=True)
    return out


@router.post("/lists/projects", status_code=201, response_model=ProjectOut)
async def create_project(
    body: ProjectDraft, principal: Supervisor, services: Svc, response: Response
) -> ProjectOut:
    """Add a co-building project (status planned) for a community in your scope."""
    reject_nul(body)
    values = await _checked_project(services, principal, body)
    project_id = f"prj-{uuid.uuid4().hex[:12]}"
    row = await store.create(services.db, "project", project_id, values, _actor(principal))
    assert row is not None  # a fresh random id
    response.headers["Location"] = f"/lists/projects/{project_id}"
    return _project(row)


@router.get("/lists/projects/{project_id}", response_model=ProjectDetail)
async def get_project(project_id: EntryId, principal: Supervisor, services: Svc) -> ProjectDetail:
    """One project, the needs it covers by stage, and its history."""
    row = await _entry(services, principal, "project", project_id)
    needs = await _covered(services, principal, row, open_only=False)
    by_stage: dict[str, int] = {}
    for need in needs:
        by_stage[need["stage"]] = by_stage.get(need["stage"], 0) + 1
    changes = await store.history(services.db, "project", project_id)
    return ProjectDetail(
        **_project(row).model_dump(),
        needs=CoveredNeeds(
            total=len(needs),
            open=sum(n for s, n in by_stage.items() if s != Stage.CLOSED.value),
            by_stage=by_stage,
        ),
        history=_history(changes),
    )


@router.patch("/lists/projects/{project_id}", response_model=ProjectOut)
async def change_project(
    project_id: EntryId, body: ProjectChange, principal: Supervisor, services: Svc
) -> ProjectOut:
    """Change a planned or running project of your scope."""
    reject_nul(body)
    row = await _entry(services, principal, "project", project_id)
    version = _version(row, body.version)
    if row["status"] not in (ProjectStatus.PLANNED, ProjectStatus.RUNNING):
        raise ApiError(409, "wrong_stage", f"the project is {row['status']}", field="status")
    given = body.model_dump(exclude_unset=True, exclude={"version"})
    current = {k: row[k] for k in ProjectDraft.model_fields}
    draft = _draft(ProjectDraft, current | given)
    values = await _checked_project(services, principal, draft, linked=set(row["resources"]))
    changed = await store.change(
        services.db, "project", project_id, version, values, "changed", _actor(principal)
    )
    if changed is None:
        raise _moved()
    return _project(changed)


async def _move(
    services: Services,
    principal: Principal,
    project_id: str,
    to: ProjectStatus,
    change: str,
    version: int | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    row = await _entry(services, principal, "project", project_id)
    current = _version(row, version)
    _allowed(ProjectStatus(row["status"]), to)
    changed = await store.change(
        services.db,
        "project",
        project_id,
        current,
        {"status": to.value} | (extra or {}),
        change,
        _actor(principal),
    )
    if changed is None:
        raise _moved()
    return changed


def _allowed(current: ProjectStatus, to: ProjectStatus) -> None:
    try:
        check_move(current, to)
    except WrongStage as exc:
        raise ApiError(409, "wrong_stage", exc.message, field="status") from None


@router.post("/lists/projects/{project_id}/start", response_model=ProjectOut)
async def start_project(
    project_id: EntryId, principal: Supervisor, services: Svc, body: StatusChange | None = None
) -> ProjectOut:
    """planned → running."""
    version = body.version if body else None
    row = await _move(services, principal, project_id, ProjectStatus.RUNNING, "started", version)
    return _project(row)


@router.post("/lists/projects/{project_id}/cancel", response_model=ProjectOut)
async def cancel_project(
    project_id: EntryId, principal: Supervisor, services: Svc, body: StatusChange | None = None
) -> ProjectOut:
    """planned or running → cancelled; the needs it covers stay as they are."""
    version = body.version if body else None
    row = await _move(
        services, principal, project_id, ProjectStatus.CANCELLED, "cancelled", version
    )
    return _project(row)


async def _covered(
    services: Services,
    principal: Principal,
    row: dict[str, Any],
    *,
    open_only: bool,
    need_id: str | None = None,
) -> list[dict[str, Any]]:
    return await store.covered_needs(
        services.db,
        reach(principal, services.directory),
        community=row["community"],
        items=[(i["category"], i["item"]) for i in row["items"]],
        period_from=row["period_from"],
        period_to=row["period_to"],
        open_only=open_only,
        stream_id=need_id,
    )


def _skip_reason(need: dict[str, Any]) -> str | None:
    if need["stage"] == Stage.EVALUATION.value:
        return "already completed: awaiting evaluation"
    if need["stage"] not in COMPLETABLE or need["assigned_unit"] is None:
        return "no assigned unit yet"
    return None


async def _complete_need(
    services: Services,
    principal: Principal,
    project: dict[str, Any],
    need_id: str,
    body: ProjectCompletion | NeedByProject,
) -> ActionOut:
    command = CompleteByProject(
        project_id=project["id"],
        project_name=project["name"],
        result_summary=body.result_summary,
        service_mode=body.service_mode,
    )
    return await perform(services, principal, need_id, command)


@router.post("/lists/projects/{project_id}/complete", response_model=CompletionOut)
async def complete_project(
    project_id: EntryId, body: ProjectCompletion, principal: Supervisor, services: Svc
) -> CompletionOut:
    """running → completed. Every open need the project covers (its community, one of its
    items, submitted in its period) that a unit holds, accepted or not, is completed in the
    project's name through its workflow: it moves to evaluation and its requesters are asked
    to evaluate, as after a unit's completion. Needs without a unit yet, already completed or
    awaiting the requester's information are left as they are and listed in `skipped`. The
    project is marked completed last: if Temporal fails midway (503) it stays running and the
    call can be repeated (completed needs are then skipped)."""
    reject_nul(body)
    row = await _entry(services, principal, "project", project_id)
    _version(row, body.version)
    _allowed(ProjectStatus(row["status"]), ProjectStatus.COMPLETED)
    completed: list[str] = []
    skipped: list[Skipped] = []
    for need in await _covered(services, principal, row, open_only=True):
        reason = _skip_reason(need)
        if reason is None:
            try:
                await _complete_need(services, principal, row, need["stream_id"], body)
            except WorkflowUpdateFailedError as exc:
                reason = refusal(exc).detail.message
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
                reason = "closed meanwhile"
            else:
                completed.append(need["stream_id"])
                continue
        skipped.append(Skipped(id=need["stream_id"], stage=need["stage"], reason=reason))
    done = await _move(
        services,
        principal,
        project_id,
        ProjectStatus.COMPLETED,
        "completed",
        None,
        {"result_summary": body.result_summary},
    )
    return CompletionOut(project=_project(done), completed=completed, skipped=skipped)


@router.post("/needs/{need_id}/complete-by-project", response_model=ActionOut, tags=["actions"])
async def complete_by_project(
    need_id: NeedId,
    body: NeedByProject,
    principal: Annotated[Principal, allowed_to("complete-by-project")],
    services: Svc,
) -> ActionOut:
    """Complete one need in the name of a running or completed project that covers it (a
    need left over by the project's completion, e.g. once the awaited information came):
    the project must be within your scope and cover the need (422 `project_id` otherwise)."""
    await readable_need(services, principal, need_id)
    project = await store.entry(services.db, "project", body.project_id)
    reached = places(principal, services)
    if (
        project is None
        or (reached is not None and project["community"] not in reached)
        or project["status"] not in (ProjectStatus.RUNNING, ProjectStatus.COMPLETED)
    ):
        raise ApiError(
            422,
            "invalid_input",
            "project_id: no such running or completed project",
            field="project_id",
        )
    if not await _covered(services, principal, project, open_only=True, need_id=need_id):
        raise ApiError(
            422,
            "invalid_input",
            "project_id: the project does not cover this need",
            field="project_id",
        )
    return await _complete_need(services, principal, project, need_id, body)

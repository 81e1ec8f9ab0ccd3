"""Reading many needs at once: a unit's inbox, monthly unit statistics with a ranking, the
demand list (三张清单: needs by category and rule), and the audit verification."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from api.access import reach
from api.auth import Principal, require_role
from api.deps import Services
from api.errors import ERROR_RESPONSES, ApiError
from api.needs import Caller, Svc
from api.tabular import CSV_RESPONSE, Format, csv_response, wants_csv
from store import queries
from store.columns import STAT_COUNTERS
from store.verify import verify

router = APIRouter(tags=["reports"], responses=ERROR_RESPONSES)
TABLE: dict[int | str, dict[str, Any]] = {200: CSV_RESPONSE}
SHANGHAI = timezone(timedelta(hours=8))
RATES = [
    "response_rate",
    "resolution_rate",
    "on_time_resolution_rate",
    "satisfaction_rate",
    "return_rate",
    "reopen_rate",
    "overdue_rate",
]


class InboxItem(BaseModel):
    id: str
    task: str
    stage: str
    title: str | None = None
    category: str | None = None
    tier: str | None = None
    urgency: str | None = None
    due_at: datetime | None = None
    overdue: bool = False
    near_deadline: bool = Field(
        description="a deadline warning (50/75 %) was issued for the "
        "current due time and it is not yet breached"
    )
    warning_percent: int | None = None
    reminders: int = Field(default=0, description="催办 received so far")
    reminded: bool = Field(
        default=False, description="催办: urged since this unit took it on, not yet completed"
    )
    reminded_at: datetime | None = None
    supervision_due_at: datetime | None = Field(
        default=None, description="督办: this unit's written reply is due by then"
    )
    assists_open: int = Field(
        default=0, description="联合办理, the lead's row: sub-tasks other units have not answered"
    )
    assists_declined: int = Field(
        default=0, description="联合办理, the lead's row: sub-tasks declined back to the lead"
    )
    assist_id: str | None = Field(
        default=None, description="task `assist`: the sub-task addressed to this unit"
    )
    assist_status: str | None = Field(
        default=None, description="task `assist`: requested, accepted"
    )
    assist_task: str | None = Field(default=None, description="task `assist`: what is asked")
    lead_unit: str | None = Field(default=None, description="task `assist`: the lead unit")


@router.get("/units/{unit}/inbox", response_model=list[InboxItem], responses=TABLE)
async def inbox(
    request: Request,
    unit: Annotated[str, Path(max_length=64)],
    principal: Caller,
    services: Svc,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    format: Format | None = None,
) -> Response | list[InboxItem]:
    """The unit's open tasks, most urgent first (no due time last): needs to accept or handle,
    and sub-tasks of joint handling (联合办理) other units asked it for (task `assist`, with
    the sub-task's id, status, text and the lead unit)."""
    require_role(principal, "staff", "supervisor")
    visible = (
        principal.unit == unit
        if principal.role == "staff"
        else (
            principal.role == "admin"
            or principal.scope is None
            or unit in services.directory.subtree(principal.scope)
        )
    )
    if not visible or services.policy.unit(unit) is None:
        raise ApiError(404, "not_found", "no such unit", field="unit")
    rows = await queries.inbox(services.db, unit, limit)
    items = [
        InboxItem(
            id=r["stream_id"],
            **{
                k: r[k]
                for k in InboxItem.model_fields
                if k in r and k not in ("id", "near_deadline", "supervision_due_at")
            },
            near_deadline=bool(r["warning_percent"]) and not r["overdue"],
            reminded=r["reminded_at"] is not None,
            supervision_due_at=r["supervision_due_at"] if r["supervision_unit"] == unit else None,
        )
        for r in rows
    ]
    items += [
        InboxItem(
            id=r["stream_id"],
            task="assist",
            **{k: r[k] for k in InboxItem.model_fields if k in r and k != "near_deadline"},
            near_deadline=bool(r["warning_percent"]) and not r["overdue"],
        )
        for r in await queries.assist_inbox(services.db, unit, limit)
    ]
    far = datetime.max.replace(tzinfo=SHANGHAI)
    items = sorted(items, key=lambda i: (i.due_at or far, i.id))[:limit]
    return csv_response(items, InboxItem, f"inbox-{unit}") if wants_csv(request, format) else items


class UnitStats(BaseModel):
    unit_id: str
    unit_name: str | None = None
    month: date
    rank: int | None = Field(default=None, description="None: fewer assigned needs than min_needs")
    assigned: int = 0
    accepted: int = 0
    accepted_in_time: int = 0
    completed: int = 0
    completed_in_time: int = 0
    evaluations: int = 0
    satisfied: int = 0
    unsatisfied: int = 0
    no_response: int = 0
    returns: int = 0
    reopened: int = 0
    overdue: int = 0
    reminded: int = Field(default=0, description="催办 received while holding a need")
    supervised: int = Field(default=0, description="督办 orders received")
    supervision_missed: int = Field(default=0, description="督办 replies not given in time")
    response_rate: float | None = None
    resolution_rate: float | None = None
    on_time_resolution_rate: float | None = None
    satisfaction_rate: float | None = None
    return_rate: float | None = None
    reopen_rate: float | None = None
    overdue_rate: float | None = None


def _month(text: str | None) -> date:
    if text is None:
        return datetime.now(SHANGHAI).date().replace(day=1)
    year, month = text.split("-")
    try:
        return date(int(year), int(month), 1)
    except ValueError:  # year 0000: no such date
        raise ApiError(422, "invalid_input", "month: no such month", field="month") from None


RANKED_BY = ("satisfaction_rate", "on_time_resolution_rate", "resolution_rate")


def _rank(stats: list[UnitStats], min_needs: int) -> list[UnitStats]:
    """Rank by satisfaction, then on-time resolution, then resolution (higher is better; a
    rate with nothing to count ranks below any figure). Units equal on all three share a
    rank and the next rank skips (1, 2, 2, 4), listed by unit id; units with fewer than
    `min_needs` assigned needs are listed after, unranked."""

    def key(s: UnitStats) -> tuple[float, ...]:
        return tuple(-(getattr(s, r) if getattr(s, r) is not None else -1.0) for r in RANKED_BY)

    ranked = sorted(
        (s for s in stats if s.assigned >= min_needs), key=lambda s: (key(s), s.unit_id)
    )
    rest = sorted((s for s in stats if s.assigned < min_needs), key=lambda s: s.unit_id)
    out: list[UnitStats] = []
    for position, unit in enumerate(ranked, 1):
        tied = out and key(out[-1]) == key(unit)
        out.append(unit.model_copy(update={"rank": out[-1].rank if tied else position}))
    return out + rest


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


@router.get("/stats/units", response_model=list[UnitStats], responses=TABLE)
async def unit_stats(
    request: Request,
    principal: Caller,
    services: Svc,
    month: Annotated[
        str | None,
        Query(
            pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
            description="YYYY-MM, Asia/Shanghai; default: this month",
        ),
    ] = None,
    min_needs: Annotated[int, Query(ge=0, le=100000)] = 5,
    format: Format | None = None,
) -> Response | list[UnitStats]:
    """Counters and rates per unit for one month; units with fewer than `min_needs` assigned
    needs are listed but not ranked. Supervisors see their scope, staff their own unit."""
    require_role(principal, "staff", "supervisor")
    stats = await unit_statistics(services, principal, _month(month), min_needs)
    return csv_response(stats, UnitStats, "unit-stats") if wants_csv(request, format) else stats


async def unit_statistics(
    services: Services, principal: Principal, month: date, min_needs: int
) -> list[UnitStats]:
    """The month's counters and rates of the units the principal reaches, ranked."""
    units: list[str] | None
    if principal.role == "staff":  # a staff member without a unit reaches no unit's row
        units = [principal.unit] if principal.unit is not None else []
    else:
        units = services.directory.subtree(principal.scope) if principal.scope is not None else None
    rows = await queries.unit_rates(services.db, month, units)
    stats = [
        UnitStats(
            unit_name=services.directory.name(r["unit_id"]),
            **{k: _number(r[k]) for k in ["unit_id", "month", *STAT_COUNTERS, *RATES]},
        )
        for r in rows
    ]
    return _rank(stats, min_needs)


class DemandListRow(BaseModel):
    category: str
    item: str = Field(
        description="the classification rule that placed the needs ('manual', "
        "'unclassified' when none)"
    )
    needs: int
    open: int
    closed: int
    resolved: int
    satisfied: int
    overdue: int


@router.get("/lists/demand", response_model=list[DemandListRow], responses=TABLE)
async def demand_list(
    request: Request,
    principal: Caller,
    services: Svc,
    submitted_from: date | None = None,
    submitted_to: date | None = None,
    include_merged: bool = False,
    format: Format | None = None,
) -> Response | list[DemandListRow]:
    """需求清单: the needs within the caller's reach consolidated by category and rule."""
    require_role(principal, "supervisor")
    rows = await queries.demand_list(
        services.db,
        reach(principal, services.directory),
        submitted_from=submitted_from,
        submitted_to=submitted_to,
        include_merged=include_merged,
    )
    items = [DemandListRow(**dict(r)) for r in rows]
    return (
        csv_response(items, DemandListRow, "demand-list") if wants_csv(request, format) else items
    )


class AuditReport(BaseModel):
    ok: bool
    streams: int
    events: int
    broken: list[dict[str, Any]]


@router.get("/audit/verify", response_model=AuditReport, tags=["operations"])
async def audit_verify(principal: Caller, services: Svc) -> AuditReport:
    """Walk every stream's hash chain; `broken` names the first broken link per stream."""
    require_role(principal, "supervisor")
    async with services.db.acquire() as conn:
        report = await verify(conn)
    return AuditReport(
        ok=report.ok,
        streams=report.streams,
        events=report.events,
        broken=[
            {"stream_id": b.stream_id, "version": b.version, "problem": b.problem}
            for b in report.broken
        ],
    )

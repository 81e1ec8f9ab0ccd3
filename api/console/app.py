"""The console's routes, mounted by the API at `/console` (a sub-application with its own
error pages: people get a Chinese page, never JSON or a stack trace).

Every page reads through the API's own functions (api.needs.need_detail, api.reports,
store.queries) and every form posts through `api.actions.take`, the same checks as the HTTP
routes: the console cannot disagree with the API about who may see or do what.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import structlog
import yaml
from fastapi import FastAPI, Form, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.access import in_scope, reach, units_in_scope
from api.actions import take
from api.auth import Principal
from api.console import sessions
from api.console.forms import FormProblem, NeedView, command_from, form_for, offered
from api.console.messages import rule_name, t
from api.console.sessions import Session
from api.deps import Services
from api.errors import ApiError, refusal
from api.needs import need_detail
from api.plans import plan_list
from api.reports import unit_statistics
from api.tabular import csv_response
from api.views import NeedItem
from api.wishes import wish_list, wish_ranking_of
from domain.actions import BY_NAME
from domain.events import ExtensionDecisionEscalated, ExtensionRequested
from domain.model import Category, Stage, UnitKind
from domain.plans import recurrence_words
from domain.wishes import WishStatus
from store import queries
from store.queries import NeedFilters
from store.read import read_stream
from store.verify import verify

log = structlog.get_logger("demandflow.console")
HERE = Path(__file__).resolve().parent
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
MIN_RANKED = 5
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
LOGIN_CSRF = "demandflow_login_csrf"


class SignInNeeded(Exception):
    """No valid session: the person goes to the login page."""


def local(value: datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A time as people here read it: Asia/Shanghai (an ISO text from an event's detail too)."""
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return text
    return value.astimezone(SHANGHAI).strftime(fmt) if value else t("page", "none")


def load_templates(directory: Callable[[str | None], str | None]) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.globals.update(t=t, rule_name=rule_name, unit_name=directory, local=local)
    env.filters["local"] = local
    return templates


def response_templates(path: Path) -> dict[str, list[dict[str, str]]]:
    """Reply templates per category (policy data: deploy/response-templates.yaml)."""
    if not path.exists():
        return {}
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {
        str(k): [{"title": str(e["title"]), "text": str(e["text"])} for e in v]
        for k, v in (raw.get("templates") or {}).items()
    }


def console_app(services: Services) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    templates = load_templates(lambda unit: _unit_label(services, unit))
    replies = response_templates(services.response_templates_file)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.mount(
        "/vendor", StaticFiles(directory=str(HERE.parent / "static" / "vendor")), name="vendor"
    )

    def page(
        request: Request, name: str, session: Session | None, status: int = 200, **context: Any
    ) -> HTMLResponse:
        principal = session.principal if session else None
        response = templates.TemplateResponse(
            request,
            name,
            {
                "session": session,
                "principal": principal,
                "user": session.user if session else None,
                "flash": _flash(request),
                **context,
            },
            status_code=status,
        )
        response.headers.update(SECURITY_HEADERS)
        return response

    async def signed_in(request: Request) -> Session:
        session = await sessions.current_session(services, request)
        if session is None:
            raise SignInNeeded
        return session

    @app.exception_handler(SignInNeeded)
    async def to_login(request: Request, exc: SignInNeeded) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/console/login?next={quote(target)}", status_code=303)

    async def error_page(request: Request, status: int, code: str) -> Response:
        """Every refusal as a page: the same "not found" page for a missing or hidden need."""
        session = await sessions.current_session(services, request)
        if status == 404:
            return page(request, "not_found.html", session, status=404)
        return page(request, "problem.html", session, status=status, message=t("error", code))

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return await error_page(request, exc.status, exc.detail.code)

    @app.exception_handler(StarletteHTTPException)
    async def no_such_page(request: Request, exc: StarletteHTTPException) -> Response:
        return await error_page(request, exc.status_code, "invalid_input")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return await error_page(request, 422, "invalid_input")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("console page failed", error=type(exc).__name__, path=request.url.path)
        return page(request, "problem.html", None, status=500, message=t("error", "unavailable"))

    # --- signing in ----------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        session = await signed_in(request)
        return RedirectResponse(_home_of(session), status_code=303)

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request, next: str = "") -> Response:
        token = secrets.token_urlsafe(16)
        response = page(
            request,
            "login.html",
            None,
            next=_safe_next(next),
            csrf=token,
            problem=request.query_params.get("problem"),
        )
        response.set_cookie(
            LOGIN_CSRF,
            token,
            httponly=True,
            samesite="strict",
            secure=services.secure_cookies,
            path="/console/login",
        )
        return response

    @app.post("/login")
    async def login(
        request: Request,
        user: str = Form(max_length=64),
        password: str = Form(max_length=256),
        csrf: str = Form(max_length=64),
        next: str = Form("", max_length=500),
    ) -> Response:
        expected = request.cookies.get(LOGIN_CSRF)
        if not expected or not secrets.compare_digest(expected, csrf):
            return page(request, "problem.html", None, status=403, message=t("error", "csrf"))
        try:
            person = await sessions.sign_in(services, user.strip(), password)
        except sessions.Locked as locked:
            return page(
                request,
                "login.html",
                None,
                status=429,
                next=_safe_next(next),
                csrf=csrf,
                error=t("login", "locked", minutes=locked.minutes),
            )
        if person is None:
            return page(
                request,
                "login.html",
                None,
                status=401,
                next=_safe_next(next),
                csrf=csrf,
                error=t("login", "wrong"),
            )
        log.info("console sign-in", user=person.name, role=person.role)
        session_home = _home_of(Session(person, ""))
        response = RedirectResponse(_safe_next(next) or session_home, status_code=303)
        await sessions.open_session(services, person, response)
        response.delete_cookie(LOGIN_CSRF, path="/console/login")
        return response

    @app.post("/logout")
    async def logout(request: Request, csrf: str = Form(max_length=64)) -> Response:
        session = await signed_in(request)
        if not sessions.csrf_ok(session, csrf):
            return page(request, "problem.html", session, status=403, message=t("error", "csrf"))
        response = RedirectResponse("/console/login", status_code=303)
        await sessions.close_session(services, request, response)
        return response

    # --- staff ---------------------------------------------------------------------------
    @app.get("/inbox", response_class=HTMLResponse)
    async def inbox(
        request: Request,
        unit: str | None = None,
        stage: Stage | None = None,
        category: Category | None = None,
    ) -> Response:
        session = await signed_in(request)
        principal = session.principal
        units = _units_in_reach(services, session)
        chosen = principal.unit if principal.role == "staff" else (unit or None)
        if chosen is not None and chosen not in units:
            raise ApiError(404, "not_found", "no such unit", field="unit")
        rows = (
            await queries.inbox(
                services.db,
                chosen,
                200,
                stage=stage.value if stage else None,
                category=category.value if category else None,
            )
            if chosen
            else []
        )
        if chosen and stage is None:  # 联合办理: the sub-tasks other units asked of it
            asked = await queries.assist_inbox(services.db, chosen, 200)
            rows += [
                r | {"task": "assist"}
                for r in asked
                if category is None or r["category"] == category.value
            ]
            far = datetime.max.replace(tzinfo=UTC)
            rows.sort(key=lambda r: (r["due_at"] or far, r["stream_id"]))
        now = datetime.now(UTC)
        items = [
            dict(r, urgency_class=_urgency_class(r), remaining=_remaining(r, now)) for r in rows
        ]
        return page(
            request,
            "inbox.html",
            session,
            items=items,
            unit=chosen,
            units=units,
            now=now,
            stage=stage.value if stage else "",
            category=category.value if category else "",
            stages=[s.value for s in Stage if s in (Stage.ASSIGNMENT, Stage.HANDLING)],
            categories=[c.value for c in Category],
        )

    # --- one need ------------------------------------------------------------------------
    @app.get("/needs/{need_id}", response_class=HTMLResponse)
    async def need_page(request: Request, need_id: str) -> Response:
        session = await signed_in(request)
        principal = session.principal
        detail = await need_detail(services, principal, need_id)
        live = detail.live
        view = NeedView(
            stage=Stage(detail.stage),
            assigned_unit=detail.assigned_unit,
            possible_repeat=detail.possible_repeat_of is not None and detail.stage != "closed",
            approver=live.extension_approver if live else None,
            reviewers=tuple(live.reviewers) if live else (),
            supervision_pending=bool(live and live.supervision_reply_due_at),
            open_assists={
                a.assist_id: a.unit_id
                for a in detail.assists
                if a.status in ("requested", "accepted")
            },
            assist_statuses={a.assist_id: a.status for a in detail.assists},
        )
        approver_in_scope = view.approver is not None and in_scope(
            principal, {"assigned_unit": view.approver}, services.directory
        )
        units = _units_in_reach(services, session)
        current = {
            "category": detail.category,
            "tier": detail.tier,
            "urgency": detail.urgency,
            "unit_id": detail.assigned_unit,
        }
        forms = [
            form_for(
                BY_NAME[name], principal, units, current, _assist_choices(services, name, view)
            )
            for name in offered(principal, view, approver_in_scope)
        ]
        async with services.db.acquire() as conn:
            audit = await verify(conn, stream_id=need_id)
        temporal_link = (
            (
                f"{services.temporal_ui_url}/namespaces/{quote(services.namespace)}"
                f"/workflows/{quote(need_id)}"
            )
            if services.temporal_ui_url
            else None
        )
        return page(
            request,
            "need.html",
            session,
            need=detail,
            forms=forms,
            audit=audit,
            temporal_link=temporal_link,
            live=live,
            replies=replies.get(detail.category or "", []),
        )

    @app.post("/needs/{need_id}/act/{name}")
    async def act(request: Request, need_id: str, name: str) -> Response:
        session = await signed_in(request)
        posted = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        back = _safe_next(posted.pop("back", "")) or f"/console/needs/{quote(need_id)}"
        if not sessions.csrf_ok(session, posted.pop("csrf", None)):
            return page(request, "problem.html", session, status=403, message=t("error", "csrf"))
        action = BY_NAME.get(name)
        if action is None:
            raise ApiError(404, "not_found", "no such action", field="name")
        try:  # take() runs the row's own checks: a need hidden from this person is a 404 page
            command = command_from(action, posted)
            await take(services, session.principal, name, need_id, command)
        except FormProblem as problem:
            return _back(back, problem="invalid_input", field=problem.field)
        except ApiError as exc:
            if exc.status == 404:
                raise
            return _back(back, problem=exc.detail.code, field=exc.detail.field or "")
        except WorkflowUpdateFailedError as exc:
            refused = refusal(exc)
            return _back(back, problem=refused.detail.code, field=refused.detail.field or "")
        except RPCError as exc:
            code = "closed" if exc.status == RPCStatusCode.NOT_FOUND else "unavailable"
            return _back(back, problem=code)
        log.info("console action", action=name, user=session.user.name)
        return _back(back, done=name)

    # --- lists ---------------------------------------------------------------------------
    @app.get("/needs", response_class=HTMLResponse)
    async def need_list(
        request: Request,
        stage: Stage | None = None,
        category: Category | None = None,
        overdue: bool | None = None,
        unit: str | None = None,
        offset: int = 0,
        format: str | None = None,
    ) -> Response:
        session = await signed_in(request)
        csv_wanted = format == "csv"
        limit = 500 if csv_wanted else 50
        filters = NeedFilters(
            stage=stage,
            category=category,
            overdue=overdue or None,
            unit=unit or None,
            limit=limit,
            offset=max(0, offset),
        )
        rows = await queries.list_needs(
            services.db, reach(session.principal, services.directory), filters, 1
        )
        items = [NeedItem.from_row(r) for r in rows[:limit]]
        if csv_wanted:
            return csv_response(items, NeedItem, "needs", excel=True)
        chosen = {
            "stage": stage.value if stage else "",
            "category": category.value if category else "",
            "overdue": "true" if overdue else "",
            "unit": unit or "",
        }
        query = urlencode({k: v for k, v in chosen.items() if v})
        return page(
            request,
            "needs.html",
            session,
            items=items,
            chosen=chosen,
            query=query,
            offset=filters.offset,
            more=len(rows) > limit,
            stages=[s.value for s in Stage],
            categories=[c.value for c in Category],
            units=_units_in_reach(services, session),
        )

    # --- supervisors ---------------------------------------------------------------------
    @app.get("/dashboard", response_class=HTMLResponse)
    async def dashboard(request: Request) -> Response:
        session = await signed_in(request)
        principal = session.principal
        within = reach(principal, services.directory)
        today = datetime.now(SHANGHAI).date()
        counts = await queries.open_counts(services.db, within)
        trend = await queries.daily_trend(services.db, within, today, 30)
        stats = (
            await unit_statistics(services, principal, today.replace(day=1), MIN_RANKED)
            if principal.role != "integrator"
            else []
        )
        by_stage: dict[str, int] = {}
        by_category: dict[str, int] = {}
        for row in counts:
            by_stage[row["stage"]] = by_stage.get(row["stage"], 0) + row["needs"]
            by_category[row["category"]] = by_category.get(row["category"], 0) + row["needs"]
        charts = {
            "stages": [
                {"key": k, "name": t("stage", k), "value": by_stage.get(k, 0)}
                for k in [s.value for s in Stage if s != Stage.CLOSED]
            ],
            "categories": [
                {"key": k, "name": t("category", k), "value": v}
                for k, v in sorted(by_category.items())
            ],
            "trend": {
                "days": [r["day"].strftime("%m-%d") for r in trend],
                "submitted": [r["submitted"] for r in trend],
                "closed": [r["closed"] for r in trend],
                "labels": {
                    "submitted": t("page", "submitted"),
                    "closed": t("page", "closed_count"),
                },
            },
        }
        return page(
            request,
            "dashboard.html",
            session,
            charts=json.dumps(charts, ensure_ascii=False),
            open_total=sum(by_stage.values()),
            overdue_total=sum(r["overdue"] for r in counts),
            stats=stats,
            min_ranked=MIN_RANKED,
            month=today.replace(day=1),
        )

    @app.get("/queue", response_class=HTMLResponse)
    async def queue(request: Request) -> Response:
        session = await signed_in(request)
        rows = await queries.dispatch_queue(
            services.db, reach(session.principal, services.directory)
        )
        return page(request, "queue.html", session, items=rows)

    @app.get("/extensions", response_class=HTMLResponse)
    async def extensions(request: Request) -> Response:
        session = await signed_in(request)
        items = await _pending_extensions(services, session)
        decision = form_for(BY_NAME["extension-decision"], session.principal, [])
        return page(request, "extensions.html", session, items=items, form=decision)

    @app.get("/wishes", response_class=HTMLResponse)
    async def wishes_page(request: Request, status: str | None = None) -> Response:
        """微心愿: the pools within the person's reach (read-only: claimants use the API,
        the wish wall and the CLI), with the ranking of their community."""
        session = await signed_in(request)
        principal = session.principal
        wanted = status if status in WISH_STATUSES else None
        items = await wish_list(principal, services, status=wanted, limit=200)
        community = _own_community(principal, services)
        ranking = await wish_ranking_of(services, community) if community else []
        return page(
            request,
            "wishes.html",
            session,
            items=items,
            wish_status=wanted,
            statuses=WISH_STATUSES,
            ranking=ranking,
            ranking_community=community,
        )

    @app.get("/plans", response_class=HTMLResponse)
    async def plans_page(request: Request) -> Response:
        """定期服务: the plans served within the person's reach, with their latest needs."""
        session = await signed_in(request)
        items = [
            p.model_dump() | {"when": recurrence_words(p.recurrence)}
            for p in await plan_list(session.principal, services)
        ]
        return page(request, "plans.html", session, items=items)

    return app


WISH_STATUSES = [s.value for s in WishStatus]


def _own_community(principal: Principal, services: Services) -> str | None:
    """The community whose ranking the page shows: the person's own, when they have one."""
    unit = services.policy.unit(principal.unit or principal.scope)
    return unit.id if unit is not None and unit.kind == UnitKind.COMMUNITY else None


async def _pending_extensions(services: Services, session: Session) -> list[dict[str, Any]]:
    """Extension requests this person decides: staff of the approver unit, or a supervisor
    whose scope holds the approver. The request is read as a typed (upcasted) event."""
    principal = session.principal
    candidates = await queries.pending_extension_requests(
        services.db, queries.Reach(everything=True)
    )
    found = []
    for row in candidates:
        events = await read_stream(services.db, row["stream_id"], from_version=row["version"])
        request = events[0].event() if events else None
        if not isinstance(request, ExtensionRequested):
            continue
        approver, decide_by = request.approver_unit, request.decide_by
        for later in (e.event() for e in events[1:]):
            if isinstance(later, ExtensionDecisionEscalated):
                approver, decide_by = later.to_unit, later.decide_by
        mine = (
            principal.unit == approver
            if principal.role == "staff"
            else in_scope(principal, {"assigned_unit": approver}, services.directory)
            if principal.role == "supervisor"
            else principal.role == "admin"
        )
        if not mine:
            continue
        summary = await queries.need_row(services.db, row["stream_id"])
        found.append(
            {
                "id": row["stream_id"],
                "title": summary["title"] if summary else "",
                "unit": summary["assigned_unit"] if summary else None,
                "due_at": summary["due_at"] if summary else None,
                "extra_hours": request.extra_hours,
                "reason": request.reason,
                "approver": approver,
                "requested_at": events[0].occurred_at,
                "decide_by": decide_by,
            }
        )
    # the one to decide first on top: its own deadline, else the need's
    return sorted(
        found,
        key=lambda r: (r["decide_by"] or r["due_at"] or datetime.max.replace(tzinfo=UTC), r["id"]),
    )


def _assist_choices(services: Services, name: str, view: NeedView) -> dict[str, list[str]] | None:
    """联合办理 forms: the units a sub-task may be asked of (every unit but the lead), the
    open sub-tasks a form may answer (the offered rows already hold only the caller's)."""
    if name == "assist-request":
        return {"unit_id": [u.id for u in services.policy.units if u.id != view.assigned_unit]}
    if name in ("assist-accept", "assist-report", "assist-decline", "assist-release"):
        return {"assist_id": sorted(view.open_assists)}
    return None


def _units_in_reach(services: Services, session: Session) -> list[str]:
    units = units_in_scope(session.principal, services.directory)
    return [u.id for u in services.policy.units] if units is None else units


def _unit_label(services: Services, unit: str | None) -> str | None:
    name = services.directory.name(unit)
    return name.split(" ")[0] if name else t("page", "none")


def _home_of(session: Session) -> str:
    return "/console/inbox" if session.user.role == "staff" else "/console/dashboard"


def _safe_next(target: str) -> str:
    """Only a path inside the console (never another site)."""
    return (
        target
        if target.startswith("/console/") and "//" not in target and "\\" not in target
        else ""
    )


def _back(target: str, **flash: str) -> Response:
    separator = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{separator}{urlencode(flash)}", status_code=303)


def _flash(request: Request) -> dict[str, str] | None:
    """The outcome of the last form, from the redirect's query (codes only: no user text)."""
    params = request.query_params
    if params.get("done") in BY_NAME:
        return {"kind": "ok", "text": t("page", "done", action=t("action", params["done"]))}
    if params.get("problem"):
        field = params.get("field", "")
        label = t("field", field.split(".")[0]) if field else ""
        text = t("error", params["problem"])
        return {"kind": "problem", "text": f"{text}（{label}）" if label else text}
    return None


def _urgency_class(row: dict[str, Any]) -> str:
    if row.get("overdue"):
        return "overdue"
    percent = row.get("warning_percent") or 0
    return "warn75" if percent >= 75 else "warn50" if percent >= 50 else "ok"


def _remaining(row: dict[str, Any], now: datetime) -> str:
    due = row.get("due_at")
    if due is None:
        return t("page", "no_due")
    seconds = int((due - now).total_seconds())
    hours, minutes = divmod(abs(seconds) // 60, 60)
    key = "due_remaining" if seconds >= 0 else "overdue_by"
    return t("page", key, hours=hours, minutes=minutes)

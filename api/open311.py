"""Open311 GeoReport v2 under /open311/v2/: services from the policy, requests as needs.

Posting carries an `api_key` (form field or query parameter, or the X-API-Key header) mapped
to a principal. Reading needs none, as GeoReport v2 allows: without a key (or with one that may
not see a request) a request shows only what carries no personal data (id, status, status
notes, service, agency, dates); its description and address need a key that may see it under
the rules of /needs. A request is readable by the id its POST answered at once: the POST
waits for the need's projection row (a few milliseconds) and answers a `token` instead if it
did not appear in time (`GET /tokens/{token}` then gives the id). Errors use the spec's
shape: `[{"code", "description"}]` / `<errors><error>…`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import ValidationError

from api.access import can_read, find_need, reach
from api.auth import API_KEY_HEADER, Principal, authenticate
from api.deps import Services
from api.errors import ApiError, field_path, reject_nul
from api.needs import Svc, admitted, start_or_find
from api.open311_format import (
    Fmt,
    Open311Post,
    definition,
    error,
    open311_refusal,
    render,
    request_view,
    services,
)
from domain.model import Category, RequesterKind
from store import queries
from store.queries import Reach

router = APIRouter(prefix="/open311/v2", tags=["open311"])
PROJECTION_WAIT_S = 5.0  # measured: the row appears within ~10-50 ms of the POST (docs/api.md)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TEXT = {"type": "string", "maxLength": 64}
FORM_PROPERTIES: dict[str, Any] = {
    "api_key": {"type": "string", "minLength": 1},
    "description": {"type": "string", "minLength": 1, "maxLength": 10000, "pattern": r"\S"},
    "service_code": {"type": "string", "enum": [c.value for c in Category]},
    "lat": {"type": "number", "minimum": -90, "maximum": 90},
    "long": {"type": "number", "minimum": -180, "maximum": 180},
    "address_string": {"type": "string", "minLength": 1, "maxLength": 200},
    "address_id": {"type": "string", "minLength": 1, "maxLength": 64},
    "email": {"type": "string", "maxLength": 200},
    "device_id": {"type": "string", "maxLength": 200},
    "account_id": TEXT,
    "first_name": {"type": "string", "maxLength": 50},
    "last_name": {"type": "string", "maxLength": 50},
    "phone": {"type": "string", "maxLength": 32},
    "media_url": {"type": "string", "maxLength": 2000},
    **{f"attribute[{a}]": TEXT for a in ("street", "community", "grid", "building")},
    "attribute[external_id]": {"type": "string", "maxLength": 200},
    "attribute[requester_kind]": {"type": "string", "enum": [k.value for k in RequesterKind]},
}
FORM_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["api_key", "service_code", "description"],
                    "properties": FORM_PROPERTIES,
                    "additionalProperties": False,
                    "anyOf": [
                        {"required": ["lat", "long"]},
                        {"required": ["address_string"]},
                        {"required": ["address_id"]},
                    ],
                }
            }
        },
    }
}
DOC = {"content": {"application/json": {}, "text/xml": {}}, "description": "JSON or XML"}
RESPONSES: dict[int | str, dict[str, Any]] = {code: DOC for code in (200, 400, 401, 403, 404, 422)}


def _principal(request: Request, key: str | None) -> Principal:
    return authenticate(key or request.headers.get(API_KEY_HEADER.model.name), request)


def _reader(request: Request, key: str | None) -> Principal | None:
    """The caller of a read: None without a key (anonymous); an unknown key is a 401."""
    if not (key or request.headers.get(API_KEY_HEADER.model.name)):
        return None
    return _principal(request, key)


async def _visible(services_: Services, principal: Principal | None, ids: list[str]) -> set[str]:
    """Which of these needs the principal may see in full."""
    if principal is None or not ids:
        return set()
    rows = await queries.service_requests(
        services_.db,
        reach(principal, services_.directory),
        ids=ids,
        start=EPOCH,
        end=EPOCH,
        categories=None,
        state=None,
    )
    return {r["stream_id"] for r in rows}


async def _projected(services_: Services, need_id: str, wait: float = PROJECTION_WAIT_S) -> bool:
    """Wait until the need's summary row exists (read your own write), up to `wait` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        if await find_need(services_, need_id) is not None:
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.01)


@router.get("/services.{fmt}", responses=RESPONSES, response_class=Response)
async def list_services(fmt: Fmt, services_: Svc) -> Response:
    """The service list: one service per category of the policy."""
    return render(fmt, "services", services(services_.policy))


@router.get("/services/{service_code}.{fmt}", responses=RESPONSES, response_class=Response)
async def service_definition(service_code: str, fmt: Fmt, services_: Svc) -> Response:
    """The service definition: required fields of the category and our location attributes."""
    try:
        category = Category(service_code)
    except ValueError:
        return error(fmt, 404, "unknown service_code")
    return render(fmt, "service_definition", definition(services_.policy, category))


def _parse_form(form: dict[str, str]) -> Open311Post:
    attributes = {
        k[len("attribute[") : -1]: v
        for k, v in form.items()
        if k.startswith("attribute[") and k.endswith("]")
    }
    plain = {k: v for k, v in form.items() if not k.startswith("attribute[") and k != "api_key"}
    plain = {k: v for k, v in plain.items() if v != "" and k in Open311Post.model_fields}
    return Open311Post.model_validate(plain | {"attributes": attributes})


@router.post(
    "/requests.{fmt}", responses=RESPONSES, response_class=Response, openapi_extra=FORM_BODY
)
async def post_request(fmt: Fmt, request: Request, services_: Svc) -> Response:
    """Create a service request (a need on the open311 channel); answers its id."""
    try:
        form = {k: str(v) for k, v in (await request.form()).items()}
        principal = _principal(request, form.get("api_key"))
        if principal.role not in ("integrator", "admin"):
            return error(fmt, 403, "this api_key may not submit requests")
        reject_nul(form)
        post = _parse_form(form)
        submission = admitted(post.submission(services_.policy), services_)
    except ApiError as exc:
        return error(fmt, *open311_refusal(exc.status, exc.detail.message, exc.detail.field))
    except ValidationError as exc:
        first = exc.errors()[0]
        return error(fmt, 400, f"{field_path(tuple(first['loc']))}: {first['msg']}")
    except ValueError as exc:
        return error(fmt, 400, str(exc).splitlines()[0])
    try:
        need_id = await start_or_find(services_, submission, principal)
    except ApiError as exc:
        return error(fmt, exc.status, exc.detail.message)
    if not await _projected(services_, need_id):  # accepted, not yet readable: a token
        return render(
            fmt,
            "service_requests",
            [
                {
                    "token": need_id,
                    "service_notice": "received; the id follows (GET tokens)",
                    "account_id": post.account_id,
                }
            ],
        )
    return render(
        fmt,
        "service_requests",
        [
            {
                "service_request_id": need_id,
                "service_notice": "received; routing follows",
                "account_id": post.account_id,
            }
        ],
    )


@router.get("/tokens/{token}.{fmt}", responses=RESPONSES, response_class=Response)
async def get_token(
    token: Annotated[str, Path(max_length=100)], fmt: Fmt, services_: Svc
) -> Response:
    """The service request id of an accepted request, once it is readable."""
    if await find_need(services_, token) is None:
        return error(fmt, 404, "no service request for this token yet")
    return render(fmt, "service_requests", [{"service_request_id": token, "token": token}])


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


@router.get("/requests.{fmt}", responses=RESPONSES, response_class=Response)
async def get_requests(
    fmt: Fmt,
    request: Request,
    services_: Svc,
    api_key: str | None = None,
    service_request_id: str | None = None,
    service_code: str | None = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    status: Annotated[str | None, Query(pattern=r"^(open|closed)(,(open|closed))*$")] = None,
) -> Response:
    """Requests, newest first (default window: the last 90 days); description and address
    only of those the key may see."""
    try:
        principal = _reader(request, api_key)
    except ApiError as exc:
        return error(fmt, exc.status, exc.detail.message)
    end = _aware(end_date) or datetime.now(UTC)
    states = set(_csv(status))
    rows = await queries.service_requests(
        services_.db,
        Reach(everything=True),
        ids=_csv(service_request_id),
        start=_aware(start_date) or end - timedelta(days=90),
        end=end,
        categories=_csv(service_code),
        state=states.pop() if len(states) == 1 else None,
    )
    full = await _visible(services_, principal, [r["stream_id"] for r in rows])
    return render(
        fmt,
        "service_requests",
        [request_view(r, services_.directory, public=r["stream_id"] not in full) for r in rows],
    )


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@router.get("/requests/{service_request_id}.{fmt}", responses=RESPONSES, response_class=Response)
async def get_request(
    service_request_id: Annotated[str, Path(max_length=100)],
    fmt: Fmt,
    request: Request,
    services_: Svc,
    api_key: str | None = None,
) -> Response:
    """One request (a list of one, per the spec)."""
    try:
        principal = _reader(request, api_key)
    except ApiError as exc:
        return error(fmt, exc.status, exc.detail.message)
    row = await find_need(services_, service_request_id)
    if row is None:
        return error(fmt, 404, "no such service request")
    public = principal is None or not can_read(principal, row, services_.directory)
    return render(fmt, "service_requests", [request_view(row, services_.directory, public=public)])

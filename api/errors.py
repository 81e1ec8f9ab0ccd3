"""Error bodies: `{"error": {"code", "message", "field"}}`, never a stack trace or a value.

Validation errors name the field only (the rejected input may be personal data). Workflow
refusals map by their ApplicationError type: WrongStage 409, NotYourUnit 404 (the need's
owner is not revealed), NotPermitted 403, InvalidCommand 422.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import asyncpg
import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import RequestResponseEndpoint
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

log = structlog.get_logger("demandflow.api")

HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}
REFUSALS = {
    "WrongStage": 409,
    "NotYourUnit": 404,
    "NotPermitted": 403,
    "InvalidCommand": 422,
    "AssistConflict": 409,
}


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in [
        (401, "no or unknown API key"),
        (403, "role may not do this"),
        (404, "no such need (or not visible to you)"),
        (409, "wrong stage"),
        (422, "invalid input; `field` names it"),
        (503, "Temporal or the database is unavailable"),
    ]
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.detail = status, ErrorDetail(code=code, message=message, field=field)


def not_found() -> ApiError:
    return ApiError(404, "not_found", "no such need", field="id")


def error_response(status: int, detail: ErrorDetail) -> JSONResponse:
    return JSONResponse(ErrorBody(error=detail).model_dump(), status_code=status)


def refusal(exc: WorkflowUpdateFailedError) -> ApiError:
    """A refused workflow update as a 4xx naming the reason and the field."""
    cause = exc.cause
    if not isinstance(cause, ApplicationError) or cause.type not in REFUSALS:
        return ApiError(409, "refused", "the need refused the action")
    info = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
    code, field = str(info.get("code", cause.type)), info.get("field")
    message = cause.message
    if cause.type == "NotYourUnit":  # do not reveal which unit owns the step
        message = "this need is not yours to act on"
    return ApiError(REFUSALS[cause.type], code, message, field=field)


def field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or str(loc[-1] if loc else "")


def install_handlers(app: FastAPI) -> None:
    @app.middleware("http")
    async def refuse_nul(request: Request, call_next: RequestResponseEndpoint) -> Response:
        if "\x00" in unquote(request.url.query) or "\x00" in unquote(request.url.path):
            return error_response(
                422,
                ErrorDetail(
                    code="invalid_input", message="NUL characters are not allowed", field="query"
                ),
            )
        return await call_next(request)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        if first.get("type") == "json_invalid":  # loc is (body, offset): name the body
            return error_response(
                422, ErrorDetail(code="invalid_body", message="body: not valid JSON", field="body")
            )
        field = field_path(tuple(first.get("loc", ())))
        detail = ErrorDetail(code="invalid_input", message=f"{field}: {first['msg']}", field=field)
        return error_response(422, detail)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Starlette's own answers (no route, wrong method, an unparsable body) in the one
        error format."""
        if exc.status_code == 400:  # the body could not be parsed (bad UTF-8, nesting)
            return error_response(
                422,
                ErrorDetail(
                    code="invalid_body", message="body: not valid UTF-8 JSON", field="body"
                ),
            )
        code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        response = error_response(
            exc.status_code, ErrorDetail(code=code, message=code.replace("_", " "), field=None)
        )
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(WorkflowUpdateFailedError)
    async def refused(request: Request, exc: WorkflowUpdateFailedError) -> JSONResponse:
        err = refusal(exc)
        return error_response(err.status, err.detail)

    @app.exception_handler(RPCError)
    async def rpc(request: Request, exc: RPCError) -> JSONResponse:
        if exc.status == RPCStatusCode.NOT_FOUND:  # the workflow finished: nothing more to do
            return error_response(
                409, ErrorDetail(code="closed", message="the need is closed", field="stage")
            )
        if exc.status == RPCStatusCode.INVALID_ARGUMENT and "size" in str(exc).lower():
            # Temporal's payload size limit: the need is too large to keep, not "unavailable"
            return error_response(
                413,
                ErrorDetail(
                    code="too_large",
                    message="the need's content is too large to keep",
                    field="body",
                ),
            )
        log.warning("temporal call failed", status=exc.status.name)
        return error_response(
            503, ErrorDetail(code="unavailable", message="Temporal is unavailable")
        )

    @app.exception_handler(asyncpg.PostgresError)
    @app.exception_handler(asyncpg.InterfaceError)
    @app.exception_handler(OSError)
    async def database(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database call failed", error=type(exc).__name__)
        return error_response(
            503, ErrorDetail(code="unavailable", message="the database is unavailable")
        )


def storable(text: str) -> bool:
    """PostgreSQL text holds neither NUL nor invalid UTF-8 (lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def reject_nul(value: object, path: str = "") -> None:
    """PostgreSQL text cannot hold NUL characters: refuse them here, naming the field, before
    a workflow would try (and retry) to store them."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, str) and not storable(value):
        raise ApiError(
            422,
            "invalid_input",
            f"{path or 'body'}: NUL characters or lone surrogates are not allowed",
            field=path or "body",
        )
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, inner in items:
        if isinstance(key, str) and not storable(key):
            raise ApiError(422, "invalid_input", "NUL characters are not allowed", field=path)
        reject_nul(inner, f"{path}.{key}" if path else str(key))

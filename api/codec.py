"""The codec server: Temporal's remote codec protocol under `/codec`, so the Temporal Web UI
and the stock `temporal` CLI (`--codec-endpoint`) can show payloads decoded.

    POST /codec/decode  {"payloads": [{"metadata": {k: base64}, "data": base64}, ...]}
    POST /codec/encode  the same shape, answered with the payloads encrypted

Who may: decoding shows residents' names, phones and addresses, and a payload does not say
which need it belongs to, so no subtree can be checked: only admins and supervisors of the
whole district (no scope) decode. Encoding makes payloads the workers trust: admins only.
Credentials: `X-API-Key: <key>` or `Authorization: Bearer <key>` (what `--codec-auth` sends).
CORS answers the Temporal Web UI's origins (CODEC_CORS_ORIGINS), preflight included; the UI
sends `X-Namespace`, which must name our namespace. Every call is logged with the caller and
the number of payloads, never their content. docs/security.md.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from google.protobuf import json_format
from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payload

from api.auth import Principal, authenticate
from api.deps import Services
from api.errors import ApiError, install_handlers
from workers.codec import EncryptionCodec, PayloadDecodeError

log = structlog.get_logger("demandflow.codec")

MAX_PAYLOADS = 1000
ALLOWED_HEADERS = ["Content-Type", "X-Namespace", "Authorization", "X-API-Key"]


class Payloads(BaseModel):
    """A batch in the protocol's JSON form (protobuf JSON of temporal.api.common.v1.Payload)."""

    payloads: list[dict[str, Any]] = Field(max_length=MAX_PAYLOADS)


def codec_principal(request: Request) -> Principal:
    """The caller, from `X-API-Key` or `Authorization` (`Bearer <key>` or the bare key)."""
    key = request.headers.get("x-api-key")
    auth = request.headers.get("authorization")
    if not key and auth:
        scheme, _, token = auth.strip().partition(" ")
        key = token.strip() if scheme.lower() == "bearer" else auth.strip()
    return authenticate(key or None, request)


def may_decode(principal: Principal) -> bool:
    return principal.role == "admin" or (principal.role == "supervisor" and principal.scope is None)


def decoder(request: Request) -> Principal:
    who = codec_principal(request)
    if not may_decode(who):
        raise ApiError(403, "not_permitted", "decoding payloads is for admins and "
                       "supervisors of the whole district", field="X-API-Key")
    return who


def encoder(request: Request) -> Principal:
    who = codec_principal(request)
    if who.role != "admin":
        raise ApiError(403, "not_permitted", "encoding payloads is for admins only: "
                       "workers trust what is encrypted", field="X-API-Key")
    return who


def _codec(services: Services) -> EncryptionCodec:
    if services.codec is None:
        raise ApiError(503, "unavailable", "the payload codec is not configured")
    return services.codec


def _check_namespace(request: Request, services: Services) -> str:
    namespace = request.headers.get("x-namespace") or services.namespace
    if namespace != services.namespace:
        raise ApiError(404, "not_found", "this codec server serves another namespace",
                       field="X-Namespace")
    return namespace


def _parse(body: Payloads) -> list[Payload]:
    parsed = []
    for i, raw in enumerate(body.payloads):
        try:
            parsed.append(json_format.ParseDict(raw, Payload()))
        except json_format.ParseError:
            raise ApiError(422, "invalid_input", f"payloads.{i}: not a Temporal payload",
                           field=f"payloads.{i}") from None
    return parsed


def _answer(payloads: list[Payload]) -> dict[str, list[dict[str, Any]]]:
    return {"payloads": [json_format.MessageToDict(p) for p in payloads]}


def codec_app(services: Services) -> FastAPI:
    """The sub-application mounted at /codec (its own CORS policy; the rest of the API has
    none)."""
    app = FastAPI(title="demandflow codec server", openapi_url=None, docs_url=None,
                  redoc_url=None)
    app.state.services = services
    install_handlers(app)
    # added last, so outermost: preflights are answered before authentication, and error
    # answers carry the CORS headers the browser needs to read them
    app.add_middleware(CORSMiddleware, allow_origins=services.codec_origins,
                       allow_methods=["POST"], allow_headers=ALLOWED_HEADERS,
                       allow_credentials=True, max_age=600)

    def _audit(action: Literal["decode", "encode"], who: Principal, namespace: str,
               count: int) -> None:
        log.info("codec call", action=action, principal=who.id, role=who.role,
                 namespace=namespace, payloads=count)

    @app.post("/decode")
    async def decode(body: Payloads, request: Request,
                     who: Annotated[Principal, Depends(decoder)]) -> dict[str, list[dict[str, Any]]]:
        namespace = _check_namespace(request, services)
        codec = _codec(services)
        payloads = _parse(body)
        _audit("decode", who, namespace, len(payloads))
        try:
            # plaintext comes back as it came: the caller holds it already
            return _answer([codec.decrypt(p, index=i, plaintext_readable=True)
                            for i, p in enumerate(payloads)])
        except PayloadDecodeError as exc:
            raise ApiError(422, "undecodable", str(exc), field="payloads") from None

    @app.post("/encode")
    async def encode(body: Payloads, request: Request,
                     who: Annotated[Principal, Depends(encoder)]) -> dict[str, list[dict[str, Any]]]:
        namespace = _check_namespace(request, services)
        codec = _codec(services)
        payloads = _parse(body)
        _audit("encode", who, namespace, len(payloads))
        return _answer(await codec.encode(payloads))

    return app

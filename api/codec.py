"""The codec server: Temporal's remote codec protocol under `/codec`, so the Temporal Web UI
and the stock `temporal` CLI (`--codec-endpoint`) can show payloads decoded.

    POST /codec/decode  {"payloads": [{"metadata": {k: base64}, "data": base64}, ...]}
    POST /codec/encode  the same shape, answered with the payloads encrypted

Who may: decoding shows residents' names, phones and addresses, and a payload does not say
which need it belongs to, so no subtree can be checked: only admins and supervisors of the
whole district (no scope) decode. Encoding makes payloads the workers trust: admins only.
Credentials: `X-API-Key: <key>` or `Authorization: Bearer <key>` (what `--codec-auth` sends),
or, for the Web UI (which sends no key of ours), a sign-in cookie: `/codec/login` takes the
key once and sets an HttpOnly, SameSite=Strict cookie on /codec holding the key's sha256 and
an expiry, signed with a key derived from the payload key (never the key itself; the key table
is asked again on every call, so a revoked key stops working at once). The UI then sends it
with "Include cross-origin credentials" on.
CORS answers the Temporal Web UI's origins (CODEC_CORS_ORIGINS), preflight included; the UI
sends `X-Namespace`, which must name our namespace. Every call is logged with the caller and
the number of payloads, never their content. docs/security.md.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import time
from typing import Annotated, Any, Literal

import structlog
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse
from google.protobuf import json_format
from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payload

from api.auth import Principal, authenticate, key_hash
from api.deps import Services
from api.errors import ApiError, install_handlers
from workflows.codec import EncryptionCodec, PayloadDecodeError

log = structlog.get_logger("demandflow.codec")

MAX_PAYLOADS = 1000
ALLOWED_HEADERS = ["Content-Type", "X-Namespace", "Authorization", "X-API-Key"]
COOKIE = "demandflow_codec"
SESSION_SECONDS = 8 * 3600
LOGIN_FORM = """<!doctype html><meta charset="utf-8"><title>demandflow codec sign-in</title>
<h1>Decode payloads in the Temporal Web UI</h1>
<p>For admins and supervisors of the whole district. Your key is checked once and not kept.</p>
<form method="post" action="login"><label>API key <input type="password" name="key"
autocomplete="off" required></label> <button>Sign in</button></form>"""


class Payloads(BaseModel):
    """A batch in the protocol's JSON form (protobuf JSON of temporal.api.common.v1.Payload)."""

    payloads: list[dict[str, Any]] = Field(max_length=MAX_PAYLOADS)


def _session_secret(services: Services) -> bytes:
    codec = _codec(services)
    key = codec.keyring.keys[codec.keyring.active]
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"demandflow codec sign-in"
    ).derive(key)


def session_cookie(services: Services, key: str, now: float | None = None) -> str:
    body = f"{key_hash(key)}.{int((now or time.time()) + SESSION_SECONDS)}"
    mac = hmac.new(_session_secret(services), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def _session_principal(services: Services, cookie: str) -> Principal | None:
    body, _, mac = cookie.rpartition(".")
    digest, _, expires = body.partition(".")
    want = hmac.new(_session_secret(services), body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, want) or not expires.isdigit() or int(expires) < time.time():
        return None
    return services.keys.lookup_hash(digest)


def codec_principal(request: Request) -> Principal:
    """The caller, from `X-API-Key` or `Authorization` (`Bearer <key>` or the bare key), or
    the sign-in cookie."""
    key = request.headers.get("x-api-key")
    auth = request.headers.get("authorization")
    if not key and auth:
        scheme, _, token = auth.strip().partition(" ")
        key = token.strip() if scheme.lower() == "bearer" else auth.strip()
    cookie = request.cookies.get(COOKIE)
    if not key and cookie:
        principal = _session_principal(request.app.state.services, cookie)
        if principal is not None:
            return principal
    return authenticate(key or None, request)


def may_decode(principal: Principal) -> bool:
    return principal.role == "admin" or (principal.role == "supervisor" and principal.scope is None)


def decoder(request: Request) -> Principal:
    who = codec_principal(request)
    if not may_decode(who):
        raise ApiError(
            403,
            "not_permitted",
            "decoding payloads is for admins and supervisors of the whole district",
            field="X-API-Key",
        )
    return who


def encoder(request: Request) -> Principal:
    who = codec_principal(request)
    if who.role != "admin":
        raise ApiError(
            403,
            "not_permitted",
            "encoding payloads is for admins only: workers trust what is encrypted",
            field="X-API-Key",
        )
    return who


def _codec(services: Services) -> EncryptionCodec:
    if services.codec is None:
        raise ApiError(503, "unavailable", "the payload codec is not configured")
    return services.codec


def _check_namespace(request: Request, services: Services) -> str:
    namespace = request.headers.get("x-namespace") or services.namespace
    if namespace != services.namespace:
        raise ApiError(
            404, "not_found", "this codec server serves another namespace", field="X-Namespace"
        )
    return namespace


def _parse(body: Payloads) -> list[Payload]:
    parsed = []
    for i, raw in enumerate(body.payloads):
        try:
            parsed.append(json_format.ParseDict(raw, Payload()))
        except json_format.ParseError:
            raise ApiError(
                422, "invalid_input", f"payloads.{i}: not a Temporal payload", field=f"payloads.{i}"
            ) from None
    return parsed


def _answer(payloads: list[Payload]) -> dict[str, list[dict[str, Any]]]:
    return {"payloads": [json_format.MessageToDict(p) for p in payloads]}


def codec_app(services: Services) -> FastAPI:
    """The sub-application mounted at /codec (its own CORS policy; the rest of the API has
    none)."""
    app = FastAPI(title="demandflow codec server", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.services = services
    install_handlers(app)
    # added last, so outermost: preflights are answered before authentication, and error
    # answers carry the CORS headers the browser needs to read them
    app.add_middleware(
        CORSMiddleware,
        allow_origins=services.codec_origins,
        allow_methods=["POST"],
        allow_headers=ALLOWED_HEADERS,
        allow_credentials=True,
        max_age=600,
    )

    def _audit(
        action: Literal["decode", "encode"], who: Principal, namespace: str, count: int
    ) -> None:
        log.info(
            "codec call",
            action=action,
            principal=who.id,
            role=who.role,
            namespace=namespace,
            payloads=count,
        )

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login_form() -> str:
        return LOGIN_FORM

    @app.post("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login(request: Request) -> HTMLResponse:
        """Sign in for the Web UI: the key once, a cookie for SESSION_SECONDS."""
        key = str((await request.form()).get("key") or "")
        who = authenticate(key or None, request)
        if not may_decode(who):
            raise ApiError(
                403,
                "not_permitted",
                "decoding payloads is for admins and supervisors of the whole district",
                field="key",
            )
        log.info("codec sign-in", principal=who.id, role=who.role)
        page = HTMLResponse(
            f"<!doctype html><meta charset='utf-8'><p>Signed in as {html.escape(who.id)} for "
            f"{SESSION_SECONDS // 3600} hours. In the Temporal Web UI's codec server settings, "
            "turn on <em>Include cross-origin credentials</em>.</p>"
        )
        page.set_cookie(
            COOKIE,
            session_cookie(services, key),
            max_age=SESSION_SECONDS,
            path="/codec",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return page

    @app.post("/logout", include_in_schema=False)
    async def logout() -> JSONResponse:
        done = JSONResponse({"status": "signed out"})
        done.delete_cookie(COOKIE, path="/codec")
        return done

    @app.post("/decode")
    async def decode(
        body: Payloads, request: Request, who: Annotated[Principal, Depends(decoder)]
    ) -> dict[str, list[dict[str, Any]]]:
        namespace = _check_namespace(request, services)
        codec = _codec(services)
        payloads = _parse(body)
        _audit("decode", who, namespace, len(payloads))
        try:
            # plaintext comes back as it came: the caller holds it already
            return _answer(
                [codec.decrypt(p, index=i, plaintext_readable=True) for i, p in enumerate(payloads)]
            )
        except PayloadDecodeError as exc:
            raise ApiError(422, "undecodable", str(exc), field="payloads") from None

    @app.post("/encode")
    async def encode(
        body: Payloads, request: Request, who: Annotated[Principal, Depends(encoder)]
    ) -> dict[str, list[dict[str, Any]]]:
        namespace = _check_namespace(request, services)
        codec = _codec(services)
        payloads = _parse(body)
        _audit("encode", who, namespace, len(payloads))
        return _answer(await codec.encode(payloads))

    return app

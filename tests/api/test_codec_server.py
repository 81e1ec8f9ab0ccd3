"""The codec server under /codec (api/codec.py): Temporal's remote codec protocol on the real
stack. The payloads decoded here are a real need's, read from the dev server's history
(encrypted, as the Web UI and the `temporal` CLI see them)."""

from __future__ import annotations

import base64
import uuid

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload

from tests.api.conftest import KEYS, UI_ORIGIN, a_need, wait_for
from workflows.codec import ENCODING, EncryptionCodec, Keyring


def _as_json(payloads) -> dict:
    return {"payloads": [json_format.MessageToDict(p) for p in payloads]}


def _texts(body: dict) -> list[str]:
    return [
        base64.b64decode(p.get("data", "")).decode("utf-8", "replace") for p in body["payloads"]
    ]


@pytest.fixture(scope="module")
async def sealed(app, dev_env) -> tuple[dict, str]:
    """A need's start input and `report` signal as stored by Temporal, and a name inside them."""
    import httpx

    name = f"Codec-{uuid.uuid4().hex[:8]}"
    body = a_need("路灯坏了")
    body["requester"]["name"] = name
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app),
        base_url="http://api",
        headers={"X-API-Key": KEYS["integrator"]},
    ) as client:
        need_id = (await client.post("/needs", json=body)).json()["id"]
        await wait_for(client, need_id, lambda b: b["stage"] == "assignment")
    history = await dev_env.client.get_workflow_handle(need_id).fetch_history()
    payloads = [
        p
        for e in history.events
        if e.HasField("workflow_execution_started_event_attributes")
        for p in e.workflow_execution_started_event_attributes.input.payloads
    ]
    payloads += [
        p
        for e in history.events
        if e.HasField("workflow_execution_signaled_event_attributes")
        for p in e.workflow_execution_signaled_event_attributes.input.payloads
    ]
    assert payloads and all(p.metadata["encoding"] == ENCODING for p in payloads)
    assert all(name.encode() not in p.SerializeToString() for p in payloads)
    return _as_json(payloads), name


@pytest.mark.parametrize("who", ["admin", "sup_district"])
async def test_an_admin_or_district_supervisor_sees_a_stored_need_decoded(
    as_,
    sealed,
    who: str,
) -> None:
    body, name = sealed
    response = await as_(who).post("/codec/decode", json=body, headers={"X-Namespace": "default"})
    assert response.status_code == 200, response.text
    assert any(name in text for text in _texts(response.json()))


async def test_the_cli_s_authorization_header_carries_the_key(as_, sealed) -> None:
    body, name = sealed
    response = await as_("nobody").post(
        "/codec/decode", json=body, headers={"Authorization": f"Bearer {KEYS['sup_district']}"}
    )
    assert response.status_code == 200 and any(name in t for t in _texts(response.json()))


@pytest.mark.parametrize(
    "who, status",
    [
        ("nobody", 401),
        ("integrator", 403),
        ("staff_dongting1", 403),
        ("sup_dongting", 403),
        ("sup_street", 403),  # scoped supervisors: a payload names no need
    ],
)
async def test_everyone_else_is_refused_and_sees_nothing(
    as_, sealed, who: str, status: int
) -> None:
    body, name = sealed
    response = await as_(who).post("/codec/decode", json=body)
    assert response.status_code == status
    assert response.json()["error"]["field"] == "X-API-Key"
    assert name not in response.text


async def test_a_wrong_key_is_refused_before_the_body_is_read(as_) -> None:
    response = await as_("nobody").post(
        "/codec/decode", content=b"not json", headers={"X-API-Key": "guessed"}
    )
    assert response.status_code == 401


async def test_only_an_admin_encodes_and_what_it_encodes_decodes(as_) -> None:
    body = _as_json([Payload(metadata={"encoding": b"json/plain"}, data=b'"hello"')])
    assert (await as_("sup_district").post("/codec/encode", json=body)).status_code == 403
    encoded = await as_("admin").post("/codec/encode", json=body)
    assert encoded.status_code == 200
    [sealed] = encoded.json()["payloads"]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == ENCODING
    decoded = await as_("admin").post("/codec/decode", json=encoded.json())
    assert decoded.json() == body


async def test_plaintext_comes_back_as_it_came(as_) -> None:
    body = _as_json([Payload(metadata={"encoding": b"json/plain"}, data=b'"old"')])
    response = await as_("admin").post("/codec/decode", json=body)
    assert response.status_code == 200 and response.json() == body


async def test_a_payload_of_an_unknown_key_is_422_naming_the_key_not_the_content(as_) -> None:
    stranger = EncryptionCodec(Keyring.generate("stranger"), plaintext_readable=False)
    body = _as_json(
        await stranger.encode(
            [Payload(metadata={"encoding": b"json/plain"}, data=b'"Secret-Name"')]
        )
    )
    response = await as_("admin").post("/codec/decode", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "undecodable" and "stranger" in response.text
    assert "Secret-Name" not in response.text


async def test_another_namespace_and_malformed_payloads_are_refused(as_) -> None:
    admin = as_("admin")
    other = await admin.post(
        "/codec/decode", json={"payloads": []}, headers={"X-Namespace": "elsewhere"}
    )
    assert other.status_code == 404 and other.json()["error"]["field"] == "X-Namespace"
    bad = await admin.post("/codec/decode", json={"payloads": [{"metadata": "x"}]})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "payloads.0"


async def test_the_web_ui_s_preflight_is_answered_for_its_origin_only(as_) -> None:
    client = as_("nobody")
    ask = {
        "Origin": UI_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
    }
    preflight = await client.options("/codec/decode", headers=ask)
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == UI_ORIGIN
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "x-namespace" in allowed and "authorization" in allowed
    assert "POST" in preflight.headers["access-control-allow-methods"]
    stranger = await client.options("/codec/decode", headers=ask | {"Origin": "http://evil.test"})
    assert stranger.status_code == 400
    assert "access-control-allow-origin" not in stranger.headers


async def test_a_refusal_carries_cors_headers_so_the_web_ui_can_show_it(as_) -> None:
    response = await as_("nobody").post(
        "/codec/decode", json={"payloads": []}, headers={"Origin": UI_ORIGIN}
    )
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == UI_ORIGIN


async def test_the_rest_of_the_api_answers_no_cross_origin_requests(as_) -> None:
    response = await as_("admin").get("/stats/units", headers={"Origin": UI_ORIGIN})
    assert "access-control-allow-origin" not in response.headers


async def test_the_web_ui_signs_in_once_and_decodes_with_the_cookie(as_, sealed) -> None:
    body, name = sealed
    browser = as_("nobody")
    assert "password" in (await browser.get("/codec/login")).text
    signed = await browser.post("/codec/login", data={"key": KEYS["sup_district"]})
    assert signed.status_code == 200
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/codec" in cookie
    assert KEYS["sup_district"] not in cookie
    decoded = await browser.post("/codec/decode", json=body, headers={"Origin": UI_ORIGIN})
    assert decoded.status_code == 200 and any(name in t for t in _texts(decoded.json()))
    assert decoded.headers["access-control-allow-credentials"] == "true"
    await browser.post("/codec/logout")
    assert (await browser.post("/codec/decode", json=body)).status_code == 401


async def test_a_sign_in_cookie_is_refused_when_forged_or_for_a_role_that_may_not_decode(
    as_,
    sealed,
) -> None:
    body, _ = sealed
    staff_browser = as_("nobody")
    refused = await staff_browser.post("/codec/login", data={"key": KEYS["staff_dongting1"]})
    assert refused.status_code == 403 and "set-cookie" not in refused.headers
    admin_browser = as_("nobody")
    await admin_browser.post("/codec/login", data={"key": KEYS["admin"]})
    real = admin_browser.cookies["demandflow_codec"]
    digest, expires, mac = real.split(".")
    for forged in (
        f"{digest}.{int(expires) + 3600}.{mac}",
        f"{'0' * 64}.{expires}.{mac}",
        f"{digest}.{expires}.{'0' * 64}",
    ):
        forger = as_("nobody")
        forger.cookies.set("demandflow_codec", forged)
        assert (await forger.post("/codec/decode", json=body)).status_code == 401

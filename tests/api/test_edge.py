"""The edge: whatever arrives, the answer is the one error format, naming the field."""

from __future__ import annotations

import pytest

BODIES = {
    "non_utf8": b'\xff\xfe{"title": 1}',
    "deep_nesting": b"[" * 5000 + b"]" * 5000,
    "not_json": b"{title: ",
}


@pytest.mark.parametrize("name", list(BODIES))
async def test_unparsable_bodies_answer_the_error_format(as_, name: str) -> None:
    answer = await as_("integrator").post(
        "/needs", content=BODIES[name], headers={"content-type": "application/json"}
    )
    assert answer.status_code == 422
    assert answer.json() == {
        "error": {
            "code": "invalid_body",
            "message": answer.json()["error"]["message"],
            "field": "body",
        }
    }
    assert answer.json()["error"]["message"].startswith("body: ")


async def test_unknown_paths_and_methods_answer_the_error_format(as_) -> None:
    missing = await as_("integrator").get("/no-such-thing")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = await as_("integrator").put("/needs")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
    assert "POST" in wrong.headers["allow"]


async def test_a_caller_without_the_role_hears_403_before_the_missing_body(as_) -> None:
    # (a body that is not JSON at all is refused while it is read, before any route: 422)
    answer = await as_("integrator").post("/needs/need-app-0000000000000000/complete")
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "not_permitted"
    staff = await as_("staff_dongting1").post("/needs/need-app-0000000000000000/complete")
    assert staff.status_code == 422 and staff.json()["error"]["field"] == "body"  # missing


async def test_a_body_over_the_limit_is_a_413_in_the_error_format(as_) -> None:
    from tests.api.conftest import a_need

    huge = a_need("路灯不亮", details={"note": "很" * 1_200_000})  # ~3.6 MB of UTF-8
    answer = await as_("integrator").post("/needs", json=huge)
    assert answer.status_code == 413
    assert answer.json()["error"] == {
        "code": "too_large",
        "field": "body",
        "message": "the request body exceeds 1048576 bytes",
    }

    async def chunks():  # no Content-Length: the limit still holds while the body streams
        yield b'{"title": "'
        for _ in range(40):
            yield b"x" * 50_000
        yield b'"}'

    async def tiny():
        yield b"{"
        yield b"}"

    streamed = await as_("integrator").post(
        "/needs", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "too_large"
    small = await as_("integrator").post(
        "/needs", content=tiny(), headers={"content-type": "application/json"}
    )
    assert small.status_code == 422  # read and judged as usual: an empty need is invalid


async def test_roles_are_judged_before_bodies_on_every_route_a_role_decides(as_) -> None:
    for path, method in (
        ("/needs", "POST"),
        ("/webhooks", "POST"),
        ("/webhooks/wh-0000000000000000", "PATCH"),
    ):
        answer = await as_("sup_district").request(method, path)  # no body at all
        assert answer.status_code == 403, (path, answer.text)
        assert answer.json()["error"]["code"] == "not_permitted"

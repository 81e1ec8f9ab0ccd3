"""The edge: whatever arrives, the answer is the one error format, naming the field."""

from __future__ import annotations

import pytest

BODIES = {
    "non_utf8": b"\xff\xfe{\"title\": 1}",
    "deep_nesting": b"[" * 5000 + b"]" * 5000,
    "not_json": b"{title: ",
}


@pytest.mark.parametrize("name", list(BODIES))
async def test_unparsable_bodies_answer_the_error_format(as_, name: str) -> None:
    answer = await as_("integrator").post("/needs", content=BODIES[name],
                                          headers={"content-type": "application/json"})
    assert answer.status_code == 422
    assert answer.json() == {"error": {"code": "invalid_body", "message": answer.json()[
        "error"]["message"], "field": "body"}}
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

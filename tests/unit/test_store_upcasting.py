"""Upcasters chain one schema version at a time; a missing step is an error, not a guess."""

from __future__ import annotations

import pytest

from domain.events import DemandReturned
from store.errors import StoreError
from store.upcasting import UPCASTERS, upcast, upcaster


def v1_to_v2(payload: dict) -> dict:
    payload["return_count"] = payload.pop("count")
    return payload


def test_upcasters_apply_step_by_step(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(DemandReturned, "SCHEMA_VERSION", 3)
    monkeypatch.setitem(UPCASTERS, ("DemandReturned", 1), v1_to_v2)
    monkeypatch.setitem(
        UPCASTERS, ("DemandReturned", 2), lambda p: p | {"reason": p["reason"].upper()}
    )
    version, payload = upcast("DemandReturned", 1, {"unit_id": "u", "reason": "x", "count": 1})
    assert (version, payload) == (3, {"unit_id": "u", "reason": "X", "return_count": 1})


def test_current_payloads_pass_unchanged():
    payload = {"unit_id": "u", "reason": "x", "return_count": 1}
    assert upcast("DemandReturned", 1, payload) == (1, payload)


def test_unknown_types_and_double_registration_are_refused(monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(StoreError, match="unknown"):
        upcast("DemandTeleported", 1, {})
    monkeypatch.setitem(UPCASTERS, ("DemandReturned", 1), v1_to_v2)
    with pytest.raises(StoreError, match="two upcasters"):
        upcaster("DemandReturned", 1)(lambda p: p)

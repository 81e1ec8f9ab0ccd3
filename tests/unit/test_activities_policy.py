"""The policy activity reads the file every time and parses it only when it changed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from activities.policy import PolicyActivities
from tests.unit.domain_kit import DEPLOY
from workflows.messages import PolicyRequest


def _load(activities: PolicyActivities):
    return asyncio.run(activities.load_policy(PolicyRequest())).policy


def test_an_unchanged_file_is_parsed_once_and_an_edit_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    raw = (DEPLOY / "policy.yaml").read_bytes()
    path.write_bytes(raw)
    activities = PolicyActivities(path)
    first = _load(activities)
    assert _load(activities) is first
    path.write_bytes(raw + b"\n# edited\n")
    edited = _load(activities)
    assert edited.version != first.version
    assert edited.model_dump(exclude={"version"}) == first.model_dump(exclude={"version"})

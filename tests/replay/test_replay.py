"""Recorded histories of real runs replay against today's workflow code.

The histories are written by the workflow tests when RECORD_HISTORIES=1 (see
tests/workflows/conftest.py); they are kept in the repository so a change that breaks
determinism for running needs fails here, before it reaches a worker.

Histories recorded before payload encryption hold plaintext: they replay through the
product's encrypting converter with plaintext reading on (PAYLOAD_PLAINTEXT_READABLE,
docs/security.md), as a worker reads a run started before encryption. Later ones are
encrypted with the test key in recording-key.txt (tests/fixtures/temporal.py).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from domain.policy import load_policy
from domain.text import words
from workflows.codec import EncryptionCodec, Keyring, data_converter
from workflows.need import NeedWorkflow
from workflows.plan import PlanTickWorkflow, PlanWorkflow
from workflows.wish import WishWorkflow

# Top level: recorded with the current code. Subfolders: recorded by older code (before a
# `workflow.patched` change, or started by an older client generation: see
# workflows/messages.py START_GENERATION), kept so those runs are proven to still replay.
HISTORIES = sorted((Path(__file__).parent / "histories").rglob("*.json"))
RECORDED_WITH = Keyring.parse((Path(__file__).parent / "recording-key.txt").read_text())


def test_there_are_recorded_histories_to_replay() -> None:
    assert len(HISTORIES) >= 3, "record histories with RECORD_HISTORIES=1 make test"


def _name(path: Path) -> str:
    return path.stem if path.parent.name == "histories" else f"{path.parent.name}/{path.stem}"


@pytest.fixture(scope="module", autouse=True)
def segmenter_loaded() -> None:
    """As in the worker (workers/worker.py): jieba's dictionary and the policy's learned model
    are loaded before any workflow runs, not by the first workflow task (inside the sandbox
    file reads are refused)."""
    words("预热")
    load_policy((Path(__file__).parents[2] / "deploy" / "policy-fast.yaml").read_bytes())


@pytest.mark.parametrize("path", HISTORIES, ids=[_name(p) for p in HISTORIES])
async def test_recorded_history_replays_cleanly(path: Path) -> None:
    record = json.loads(await asyncio.to_thread(path.read_text))
    history = WorkflowHistory.from_json(record["workflow_id"], record["history"])
    codec = EncryptionCodec(RECORDED_WITH, plaintext_readable=True)
    replayer = Replayer(
        workflows=[NeedWorkflow, WishWorkflow, PlanWorkflow, PlanTickWorkflow],
        data_converter=data_converter(codec),
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None

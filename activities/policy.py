"""Reading the policy file: data that can change between runs, so the workflow gets it
through an activity (its result is recorded in the history and replays unchanged)."""

from __future__ import annotations

from pathlib import Path

from temporalio import activity

from domain.policy import load_policy
from workflows.messages import LoadedPolicy, PolicyRequest


class PolicyActivities:
    def __init__(self, policy_file: Path) -> None:
        self.policy_file = policy_file

    @activity.defn(name="load_policy")
    async def load_policy(self, request: PolicyRequest) -> LoadedPolicy:
        path = Path(request.path) if request.path else self.policy_file
        return LoadedPolicy(policy=load_policy(path.read_text(encoding="utf-8")))

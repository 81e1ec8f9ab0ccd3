"""Reading the policy file: data that can change between runs, so the workflow gets it
through an activity (its result is recorded in the history and replays unchanged)."""

from __future__ import annotations

from pathlib import Path

from temporalio import activity

from domain.policy import Policy, load_policy, policy_version
from workflows.messages import LoadedPolicy, PolicyRequest


class PolicyActivities:
    """Every new need asks for the policy; the file is read each time (an edit takes effect
    for the next need) but parsed only when its content changed: YAML parsing was the largest
    single cost of a need's first workflow task (bench profile, docs/benchmarks.md)."""

    def __init__(self, policy_file: Path) -> None:
        self.policy_file = policy_file
        self._parsed: dict[str, Policy] = {}  # by content version: policies are immutable

    @activity.defn(name="load_policy")
    async def load_policy(self, request: PolicyRequest) -> LoadedPolicy:
        path = Path(request.path) if request.path else self.policy_file
        raw = path.read_bytes()
        version = policy_version(raw)
        policy = self._parsed.get(version)
        if policy is None:
            policy = load_policy(raw)
            self._parsed = {version: policy}  # keep the newest only
        return LoadedPolicy(policy=policy)

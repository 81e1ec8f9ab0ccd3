"""What a new need starts from, in one local activity: the policy in force and the open
needs its submission may repeat. Asking for both at once saves every new need one
local-activity marker in its history and one workflow activation in the worker."""

from __future__ import annotations

from temporalio import activity

from activities.duplicates import DuplicateActivities
from activities.policy import PolicyActivities
from workflows.messages import DuplicateQuery, IntakeContext, IntakeRequest, PolicyRequest


class IntakeActivities:
    def __init__(self, policies: PolicyActivities, duplicates: DuplicateActivities) -> None:
        self.policies, self.duplicates = policies, duplicates

    @activity.defn(name="prepare_intake")
    async def prepare_intake(self, request: IntakeRequest) -> IntakeContext:
        policy = (await self.policies.load_policy(PolicyRequest())).policy
        # the same narrowing as before the patch; the workflow then matches with the rules
        query = DuplicateQuery.for_submission(request.stream_id, request.submission, policy,
                                              request.now)
        if query is None:
            return IntakeContext(policy=policy)
        answer = await self.duplicates.candidates(query, claimed_at=request.now)
        return IntakeContext(policy=policy, candidates=answer.candidates)

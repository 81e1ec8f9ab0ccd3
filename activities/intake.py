"""What a new need starts from, in one local activity: the policy in force and the repeat
rules' verdict on its submission.

The verdict is reached here, under the intake lock (store/intake.py), and not in the
workflow: the claim this intake leaves for later reports depends on it (a merged report
claims nothing, so a later report is never judged a repeat of a repeat). The judgement
itself is the pure `domain.repeats.best_verdict`; the workflow records what it answered.
Policies without `repeats` keep the older rule: candidates by category and place, matched
in the workflow.
"""

from __future__ import annotations

from temporalio import activity

from activities.duplicates import DuplicateActivities
from activities.policy import PolicyActivities
from domain.repeats import best_verdict, fingerprint
from store import intake
from workflows.messages import DuplicateQuery, IntakeContext, IntakeRequest, PolicyRequest


class IntakeActivities:
    def __init__(self, policies: PolicyActivities, duplicates: DuplicateActivities) -> None:
        self.policies, self.duplicates = policies, duplicates

    @activity.defn(name="prepare_intake")
    async def prepare_intake(self, request: IntakeRequest) -> IntakeContext:
        policy = (await self.policies.load_policy(PolicyRequest())).policy
        if policy.collection.repeats is None:
            return await self._category_and_place(request, policy)
        new = fingerprint(request.stream_id, request.submission, policy, request.now)
        since = request.now - policy.collection.duplicate_window
        async with self.duplicates.pool.acquire() as conn, conn.transaction():
            rules = policy.collection.repeats
            await intake.lock_place(conn, new, rules.distance_m)
            candidates = (
                await intake.open_candidates(conn, new, since, rules.distance_m)
                if request.judge
                else []
            )
            verdict = best_verdict(new, candidates, policy)
            if verdict.kind != "merge":
                await intake.claim(conn, new, forget_before=since)
            else:
                await intake.forget_before(conn, new.street, since)
        return IntakeContext(policy=policy, verdict=verdict)

    async def _category_and_place(self, request: IntakeRequest, policy) -> IntakeContext:
        query = DuplicateQuery.for_submission(
            request.stream_id, request.submission, policy, request.now
        )
        if query is None or not request.judge:
            return IntakeContext(policy=policy)
        answer = await self.duplicates.candidates(query, claimed_at=request.now)
        return IntakeContext(policy=policy, candidates=answer.candidates)

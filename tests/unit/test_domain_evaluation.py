import pytest

from domain.commands import Accept, CloseEvaluationWindow, Complete, Evaluate, LinkReport
from domain.errors import InvalidCommand, NotYourUnit, WrongStage
from domain.model import (
    Actor,
    Channel,
    Outcome,
    Rating,
    Requester,
    RequesterKind,
    Role,
    ServiceMode,
    Stage,
)
from domain.state import next_deadline
from tests.unit.domain_kit import POLICY, RESIDENT, Story, staff, submission, types

GRID = staff("grid-dongting-1")
DONE = Complete(result_summary="已更换灯泡", service_mode=ServiceMode.ON_SITE)
NEIGHBOUR = Actor(id="res-2", role=Role.REQUESTER)


def completed_lamp(neighbours: int = 0) -> Story:
    story = Story()
    story.submit(submission("楼下路灯不亮"))
    for n in range(neighbours):
        requester = Requester(requester_id=f"res-{n + 2}", kind=RequesterKind.RESIDENT)
        story.run(
            LinkReport(
                linked_stream_id=f"need-app-{n}", channel=Channel.WECHAT, requester=requester
            )
        )
    story.run(Accept(), GRID)
    story.later(hours=1).run(DONE, GRID)
    return story


def test_every_linked_requester_is_asked_to_evaluate():
    story = completed_lamp(neighbours=2)
    asked = story.last("EvaluationRequested")
    assert [r.reviewer_id for r in asked.reviewers] == ["res-1", "res-2", "res-3"]
    assert asked.rule_id == "evaluation.requesters"
    assert asked.due_at == story.now + POLICY.evaluation.window


def test_the_need_closes_satisfied_when_every_reviewer_is_satisfied():
    story = completed_lamp(neighbours=1)
    assert types(story.run(Evaluate(reviewer_id="res-1", rating=Rating.SATISFIED), RESIDENT)) == [
        "EvaluationSubmitted"
    ]
    events = story.run(Evaluate(reviewer_id="res-2", rating=Rating.BASICALLY_SATISFIED), NEIGHBOUR)
    assert types(events) == ["EvaluationSubmitted", "DemandClosed"]
    assert (events[1].outcome, events[1].satisfied) == (Outcome.RESOLVED, True)


def test_an_unsatisfied_reviewer_reopens_handling_with_the_same_unit_and_a_new_deadline():
    story = completed_lamp()
    events = story.run(Evaluate(reviewer_id="res-1", rating=Rating.UNSATISFIED), RESIDENT)
    assert types(events) == ["EvaluationSubmitted", "DemandReopened"]
    assert events[1].reopen_count == 1 and events[1].due_at is not None
    assert story.state.stage == Stage.HANDLING and story.state.assigned_unit == "grid-dongting-1"
    assert story.state.ratings == {}


def test_after_the_reopen_limit_an_unsatisfied_rating_escalates_one_rung():
    story = completed_lamp()
    for _ in range(POLICY.evaluation.max_reopenings):
        story.run(Evaluate(reviewer_id="res-1", rating=Rating.UNSATISFIED), RESIDENT)
        story.later(hours=1).run(DONE, GRID)
    events = story.run(Evaluate(reviewer_id="res-1", rating=Rating.UNSATISFIED), RESIDENT)
    assert types(events) == ["EvaluationSubmitted", "HandlingEscalated"]
    assert events[1].cause == "reopen_limit" and events[1].to_unit == "community-dongting"
    assert story.state.reopen_count == 2


def test_window_expiry_records_no_response_and_never_counts_it_as_satisfied():
    story = completed_lamp(neighbours=1)
    when, timer = next_deadline(story.state)
    assert timer == CloseEvaluationWindow(due_at=when)
    events = story.at(when).run(timer)
    assert types(events) == ["EvaluationWindowClosed", "DemandClosed"]
    assert events[0].missing_reviewers == ["res-1", "res-2"]
    assert (events[1].outcome, events[1].satisfied) == (Outcome.NO_RESPONSE, None)


def test_window_expiry_concludes_on_the_answers_received():
    story = completed_lamp(neighbours=1)
    story.run(Evaluate(reviewer_id="res-1", rating=Rating.SATISFIED), RESIDENT)
    events = story.at(story.state.evaluation_due_at).run(
        CloseEvaluationWindow(due_at=story.state.evaluation_due_at)
    )
    assert events[0].missing_reviewers == ["res-2"]
    assert (events[1].outcome, events[1].satisfied) == (Outcome.RESOLVED, True)


def test_an_enterprise_need_adds_the_community_committee_and_the_park_audit():
    story = Story()
    story.submit(
        submission(
            "员工健康证换证",
            requester_id="ent-1",
            kind=RequesterKind.ENTERPRISE,
            details={"staff_count": "1800"},
        )
    )
    story.run(Accept(), staff("dept-health"))
    story.run(DONE, staff("dept-health"))
    asked = story.last("EvaluationRequested")
    assert [(r.reviewer_id, r.role) for r in asked.reviewers] == [
        ("ent-1", "requester"),
        ("community-dongting", "community_committee"),
        ("park-audit-hanzheng", "park_audit"),
    ]
    assert asked.rule_id == "evaluation.enterprise"


def test_a_reviewer_rates_once_and_only_for_themselves():
    story = completed_lamp(neighbours=1)
    with pytest.raises(NotYourUnit, match="Evaluate"):
        story.run(Evaluate(reviewer_id="res-2", rating=Rating.SATISFIED), RESIDENT)
    story.run(Evaluate(reviewer_id="res-1", rating=Rating.SATISFIED), RESIDENT)
    with pytest.raises(InvalidCommand, match="already evaluated"):
        story.run(Evaluate(reviewer_id="res-1", rating=Rating.SATISFIED), RESIDENT)
    with pytest.raises(InvalidCommand, match="reviewer_id"):
        story.run(Evaluate(reviewer_id="res-9", rating=Rating.SATISFIED), RESIDENT)


def test_evaluating_before_completion_is_the_wrong_stage():
    story = Story()
    story.submit(submission("楼下路灯不亮"))
    with pytest.raises(WrongStage, match="Evaluate"):
        story.run(Evaluate(reviewer_id="res-1", rating=Rating.SATISFIED), RESIDENT)


def test_a_closed_need_accepts_no_more_evaluations():
    story = completed_lamp()
    story.run(Evaluate(reviewer_id="res-1", rating=Rating.SATISFIED), RESIDENT)
    with pytest.raises(WrongStage, match="closed"):
        story.run(Evaluate(reviewer_id="res-1", rating=Rating.SATISFIED), RESIDENT)

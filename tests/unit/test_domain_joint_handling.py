"""联合办理: the lead asks other units for sub-tasks; the rules of domain/joint_handling.py."""

from datetime import datetime

import pytest

from domain.assists import record
from domain.commands import (
    Accept,
    AcceptAssist,
    AssistDue,
    Complete,
    CompleteByProject,
    DeclineAssist,
    ReleaseAssist,
    ReportAssist,
    RequestAssist,
)
from domain.errors import AssistConflict, InvalidCommand, NotPermitted, NotYourUnit, WrongStage
from domain.model import BREACH_RECORDED, ServiceMode, Stage
from domain.state import NeedState, next_deadline
from tests.unit.domain_kit import CST, SUPERVISOR, Story, staff, submission, types

GRID = staff("grid-dongting-1")
URBAN = staff("dept-urban")
HEALTH = staff("dept-health")
DONE = Complete(result_summary="换了灯泡", service_mode=ServiceMode.ON_SITE)


def lamp_in_handling() -> Story:
    story = Story()
    story.submit(submission("楼下路灯不亮"))
    story.run(Accept(), GRID)
    assert story.state.stage == Stage.HANDLING
    return story


def ask_urban(story: Story, hours: int | None = None) -> str:
    events = story.run(RequestAssist(unit_id="dept-urban", task="更换灯杆线路", hours=hours), GRID)
    assert types(events) == ["AssistRequested"]
    return events[0].assist_id


def fire_next(story: Story):
    when, timer = next_deadline(story.state)
    return story.at(when).run(timer)


def test_the_lead_cannot_complete_while_a_sub_task_is_open():
    story = lamp_in_handling()
    assist = ask_urban(story, hours=4)
    with pytest.raises(AssistConflict) as refused:
        story.run(DONE, GRID)
    assert refused.value.field == "result_summary" and assist in refused.value.message
    story.run(AcceptAssist(assist_id=assist), URBAN)
    with pytest.raises(AssistConflict):
        story.run(DONE, GRID)
    reported = story.run(ReportAssist(assist_id=assist, result="线路已换"), URBAN)
    assert types(reported) == ["AssistReported"] and reported[0].in_time
    assert types(story.run(DONE, GRID))[0] == "HandlingCompleted"


def test_the_sub_task_deadline_is_its_own_and_never_after_the_leads():
    story = lamp_in_handling()
    lead_due = story.state.due_at
    assert lead_due == datetime(2026, 6, 2, 10, tzinfo=CST)
    ask_urban(story, hours=2)
    first = story.state.assists[0]
    assert first.due_at == datetime(2026, 6, 1, 12, tzinfo=CST)
    assert sorted(first.warn_at) == [50, 75]
    # without hours: the policy's 24 working hours, cut to the lead's deadline
    story.run(RequestAssist(unit_id="dept-health", task="查看是否影响诊所"), GRID)
    assert story.state.assists[1].due_at == lead_due
    with pytest.raises(InvalidCommand) as refused:
        story.run(RequestAssist(unit_id="community-dongting", task="通知居民", hours=40), GRID)
    assert refused.value.field == "hours"


@pytest.mark.parametrize(
    ("unit", "why"),
    [("dept-nowhere", "no such unit"), ("grid-dongting-1", "lead unit itself")],
)
def test_an_assist_to_a_unit_that_does_not_exist_or_to_the_lead_is_refused(unit, why):
    story = lamp_in_handling()
    before = story.state
    with pytest.raises(InvalidCommand) as refused:
        story.run(RequestAssist(unit_id=unit, task="帮忙"), GRID)
    assert refused.value.field == "unit_id" and why in refused.value.message
    assert story.state == before


def test_one_open_sub_task_per_unit_and_only_the_lead_asks():
    story = lamp_in_handling()
    ask_urban(story)
    with pytest.raises(InvalidCommand, match="already has an open sub-task"):
        ask_urban(story)
    with pytest.raises(NotYourUnit):
        story.run(RequestAssist(unit_id="dept-health", task="帮忙"), URBAN)
    with pytest.raises(NotPermitted):
        story.run(RequestAssist(unit_id="dept-health", task="帮忙"), SUPERVISOR)


def test_only_the_unit_asked_answers_its_sub_task():
    story = lamp_in_handling()
    assist = ask_urban(story)
    for command in (
        AcceptAssist(assist_id=assist),
        ReportAssist(assist_id=assist, result="做了"),
        DeclineAssist(assist_id=assist, reason="不归我们"),
    ):
        with pytest.raises(NotYourUnit):
            story.run(command, HEALTH)
        with pytest.raises(NotYourUnit):
            story.run(command, GRID)  # the lead does not answer for the assisting unit
    with pytest.raises(InvalidCommand) as unknown:
        story.run(AcceptAssist(assist_id="assist-9"), URBAN)
    assert unknown.value.field == "assist_id"


def test_a_decline_returns_the_sub_task_to_the_lead_who_may_ask_again():
    story = lamp_in_handling()
    assist = ask_urban(story)
    declined = story.run(DeclineAssist(assist_id=assist, reason="不属于城管职责"), URBAN)
    assert types(declined) == ["AssistDeclined"]
    done = story.state.assists[0]
    assert done.status == "declined" and done.answer == "不属于城管职责" and not done.open
    with pytest.raises(AssistConflict):  # a closed sub-task takes nothing more
        story.run(ReportAssist(assist_id=assist, result="还是做了"), URBAN)
    again = ask_urban(story)
    assert again == "assist-2"
    story.run(ReportAssist(assist_id=again, result="已处理"), URBAN)
    assert types(story.run(DONE, GRID))[0] == "HandlingCompleted"


def test_a_supervisor_releases_a_sub_task_and_the_lead_may_complete():
    story = lamp_in_handling()
    assist = ask_urban(story)
    with pytest.raises(NotPermitted):
        story.run(ReleaseAssist(assist_id=assist, reason="不再需要"), GRID)
    story.run(ReleaseAssist(assist_id=assist, reason="不再需要"), SUPERVISOR)
    assert story.state.assists[0].status == "released"
    assert types(story.run(DONE, GRID))[0] == "HandlingCompleted"


def test_a_breach_goes_up_the_assisting_units_ladder_not_the_leads():
    story = Story()
    story.submit(submission("楼下路灯不亮"))
    story.run(Accept(), GRID)
    story.run(RequestAssist(unit_id="community-dongting", task="通知居民", hours=2), GRID)
    warned = fire_next(story)
    assert types(warned) == ["AssistWarningIssued"] and warned[0].threshold_percent == 50
    fire_next(story)  # 75 %
    escalated = fire_next(story)
    assert types(escalated) == ["AssistEscalated"]
    e = escalated[0]
    assert (e.from_unit, e.to_unit) == ("community-dongting", "street-hanzheng")
    sub = story.state.assists[0]
    assert sub.unit_id == "street-hanzheng" and sub.asked_unit == "community-dongting"
    assert sub.overdue and sub.escalations == 1
    # the lead keeps the need, its own deadline untouched, and is not overdue for it
    assert story.state.assigned_unit == "grid-dongting-1" and not story.state.overdue
    # the rung above answers now; the unit first asked no longer can
    with pytest.raises(NotYourUnit):
        story.run(ReportAssist(assist_id=sub.assist_id, result="做了"), staff("community-dongting"))
    story.run(ReportAssist(assist_id=sub.assist_id, result="已通知"), staff("street-hanzheng"))
    assert story.state.assists[0].status == "reported" and not story.state.assists[0].overdue


def test_at_the_top_of_the_ladder_a_sub_tasks_breach_is_recorded_once():
    story = lamp_in_handling()
    ask_urban(story, hours=2)  # dept-urban → supervision-district → top
    seen = []
    while BREACH_RECORDED not in story.state.assists[0].warnings_issued:
        seen += types(fire_next(story))
        assert story.state.stage == Stage.HANDLING
    assert seen.count("AssistEscalated") == 1
    assert story.state.assists[0].unit_id == "supervision-district"
    due = story.state.assists[0].due_at
    # its timers are done; what the need still waits for is the lead's own
    pending = next_deadline(story.state)
    assert pending is not None and pending[1].type != "AssistDue"
    assert story.at(due).run(AssistDue(assist_id="assist-1", due_at=due)) == []


def test_a_project_completion_releases_the_open_sub_tasks_in_its_name():
    story = lamp_in_handling()
    ask_urban(story)
    events = story.run(
        CompleteByProject(project_id="p-1", project_name="路灯改造", result_summary="全部更换"),
        SUPERVISOR,
    )
    assert types(events)[:2] == ["AssistReleased", "HandlingCompleted"]
    assert "p-1" in events[0].reason and story.state.stage == Stage.EVALUATION


def test_asking_for_an_assist_is_for_handling_only():
    story = Story()
    story.submit(submission("楼下路灯不亮"))
    assert story.state.stage == Stage.ASSIGNMENT
    with pytest.raises(WrongStage):
        story.run(RequestAssist(unit_id="dept-urban", task="帮忙"), GRID)


def test_record_is_the_state_reading_and_ignores_other_events():
    story = lamp_in_handling()
    ask_urban(story)
    story.run(AcceptAssist(assist_id="assist-1"), URBAN)
    replayed: tuple = ()
    for event in story.history:
        replayed = record(replayed, event)
    assert replayed == story.state.assists
    assert NeedState().assists == ()

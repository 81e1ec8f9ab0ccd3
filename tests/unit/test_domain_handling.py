from datetime import datetime, timedelta

import pytest

from domain.commands import (
    Accept,
    AcceptanceTimeout,
    Complete,
    DeadlineBreached,
    DecideExtension,
    NoteProgress,
    ProvideInformation,
    Remind,
    RequestExtension,
    RequestInformation,
    WarningDue,
)
from domain.errors import InvalidCommand, NotPermitted, NotYourUnit, WrongStage
from domain.model import Actor, Role, ServiceMode, Stage, UnitKind
from domain.state import BREACH_RECORDED, next_deadline
from tests.unit.domain_kit import (
    CST,
    MONDAY_10AM,
    POLICY,
    RESIDENT,
    SUPERVISOR,
    Story,
    staff,
    submission,
    types,
)

GRID = staff("grid-dongting-1")


def accepted_lamp() -> Story:
    story = Story()
    story.submit(submission("楼下路灯不亮"))
    story.run(Accept(), GRID)
    return story


def fire_next(story: Story):
    when, timer = next_deadline(story.state)
    return story.at(when).run(timer)


def test_acceptance_sets_the_handling_deadline_from_the_sla_table():
    story = accepted_lamp()
    accepted = story.last("DemandAccepted")
    assert accepted.rule_id == "sla.handling.daily_life.grid.normal"
    assert accepted.due_at == datetime(2026, 6, 2, 10, tzinfo=CST)
    assert accepted.calendar == "chinese-calendar 1.11.0"
    assert story.state.stage == Stage.HANDLING


def test_warnings_fall_at_50_and_75_percent_of_working_time_once_each():
    story = accepted_lamp()
    first = fire_next(story)
    assert types(first) == ["DeadlineWarningIssued"] and first[0].threshold_percent == 50
    assert story.now == datetime(2026, 6, 1, 14, tzinfo=CST)
    second = fire_next(story)
    assert second[0].threshold_percent == 75 and story.now == datetime(2026, 6, 1, 16, tzinfo=CST)
    assert story.run(WarningDue(percent=75, due_at=story.now)) == []


def test_a_breach_escalates_one_rung_at_a_time_up_to_the_supervision_office():
    story = accepted_lamp()
    ladder = []
    for _ in range(12):
        events = fire_next(story)
        ladder += [
            (e.from_unit, e.to_unit, e.to_kind) for e in events if e.type == "HandlingEscalated"
        ]
        if story.state.assigned_kind == UnitKind.SUPERVISION:
            break
    assert ladder == [
        ("grid-dongting-1", "community-dongting", UnitKind.COMMUNITY),
        ("community-dongting", "street-hanzheng", UnitKind.STREET),
        ("street-hanzheng", "supervision-district", UnitKind.SUPERVISION),
    ]
    assert story.state.escalation_count == 3


def test_each_escalation_carries_a_new_deadline_and_restarts_warnings():
    story = accepted_lamp()
    due = story.state.due_at
    escalated = story.at(due).run(DeadlineBreached(due_at=due))[0]
    assert escalated.cause == "deadline_breached" and escalated.rule_id == "sla.escalation.ladder"
    assert escalated.due_at == due + timedelta(days=2)
    assert story.state.warnings_issued == frozenset() and set(story.state.warn_at) == {50, 75}


def test_at_the_top_a_breach_is_recorded_once_and_the_timer_stops():
    story = accepted_lamp()
    while story.state.assigned_kind != UnitKind.SUPERVISION:
        fire_next(story)
    while BREACH_RECORDED not in story.state.warnings_issued:
        events = fire_next(story)
    assert types(events) == ["DeadlineWarningIssued"] and events[0].threshold_percent == 100
    assert next_deadline(story.state) is None


def test_not_accepting_in_time_escalates_from_the_assignee():
    story = Story()
    story.submit(submission("楼下路灯不亮"))
    events = fire_next(story)
    assert events[0].type == "HandlingEscalated" and events[0].cause == "acceptance_timeout"
    assert events[0].to_unit == "community-dongting" and story.state.stage == Stage.HANDLING


def test_timers_for_a_moved_deadline_are_ignored():
    story = accepted_lamp()
    old_due = story.state.due_at
    story.at(old_due).run(DeadlineBreached(due_at=old_due))
    assert story.run(DeadlineBreached(due_at=old_due)) == []
    assert story.run(AcceptanceTimeout(due_at=old_due)) == []


def test_an_approved_extension_moves_the_deadline_by_working_hours():
    story = accepted_lamp()
    asked = story.run(RequestExtension(extra_hours=8, reason="等配件"), GRID)[0]
    assert asked.approver_unit == "community-dongting"
    approved = story.run(DecideExtension(approve=True), staff("community-dongting"))[0]
    assert approved.due_at == datetime(2026, 6, 3, 10, tzinfo=CST)
    assert story.state.extension_count == 1 and story.state.pending_extension is None


def test_a_refused_extension_keeps_the_deadline():
    story = accepted_lamp()
    due = story.state.due_at
    story.run(RequestExtension(extra_hours=8, reason="等配件"), GRID)
    assert types(
        story.run(DecideExtension(approve=False, reason="可以今天修"), staff("community-dongting"))
    ) == ["ExtensionRefused"]
    assert story.state.due_at == due


def test_only_the_level_above_decides_an_extension():
    story = accepted_lamp()
    story.run(RequestExtension(extra_hours=8, reason="等配件"), GRID)
    with pytest.raises(NotYourUnit, match="community-dongting"):
        story.run(DecideExtension(approve=True), GRID)


def test_one_extension_request_at_a_time_and_no_more_than_the_limit():
    story = accepted_lamp()
    story.run(RequestExtension(extra_hours=1, reason="a"), GRID)
    with pytest.raises(InvalidCommand, match="already pending"):
        story.run(RequestExtension(extra_hours=1, reason="b"), GRID)
    story.run(DecideExtension(approve=True), staff("community-dongting"))
    story.run(RequestExtension(extra_hours=1, reason="c"), GRID)
    story.run(DecideExtension(approve=True), staff("community-dongting"))
    with pytest.raises(InvalidCommand, match="limit"):
        story.run(RequestExtension(extra_hours=1, reason="d"), GRID)


def test_reminders_and_progress_are_recorded():
    story = accepted_lamp()
    assert types(story.run(Remind(note="请尽快"), SUPERVISOR)) == ["ReminderSent"]
    assert types(story.run(Remind(), RESIDENT)) == ["ReminderSent"]
    assert types(story.run(NoteProgress(note="已联系电工"), GRID)) == ["ProgressNoted"]
    assert (story.state.reminder_count, story.state.progress_count) == (2, 1)


def test_progress_from_another_unit_is_refused():
    story = accepted_lamp()
    with pytest.raises(NotYourUnit):
        story.run(NoteProgress(note="x"), staff("grid-qinghe-1"))


def test_completion_in_time_starts_the_evaluation():
    story = accepted_lamp()
    events = story.later(hours=2).run(
        Complete(result_summary="已更换灯泡", service_mode=ServiceMode.ON_SITE), GRID
    )
    assert types(events) == ["HandlingCompleted", "EvaluationRequested"]
    assert events[0].in_time is True and story.state.stage == Stage.EVALUATION


def test_completion_after_the_deadline_is_marked_late():
    story = accepted_lamp()
    story.at(story.state.due_at + timedelta(minutes=1))
    done = story.run(Complete(result_summary="已修", service_mode=ServiceMode.ON_SITE), GRID)[0]
    assert done.in_time is False


def test_completing_before_acceptance_is_the_wrong_stage():
    story = Story()
    story.submit(submission("楼下路灯不亮"))
    with pytest.raises(WrongStage, match="Complete is not allowed in stage assignment"):
        story.run(Complete(result_summary="x", service_mode=ServiceMode.ONLINE), GRID)


def test_the_clock_stops_while_waiting_for_information_and_the_wait_is_added_back():
    story = accepted_lamp()
    due = story.state.due_at
    paused = story.run(RequestInformation(missing_fields=["photo"]), GRID)[0]
    assert paused.paused_at == MONDAY_10AM
    assert next_deadline(story.state)[1].type == "ExpireInformationRequest"
    events = story.later(hours=3).run(ProvideInformation(fields={"photo": "ref-1"}), RESIDENT)
    assert types(events) == ["InformationProvided", "HandlingClockResumed"]
    assert events[1].due_at == due + timedelta(hours=3)
    assert story.state.pending_information is None


def test_an_unanswered_request_during_handling_resumes_the_clock_on_expiry():
    story = accepted_lamp()
    story.run(RequestInformation(missing_fields=["photo"]), GRID)
    events = fire_next(story)
    assert types(events) == ["InformationRequestExpired", "HandlingClockResumed"]
    assert story.state.assigned_unit == "grid-dongting-1"


def test_the_timer_commands_are_ignored_on_a_closed_need_but_others_are_refused():
    story = Story()
    from domain.commands import Submit

    story.run(Submit(submission=submission("卫生"), duplicate_of="need-x"))
    assert story.run(DeadlineBreached(due_at=MONDAY_10AM)) == []
    with pytest.raises(WrongStage, match="closed"):
        story.run(Remind(), SUPERVISOR)


def test_requesters_may_not_accept():
    story = Story()
    story.submit(submission("楼下路灯不亮"))
    with pytest.raises(NotPermitted):  # the role is refused before the unit is looked at
        story.run(Accept(), RESIDENT)
    with pytest.raises(NotPermitted):
        story.run(Remind(), Actor(id="rev-1", role=Role.REVIEWER))


def test_the_assigned_units_staff_are_reminded_never_reminding():
    story = Story()
    story.submit(submission("楼下路灯不亮"))
    unit = story.state.assigned_unit
    with pytest.raises(NotPermitted):
        story.run(Remind(note="快点"), Actor(id="staff-1", role=Role.STAFF, unit=unit))
    for role in (Role.SUPERVISOR, Role.DISPATCHER, Role.REQUESTER, Role.INTEGRATOR):
        events = story.run(Remind(note="快点"), Actor(id="x", role=role))
        assert [e.type for e in events] == ["ReminderSent"]


def test_policy_version_is_recorded_on_every_rule_decision():
    story = accepted_lamp()
    fire_next(story)
    ruled = [e for e in story.history if hasattr(e, "rule_id")]
    assert ruled and all(e.policy_version == POLICY.version for e in ruled)


def test_a_supervision_order_waits_for_a_written_reply_and_goes_up_when_missed():
    from domain.commands import ReplySupervision, Supervise, SupervisionDue
    from domain.deadlines import _supervision
    from domain.deadlines import next_deadline as deadline_of

    story = Story()
    story.submit(submission("楼下路灯不亮"))
    unit = story.state.assigned_unit
    boss = Actor(id="sup-1", role=Role.SUPERVISOR)
    with pytest.raises(NotPermitted):  # staff do not order supervision
        story.run(
            Supervise(note="请说明", reply_hours=4), Actor(id="s", role=Role.STAFF, unit=unit)
        )
    ordered = story.run(Supervise(note="请于4小时内书面说明进展", reply_hours=4), boss)
    assert [e.type for e in ordered] == ["SupervisionOrdered"]
    due = story.state.pending_supervision.reply_due_at
    assert _supervision(story.state) == [(due, SupervisionDue(due_at=due))]
    assert deadline_of(story.state)[0] <= due  # the earliest wait wins (acceptance may)
    with pytest.raises(InvalidCommand):  # one order at a time
        story.run(Supervise(note="再督办", reply_hours=4), boss)
    story.at(due).later(minutes=1)
    missed = story.run(SupervisionDue(due_at=due))
    assert [e.type for e in missed] == ["SupervisionReplyMissed"]
    assert missed[0].escalated_to is not None  # reported to the unit above
    assert story.run(SupervisionDue(due_at=due)) == []  # once
    with pytest.raises(NotYourUnit):
        story.run(
            ReplySupervision(reply="已处理"), Actor(id="x", role=Role.STAFF, unit="dept-health")
        )
    replied = story.run(
        ReplySupervision(reply="已安排维修"), Actor(id="s", role=Role.STAFF, unit=unit)
    )
    assert replied[0].in_time is False and story.state.pending_supervision is None
    assert story.state.supervision_count == 1
    with pytest.raises(InvalidCommand):  # nothing to reply to
        story.run(ReplySupervision(reply="again"), Actor(id="s", role=Role.STAFF, unit=unit))


def test_an_open_supervision_order_follows_the_need_to_its_new_holder():
    from domain.commands import Reassign, ReplySupervision, Supervise, SupervisionDue

    story = Story()
    story.submit(submission("楼下路灯不亮"))
    first = story.state.assigned_unit
    boss = Actor(id="sup-1", role=Role.SUPERVISOR)
    story.run(Supervise(note="请说明为何未受理", reply_hours=4), boss)
    due = story.state.pending_supervision.reply_due_at
    story.run(Reassign(unit_id="dept-urban", reason="需要城管"), boss)
    pending = story.state.pending_supervision
    assert first != "dept-urban" and pending.unit_id == "dept-urban"
    assert pending.reply_due_at == due  # the order's deadline stands
    story.at(due).later(minutes=1)
    missed = story.run(SupervisionDue(due_at=due))
    assert missed[0].escalated_to != "dept-urban"  # reported above the new holder
    with pytest.raises(NotYourUnit):  # the unit that let it go no longer answers
        story.run(ReplySupervision(reply="已转办"), Actor(id="s", role=Role.STAFF, unit=first))
    story.run(ReplySupervision(reply="已派人"), Actor(id="u", role=Role.STAFF, unit="dept-urban"))
    assert story.state.pending_supervision is None

"""A clock on the extension decision (issue 19, item 1): the approving unit has
`sla.extension_decision` of working time; then the request goes one rung up, and at the top
it lapses (refused), the unit working on to its current deadline."""

from __future__ import annotations

from datetime import datetime

from domain.commands import Accept, DecideExtension, ExtensionDecisionDue, RequestExtension
from tests.unit.domain_kit import CST, POLICY, Story, staff, submission, types

GRID = staff("grid-dongting-1")


def asked() -> Story:
    story = Story()
    story.submit(submission("楼道灯坏了，要换整条线路"))
    story.run(Accept(), GRID)
    story.run(RequestExtension(extra_hours=4, reason="等电工排班"), GRID)
    return story


def test_the_approver_has_a_working_day_then_the_unit_above_decides() -> None:
    story = asked()
    request = story.last("ExtensionRequested")
    assert request.approver_unit == "community-dongting"
    assert request.decide_by == datetime(2026, 6, 2, 10, 0, tzinfo=CST)  # 8 working hours
    events = story.at(request.decide_by).run(ExtensionDecisionDue(due_at=request.decide_by))
    assert types(events) == ["ExtensionDecisionEscalated"]
    assert (events[0].from_unit, events[0].to_unit) == ("community-dongting", "street-hanzheng")
    assert story.state.pending_extension.approver_unit == "street-hanzheng"
    # the new approver decides; the old one no longer may
    story.run(DecideExtension(approve=True, reason="同意"), staff("street-hanzheng"))
    assert story.state.pending_extension is None and story.state.extension_count == 1


def test_at_the_top_an_undecided_request_lapses() -> None:
    story = asked()
    for _ in range(5):
        pending = story.state.pending_extension
        if pending is None:
            break
        story.at(pending.decide_by).run(ExtensionDecisionDue(due_at=pending.decide_by))
    refused = story.last("ExtensionRefused")
    assert refused.lapsed and refused.reason == "no decision in time"
    climbed = [e.to_unit for e in story.history if e.type == "ExtensionDecisionEscalated"]
    assert climbed == ["street-hanzheng", "supervision-district"]


def test_a_stale_timer_does_nothing_and_old_policies_set_no_clock() -> None:
    story = asked()
    assert story.run(ExtensionDecisionDue(due_at=datetime(2026, 6, 1, 11, tzinfo=CST))) == []
    old = POLICY.model_copy(
        update={"sla": POLICY.sla.model_copy(update={"extension_decision": None})}
    )
    plain = Story(old)
    plain.submit(submission("楼道灯坏了，要换整条线路"))
    plain.run(Accept(), GRID)
    plain.run(RequestExtension(extra_hours=4, reason="等电工排班"), GRID)
    assert plain.last("ExtensionRequested").decide_by is None

import pytest

from domain.commands import Accept, Adjudicate, Assign, DispatchOverdue, Reassign, Return
from domain.errors import InvalidCommand, NotPermitted, NotYourUnit
from domain.model import Location, RequesterKind, Stage, UnitKind
from tests.unit.domain_kit import (
    DISPATCHER,
    POLICY,
    RESIDENT,
    SUPERVISOR,
    Story,
    staff,
    submission,
    types,
)

NO_GRID = Location(street="street-hanzheng", community="community-dongting")
UNKNOWN_PLACE = Location(street="street-elsewhere", community="community-unknown")


@pytest.mark.parametrize(
    ("title", "kind", "location", "unit", "kind_of_unit", "rule"),
    [
        (
            "楼下路灯不亮",
            RequesterKind.RESIDENT,
            None,
            "grid-dongting-1",
            UnitKind.GRID,
            "routing.tier.grid",
        ),
        (
            "857号环境卫生差",
            RequesterKind.RESIDENT,
            None,
            "community-dongting",
            UnitKind.COMMUNITY,
            "routing.tier.community",
        ),
        (
            "员工健康证换证",
            RequesterKind.ENTERPRISE,
            None,
            "dept-health",
            UnitKind.DEPARTMENT,
            "routing.rule.health-certificate",
        ),
        (
            "人才公寓申请",
            RequesterKind.TALENT,
            None,
            "team-blue",
            UnitKind.SERVICE_TEAM,
            "routing.rule.talent",
        ),
        (
            "想找律师咨询纠纷",
            RequesterKind.RESIDENT,
            UNKNOWN_PLACE,
            "street-hanzheng",
            UnitKind.STREET,
            "routing.first_receiver",
        ),
        (
            "楼下路灯不亮",
            RequesterKind.RESIDENT,
            NO_GRID,
            "community-dongting",
            UnitKind.COMMUNITY,
            "routing.tier.grid.community",
        ),
    ],
    ids=[
        "grid-tier",
        "community-tier",
        "street-tier-rule-unit",
        "service-team",
        "unknown-community-first-receiver",
        "no-grid-its-community",
    ],
)
def test_each_tier_routes_to_its_unit_and_nothing_matching_goes_to_the_street_office(
    title, kind, location, unit, kind_of_unit, rule
):
    story = Story()
    extra = {"location": location} if location else {}
    details = {"staff_count": "10"} if kind == RequesterKind.ENTERPRISE else {"position": "x"}
    assigned = story.submit(submission(title, kind=kind, details=details, **extra))[-1]
    assert assigned.type == "DemandAssigned"
    assert (assigned.unit_id, assigned.unit_kind, assigned.rule_id) == (unit, kind_of_unit, rule)
    assert assigned.policy_version == POLICY.version


def test_a_policy_from_before_the_community_fallback_sends_a_grid_need_without_grid_on():
    """Running needs hold their policy for life: one written before
    `routing.grid_need_without_grid` keeps sending such a need to the first receiver."""
    routing = POLICY.routing.model_copy(update={"grid_need_without_grid": "first_receiver"})
    story = Story(POLICY.model_copy(update={"routing": routing}))
    assigned = story.submit(submission("楼下路灯不亮", location=NO_GRID))[-1]
    assert assigned.type == "DemandAssigned"
    assert (assigned.unit_id, assigned.rule_id) == ("street-hanzheng", "routing.first_receiver")


def test_a_street_tier_need_without_a_rule_unit_goes_to_its_categorys_unit():
    story = Story()
    story.submit(submission("有个问题想问问"))
    from domain.commands import Classify
    from domain.model import Category, Tier

    events = story.run(Classify(category=Category.PARTY_MEMBER, tier=Tier.STREET), DISPATCHER)
    assert events[-1].unit_id == "team-red"
    assert events[-1].rule_id == "routing.category.party_member"


def test_the_assignee_must_accept_within_the_acceptance_limit_in_working_hours():
    story = Story()
    assigned = story.submit(submission("楼下路灯不亮"))[-1]
    assert assigned.accept_due_at == story.now.replace(hour=12)


def lamp_story(policy=POLICY) -> Story:
    story = Story(policy)
    story.submit(submission("楼下路灯不亮"))
    return story


# the demo policy rules at the return limit; policies without `routing.adjudication` let the
# street office take the need at once
NO_RULING = POLICY.model_copy(
    update={"routing": POLICY.routing.model_copy(update={"adjudication": False})}
)


def test_a_returned_need_waits_for_the_dispatcher_without_an_owner():
    story = lamp_story()
    events = story.run(Return(reason="不属于本网格"), staff("grid-dongting-1"))
    assert types(events) == ["DemandReturned"]
    assert events[0].return_count == 1
    assert story.state.assigned_unit is None and story.state.stage == Stage.ASSIGNMENT


def test_routing_again_skips_units_that_returned_the_need():
    story = lamp_story()
    story.run(Return(reason="不属于本网格"), staff("grid-dongting-1"))
    assigned = story.run(Assign(), DISPATCHER)[0]
    assert assigned.unit_id == "street-hanzheng" and assigned.reason == "first_receiver"


def test_the_dispatcher_may_assign_by_hand():
    story = lamp_story()
    story.run(Return(reason="不属于本网格"), staff("grid-dongting-1"))
    assigned = story.run(Assign(unit_id="grid-dongting-2"), DISPATCHER)[0]
    assert (assigned.unit_id, assigned.rule_id) == ("grid-dongting-2", "manual")


def test_after_the_return_limit_the_street_office_decides():
    story = lamp_story(NO_RULING)
    story.run(Return(reason="不属于本网格"), staff("grid-dongting-1"))
    story.run(Assign(unit_id="grid-dongting-2"), DISPATCHER)
    events = story.run(Return(reason="也不属于本网格"), staff("grid-dongting-2"))
    assert types(events) == ["DemandReturned", "DemandAssigned"]
    assert events[1].unit_id == "street-hanzheng" and events[1].reason == "return_limit"
    assert events[1].rule_id == "routing.return_limit"
    with pytest.raises(InvalidCommand, match="street office decides"):
        story.run(Return(reason="no"), staff("street-hanzheng"))


def test_only_the_assigned_unit_may_return_or_accept():
    story = lamp_story()
    with pytest.raises(NotYourUnit, match="grid-dongting-1"):
        story.run(Return(reason="x"), staff("grid-dongting-2"))
    with pytest.raises(NotYourUnit, match=r"actor\.unit"):
        story.run(Accept(), staff("grid-qinghe-1"))


def test_assigning_an_owned_need_or_an_unknown_unit_is_refused():
    story = lamp_story()
    with pytest.raises(InvalidCommand, match="Reassign"):
        story.run(Assign(unit_id="grid-dongting-2"), DISPATCHER)
    story.run(Return(reason="x"), staff("grid-dongting-1"))
    with pytest.raises(InvalidCommand, match="unit_id"):
        story.run(Assign(unit_id="grid-mars-1"), DISPATCHER)


def test_a_supervisor_reassigns_and_the_new_unit_must_accept():
    story = lamp_story()
    story.run(Accept(), staff("grid-dongting-1"))
    events = story.run(Reassign(unit_id="dept-urban", reason="需要城管"), SUPERVISOR)
    assert events[0].reason == "reassigned" and events[0].unit_id == "dept-urban"
    assert story.state.stage == Stage.ASSIGNMENT and story.state.due_at is None


def test_only_supervisors_reassign():
    story = lamp_story()
    with pytest.raises(NotPermitted):
        story.run(Reassign(unit_id="dept-urban"), RESIDENT)


def returned_twice() -> Story:
    story = lamp_story()
    story.run(Return(reason="不属于本网格"), staff("grid-dongting-1"))
    story.run(Assign(unit_id="grid-dongting-2"), DISPATCHER)
    events = story.run(Return(reason="也不属于本网格"), staff("grid-dongting-2"))
    assert types(events) == ["DemandReturned", "AdjudicationRequested"]
    assert events[1].due_at is not None  # the policy's dispatch clock: then the street office
    return story


def test_at_the_return_limit_a_supervisor_rules_and_the_ruling_binds():
    story = returned_twice()
    assert story.state.awaiting_adjudication and story.state.assigned_unit is None
    with pytest.raises(InvalidCommand, match="Adjudicate"):
        story.run(Assign(unit_id="grid-dongting-1"), DISPATCHER)
    with pytest.raises(NotPermitted):
        story.run(Adjudicate(unit_id="grid-dongting-1", reason="x"), DISPATCHER)
    ruled = story.run(
        Adjudicate(unit_id="grid-dongting-1", reason="路灯在一网格范围内"), SUPERVISOR
    )
    assert types(ruled) == ["NeedAdjudicated", "DemandAssigned"]
    assert ruled[1].reason == "adjudicated" and ruled[1].unit_id == "grid-dongting-1"
    assert not story.state.awaiting_adjudication
    with pytest.raises(InvalidCommand, match="ruling made grid-dongting-1 responsible"):
        story.run(Return(reason="还是不归我们"), staff("grid-dongting-1"))
    story.run(Accept(), staff("grid-dongting-1"))
    assert story.state.stage == Stage.HANDLING


def test_a_dispute_can_be_ruled_for_the_unit_that_holds_the_need():
    story = lamp_story()
    ruled = story.run(Adjudicate(unit_id="grid-dongting-1", reason="属地管理"), SUPERVISOR)
    assert types(ruled) == ["NeedAdjudicated"]  # it keeps the need, now bound to it
    with pytest.raises(InvalidCommand, match="cannot be returned"):
        story.run(Return(reason="不归我们"), staff("grid-dongting-1"))


def test_nobody_ruling_in_time_hands_the_need_to_the_street_office():
    story = returned_twice()
    due = story.state.due_at
    assert due is not None
    story.at(due).run(DispatchOverdue(due_at=due))
    assert story.state.assigned_unit == "street-hanzheng"
    assert story.last("DemandAssigned").reason == "dispatch_timeout"


def test_a_reclassification_does_not_undo_a_ruling() -> None:
    from domain.commands import Reclassify
    from domain.model import Category, Tier

    story = returned_twice()
    waiting = story.run(
        Reclassify(category=Category.DAILY_LIFE, tier=Tier.COMMUNITY, reason="社区层级"), DISPATCHER
    )
    assert types(waiting) == ["DemandReclassified"] and story.state.awaiting_adjudication
    story.run(Adjudicate(unit_id="grid-dongting-1", reason="属地管理"), SUPERVISOR)
    moved = story.run(
        Reclassify(category=Category.DAILY_LIFE, tier=Tier.GRID, reason="其实是网格的事"),
        staff("grid-dongting-1"),
    )
    assert types(moved) == ["DemandReclassified"]
    assert story.state.assigned_unit == "grid-dongting-1"


def test_a_need_that_reached_a_unit_unclassified_can_be_classified_there() -> None:
    from domain.commands import Reclassify
    from domain.model import Category, Tier

    story = Story()
    story.submit(submission("有件事想反映一下，不知道找谁"))
    due = story.state.due_at
    assert due is not None and story.state.stage == Stage.CLASSIFICATION
    story.at(due).run(DispatchOverdue(due_at=due))
    assert story.state.assigned_unit == "street-hanzheng" and story.state.category is None
    first = story.run(
        Reclassify(category=Category.DAILY_LIFE, tier=Tier.STREET, reason="街道处理"),
        staff("street-hanzheng"),
    )
    assert first[0].previous_category is None and story.state.category == Category.DAILY_LIFE


def test_a_ruling_without_a_deadline_is_refused_at_load() -> None:
    import yaml

    from domain.policy import load_policy
    from tests.unit.domain_kit import DEPLOY

    data = yaml.safe_load((DEPLOY / "policy.yaml").read_text(encoding="utf-8"))
    del data["sla"]["dispatch"]
    with pytest.raises(ValueError, match=r"routing\.adjudication needs sla\.dispatch"):
        load_policy(yaml.safe_dump(data, allow_unicode=True))


def test_a_plans_occurrence_goes_to_the_plans_unit_unless_that_unit_returns_it():
    from domain.commands import Submit

    story = Story()
    lamp = submission("楼下路灯不亮")  # the rules give the grid
    story.run(Submit(submission=lamp, route_to="dept-health"), RESIDENT)
    assigned = story.last("DemandAssigned")
    assert (assigned.unit_id, assigned.rule_id) == ("dept-health", "routing.plan_unit")
    assert story.last("DemandSubmitted").route_to == "dept-health"
    health = staff("dept-health")
    story.run(Accept(), health)
    story.run(Return(reason="不是我们的事"), health)
    story.run(Assign(), SUPERVISOR)  # the rules again, skipping the unit that returned it
    assert story.state.assigned_unit == "grid-dongting-1"
    plain = Story()
    plain.submit(submission("楼下路灯不亮", external_id="other"))
    assert plain.state.assigned_unit == "grid-dongting-1"  # no plan: the rules

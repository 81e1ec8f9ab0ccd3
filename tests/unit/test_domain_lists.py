"""The resource and project lists' rules (domain/lists.py) and a project's completion of the
needs it covers (`CompleteByProject`, domain/handling.py)."""

from __future__ import annotations

from datetime import date

import pytest

from domain.commands import (
    Accept,
    CompleteByProject,
    Evaluate,
    RequestInformation,
)
from domain.errors import InvalidCommand, NotPermitted, WrongStage
from domain.lists import (
    DemandItem,
    ProjectDraft,
    ProjectStatus,
    ResourceDraft,
    ResourceKind,
    check_move,
    check_project,
    check_resource,
)
from domain.model import Category, Rating, Stage
from domain.state import STAGE_TRANSITIONS
from tests.unit.domain_kit import POLICY, RESIDENT, SUPERVISOR, Story, staff, submission, types

GRID = staff("grid-dongting-1")
LAMP = DemandItem(category=Category.DAILY_LIFE, item="street-lamp")
BY_PROJECT = CompleteByProject(
    project_id="prj-lights", project_name="夜间照明共建", result_summary="全部路灯已更换"
)


def lamp(accepted: bool) -> Story:
    story = Story()
    story.submit(submission("楼下路灯不亮"))
    assert story.state.stage == Stage.ASSIGNMENT and story.state.assigned_unit == GRID.unit
    if accepted:
        story.run(Accept(), GRID)
    return story


def test_a_project_completes_an_accepted_need_and_its_requester_is_asked():
    story = lamp(accepted=True)
    before = story.state.stage
    events = story.run(BY_PROJECT, SUPERVISOR)
    assert types(events) == ["HandlingCompleted", "EvaluationRequested"]
    done = events[0]
    assert done.project_id == "prj-lights" and done.unit_id == GRID.unit and done.in_time
    assert "夜间照明共建" in done.result_summary and "prj-lights" in done.result_summary
    assert story.state.stage == Stage.EVALUATION
    assert [r.reviewer_id for r in story.state.reviewers] == ["res-1"]
    assert story.state.stage in STAGE_TRANSITIONS[before]
    # the requester's evaluation concludes it as after any completion
    story.run(Evaluate(reviewer_id="res-1", rating=Rating.SATISFIED), RESIDENT)
    assert story.state.stage == Stage.CLOSED and story.state.satisfied


def test_a_need_not_yet_accepted_is_completed_without_an_acceptance():
    story = lamp(accepted=False)
    events = story.run(BY_PROJECT, SUPERVISOR)
    assert types(events) == ["HandlingCompleted", "EvaluationRequested"]
    assert "DemandAccepted" not in types(story.history)
    assert events[0].in_time  # measured against the acceptance deadline, not yet passed
    assert story.state.stage in STAGE_TRANSITIONS[Stage.ASSIGNMENT]
    assert story.state.stage == Stage.EVALUATION


def test_only_supervisors_complete_by_project():
    for actor in (GRID, RESIDENT):
        with pytest.raises(NotPermitted):
            lamp(accepted=True).run(BY_PROJECT, actor)
    assert lamp(accepted=True).run(BY_PROJECT, SUPERVISOR)


def test_a_completed_need_or_one_awaiting_information_is_not_completed_again():
    story = lamp(accepted=True)
    story.run(BY_PROJECT, SUPERVISOR)
    with pytest.raises(WrongStage):
        story.run(BY_PROJECT, SUPERVISOR)
    waiting = lamp(accepted=True)
    waiting.run(RequestInformation(missing_fields=["floor"]), GRID)
    with pytest.raises(InvalidCommand) as refused:
        waiting.run(BY_PROJECT, SUPERVISOR)
    assert refused.value.field == "project_id"


def test_a_need_waiting_for_a_dispatcher_is_not_covered():
    story = Story()
    story.submit(submission("有个事情想问问社区"))
    assert story.state.stage == Stage.CLASSIFICATION
    with pytest.raises(WrongStage):
        story.run(BY_PROJECT, SUPERVISOR)


def resource(**change: object) -> ResourceDraft:
    fields: dict[str, object] = {
        "owner_unit": "dept-urban",
        "kind": ResourceKind.SERVICE,
        "name": "路灯维修队",
        "capacity": 6,
        "items": [LAMP],
    }
    return ResourceDraft.model_validate(fields | change)


def project(**change: object) -> ProjectDraft:
    fields: dict[str, object] = {
        "name": "夜间照明共建",
        "community": "community-dongting",
        "period_from": date(2026, 1, 1),
        "period_to": date(2026, 12, 31),
        "items": [LAMP, DemandItem(category=Category.CULTURE_SPORTS, item="culture-venue")],
        "owner_units": ["dept-urban", "community-dongting"],
        "starts_on": date(2026, 6, 1),
        "ends_on": date(2026, 6, 30),
    }
    return ProjectDraft.model_validate(fields | change)


@pytest.mark.parametrize(
    ("draft", "field"),
    [
        (lambda: resource(owner_unit="dept-nowhere"), "owner_unit"),
        (lambda: resource(items=[{"category": "daily_life", "item": "no-such-rule"}]), "items.0"),
        # a rule of another category is not an item of this one
        (lambda: resource(items=[{"category": "care", "item": "street-lamp"}]), "items.0"),
        (lambda: resource(description="联系电话 13812345678"), "description"),
    ],
)
def test_a_resource_names_units_and_items_the_policy_knows(draft, field):
    with pytest.raises(InvalidCommand) as refused:
        check_resource(draft(), POLICY)
    assert refused.value.field == field


def test_a_valid_resource_and_project_pass_and_manual_is_an_item():
    check_resource(resource(items=[{"category": "care", "item": "manual"}]), POLICY)
    check_project(project(), POLICY)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ends_on": date(2026, 5, 31)}, "ends_on"),
        ({"period_to": date(2025, 12, 31)}, "period_to"),
        ({"community": "dept-urban"}, "community"),  # not a place
        ({"owner_units": ["dept-urban", "dept-nowhere"]}, "owner_units.1"),
        ({"items": [{"category": "legal", "item": "street-lamp"}]}, "items.0"),
    ],
)
def test_a_project_runs_forwards_in_a_place_with_known_owners_and_items(change, field):
    with pytest.raises(InvalidCommand) as refused:
        check_project(project(**change), POLICY)
    assert refused.value.field == field


def test_project_status_moves():
    check_move(ProjectStatus.PLANNED, ProjectStatus.RUNNING)
    check_move(ProjectStatus.RUNNING, ProjectStatus.COMPLETED)
    check_move(ProjectStatus.PLANNED, ProjectStatus.CANCELLED)
    for current, to in [
        (ProjectStatus.PLANNED, ProjectStatus.COMPLETED),
        (ProjectStatus.COMPLETED, ProjectStatus.RUNNING),
        (ProjectStatus.CANCELLED, ProjectStatus.RUNNING),
    ]:
        with pytest.raises(WrongStage):
            check_move(current, to)


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="capacity"):
        resource(capacity=0)

"""The resource list (资源清单) and the project list (项目清单, 共建项目): pure rules.

The demand list (需求清单) is a reading of the needs (store.queries.demand_list): needs of a
community and period consolidated by category and item, the item being the classification
rule that placed them (`manual` after a reclassification). The two other lists are kept by
supervisors:

- a **resource** is what a member unit or department offers (a venue, a service, volunteers):
  its owner unit (a unit of the policy's directory), a name and description (no personal
  data), an optional capacity, the demand items it can serve, and whether it is still offered
  (`active`) or `retired`;
- a **project** (共建项目) matches demand items of one community (or park) and period to
  resources, with owner units, a schedule (start and end dates, Asia/Shanghai days) and a
  status: planned → running → completed, or cancelled from planned or running. A project's
  completion completes the open needs it covers through their workflows
  (`commands.CompleteByProject`, rule `handling.complete_by_project`).

Here: the entries' shapes, their checks against the policy (each failure an
`InvalidCommand` naming the field) and the status moves. No I/O: the store keeps the
entries and their change history (store/lists.py), the API asks these rules first.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from domain.errors import InvalidCommand, WrongStage
from domain.model import Category, Frozen, UnitKind, holds_personal_number
from domain.policy import Policy

MANUAL_ITEM = "manual"
"""The demand list's item of needs a person reclassified (no rule placed them)."""
PROJECT_PLACES = frozenset({UnitKind.COMMUNITY, UnitKind.STREET})
"""Units a project can be about: a community, or a park's street-level office."""
# An 11-digit mainland mobile number or an 18-character identity number: personal data that
# has no place on a list every supervisor reads.

Name = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=2000)]
UnitId = Annotated[str, Field(min_length=1, max_length=64)]
EntryRef = Annotated[str, Field(min_length=1, max_length=64)]


class ResourceKind(StrEnum):
    VENUE = "venue"  # 场地
    SERVICE = "service"  # 服务
    VOLUNTEERS = "volunteers"  # 志愿者


class ResourceStatus(StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


class ProjectStatus(StrEnum):
    PLANNED = "planned"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


PROJECT_MOVES: dict[ProjectStatus, frozenset[ProjectStatus]] = {
    ProjectStatus.PLANNED: frozenset({ProjectStatus.RUNNING, ProjectStatus.CANCELLED}),
    ProjectStatus.RUNNING: frozenset({ProjectStatus.COMPLETED, ProjectStatus.CANCELLED}),
    ProjectStatus.COMPLETED: frozenset(),
    ProjectStatus.CANCELLED: frozenset(),
}
"""The status moves a project may make; completed and cancelled are final."""


class DemandItem(Frozen):
    """An item of the demand list: a category and the rule that names the item."""

    category: Category
    item: str = Field(
        min_length=1, max_length=64, description="the classification rule id, or 'manual'"
    )

    def label(self) -> str:
        return f"{self.category.value}/{self.item}"


class ResourceDraft(Frozen):
    """A resource as a supervisor enters it."""

    owner_unit: UnitId = Field(description="the unit (of the directory) that offers it")
    kind: ResourceKind
    name: Name
    description: Description = ""
    capacity: int | None = Field(
        default=None, gt=0, le=1_000_000, description="people or places at once"
    )
    items: list[DemandItem] = Field(
        default_factory=list, max_length=50, description="demand items it can serve"
    )


class ProjectDraft(Frozen):
    """A co-building project as a supervisor enters it."""

    name: Name
    description: Description = ""
    community: UnitId = Field(description="the community (or park office) whose needs it serves")
    period_from: date = Field(description="the demand period: needs submitted from this day")
    period_to: date = Field(description="… to this day, inclusive (Asia/Shanghai)")
    items: list[DemandItem] = Field(min_length=1, max_length=50)
    resources: list[EntryRef] = Field(
        default_factory=list, max_length=50, description="ids of the resource list"
    )
    owner_units: list[UnitId] = Field(min_length=1, max_length=20)
    starts_on: date = Field(description="the schedule's first day (Asia/Shanghai)")
    ends_on: date = Field(description="the schedule's last day, inclusive")


def item_exists(policy: Policy, item: DemandItem) -> bool:
    """Whether the demand list can name this item: a classification rule of that category,
    or `manual` (any category)."""
    if item.item == MANUAL_ITEM:
        return True
    rules = policy.classification.rules
    return any(r.id == item.item and r.category == item.category for r in rules)


def _check_items(policy: Policy, items: list[DemandItem]) -> None:
    for n, item in enumerate(items):
        if not item_exists(policy, item):
            raise InvalidCommand(f"items.{n}", f"no demand item {item.label()} in the policy")
    if len(set(items)) != len(items):
        raise InvalidCommand("items", "an item is listed twice")


def _check_text(field: str, text: str) -> None:
    if holds_personal_number(text):
        raise InvalidCommand(field, "no personal data (phone or identity numbers) on a list")


def check_resource(draft: ResourceDraft, policy: Policy) -> None:
    """The resource names a unit of the directory and items the demand list knows."""
    if policy.unit(draft.owner_unit) is None:
        raise InvalidCommand("owner_unit", "not a unit of the directory")
    _check_text("name", draft.name)
    _check_text("description", draft.description)
    _check_items(policy, draft.items)


def check_project(draft: ProjectDraft, policy: Policy) -> None:
    """The project's place, owners and items are the directory's and the policy's; its
    schedule and its demand period run forwards."""
    place = policy.unit(draft.community)
    if place is None or place.kind not in PROJECT_PLACES:
        raise InvalidCommand("community", "not a community or street of the directory")
    if draft.period_to < draft.period_from:
        raise InvalidCommand("period_to", "the demand period ends before it starts")
    if draft.ends_on < draft.starts_on:
        raise InvalidCommand("ends_on", "the project ends before it starts")
    for n, unit in enumerate(draft.owner_units):
        if policy.unit(unit) is None:
            raise InvalidCommand(f"owner_units.{n}", "not a unit of the directory")
    if len(set(draft.owner_units)) != len(draft.owner_units):
        raise InvalidCommand("owner_units", "a unit is listed twice")
    if len(set(draft.resources)) != len(draft.resources):
        raise InvalidCommand("resources", "a resource is listed twice")
    _check_text("name", draft.name)
    _check_text("description", draft.description)
    _check_items(policy, draft.items)


def check_move(current: ProjectStatus, to: ProjectStatus) -> None:
    """WrongStage (409) unless the project may go from `current` to `to`."""
    if to not in PROJECT_MOVES[current]:
        allowed = tuple(s.value for s, moves in PROJECT_MOVES.items() if to in moves)
        raise WrongStage(f"project {to.value}", current.value, allowed)


def project_summary(project_id: str, project_name: str, summary: str) -> str:
    """The result summary a need completed by a project records: it names the project."""
    text = f"共建项目「{project_name}」（{project_id}）完成：{summary}"
    return text[:2000]

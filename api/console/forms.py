"""Forms from the one table of actions: which rows a person may use on a need, the fields of
each row's command as form controls, and the posted form back into the command.

A field's control follows its type: an enum is a choice of its values (labelled from the
catalogue), a literal a choice of its words, a bool yes/no, an int a number, a list a
comma-separated line, text a text area. Fields the console fills itself (`reviewer_id`,
the evaluating unit) are hidden.
"""

from __future__ import annotations

import enum
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from api.auth import Principal, may
from domain.actions import BY_NAME, Action, field_type
from domain.commands import Command
from domain.model import Category, Rating, ServiceMode, Stage, Tier, Urgency

ENUM_SECTIONS: dict[type[enum.Enum], str] = {
    Category: "category",
    Tier: "tier",
    Urgency: "urgency",
    ServiceMode: "service_mode",
    Rating: "rating",
}
LONG_TEXT = {"note", "reason", "result_summary", "comment", "reply", "task", "result"}
# rows the console offers (information and unmerge stay with integrators and the API)
CONSOLE_ACTIONS = (
    "accept",
    "supervision-reply",
    "progress",
    "information-request",
    "extension",
    "complete",
    "assist-request",
    "assist-accept",
    "assist-report",
    "assist-decline",
    "assist-release",
    "return",
    "classify",
    "assign",
    "reclassify",
    "repeat-decision",
    "remind",
    "supervise",
    "reassign",
    "extension-decision",
    "evaluation",
)


@dataclass
class Control:
    name: str
    kind: Literal["select", "number", "text", "textarea", "list", "hidden"]
    section: str = "choice"  # where the choices' labels are
    choices: list[str] = field(default_factory=list)
    required: bool = True
    value: str = ""
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None


@dataclass
class Form:
    action: Action
    controls: list[Control]


@dataclass
class NeedView:
    """What decides which forms a need shows: its stage and owner, and the live state."""

    stage: Stage | None
    assigned_unit: str | None
    possible_repeat: bool = False
    approver: str | None = None
    reviewers: tuple[str, ...] = ()
    supervision_pending: bool = False
    open_assists: dict[str, str] = field(default_factory=dict)  # 联合办理: open id -> its unit
    assist_statuses: dict[str, str] = field(default_factory=dict)  # open id -> its status

    def assists_for(self, unit: str | None) -> list[str]:
        """The open sub-tasks addressed to `unit` (all of them for unit None)."""
        return [a for a, u in self.open_assists.items() if unit is None or u == unit]


ASSIST_ANSWERS = {"assist-accept", "assist-report", "assist-decline"}


def offered(principal: Principal, need: NeedView, approver_in_scope: bool) -> list[str]:
    """The console rows this person may use on this need now."""
    names = []
    for name in CONSOLE_ACTIONS:
        action = BY_NAME[name]
        if not may(principal, action) or need.stage not in action.stages:
            continue
        if (
            action.scope == "assignee"
            and principal.role == "staff"
            and need.assigned_unit != principal.unit
        ):
            continue
        if name == "assign" and need.assigned_unit is not None:
            continue
        if name in ASSIST_ANSWERS:  # the staff of the unit a sub-task is addressed to now
            mine = need.assists_for(principal.unit if principal.role == "staff" else None)
            if name == "assist-accept":
                mine = [a for a in mine if need.assist_statuses.get(a) == "requested"]
            if not mine:
                continue
        if name == "assist-release" and not need.open_assists:
            continue
        if name == "repeat-decision" and not need.possible_repeat:
            continue
        if name == "supervise" and need.supervision_pending:
            continue  # one order at a time
        if name == "supervision-reply" and not need.supervision_pending:
            continue  # a reply answers an open order
        if name == "extension-decision" and not (
            need.approver is not None
            and (
                principal.unit == need.approver if principal.role == "staff" else approver_in_scope
            )
        ):
            continue
        if name == "evaluation" and (
            principal.role != "staff" or principal.unit not in need.reviewers
        ):
            continue
        if (
            name == "reclassify"
            and principal.role == "staff"
            and need.assigned_unit != principal.unit
        ):
            continue
        names.append(name)
    return names


def form_for(
    action: Action,
    principal: Principal,
    units: list[str],
    current: dict[str, str | None] | None = None,
    choices: dict[str, list[str]] | None = None,
) -> Form:
    """The row's form; `current` preselects choices (a reclassification starts from the
    need's present category, tier and urgency); `choices` replaces a field's choices (the
    units a sub-task may be asked of, the sub-tasks one may answer)."""
    controls = []
    for name, info in action.command.model_fields.items():
        if name == "type":
            continue
        control = _control(name, info.annotation, info, principal, units)
        if choices and name in choices:
            section = "unit" if name == "unit_id" else "choice"
            control = Control(name, "select", section=section, choices=choices[name])
        if current and current.get(name) and control.kind == "select":
            control.value = str(current[name])
        controls.append(control)
    return Form(action, controls)


def _control(
    name: str, annotation: Any, info: Any, principal: Principal, units: list[str]
) -> Control:
    required = info.is_required()
    inner, optional = field_type(annotation)
    limits = {type(m).__name__: m for m in info.metadata}
    if name == "reviewer_id":
        return Control(name, "hidden", value=principal.unit or "")
    if name == "unit_id":
        return Control(
            name, "select", section="unit", choices=[""] * optional + units, required=not optional
        )
    if isinstance(inner, type) and issubclass(inner, enum.Enum):
        default = info.default.value if isinstance(info.default, enum.Enum) else ""
        return Control(
            name,
            "select",
            section=ENUM_SECTIONS.get(inner, "choice"),
            choices=[m.value for m in inner],
            required=required,
            value=default,
        )
    if typing.get_origin(inner) is Literal:
        return Control(name, "select", choices=[str(c) for c in typing.get_args(inner)])
    if inner is bool:
        return Control(name, "select", choices=["true", "false"])
    if inner is int:
        return Control(
            name,
            "number",
            minimum=_bound(limits, "Gt", 1) or _bound(limits, "Ge"),
            maximum=_bound(limits, "Le") or _bound(limits, "Lt", -1),
        )
    if typing.get_origin(inner) is list:
        return Control(name, "list", required=required)
    longest = next((m.max_length for m in info.metadata if hasattr(m, "max_length")), None)
    kind: Literal["textarea", "text"] = "textarea" if name in LONG_TEXT else "text"
    return Control(name, kind, required=required, max_length=longest)


def _bound(limits: dict[str, Any], kind: str, shift: int = 0) -> int | None:
    metadata = limits.get(kind)
    if metadata is None:
        return None
    value = getattr(metadata, kind.lower())  # annotated_types.Gt(gt=0) and the like
    return int(value) + shift


class FormProblem(Exception):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field_name, message


def command_from(action: Action, posted: dict[str, str]) -> Command:
    """The posted form as the row's command; FormProblem naming the first bad field."""
    data: dict[str, Any] = {}
    for name, info in action.command.model_fields.items():
        if name == "type" or name not in posted:
            continue
        raw = posted[name].strip()
        inner, optional = field_type(info.annotation)
        if raw == "" and (optional or not info.is_required()):
            continue
        if typing.get_origin(inner) is list:
            data[name] = [p.strip() for p in raw.replace("，", ",").split(",") if p.strip()]
        else:
            data[name] = raw
    try:
        return action.command.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "form"
        raise FormProblem(where, first["msg"]) from None

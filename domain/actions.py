"""The one table of actions people take on a need: who may, on which needs, and by which door.

Each row names a command, the roles that may issue it, the scope rule that picks the needs a
caller of those roles may act on, and the names the doors use (the HTTP route segment, the
console's message key). The domain checks the roles and the stages here before any stage rule runs
(`permit` and `require_stage`, called by `decide`); the API admits the same roles before it reads the need and
builds its routes from this table; the console shows a form only for the rows a signed-in
person may use; the authorization tests derive their expectations from it.

Scope rules (enforced by the API's access functions, and again by the stage rules):
- `assignee`: the staff of the need's assigned unit (`require_assignee` in the domain);
- `assisting`: the staff of the unit an open sub-task of joint handling (联合办理) is
  addressed to (domain/joint_handling.py);
- `visible`: whoever may see the need (api/access.py: a supervisor's subtree, an
  integrator's own needs, the assigned unit's staff);
- `approver`: the unit a pending extension asks (its staff, or a supervisor over it);
- `reviewer`: a unit named as reviewer, or the integrator relaying one of its requesters.

A reminder (催办) comes from a supervisor, a dispatcher, or the requester (relayed by their
integrator); the assigned unit's staff are reminded, never reminding (docs/domain.md).
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from domain import commands as cmd
from domain.errors import NotPermitted, WrongStage
from domain.model import Actor, Role, Stage

Scope = Literal["assignee", "assisting", "visible", "approver", "reviewer"]
ALWAYS = frozenset({Role.ADMIN, Role.SYSTEM})


@dataclass(frozen=True)
class Action:
    name: str  # the HTTP route segment (/needs/{id}/<name>) and the console's message key
    command: type[cmd.Command]
    roles: frozenset[Role]
    scope: Scope
    stages: tuple[Stage, ...]  # where the command applies; elsewhere WrongStage
    summary: str  # one line for the API reference

    @property
    def type(self) -> str:
        return self.command.__name__

    def allows(self, role: Role) -> bool:
        return role in self.roles or role in ALWAYS


def _action(
    name: str,
    command: type[cmd.Command],
    roles: set[Role],
    scope: Scope,
    stages: tuple[Stage, ...],
    summary: str,
) -> Action:
    return Action(name, command, frozenset(roles), scope, stages, summary)


STAFF, SUPERVISOR, DISPATCHER = Role.STAFF, Role.SUPERVISOR, Role.DISPATCHER
DISPATCH = {DISPATCHER, SUPERVISOR}
OPEN = (Stage.COLLECTION, Stage.CLASSIFICATION, Stage.ASSIGNMENT, Stage.HANDLING, Stage.EVALUATION)
HANDLING, ASSIGNMENT = (Stage.HANDLING,), (Stage.ASSIGNMENT,)
OWNED = (Stage.ASSIGNMENT, Stage.HANDLING)
CLASSIFIED = (Stage.CLASSIFICATION, *OWNED)
UNOWNED = (Stage.CLASSIFICATION, Stage.ASSIGNMENT)

ACTIONS: tuple[Action, ...] = (
    # the assigned unit's work
    _action(
        "accept",
        cmd.Accept,
        {STAFF},
        "assignee",
        ASSIGNMENT,
        "The assigned unit takes the need on; the handling deadline starts.",
    ),
    _action(
        "progress",
        cmd.NoteProgress,
        {STAFF},
        "assignee",
        HANDLING,
        "A progress note on the need's timeline.",
    ),
    _action(
        "information-request",
        cmd.RequestInformation,
        {STAFF},
        "assignee",
        HANDLING,
        "Ask the requester for more; the handling clock stops until it arrives.",
    ),
    _action(
        "extension",
        cmd.RequestExtension,
        {STAFF},
        "assignee",
        HANDLING,
        "Ask the unit above for more working hours, with a reason.",
    ),
    _action(
        "return",
        cmd.Return,
        {STAFF},
        "assignee",
        OWNED,
        "退单: send the need back to dispatch, with a reason.",
    ),
    _action(
        "complete",
        cmd.Complete,
        {STAFF},
        "assignee",
        HANDLING,
        "办结: the work is done; the need goes to evaluation.",
    ),
    # joint handling (联合办理): the lead asks, the assisting unit answers
    _action(
        "assist-request",
        cmd.RequestAssist,
        {STAFF},
        "assignee",
        HANDLING,
        "联合办理: ask another unit to assist with a sub-task, due before the lead's deadline.",
    ),
    _action(
        "assist-accept",
        cmd.AcceptAssist,
        {STAFF},
        "assisting",
        OWNED,
        "The assisting unit takes its sub-task on.",
    ),
    _action(
        "assist-report",
        cmd.ReportAssist,
        {STAFF},
        "assisting",
        OWNED,
        "The assisting unit reports back what it did: the sub-task is done.",
    ),
    _action(
        "assist-decline",
        cmd.DeclineAssist,
        {STAFF},
        "assisting",
        OWNED,
        "The assisting unit declines its sub-task, with a reason: it is back with the lead.",
    ),
    _action(
        "assist-release",
        cmd.ReleaseAssist,
        {SUPERVISOR},
        "visible",
        OWNED,
        "A supervisor over the need frees the lead from waiting for a sub-task.",
    ),
    # dispatching
    _action(
        "classify",
        cmd.Classify,
        DISPATCH,
        "visible",
        (Stage.CLASSIFICATION,),
        "Classify by hand a need the rules left to a dispatcher; routing follows.",
    ),
    _action(
        "reclassify",
        cmd.Reclassify,
        DISPATCH | {STAFF},
        "visible",
        CLASSIFIED,
        "Correct the category, tier or urgency, with a reason.",
    ),
    _action(
        "assign",
        cmd.Assign,
        DISPATCH | {Role.SYSTEM},
        "visible",
        UNOWNED,
        "Give a classified need nobody owns to a unit in scope, or to the routing rules.",
    ),
    _action(
        "repeat-decision",
        cmd.ResolvePossibleRepeat,
        DISPATCH,
        "visible",
        OPEN,
        "Link a possible repeat to the need it may repeat, or dismiss the flag.",
    ),
    _action(
        "unmerge",
        cmd.UnlinkReport,
        DISPATCH,
        "visible",
        OPEN,
        "Split a merged report back out as a need of its own.",
    ),
    # supervision
    _action(
        "remind",
        cmd.Remind,
        DISPATCH | {Role.REQUESTER, Role.INTEGRATOR},
        "visible",
        OWNED,
        "催办: urge the assigned unit on.",
    ),
    _action(
        "supervise",
        cmd.Supervise,
        {SUPERVISOR},
        "visible",
        OWNED,
        "督办: a supervision order; the assigned unit must reply in writing in time.",
    ),
    _action(
        "supervision-reply",
        cmd.ReplySupervision,
        {STAFF},
        "assignee",
        OPEN,
        "The assigned unit's written reply to a supervision order.",
    ),
    _action(
        "reassign",
        cmd.Reassign,
        {SUPERVISOR},
        "visible",
        OWNED,
        "Move the need to another unit in scope, which must accept it.",
    ),
    _action(
        "adjudicate",
        cmd.Adjudicate,
        {SUPERVISOR},
        "visible",
        OWNED,
        "裁定: rule which unit is responsible for a disputed or returned need; binding.",
    ),
    _action(
        "extension-decision",
        cmd.DecideExtension,
        {STAFF, SUPERVISOR},
        "approver",
        HANDLING,
        "Grant or refuse a pending extension request.",
    ),
    _action(
        "complete-by-project",
        cmd.CompleteByProject,
        {SUPERVISOR},
        "visible",
        OWNED,
        "A co-building project covering the need is done: complete it in the project's name.",
    ),
    # the requester's side
    _action(
        "information",
        cmd.ProvideInformation,
        {Role.REQUESTER, STAFF, Role.INTEGRATOR},
        "visible",
        OPEN,
        "The requester's missing information, relayed by its integrator.",
    ),
    _action(
        "evaluation",
        cmd.Evaluate,
        {Role.REQUESTER, Role.REVIEWER, STAFF, Role.INTEGRATOR},
        "reviewer",
        (Stage.EVALUATION,),
        "A rating from a requester (relayed) or a reviewing unit.",
    ),
    _action(
        "callback",
        cmd.RecordCallback,
        DISPATCH,
        "visible",
        (Stage.EVALUATION,),
        "回访: the dispatch centre records a requester's rating taken by phone.",
    ),
)
BY_NAME = {a.name: a for a in ACTIONS}
BY_COMMAND = {a.command: a for a in ACTIONS}


def field_type(annotation: Any) -> tuple[Any, bool]:
    """A command field's type as the doors offer it: `X | None` → (X, True), an Annotated
    type → its base; the console's forms and the command line's options both read this."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return field_type(args[0])[0], True
    if typing.get_origin(annotation) is typing.Annotated:
        return typing.get_args(annotation)[0], False
    return annotation, False


def require_stage(command: cmd.Command, stage: Stage | None) -> None:
    """WrongStage unless the command applies in this stage (commands outside the table check
    their own)."""
    action = BY_COMMAND.get(type(command))
    if action is not None and stage not in action.stages:
        raise WrongStage(
            action.type, stage.value if stage else None, tuple(s.value for s in action.stages)
        )


def permit(command: cmd.Command, actor: Actor) -> None:
    """NotPermitted unless the actor's role may issue this command (commands outside the
    table, such as timers and intake's own, are the workflow's and pass)."""
    action = BY_COMMAND.get(type(command))
    if action is not None and not action.allows(actor.role):
        raise NotPermitted(action.type, str(actor.role))

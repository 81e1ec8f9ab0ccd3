"""The one table of actions: complete, and the only source of the domain's role check."""

from __future__ import annotations

import pytest

from domain import commands as cmd
from domain.actions import ACTIONS, BY_COMMAND, BY_NAME, permit
from domain.decider import HANDLERS, TIMER_COMMANDS
from domain.errors import NotPermitted
from domain.model import Actor, Role

WORKFLOW_ONLY = {cmd.Submit, cmd.LinkReport, *TIMER_COMMANDS}


def test_every_command_a_person_can_send_has_one_row():
    people = set(HANDLERS) - WORKFLOW_ONLY
    assert set(BY_COMMAND) == people
    assert len(BY_COMMAND) == len(ACTIONS) == len(BY_NAME)


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
def test_the_domain_refuses_exactly_the_roles_the_table_leaves_out(action):
    command = action.command.model_construct()
    for role in Role:
        actor = Actor(id="someone", role=role, unit="grid-dongting-1")
        if action.allows(role):
            permit(command, actor)
        else:
            with pytest.raises(NotPermitted):
                permit(command, actor)


def test_workflow_commands_are_not_the_tables_business():
    permit(cmd.Submit.model_construct(), Actor(id="x", role=Role.REQUESTER))


def test_assigned_work_is_staffs_only():
    for name in ("accept", "progress", "information-request", "extension", "return", "complete"):
        assert BY_NAME[name].roles == {Role.STAFF} and BY_NAME[name].scope == "assignee"

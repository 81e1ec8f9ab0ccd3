"""Typed domain errors: the boundary turns them into clear rejections.

Messages name the command and the field at fault and carry only ids and enum values,
never names, phones or addresses.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every rule violation raised by `decide`."""

    code = "domain_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class WrongStage(DomainError):
    """The command does not apply in the need's current stage."""

    code = "wrong_stage"

    def __init__(self, command: str, stage: str | None, allowed: tuple[str, ...]) -> None:
        expected = ", ".join(allowed)
        super().__init__(
            f"{command} is not allowed in stage {stage or 'none'} (allowed: {expected})",
            field="stage",
        )
        self.stage = stage
        self.allowed = allowed


class NotYourUnit(DomainError):
    """The actor acts for a unit that does not own this step."""

    code = "not_your_unit"

    def __init__(self, command: str, expected_unit: str | None, actor_unit: str | None) -> None:
        super().__init__(
            f"{command} must come from unit {expected_unit or 'none'}, "
            f"actor.unit is {actor_unit or 'none'}",
            field="actor.unit",
        )


class NotPermitted(DomainError):
    """The actor's role may not issue this command."""

    code = "not_permitted"

    def __init__(self, command: str, role: str) -> None:
        super().__init__(f"{command} is not permitted for role {role}", field="actor.role")


class InvalidCommand(DomainError):
    """The command's input breaks a rule; `field` names the offending field."""

    code = "invalid_command"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"invalid {field}: {reason}", field=field)


class AssistConflict(DomainError):
    """A sub-task of joint handling (联合办理) is not in a state that allows the command: it
    was already reported, declined or released, or (for the lead's completion) one is still
    open."""

    code = "assist_conflict"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason, field=field)

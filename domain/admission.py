"""What a submission must be before it becomes a need: text that says something, a place that
exists in the district's directory. Checked at every door (HTTP, Open311, CSV import) before
anything is started, so a refused submission leaves no trace.
"""

from __future__ import annotations

import contextlib

from domain.commands import Submission
from domain.errors import InvalidCommand
from domain.events import DemandSubmitted
from domain.model import Location, UnitKind
from domain.policy import Policy
from domain.text import has_visible_text, is_placeholder

_REQUIRED_TEXT = ("title",)
_OPTIONAL_TEXT = ("description",)


def admit(submission: Submission, policy: Policy) -> Submission:
    """The submission with its text trimmed, an empty or placeholder building or address
    ('无', '不详') dropped and its community filled in from its grid;
    raises InvalidCommand naming the field when the text is empty or invisible, or the
    place is not in the directory (a grid of another community, a department as a grid)."""
    text = {name: getattr(submission, name).strip() for name in (*_REQUIRED_TEXT, *_OPTIONAL_TEXT)}
    for name in _REQUIRED_TEXT:
        if not has_visible_text(text[name]):
            raise InvalidCommand(name, "must contain a visible letter, digit or character")
    if text["description"] and not has_visible_text(text["description"]):
        raise InvalidCommand("description", "must be empty or contain visible text")
    location = _checked_place(submission, policy)
    fields = {name: getattr(location, name) for name in ("building", "address")}
    location = location.model_copy(
        update={
            name: None if is_placeholder(value) else value.strip() for name, value in fields.items()
        }
    )
    return submission.model_copy(update=text | {"location": location})


def _checked_place(submission: Submission, policy: Policy) -> Location:
    loc = submission.location
    street = policy.unit(loc.street)
    if street is None or street.kind != UnitKind.STREET:
        raise InvalidCommand("location.street", "is not a street of this district")
    community = loc.community
    if loc.grid is not None:
        grid = policy.unit(loc.grid)
        if grid is None or grid.kind != UnitKind.GRID:
            raise InvalidCommand("location.grid", "is not a grid of this district")
        if community is not None and grid.parent != community:
            raise InvalidCommand("location.grid", "is not a grid of that community")
        community = grid.parent
    if community is not None:
        unit = policy.unit(community)
        if unit is None or unit.kind != UnitKind.COMMUNITY:
            raise InvalidCommand("location.community", "is not a community of this district")
        if unit.parent != street.id:
            raise InvalidCommand("location.community", "is not a community of that street")
    return loc.model_copy(update={"community": community})


def same_submission(
    submission: Submission, stored: DemandSubmitted | Submission, policy: Policy
) -> bool:
    """Whether an admitted submission says what the stored one said (a resend, not a new
    need under a used external id). The stored one is admitted the same way first: it may
    have been stored before the door trimmed and completed submissions."""
    fields = set(Submission.model_fields)
    earlier = (
        stored
        if isinstance(stored, Submission)
        else Submission.model_validate(stored.model_dump(include=fields))
    )
    with contextlib.suppress(InvalidCommand):  # stored before today's checks: as stored
        earlier = admit(earlier, policy)
    return all(getattr(submission, f) == getattr(earlier, f) for f in fields)

"""What a decision may know besides the state: the time, who acts, and the policy.

The workflow builds it from `workflow.now()`, the caller's actor and the policy it pinned;
nothing in `domain/` reads a clock or a file.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import AwareDatetime

from domain.calendar import WorkingCalendar, add_working_time, checkpoints
from domain.model import Actor, Frozen
from domain.policy import Policy


class DecisionContext(Frozen):
    now: AwareDatetime
    actor: Actor
    policy: Policy
    calendar: WorkingCalendar | None = None

    @property
    def working_calendar(self) -> WorkingCalendar:
        """The calendar override if given, else the policy's."""
        return self.calendar or self.policy.calendar

    @property
    def version(self) -> str:
        return self.policy.version

    def after_working(
        self,
        duration: timedelta,
        start: datetime | None = None,
        calendar: WorkingCalendar | None = None,
    ) -> tuple[datetime, str]:
        """`duration` of working time after `start` (default now), with the calendar label.
        `calendar`: a need's own clock (domain.sla.need_calendar) instead of the policy's."""
        return add_working_time(start or self.now, duration, calendar or self.working_calendar)

    def warn_points(
        self,
        duration: timedelta,
        start: datetime | None = None,
        calendar: WorkingCalendar | None = None,
    ) -> dict[int, datetime]:
        """When each warning percentage of a handling budget falls due."""
        return checkpoints(
            start or self.now,
            duration,
            self.policy.sla.warning_percents,
            calendar or self.working_calendar,
        )

"""The words of the domain: kinds, channels, categories, tiers, stages and value objects.

Everything here is pure data. Personal data (names, phones, addresses) lives only in
`Requester.name`, `Requester.phone` and `Location.address`; `masked()` helpers give the
copies that may be shown to people who do not need the originals.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

# PostgreSQL text and jsonb cannot hold NUL, and UTF-8 cannot encode a lone surrogate: such
# text would be accepted here and then fail at every append retry, so refuse it at the door.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _refuse_unstorable(value: Any) -> None:
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            raise ValueError("text must not contain NUL or unpaired surrogate characters")
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_unstorable(key)
            _refuse_unstorable(item)
    elif isinstance(value, (list, tuple, frozenset, set)):
        for item in value:
            _refuse_unstorable(item)


BREACH_RECORDED = 100
"""`warnings_issued` holds 100 once a breach at the top of the ladder has been recorded (a
need's, or a sub-task's of joint handling)."""


class Frozen(BaseModel):
    """Base of every domain model: immutable, strict about unknown fields, storable text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        _refuse_unstorable(value)
        return value


class RequesterKind(StrEnum):
    RESIDENT = "resident"
    ENTERPRISE = "enterprise"
    TALENT = "talent"
    PARTY_MEMBER = "party_member"
    WORKER = "worker"


class Channel(StrEnum):
    APP = "app"
    WECHAT = "wechat"
    HOTLINE = "hotline"
    GRID_VISIT = "grid_visit"
    DOOR_KNOCKING = "door_knocking"
    JOINT_MEETING = "joint_meeting"
    DEMAND_CARD = "demand_card"
    QUESTIONNAIRE = "questionnaire"
    WISH_WALL = "wish_wall"
    OPEN311 = "open311"
    STAFF_ENTRY = "staff_entry"


class Category(StrEnum):
    """The six basic services (六项基本服务) plus the three enterprise-park categories."""

    GOVERNMENT_AFFAIRS = "government_affairs"
    DAILY_LIFE = "daily_life"
    LEGAL = "legal"
    CULTURE_SPORTS = "culture_sports"
    CARE = "care"
    PARTY_MEMBER = "party_member"
    ENTERPRISE_AFFAIRS = "enterprise_affairs"
    TALENT = "talent"
    WORKER_CARE = "worker_care"


class Tier(StrEnum):
    """Who should solve it: 小事不出网格、大事不出社区, the rest goes to the street/department."""

    GRID = "grid"
    COMMUNITY = "community"
    STREET = "street"


class Urgency(StrEnum):
    """The four levels of the 12345 hotline draft standard: 紧急 (urgent, 2 h on the clock),
    较急 (pressing, 24 h on the clock), 一般 (normal, 7 working days), 非紧急 (low, 15
    working days). The limits and clocks are policy data (`sla.levels`)."""

    LOW = "low"
    NORMAL = "normal"
    PRESSING = "pressing"
    URGENT = "urgent"


class UnitKind(StrEnum):
    GRID = "grid"
    COMMUNITY = "community"
    STREET = "street"
    DEPARTMENT = "department"
    SERVICE_TEAM = "service_team"
    SUPERVISION = "supervision"


class Stage(StrEnum):
    COLLECTION = "collection"
    CLASSIFICATION = "classification"
    ASSIGNMENT = "assignment"
    HANDLING = "handling"
    EVALUATION = "evaluation"
    CLOSED = "closed"


class Role(StrEnum):
    REQUESTER = "requester"
    INTEGRATOR = "integrator"
    STAFF = "staff"
    DISPATCHER = "dispatcher"
    SUPERVISOR = "supervisor"
    REVIEWER = "reviewer"
    ADMIN = "admin"
    SYSTEM = "system"
    CLAIMANT = "claimant"  # a party member, volunteer or member unit's staff: claims wishes


class WishKind(StrEnum):
    """What a micro-wish (微心愿) asks for; the policy gives each kind its points."""

    MATERIAL = "material"  # 物资: a thing to buy or bring
    SERVICE = "service"  # 服务: a job to do (a repair, a haircut at home)
    COMPANIONSHIP = "companionship"  # 陪伴: visits, a walk, a phone call
    STUDY = "study"  # 助学: tutoring, books, school things


class Rating(StrEnum):
    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    UNSATISFIED = "unsatisfied"


class ServiceMode(StrEnum):
    """How the need was served: 上门 on site, 网上 online, 代办 by proxy, 预约 by appointment."""

    ON_SITE = "on_site"
    ONLINE = "online"
    PROXY = "proxy"
    APPOINTMENT = "appointment"


class Outcome(StrEnum):
    """Why a need closed."""

    RESOLVED = "resolved"
    NO_RESPONSE = "no_response"
    INCOMPLETE = "incomplete"
    MERGED = "merged"


class Location(Frozen):
    street: str = Field(min_length=1, max_length=64)
    community: str | None = Field(default=None, max_length=64)
    grid: str | None = Field(default=None, max_length=64)
    building: str | None = Field(default=None, max_length=64)
    address: str | None = Field(default=None, max_length=200, description="personal data")

    def place_key(self) -> str:
        """The place used to recognise repeated reports: the most precise public unit known."""
        return "/".join(p for p in (self.street, self.community, self.grid, self.building) if p)

    def masked(self) -> Location:
        return self.model_copy(update={"address": mask_text(self.address)})


class Requester(Frozen):
    requester_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")
    kind: RequesterKind
    name: str | None = Field(default=None, max_length=100, description="personal data")
    phone: str | None = Field(default=None, max_length=32, description="personal data")
    organisation: str | None = Field(default=None, max_length=200)

    def masked(self) -> Requester:
        return self.model_copy(
            update={"name": mask_text(self.name), "phone": mask_phone(self.phone)}
        )


class Actor(Frozen):
    """Who did something: an opaque id, a role and the unit acted for. Never a name."""

    id: str = Field(min_length=1, max_length=64)
    role: Role
    unit: str | None = Field(default=None, max_length=64)


SYSTEM_ACTOR = Actor(id="system", role=Role.SYSTEM)


PERSONAL_NUMBER = re.compile(r"(?<!\d)(1[3-9]\d{9}|\d{17}[\dXx])(?!\d)")
"""A mobile phone number or an identity card number inside free text."""


def holds_personal_number(text: str) -> bool:
    """Whether text meant to be shown widely (a list entry, a wish in the pool) carries a
    phone or identity number."""
    return PERSONAL_NUMBER.search(text) is not None


def mask_text(value: str | None) -> str | None:
    """Keep the first character only: 张三丰 -> 张**."""
    if not value:
        return value
    return value[0] + "*" * (len(value) - 1)


def mask_phone(value: str | None) -> str | None:
    """Keep the first three and last two digits: 13812345678 -> 138******78."""
    if not value:
        return value
    if len(value) <= 5:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 5) + value[-2:]

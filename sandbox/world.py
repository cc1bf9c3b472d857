"""The vendor-neutral synthetic world the sandbox emulators are seeded from.

`sandbox.generate.generate_world()` builds a `World`; each vendor emulator projects it
into its own native records (`sandbox/<vendor>/seed.py`). Nothing here knows any
vendor's wire format: a company simply says under which id, name and domain it appears
in each system, and which explicit cross-reference fields that system carries.

Stories (`Company.story`) are what `truth.json` records, so tests and benchmarks can
check that Canary finds them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, Protocol, TypeVar

System = Literal["salesforce", "zendesk", "hubspot"]
SYSTEMS: tuple[System, ...] = ("salesforce", "zendesk", "hubspot")

Story = Literal[
    "healthy",
    "declining_usage",
    "onboarding_stalled",
    "champion_quiet",
    "power_users",
    "at_capacity",
    "ticket_storm",
]
STORIES: tuple[Story, ...] = (
    "healthy",
    "declining_usage",
    "onboarding_stalled",
    "champion_quiet",
    "power_users",
    "at_capacity",
    "ticket_storm",
)

Role = Literal["executive_sponsor", "champion", "admin", "user"]


@dataclass
class Presence:
    """How one company (or person, deal, ticket) appears in one vendor system."""

    external_id: str
    """Vendor-native id: 18-char Salesforce id, Zendesk integer as str, HubSpot id as str."""
    name: str | None = None
    """The name as typed into that system (may be a variant of the canonical name)."""
    domain: str | None = None
    """The domain as recorded there: may be missing, a ``www.`` / URL form, or different."""
    cross_refs: dict[str, str] = field(default_factory=dict)
    """Explicit external-id fields this record carries, system -> the other system's id
    (e.g. a Zendesk organization whose ``external_id`` holds the Salesforce Account id)."""
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class Company:
    key: str
    """Stable synthetic key, e.g. ``"C000042"``; never shown to a vendor."""
    name: str
    domain: str | None
    industry: str
    employees: int
    segment: Literal["enterprise", "mid_market", "smb"]
    tier: Literal["starter", "growth", "enterprise"]
    csm_owner: str
    """CSM e-mail."""
    story: Story
    onboarding_start: date
    parent_key: str | None = None
    presence: dict[System, Presence] = field(default_factory=dict)


@dataclass
class Person:
    key: str
    company_key: str
    first_name: str
    last_name: str
    email: str
    role: Role
    title: str
    presence: dict[System, Presence] = field(default_factory=dict)
    last_active: date | None = None
    """Last day this person used the product (None: never)."""


@dataclass
class Deal:
    key: str
    company_key: str
    name: str
    arr: float
    seats: int
    tier: Literal["starter", "growth", "enterprise"]
    start_date: date
    renewal_date: date
    status: Literal["active", "churned", "pending"]
    presence: dict[System, Presence] = field(default_factory=dict)


@dataclass
class Ticket:
    key: str
    company_key: str
    requester_key: str
    subject: str
    priority: Literal["low", "normal", "high", "urgent"]
    status: Literal["new", "open", "pending", "solved", "closed"]
    escalated: bool
    created_at: datetime
    updated_at: datetime
    solved_at: datetime | None
    satisfaction: Literal["good", "bad"] | None
    satisfaction_comment: str | None
    presence: dict[System, Presence] = field(default_factory=dict)


@dataclass
class SurveyResponse:
    key: str
    company_key: str
    person_key: str
    kind: Literal["nps", "csat"]
    score: int
    comment: str | None
    submitted_at: datetime


@dataclass
class World:
    seed: int
    as_of: date
    """The synthetic 'today': usage history runs over the 180 days before it."""
    companies: list[Company]
    people: list[Person]
    deals: list[Deal]
    tickets: list[Ticket]
    surveys: list[SurveyResponse]
    write_key: str = "sandbox-write-key"
    """Canary collector write key the usage stream is sent with."""

    def company(self, key: str) -> Company:
        return self._company_index()[key]

    def _company_index(self) -> dict[str, Company]:
        index: dict[str, Company] | None = getattr(self, "_index", None)
        if index is None:
            index = {c.key: c for c in self.companies}
            object.__setattr__(self, "_index", index)
        return index


class _HasPresence(Protocol):
    @property
    def presence(self) -> dict[System, Presence]: ...


_Item = TypeVar("_Item", bound=_HasPresence)


def present_in(items: Iterable[_Item], system: System) -> Iterator[tuple[_Item, Presence]]:
    """Each item that appears in ``system``, with its presence there (what every seeding walks)."""
    for item in items:
        presence = item.presence.get(system)
        if presence is not None:
            yield item, presence

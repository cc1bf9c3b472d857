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
TeamRole = Literal["csm", "manager"]


@dataclass(frozen=True)
class TeamMember:
    """A person of the vendor's own customer-success team: a user in every system who owns accounts."""

    email: str
    name: str
    role: TeamRole
    manager_email: str | None = None
    """The manager this CSM reports to (None for a manager)."""
    active: bool = True
    """False: left the company, yet still named as the owner of accounts (Salesforce ``IsActive`` false,
    HubSpot owner archived, Zendesk agent suspended)."""


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
    """The e-mail of the account's owner in the CRM, the truth of who owns it (a CSM, a manager, or the
    CSM who left)."""
    story: Story
    onboarding_start: date
    parent_key: str | None = None
    presence: dict[System, Presence] = field(default_factory=dict)
    helpdesk_owner: str | None = None
    """Whom the help desk's organization field names as the owner, when the company is there: mostly
    `csm_owner`, sometimes nobody or an earlier owner never updated (the CRM's owner is the truth)."""


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
    team: list[TeamMember] = field(default_factory=list)
    """The customer-success team that owns the accounts (empty in hand-built test worlds)."""
    revenue: dict[str, list[tuple[date, date | None, float]]] = field(default_factory=dict)
    """The intended ARR timeline per company key (companies in a CRM only): ``(start, end, arr)`` segments,
    ``end`` None while the term runs; what `sandbox.revenue.revenue_truth` adds up (empty in hand-built
    test worlds)."""

    def team_members(self) -> list[TeamMember]:
        """The team, then every owner no team member is (an active CSM), in order of first ownership:
        the vendor users the emulators serve."""
        members = list(self.team)
        known = {m.email for m in members}
        for company in self.companies:
            if company.csm_owner not in known:
                known.add(company.csm_owner)
                members.append(TeamMember(company.csm_owner, _name_of(company.csm_owner), "csm"))
        return members

    def company(self, key: str) -> Company:
        return self._company_index()[key]

    def _company_index(self) -> dict[str, Company]:
        index: dict[str, Company] | None = getattr(self, "_index", None)
        if index is None:
            index = {c.key: c for c in self.companies}
            object.__setattr__(self, "_index", index)
        return index


def _name_of(email: str) -> str:
    return " ".join(part.capitalize() for part in email.split("@", 1)[0].split("."))


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

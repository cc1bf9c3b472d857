"""What the scoring engine is given about one account: plain, frozen values.

The store→inputs loader fills these from the database; nothing here knows the store.
Every date-like field accepts a `date` or a `datetime` (only the day counts). Facts dated
after the `as_of` day are ignored by `compute_signals`, so history can be recomputed
day by day from the same inputs.

A source that is not connected is `None` (its signals are missing and excluded from the
score); a connected source with nothing in it is an empty tuple (its signals are zero).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

TicketPriority = Literal["low", "normal", "high", "urgent"]
ContactRole = Literal["executive_sponsor", "champion", "admin", "user"]
CLOSED_TICKET_STATUSES = frozenset({"solved", "closed"})


@dataclass(frozen=True, slots=True)
class UsageDay:
    """One user's use of one product event on one day (a daily aggregate)."""

    day: dt.date
    user_key: str
    event: str
    count: int = 1
    minutes: float = 0.0


@dataclass(frozen=True, slots=True)
class TicketFact:
    ticket_id: str
    priority: TicketPriority
    status: str
    """new | open | pending | hold | solved | closed: solved and closed count as not open."""
    created_at: dt.date
    solved_at: dt.date | None = None
    escalated: bool = False


@dataclass(frozen=True, slots=True)
class CsatAnswer:
    day: dt.date
    good: bool


@dataclass(frozen=True, slots=True)
class NpsAnswer:
    day: dt.date
    score: int
    """0–10."""


@dataclass(frozen=True, slots=True)
class ContactFact:
    user_key: str
    """The key the person's usage is recorded under (normally the e-mail); compared case-insensitively."""
    role: ContactRole
    name: str | None = None
    last_active: dt.date | None = None
    """Last activity the store knows of; usage rows under `user_key` also count."""


@dataclass(frozen=True, slots=True)
class AccountInputs:
    account_id: int
    name: str | None = None
    segment: str | None = None
    tier: str | None = None
    lifecycle_stage: str | None = None
    parent_id: int | None = None
    arr: float | None = None
    seats_purchased: int | None = None
    renewal_date: dt.date | None = None
    onboarding_start: dt.date | None = None
    usage: tuple[UsageDay, ...] | None = None
    """None: no usage stream for this account. Only the last 35 days before `as_of` matter,
    plus the first occurrence of onboarding-milestone events."""
    tickets: tuple[TicketFact, ...] | None = None
    """None: no help desk connected."""
    csat: tuple[CsatAnswer, ...] = ()
    nps: tuple[NpsAnswer, ...] = ()
    contacts: tuple[ContactFact, ...] = ()
    milestones_reached: frozenset[str] = field(default_factory=frozenset)
    """Onboarding milestones known reached by other means (e.g. ticked in the CRM), undated."""

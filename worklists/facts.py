"""What a list is evaluated on: plain, frozen facts per account (no store, no clock).

`sync.lists` fills these in bulk from the store (the portfolio keys on the account row, the latest
snapshot's measures, open alerts, subscriptions, product users); tests build them by hand.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class OpenAlert:
    rule: str
    title: str
    raised_on: dt.date | None = None


@dataclass(frozen=True, slots=True)
class EarlierHealth:
    """The account's health some days before the latest scored day (for ``rose_by``/``fell_by``)."""

    score: float | None = None
    measures: Mapping[str, float | None] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class AccountFacts:
    account_id: int
    name: str = ""
    segment: str | None = None
    tier: str | None = None
    lifecycle_stage: str | None = None
    owner: str | None = None
    # Health on the workspace's latest scored day (None: not scored that day).
    band: str | None = None
    score: float | None = None
    trend_30d: float | None = None
    """Points the score moved over 30 days (the stored trend is points per day)."""
    measures: Mapping[str, float | None] = field(default_factory=lambda: MappingProxyType({}))
    """Measure name → value on the latest scored day (a measure its profile does not score is absent)."""
    earlier: Mapping[int, EarlierHealth] = field(default_factory=lambda: MappingProxyType({}))
    """Days back → health then."""
    open_alerts: tuple[OpenAlert, ...] = ()
    # Subscriptions of the system of record (active only).
    arr: float | None = None
    renewal_date: dt.date | None = None
    start_date: dt.date | None = None
    """The earliest start of the active subscriptions: when the customer's current contract began."""
    onboarding_start: dt.date | None = None
    """As scoring counts it: the subscription start, else the first day the product saw a user."""
    # Product usage.
    last_active_date: dt.date | None = None
    active_users_7d: int | None = None
    active_users_28d: int | None = None

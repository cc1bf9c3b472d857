"""Subscriptions in force and the ARR of each account over time (docs/analytics.md, first two sections).

Amounts: `Decimal` at every edge (the store's `Numeric(14, 2)`), whole cents (`int`) inside, so sums are
exact and a ratio is computed once from integers (the same in ARR or MRR). An ARR with more than two
decimals is refused.

`build_timeline(terms)` picks each account's system of record, decides each won term's end, and keeps per
account the days its ARR changes (`ArrTimeline.points`) plus the decided renewals (`RenewalEvent`) and the
open terms, which `movements`, `retention` and `forecast` read.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

STATUSES = ("active", "churned", "pending")
"""won, lost, open (the store's `subscriptions.status`)."""
SYSTEM_ORDER = ("salesforce", "hubspot", "zendesk")
"""The system of record is the first of these holding any subscription of the account, else the first by name."""
DECIDING_WINDOW = dt.timedelta(days=30)
"""A won or lost term starting on or after `renewal_date - 30 days` decides the renewal."""
_SHIFT = 22  # date.max.toordinal() < 2**22: (account index << 22) | day ordinal is one sortable int64 key


def to_cents(amount: Decimal | int, what: str = "ARR") -> int:
    """Whole cents of `amount`; a clear error for a negative, non-finite or sub-cent amount."""
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int):
        raise ValueError(f"{what} must be a Decimal or an int, not {type(amount).__name__} ({amount!r})")
    value = Decimal(amount)
    if not value.is_finite() or value < 0:
        raise ValueError(f"{what} must be a finite amount >= 0, got {amount!r}")
    cents = value * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"{what} has more than two decimals: {amount!r}")
    return int(cents)


def from_cents(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


@dataclass(frozen=True)
class SubscriptionTerm:
    """One subscription row (`store.models.Subscription`) as analytics reads it.

    `versions`: the ARR values sync has seen when the ARR was edited in place, oldest first, as
    (effective day, ARR), the last one being the current `arr`; on day d the term carries the newest
    version effective on or before d, the first counting from `start`. Empty: `arr` throughout.
    """

    key: str
    account: int
    system: str
    arr: Decimal
    start: dt.date | None
    renewal: dt.date | None
    status: str
    versions: tuple[tuple[dt.date, Decimal], ...] = ()

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"subscription {self.key}: status must be one of {', '.join(STATUSES)}, "
                             f"got {self.status!r}")
        if not isinstance(self.account, int) or isinstance(self.account, bool):
            raise ValueError(f"subscription {self.key}: account must be an account id (int), got {self.account!r}")
        to_cents(self.arr, f"subscription {self.key}'s ARR")
        days = [day for day, _ in self.versions]
        if days != sorted(days):
            raise ValueError(f"subscription {self.key}: versions must be sorted by effective day")
        for _, value in self.versions:
            to_cents(value, f"subscription {self.key}'s ARR version")
        if self.versions and self.versions[-1][1] != self.arr:
            raise ValueError(f"subscription {self.key}: the last version ({self.versions[-1][1]}) must be the "
                             f"current ARR ({self.arr})")

    def cents_on(self, day: dt.date) -> int:
        """This term's ARR in cents on `day` (whether or not it is in force then)."""
        if not self.versions:
            return to_cents(self.arr)
        days = [d for d, _ in self.versions]
        i = bisect_right(days, day) - 1
        return to_cents(self.versions[max(i, 0)][1])


@dataclass(frozen=True)
class RenewalEvent:
    """A decided term end on `day` (per account and day): `up` ended, `continuing` ran on, `renewed` came back.

    `delta` = ARR(day) - ARR(day - 1); `kept` = the account still has ARR on `day` (a renewal movement)."""

    account: int
    day: dt.date
    up: Decimal
    continuing: Decimal
    renewed: Decimal
    delta: Decimal

    @property
    def kept(self) -> bool:
        return self.up + self.continuing + self.delta > 0


def system_of_record(systems: Iterable[str]) -> str:
    """The first of salesforce, hubspot, zendesk present, else the first other system by name."""
    present = set(systems)
    if not present:
        raise ValueError("an account without subscriptions has no system of record")
    for name in SYSTEM_ORDER:
        if name in present:
            return name
    return sorted(present)[0]


def term_ends(terms: Iterable[SubscriptionTerm]) -> dict[str, dt.date | None]:
    """{term key: end} for every term: `renewal` when decided, None when open, lost, pending or undated.

    Decided: another won or lost term of the same account and system starts on or after
    `renewal - 30 days` (docs/analytics.md "In force"). The caller stores it as `subscriptions.term_end`."""
    terms = list(terms)
    # The two latest starts of won/lost terms per (account, system): enough to find "another" term.
    latest: dict[tuple[int, str], list[tuple[dt.date, str]]] = defaultdict(list)
    for t in terms:
        if t.status != "pending" and t.start is not None:
            top = latest[(t.account, t.system)]
            top.append((t.start, t.key))
            top.sort(reverse=True)
            del top[2:]
    ends: dict[str, dt.date | None] = {}
    for t in terms:
        end = None
        if t.status == "active" and t.renewal is not None:
            others = [start for start, key in latest.get((t.account, t.system), ()) if key != t.key]
            if others and others[0] >= t.renewal - DECIDING_WINDOW:
                end = t.renewal
        ends[t.key] = end
    return ends


class ArrTimeline:
    """Every account's ARR over time (system of record only), its decided renewals and its open terms.

    Built by `build_timeline`; read-only afterwards. Days are `datetime.date`; amounts `Decimal`."""

    def __init__(self, points: dict[int, tuple[list[dt.date], list[int]]], renewals: list[RenewalEvent],
                 open_terms: list[SubscriptionTerm], ends: dict[str, dt.date | None], record: dict[int, str]):
        self.points = points
        """{account: (days, ARR cents from that day on)}, days ascending, consecutive values different."""
        self.renewals = tuple(sorted(renewals, key=lambda r: (r.day, r.account)))
        self.open_terms = tuple(open_terms)
        """Won terms of the system of record with a renewal date and an open end."""
        self.ends = ends
        self.system_of_record = record
        self.account_ids = np.array(sorted(points), dtype=np.int64)
        index = {a: i for i, a in enumerate(self.account_ids.tolist())}
        keys: list[int] = []
        values: list[int] = []
        first_positive = np.full(len(index), np.iinfo(np.int64).max, dtype=np.int64)
        for account, (days, cents) in points.items():
            i = index[account]
            base = i << _SHIFT
            keys.extend(base | d.toordinal() for d in days)
            values.extend(cents)
            for d, c in zip(days, cents, strict=True):
                if c > 0:
                    first_positive[i] = d.toordinal()
                    break
        order = np.argsort(np.array(keys, dtype=np.int64), kind="stable")
        self._keys = np.array(keys, dtype=np.int64)[order]
        self._values = np.array(values, dtype=np.int64)[order]
        self._first_positive = first_positive
        self._index = index
        self._base = np.arange(len(index), dtype=np.int64) << _SHIFT
        self._renewal_days = np.array([r.day.toordinal() for r in self.renewals], dtype=np.int64)
        self._renewal_accounts = np.array([index.get(r.account, -1) for r in self.renewals], dtype=np.int64)

    # -- one account -------------------------------------------------------------------------------
    def arr_on(self, account: int, day: dt.date) -> Decimal:
        """ARR(account, day): 0 for an account never in force."""
        return from_cents(self.cents_on(account, day))

    def cents_on(self, account: int, day: dt.date) -> int:
        if account not in self.points:
            return 0
        days, cents = self.points[account]
        i = bisect_right(days, day) - 1
        return cents[i] if i >= 0 else 0

    def ever_before(self, account: int, day: dt.date) -> bool:
        """Whether the account had ARR above 0 on any day before `day`."""
        i = self._index.get(account)
        return i is not None and int(self._first_positive[i]) < day.toordinal()

    # -- every account at once (numpy, for the period figures) ---------------------------------------
    def cents_all(self, day: dt.date) -> np.ndarray:
        """ARR cents on `day` of every account, aligned with `account_ids`."""
        if not len(self._keys):
            return np.zeros(len(self.account_ids), dtype=np.int64)
        query = self._base | day.toordinal()
        pos = np.searchsorted(self._keys, query, side="right") - 1
        safe = np.maximum(pos, 0)
        same = (pos >= 0) & ((self._keys[safe] >> _SHIFT) == (self._base >> _SHIFT))
        return np.where(same, self._values[safe], 0)

    def had_arr_before(self, day: dt.date) -> np.ndarray:
        """Per account (aligned with `account_ids`): ARR above 0 on some day before `day`."""
        return self._first_positive < day.toordinal()

    def mask(self, accounts: Iterable[int] | None) -> np.ndarray:
        """A cohort filter as a boolean mask over `account_ids` (None: every account)."""
        if accounts is None:
            return np.ones(len(self.account_ids), dtype=bool)
        return np.isin(self.account_ids, np.fromiter(accounts, dtype=np.int64))

    def renewals_between(self, first: dt.date, end: dt.date, mask: np.ndarray) -> list[RenewalEvent]:
        """The renewal events dated in [first, end) of the accounts in `mask`."""
        lo, hi = np.searchsorted(self._renewal_days, [first.toordinal(), end.toordinal()], side="left")
        picked = self._renewal_accounts[lo:hi]
        inside = mask[picked] & (picked >= 0)
        return [self.renewals[lo + int(i)] for i in np.flatnonzero(inside)]


def build_timeline(terms: Iterable[SubscriptionTerm]) -> ArrTimeline:
    """The ARR timeline of the accounts of `terms` (any order; keys must be unique)."""
    terms = list(terms)
    keys = [t.key for t in terms]
    if len(set(keys)) != len(keys):
        dupes = sorted(k for k, n in Counter(keys).items() if n > 1)
        raise ValueError(f"subscription keys must be unique; repeated: {', '.join(dupes[:5])}")
    ends = term_ends(terms)
    systems: dict[int, set[str]] = defaultdict(set)
    for t in terms:
        systems[t.account].add(t.system)
    record = {account: system_of_record(names) for account, names in systems.items()}

    # Day deltas per account from the won terms of the system of record.
    deltas: dict[int, dict[dt.date, int]] = defaultdict(lambda: defaultdict(int))
    ending: dict[tuple[int, dt.date], list[SubscriptionTerm]] = defaultdict(list)
    open_terms: list[SubscriptionTerm] = []
    for t in terms:
        if t.status != "active" or t.start is None or record[t.account] != t.system:
            continue
        end = ends[t.key]
        if end is not None and end <= t.start:
            continue
        account_deltas = deltas[t.account]
        if t.versions:
            previous = 0
            for i, (day, value) in enumerate(t.versions):
                since = t.start if i == 0 else max(day, t.start)
                if end is not None and since >= end:
                    break
                cents = to_cents(value)
                account_deltas[since] += cents - previous
                previous = cents
            if end is not None:
                account_deltas[end] -= previous
        else:
            cents = to_cents(t.arr)
            account_deltas[t.start] += cents
            if end is not None:
                account_deltas[end] -= cents
        if end is not None:
            ending[(t.account, end)].append(t)
        elif t.renewal is not None:
            open_terms.append(t)

    points: dict[int, tuple[list[dt.date], list[int]]] = {}
    for account, by_day in deltas.items():
        days: list[dt.date] = []
        values: list[int] = []
        running = 0
        for day in sorted(by_day):
            change = by_day[day]
            if change == 0:
                continue
            running += change
            days.append(day)
            values.append(running)
        if days:
            points[account] = (days, values)
        else:
            points[account] = ([], [])

    def arr_cents(account: int, day: dt.date) -> int:
        days, values = points[account]
        i = bisect_right(days, day) - 1
        return values[i] if i >= 0 else 0

    renewals = []
    one_day = dt.timedelta(days=1)
    for (account, day), ended in ending.items():
        up = sum(t.cents_on(day - one_day) for t in ended)
        before, after = arr_cents(account, day - one_day), arr_cents(account, day)
        continuing = before - up
        renewed = min(max(after - continuing, 0), up)
        renewals.append(RenewalEvent(account, day, from_cents(up), from_cents(continuing), from_cents(renewed),
                                     from_cents(after - before)))
    return ArrTimeline(points, renewals, open_terms, ends, record)


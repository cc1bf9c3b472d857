"""Subscriptions in force and the ARR of each account over time (docs/analytics.md, first two sections).

Amounts: `Decimal` at every edge (the store's `Numeric(14, 2)`), whole cents (`int`) inside, so sums are
exact and a ratio is computed once from integers (the same in ARR or MRR). An ARR with more than two
decimals is refused.

`build_timeline(terms)` picks each account's system of record, decides each won term's end, and keeps per
account the days its ARR changes, the decided renewals (`RenewalEvent`) and the open terms, which
`movements`, `retention` and `forecast` read. Inside, each of these is a few sorted NumPy arrays keyed by
(account index << 22 | day ordinal), so a figure over 100,000 accounts is a handful of vector operations.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property, lru_cache

import numpy as np

STATUSES = ("active", "churned", "pending")
"""won, lost, open (the store's `subscriptions.status`)."""
SYSTEM_ORDER = ("salesforce", "hubspot", "zendesk")
"""The system of record is the first of these holding any subscription of the account, else the first by name."""
DECIDING_WINDOW = dt.timedelta(days=30)
"""A won or lost term starting on or after `renewal_date - 30 days` decides the renewal."""
_SHIFT = 22  # date.max.toordinal() < 2**22: (account index << 22) | day ordinal is one sortable int64 key
_DAY = (1 << _SHIFT) - 1


def to_cents(amount: Decimal | int, what: str = "ARR") -> int:
    """Whole cents of `amount`; a clear error for a negative, non-finite or sub-cent amount."""
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int):
        raise ValueError(f"{what} must be a Decimal or an int, not {type(amount).__name__} ({amount!r})")
    if isinstance(amount, int):
        if amount < 0:
            raise ValueError(f"{what} must be a finite amount >= 0, got {amount!r}")
        return amount * 100
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{what} must be a finite amount >= 0, got {amount!r}")
    cents = amount * 100
    whole = int(cents)
    if whole != cents:
        raise ValueError(f"{what} has more than two decimals: {amount!r}")
    return whole


@lru_cache(maxsize=1 << 16)
def from_cents(cents: int) -> Decimal:
    """`Decimal` of whole cents (cached: ARR amounts repeat across a book, and a Decimal is immutable)."""
    return Decimal(cents).scaleb(-2)


@dataclass(frozen=True)
class SubscriptionTerm:
    """One subscription row (`store.models.Subscription`) as analytics reads it.

    `versions`: the ARR values sync has seen when the ARR was edited in place, oldest first, as
    (effective day, ARR), the last one being the current `arr`; on day d the term carries the newest
    version effective on or before d, the first counting from `start`. Empty: `arr` throughout.
    A won term without `start` is never in force (it cannot be placed in time).
    """

    key: str
    account: int
    system: str
    arr: Decimal
    start: dt.date | None
    renewal: dt.date | None
    status: str
    versions: tuple[tuple[dt.date, Decimal], ...] = ()
    _cents: int = field(default=0, init=False, repr=False, compare=False)
    _version_days: tuple[dt.date, ...] = field(default=(), init=False, repr=False, compare=False)
    _version_cents: tuple[int, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"subscription {self.key}: status must be one of {', '.join(STATUSES)}, "
                             f"got {self.status!r}")
        if not isinstance(self.account, int) or isinstance(self.account, bool):
            raise ValueError(f"subscription {self.key}: account must be an account id (int), got {self.account!r}")
        object.__setattr__(self, "_cents", to_cents(self.arr, f"subscription {self.key}'s ARR"))
        if self.versions:
            days = tuple(day for day, _ in self.versions)
            if list(days) != sorted(days):
                raise ValueError(f"subscription {self.key}: versions must be sorted by effective day")
            cents = tuple(to_cents(value, f"subscription {self.key}'s ARR version") for _, value in self.versions)
            if cents[-1] != self._cents:
                raise ValueError(f"subscription {self.key}: the last version ({self.versions[-1][1]}) must be the "
                                 f"current ARR ({self.arr})")
            object.__setattr__(self, "_version_days", days)
            object.__setattr__(self, "_version_cents", cents)

    def cents_on(self, day: dt.date) -> int:
        """This term's ARR in cents on `day` (whether or not it is in force then)."""
        if not self._version_days:
            return self._cents
        i = bisect_right(self._version_days, day) - 1
        return self._version_cents[max(i, 0)]


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
    first: dict[tuple[int, str], tuple[dt.date, str]] = {}
    second: dict[tuple[int, str], dt.date] = {}
    for t in terms:
        if t.status != "pending" and t.start is not None:
            group = (t.account, t.system)
            top = first.get(group)
            if top is None or (t.start, t.key) > top:
                if top is not None:
                    second[group] = top[0]
                first[group] = (t.start, t.key)
            elif group not in second or t.start > second[group]:
                second[group] = t.start
    ends: dict[str, dt.date | None] = {}
    for t in terms:
        end = None
        if t.status == "active" and t.renewal is not None:
            group = (t.account, t.system)
            top = first.get(group)
            other = None if top is None else (top[0] if top[1] != t.key else second.get(group))
            if other is not None and other >= t.renewal - DECIDING_WINDOW:
                end = t.renewal
        ends[t.key] = end
    return ends


def _sum_by_key(keys: np.ndarray, amounts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique keys, the sum of `amounts` per key)."""
    if not len(keys):
        return keys, amounts
    order = np.argsort(keys, kind="stable")
    keys, amounts = keys[order], amounts[order]
    unique, starts = np.unique(keys, return_index=True)
    return unique, np.add.reduceat(amounts, starts)


class ArrTimeline:
    """Every account's ARR over time (system of record only), its decided renewals and its open terms.

    Built by `build_timeline`; read-only afterwards. Days are `datetime.date`; amounts `Decimal` at the edge."""

    def __init__(self, account_ids: list[int], keys: np.ndarray, values: np.ndarray, renewal_keys: np.ndarray,
                 renewal_up: np.ndarray, open_terms: list[SubscriptionTerm], ends: dict[str, dt.date | None],
                 record: dict[int, str]):
        self.account_ids = np.array(account_ids, dtype=np.int64)
        """Every account of the terms, ascending; the arrays below index accounts by position in it."""
        self.ends = ends
        """{term key: end} (`term_ends`)."""
        self.system_of_record = record
        self._index = {a: i for i, a in enumerate(account_ids)}
        self._base = np.arange(len(account_ids), dtype=np.int64) << _SHIFT
        # ARR change points: key = account index << 22 | day ordinal, value = ARR cents from that day on.
        self._keys, self._values = keys, values
        accounts = keys >> _SHIFT
        self._previous = np.where(np.r_[True, accounts[1:] != accounts[:-1]], 0, np.r_[0, values[:-1]])
        self._first_positive = np.full(len(account_ids), np.iinfo(np.int64).max, dtype=np.int64)
        positive = values > 0
        np.minimum.at(self._first_positive, accounts[positive], keys[positive] & _DAY)
        # Decided renewals, by (day, account): up = ARR that ended, before/after = ARR on day - 1 / day.
        before = self._cents_at(renewal_keys - 1)
        after = self._cents_at(renewal_keys)
        order = np.lexsort((renewal_keys >> _SHIFT, renewal_keys & _DAY))
        self._r_accounts = (renewal_keys >> _SHIFT)[order]
        self._r_days = (renewal_keys & _DAY)[order]
        self._r_up = renewal_up[order]
        self._r_continuing = (before - renewal_up)[order]
        self._r_renewed = np.clip(after - before + renewal_up, 0, renewal_up)[order]
        self._r_delta = (after - before)[order]
        # Open terms (won, system of record, renewal date, end open), by renewal day.
        self.open_terms = tuple(sorted(open_terms, key=lambda t: (t.renewal, t.account, t.key)))
        """Won terms of the system of record with a renewal date and an open end, by renewal date."""
        self._o_accounts = np.array([self._index[t.account] for t in self.open_terms], dtype=np.int64)
        self._o_days = np.array([t.renewal.toordinal() for t in self.open_terms  # type: ignore[union-attr]
                                 ], dtype=np.int64)
        self._o_cents = np.array([t.cents_on(dt.date.fromordinal(day - 1)) for t, day in
                                  zip(self.open_terms, self._o_days.tolist(), strict=True)], dtype=np.int64)

    def _cents_at(self, query: np.ndarray) -> np.ndarray:
        """ARR cents at each (account index << 22 | day ordinal) of `query`."""
        if not len(self._keys) or not len(query):
            return np.zeros(len(query), dtype=np.int64)
        pos = np.searchsorted(self._keys, query, side="right") - 1
        safe = np.maximum(pos, 0)
        same = (pos >= 0) & ((self._keys[safe] >> _SHIFT) == (query >> _SHIFT))
        return np.where(same, self._values[safe], 0)

    # -- one account -------------------------------------------------------------------------------
    def arr_on(self, account: int, day: dt.date) -> Decimal:
        """ARR(account, day): 0 for an account never in force."""
        return from_cents(self.cents_on(account, day))

    def cents_on(self, account: int, day: dt.date) -> int:
        i = self._index.get(account)
        if i is None:
            return 0
        return int(self._cents_at(np.array([i << _SHIFT | day.toordinal()], dtype=np.int64))[0])

    def ever_before(self, account: int, day: dt.date) -> bool:
        """Whether the account had ARR above 0 on any day before `day`."""
        i = self._index.get(account)
        return i is not None and int(self._first_positive[i]) < day.toordinal()

    # -- every account at once -----------------------------------------------------------------------
    def cents_all(self, day: dt.date) -> np.ndarray:
        """ARR cents on `day` of every account, aligned with `account_ids`."""
        return self._cents_at(self._base | day.toordinal())

    def had_arr_before(self, day: dt.date) -> np.ndarray:
        """Per account (aligned with `account_ids`): ARR above 0 on some day before `day`."""
        return self._first_positive < day.toordinal()

    def mask(self, accounts: Iterable[int] | None) -> np.ndarray:
        """A cohort filter as a boolean mask over `account_ids` (None: every account)."""
        if accounts is None:
            return np.ones(len(self.account_ids), dtype=bool)
        return np.isin(self.account_ids, np.fromiter(accounts, dtype=np.int64))

    def changes(self, first: dt.date, end: dt.date, mask: np.ndarray) -> list[tuple[int, dt.date, int, int, bool]]:
        """(account, day, cents before, cents after, had ARR before that day) of every change in [first, end)."""
        days = self._keys & _DAY
        pick = (days >= first.toordinal()) & (days < end.toordinal())
        accounts = self._keys >> _SHIFT
        pick &= mask[accounts]
        idx = np.flatnonzero(pick)
        ids = self.account_ids[accounts[idx]].tolist()
        had = (self._first_positive[accounts[idx]] < days[idx]).tolist()
        return [(a, dt.date.fromordinal(d), b, c, h) for a, d, b, c, h in zip(
            ids, days[idx].tolist(), self._previous[idx].tolist(), self._values[idx].tolist(), had, strict=True)]

    # -- decided renewals ----------------------------------------------------------------------------
    def _renewal_slice(self, first: dt.date, end: dt.date, mask: np.ndarray) -> np.ndarray:
        lo, hi = np.searchsorted(self._r_days, [first.toordinal(), end.toordinal()], side="left")
        picked = np.arange(lo, hi)
        return picked[mask[self._r_accounts[lo:hi]]]

    def renewal_totals(self, first: dt.date, end: dt.date, mask: np.ndarray) -> tuple[int, int, int, int]:
        """(renewals, renewals with something renewed, Σ up cents, Σ renewed cents) dated in [first, end)."""
        idx = self._renewal_slice(first, end, mask)
        renewed = self._r_renewed[idx]
        return len(idx), int((renewed > 0).sum()), int(self._r_up[idx].sum()), int(renewed.sum())

    def renewals_between(self, first: dt.date, end: dt.date, mask: np.ndarray) -> list[RenewalEvent]:
        """The decided term ends dated in [first, end) of the accounts in `mask`, by day then account."""
        return self._events(self._renewal_slice(first, end, mask))

    @cached_property
    def renewals(self) -> tuple[RenewalEvent, ...]:
        """Every decided term end, by day then account."""
        return tuple(self._events(np.arange(len(self._r_days))))

    def _events(self, idx: np.ndarray) -> list[RenewalEvent]:
        columns = (self.account_ids[self._r_accounts[idx]].tolist(), self._r_days[idx].tolist(),
                   self._r_up[idx].tolist(), self._r_continuing[idx].tolist(), self._r_renewed[idx].tolist(),
                   self._r_delta[idx].tolist())
        return [RenewalEvent(a, dt.date.fromordinal(d), from_cents(u), from_cents(c), from_cents(r), from_cents(x))
                for a, d, u, c, r, x in zip(*columns, strict=True)]

    def renewal_rows(self, first: dt.date, end: dt.date) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(account ids, day ordinals, up cents, renewed cents) of the decided term ends in [first, end)."""
        idx = self._renewal_slice(first, end, np.ones(len(self.account_ids), dtype=bool))
        return (self.account_ids[self._r_accounts[idx]], self._r_days[idx], self._r_up[idx], self._r_renewed[idx])

    def first_renewal(self) -> dt.date | None:
        """The day of the first decided term end with something up for renewal (None: none yet)."""
        days = self._r_days[self._r_up > 0]
        return dt.date.fromordinal(int(days[0])) if len(days) else None

    # -- open terms ----------------------------------------------------------------------------------
    def open_between(self, first: dt.date, end: dt.date, mask: np.ndarray) -> list[SubscriptionTerm]:
        """Open terms whose renewal date is in [first, end), of the accounts in `mask`."""
        lo, hi = np.searchsorted(self._o_days, [first.toordinal(), end.toordinal()], side="left")
        return [self.open_terms[lo + int(i)] for i in np.flatnonzero(mask[self._o_accounts[lo:hi]])]

    def open_rows(self, end: dt.date, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(account ids, renewal day ordinals, cents up) of the open terms renewing before `end`, summed per
        account and renewal day, by day then account."""
        hi = int(np.searchsorted(self._o_days, end.toordinal(), side="left"))
        pick = np.flatnonzero(mask[self._o_accounts[:hi]])
        keys, cents = _sum_by_key(self._o_accounts[pick] << _SHIFT | self._o_days[pick], self._o_cents[pick])
        index, days = keys >> _SHIFT, keys & _DAY
        order = np.lexsort((index, days))
        return self.account_ids[index[order]], days[order], cents[order]


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
    account_ids = sorted(systems)
    index = {a: i for i, a in enumerate(account_ids)}

    # ARR deltas (account index << 22 | day ordinal, cents) from the won terms of the system of record.
    delta_keys: list[int] = []
    deltas: list[int] = []
    end_keys: list[int] = []
    ended: list[int] = []
    open_terms: list[SubscriptionTerm] = []
    one_day = dt.timedelta(days=1)
    for t in terms:
        if t.status != "active" or t.start is None or record[t.account] != t.system:
            continue
        end = ends[t.key]
        if end is not None and end <= t.start:
            continue
        base = index[t.account] << _SHIFT
        last = t._cents
        if t._version_days:
            previous = 0
            for i, (day, cents) in enumerate(zip(t._version_days, t._version_cents, strict=True)):
                since = t.start if i == 0 else max(day, t.start)
                if end is not None and since >= end:
                    break
                delta_keys.append(base | since.toordinal())
                deltas.append(cents - previous)
                previous = cents
            last = previous
        else:
            delta_keys.append(base | t.start.toordinal())
            deltas.append(last)
        if end is not None:
            delta_keys.append(base | end.toordinal())
            deltas.append(-last)
            end_keys.append(base | end.toordinal())
            ended.append(t.cents_on(end - one_day))
        elif t.renewal is not None:
            open_terms.append(t)

    change_keys, change = _sum_by_key(np.array(delta_keys, dtype=np.int64), np.array(deltas, dtype=np.int64))
    moved = change != 0
    change_keys, change = change_keys[moved], change[moved]
    values = np.cumsum(change)
    if len(values):  # restart the running sum at each account
        accounts = change_keys >> _SHIFT
        starts = np.flatnonzero(np.r_[True, accounts[1:] != accounts[:-1]])
        before_start = values[starts] - change[starts]
        values = values - np.repeat(before_start, np.diff(np.r_[starts, len(values)]))
    renewal_keys, renewal_up = _sum_by_key(np.array(end_keys, dtype=np.int64), np.array(ended, dtype=np.int64))
    return ArrTimeline(account_ids, change_keys, values, renewal_keys, renewal_up, open_terms, ends, record)

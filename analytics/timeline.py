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
import io
import threading
import zipfile
from bisect import bisect_right
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

STATUSES = ("active", "churned", "pending")
"""won, lost, open (the store's `subscriptions.status`)."""
SYSTEM_ORDER = ("salesforce", "hubspot", "zendesk")
"""The system of record is the first of these holding any subscription of the account, else the first by name."""
DECIDING_WINDOW = dt.timedelta(days=30)
"""A won or lost term starting on or after `renewal_date - 30 days` decides the renewal."""
_FORMAT = 1
"""The layout `ArrTimeline.dumps` writes; a stored timeline of another layout is rebuilt, never read."""
_SHIFT = 22  # date.max.toordinal() < 2**22: (account index << 22) | day ordinal is one sortable int64 key
_DAY = (1 << _SHIFT) - 1


def to_cents(amount: Decimal | int, what: str = "ARR") -> int:
    """Whole cents of `amount`; a clear error for a negative, non-finite or sub-cent amount."""
    if type(amount) is Decimal and amount.is_finite():
        cents = amount * 100
        whole = int(cents)
        if whole == cents and whole >= 0:
            return whole
    elif type(amount) is int and amount >= 0:
        return amount * 100
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int):
        raise ValueError(f"{what} must be a Decimal or an int, not {type(amount).__name__} ({amount!r})")
    if (isinstance(amount, Decimal) and not amount.is_finite()) or amount < 0:
        raise ValueError(f"{what} must be a finite amount >= 0, got {amount!r}")
    if int(amount * 100) != amount * 100:
        raise ValueError(f"{what} has more than two decimals: {amount!r}")
    return to_cents(Decimal(amount), what)  # an int or Decimal subclass


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
        if type(self.account) is not int:
            raise ValueError(f"subscription {self.key}: account must be an account id (int), got {self.account!r}")
        try:
            object.__setattr__(self, "_cents", to_cents(self.arr))
        except ValueError as error:
            raise ValueError(f"subscription {self.key}'s {error}") from None
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
    return build_timeline(terms).ends


_STATUS_CODE = {"active": 0, "churned": 1, "pending": 2}


@dataclass(frozen=True, eq=False)
class TermColumns:
    """Terms as columns, one row per subscription: what a store reads in one pass (no object per row).

    `ids`: subscription ids (a term's key is ``str(id)`` unless `keys` names them); `account`: account ids;
    `system`: an index into `systems`; `cents`: ARR in whole cents; `start` / `renewal`: day ordinals, 0 for no
    date; `status`: 0 won, 1 lost, 2 open (`STATUSES`' order); `versions`: {row: `SubscriptionTerm.versions`}
    for the terms whose ARR was edited in place. Checked as `SubscriptionTerm` checks a term."""

    ids: np.ndarray
    account: np.ndarray
    system: np.ndarray
    systems: tuple[str, ...]
    cents: np.ndarray
    start: np.ndarray
    renewal: np.ndarray
    status: np.ndarray
    versions: dict[int, tuple[tuple[dt.date, Decimal], ...]] = field(default_factory=dict)
    keys: tuple[str, ...] | None = None
    _terms: tuple[SubscriptionTerm, ...] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        n = len(self.ids)
        for name in ("account", "system", "cents", "start", "renewal", "status"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"term columns: {name} has {len(getattr(self, name))} rows, ids {n}")
        if n and (int(self.system.min()) < 0 or int(self.system.max()) >= len(self.systems)):
            raise ValueError("term columns: a system index is outside `systems`")
        bad = np.flatnonzero((self.status < 0) | (self.status > 2))
        if len(bad):
            raise ValueError(f"subscription {self.key(int(bad[0]))}: status must be one of {', '.join(STATUSES)}")
        bad = np.flatnonzero(self.cents < 0)
        if len(bad):
            raise ValueError(f"subscription {self.key(int(bad[0]))}'s ARR must be a finite amount >= 0, got "
                             f"{from_cents(int(self.cents[bad[0]]))}")
        keys = self.keys if self.keys is not None else self.ids
        ascending = self.keys is None and (n < 2 or bool((np.diff(self.ids) > 0).all()))  # unique, no hashing
        if not ascending and len(np.unique(np.asarray(keys))) != n:
            dupes = sorted(str(k) for k, c in Counter(keys.tolist() if isinstance(keys, np.ndarray) else keys).items()
                           if c > 1)
            raise ValueError(f"subscription keys must be unique; repeated: {', '.join(dupes[:5])}")
        for row in self.versions:
            self.term(row)  # a version list checked as a term checks it

    def __len__(self) -> int:
        return len(self.ids)

    def key(self, row: int) -> str:
        return self.keys[row] if self.keys is not None else str(int(self.ids[row]))

    def term(self, row: int) -> SubscriptionTerm:
        """Row `row` as a `SubscriptionTerm`."""
        if self._terms is not None:
            return self._terms[row]
        start, renewal = int(self.start[row]), int(self.renewal[row])
        return SubscriptionTerm(
            key=self.key(row), account=int(self.account[row]), system=self.systems[int(self.system[row])],
            arr=from_cents(int(self.cents[row])), start=dt.date.fromordinal(start) if start else None,
            renewal=dt.date.fromordinal(renewal) if renewal else None, status=STATUSES[int(self.status[row])],
            versions=self.versions.get(row, ()))

    @classmethod
    def from_terms(cls, terms: Iterable[SubscriptionTerm]) -> TermColumns:
        terms = tuple(terms)
        n = len(terms)
        systems = tuple(sorted({t.system for t in terms}))
        code = {name: i for i, name in enumerate(systems)}
        return cls(
            ids=np.arange(n, dtype=np.int64), account=np.fromiter((t.account for t in terms), np.int64, n),
            system=np.fromiter((code[t.system] for t in terms), np.int64, n), systems=systems,
            cents=np.fromiter((t._cents for t in terms), np.int64, n),
            start=np.fromiter((t.start.toordinal() if t.start else 0 for t in terms), np.int64, n),
            renewal=np.fromiter((t.renewal.toordinal() if t.renewal else 0 for t in terms), np.int64, n),
            status=np.fromiter((_STATUS_CODE[t.status] for t in terms), np.int64, n),
            versions={i: t.versions for i, t in enumerate(terms) if t.versions},
            keys=tuple(t.key for t in terms), _terms=terms)


class _Book:
    """The terms as NumPy columns (day ordinals, 0 for no date), with each won term's end decided."""

    @classmethod
    def restore(cls, columns: TermColumns, account_ids: np.ndarray, account: np.ndarray, system: np.ndarray,
                record: np.ndarray, end: np.ndarray, won: np.ndarray, system_names: list[str]) -> _Book:
        """A book as `__init__` decided it (from `ArrTimeline.dumps`), without deciding again."""
        n = len(columns)
        if not all(len(x) == n for x in (account, system, end, won)):
            raise ValueError("book columns of unequal length")
        book = cls.__new__(cls)
        book.columns, book.start, book.renewal = columns, columns.start, columns.renewal
        book.account_ids = account_ids
        book.account, book.system, book.record, book.end, book.won = account, system, record, end, won.astype(bool)
        book.system_names = list(system_names)
        if len(record) != len(book.account_ids):
            raise ValueError("book record of the wrong length")
        return book

    def __init__(self, columns: TermColumns):
        self.columns = columns
        self.account_ids = np.unique(columns.account)
        self.account = np.searchsorted(self.account_ids, columns.account)
        self.start = columns.start
        self.renewal = columns.renewal
        status = columns.status
        names = sorted(set(columns.systems), key=lambda x: (x not in SYSTEM_ORDER, _order(x), x))
        self.system_names = names
        rank = np.array([names.index(name) for name in columns.systems], dtype=np.int64)
        self.system = rank[columns.system] if len(columns) else np.zeros(0, dtype=np.int64)
        # System of record: the lowest-ranked system holding any subscription of the account.
        self.record = np.full(len(self.account_ids), len(names), dtype=np.int64)
        np.minimum.at(self.record, self.account, self.system)
        n = len(columns)
        # Decided: another won or lost term of the same account and system starts on or after renewal - 30 days.
        group = self.account * max(len(names), 1) + self.system
        eligible = np.flatnonzero((status != 2) & (self.start > 0))
        order = eligible[np.lexsort((-self.start[eligible], group[eligible]))]
        g = group[order]
        heads = np.r_[True, g[1:] != g[:-1]] if len(g) else np.zeros(0, dtype=bool)
        groups = g[heads]
        top_term, top_start = order[heads], self.start[order][heads]
        second_start = np.zeros(len(groups), dtype=np.int64)
        seconds = np.flatnonzero(np.r_[False, heads[:-1]] & ~heads) if len(g) else np.zeros(0, dtype=np.int64)
        second_start[np.cumsum(heads)[seconds] - 1] = self.start[order][seconds]
        candidates = np.flatnonzero((status == 0) & (self.renewal > 0))
        at = np.searchsorted(groups, group[candidates])
        found = at < len(groups)
        at = np.minimum(at, max(len(groups) - 1, 0))
        found &= (groups[at] == group[candidates]) if len(groups) else False
        other = np.where(top_term[at] == candidates, second_start[at], top_start[at]) if len(groups) else at
        decided = found & (other > 0) & (other >= self.renewal[candidates] - DECIDING_WINDOW.days)
        self.end = np.zeros(n, dtype=np.int64)
        self.end[candidates[decided]] = self.renewal[candidates[decided]]
        self.won = (status == 0) & (self.start > 0) & (self.record[self.account] == self.system) & (
            (self.end == 0) | (self.end > self.start))


def _order(system: str) -> int:
    return SYSTEM_ORDER.index(system) if system in SYSTEM_ORDER else len(SYSTEM_ORDER)


def _sum_by_key(keys: np.ndarray, amounts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique keys, the sum of `amounts` per key)."""
    if not len(keys):
        return keys, amounts
    order = np.argsort(keys, kind="stable")
    keys, amounts = keys[order], amounts[order]
    unique, starts = np.unique(keys, return_index=True)
    return unique, np.add.reduceat(amounts, starts)


def _narrow(a: np.ndarray) -> np.ndarray:
    """An int64 array in the smallest integer type holding its values (a stored timeline is a third the size)."""
    if a.dtype != np.int64 or not len(a):
        return a
    low, high = int(a.min()), int(a.max())
    for kind in (np.int8, np.int16, np.int32):
        if np.iinfo(kind).min <= low and high <= np.iinfo(kind).max:
            return a.astype(kind)
    return a


class _Widened:
    """A stored timeline's arrays, integers back as int64 (what the timeline computes in)."""

    def __init__(self, files: Any):
        self._files = files

    def __contains__(self, name: str) -> bool:
        return name in self._files

    def __getitem__(self, name: str) -> np.ndarray:
        a = self._files[name]
        return a.astype(np.int64) if a.dtype.kind == "i" and a.dtype != np.int64 else a


CENTS_DAYS_KEPT = 16
"""Days whose every-account ARR cents a timeline keeps (`cents_all`; 8 bytes per account and day: 12.8 MB at 100,000
accounts): a 12-month revenue page with its month to date asks for 15."""


class ArrTimeline:
    """Every account's ARR over time (system of record only), its decided renewals and its open terms.

    Built by `build_timeline`; read-only afterwards. Days are `datetime.date`; amounts `Decimal` at the edge."""

    def __init__(self, book: _Book, keys: np.ndarray, values: np.ndarray, renewal_keys: np.ndarray,
                 renewal_up: np.ndarray, open_rows: np.ndarray, open_cents: np.ndarray):
        self._book = book
        self.account_ids = book.account_ids
        """Every account of the terms, ascending; the arrays below index accounts by position in it."""
        self._base = np.arange(len(self.account_ids), dtype=np.int64) << _SHIFT
        self._renewal_keys, self._renewal_up = renewal_keys, renewal_up  # as given, for `dumps`
        self._open_input, self._open_cents_input = open_rows, open_cents
        # ARR change points: key = account index << 22 | day ordinal, value = ARR cents from that day on.
        self._keys, self._values = keys, values
        accounts = keys >> _SHIFT
        self._previous = np.where(np.r_[True, accounts[1:] != accounts[:-1]], 0, np.r_[0, values[:-1]])
        self._first_positive = np.full(len(self.account_ids), np.iinfo(np.int64).max, dtype=np.int64)
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
        # Open terms (won, system of record, renewal date, end open), by renewal day, account, then input order.
        order = np.lexsort((open_rows, book.account[open_rows], book.renewal[open_rows]))
        self._open_rows = open_rows[order]
        self._o_accounts = book.account[self._open_rows]
        self._o_days = book.renewal[self._open_rows]
        self._o_cents = open_cents[order]
        self._cents_days: OrderedDict[int, np.ndarray] = OrderedDict()  # `cents_all`'s, by day ordinal
        self._cents_lock = threading.Lock()

    # -- kept between processes -----------------------------------------------------------------------
    def dumps(self) -> bytes:
        """The timeline as bytes (NumPy's .npz, no pickle), for `loads` in another process: what a worker builds
        once after a sync, every web process reads instead of rebuilding."""
        book, columns = self._book, self._book.columns
        v_rows = [row for row, steps in sorted(columns.versions.items()) for _ in steps]
        v_steps = [step for _, steps in sorted(columns.versions.items()) for step in steps]
        arrays = {
            "format": np.array([_FORMAT]),
            "ids": columns.ids, "c_account": columns.account, "c_system": columns.system, "cents": columns.cents,
            "start": columns.start, "renewal": columns.renewal, "status": columns.status,
            "systems": np.array(columns.systems, dtype=str),
            "v_rows": np.array(v_rows, dtype=np.int64),
            "v_days": np.array([d.toordinal() for d, _ in v_steps], dtype=np.int64),
            "v_cents": np.array([to_cents(v) for _, v in v_steps], dtype=np.int64),
            "account_ids": book.account_ids, "b_account": book.account, "b_system": book.system,
            "record": book.record, "end": book.end,
            "won": book.won, "system_names": np.array(book.system_names, dtype=str),
            "keys": self._keys, "values": self._values, "renewal_keys": self._renewal_keys,
            "renewal_up": self._renewal_up, "open_rows": self._open_input, "open_cents": self._open_cents_input}
        if columns.keys is not None:
            arrays["names"] = np.array(columns.keys, dtype=str)
        buffer = io.BytesIO()
        narrowed: dict[str, Any] = {name: _narrow(a) for name, a in arrays.items()}
        np.savez(buffer, **narrowed)
        return buffer.getvalue()

    @classmethod
    def loads(cls, data: bytes) -> ArrTimeline:
        """The timeline `dumps` wrote; a ValueError for bytes it did not write."""
        try:
            a = _Widened(np.load(io.BytesIO(data), allow_pickle=False))
            if a["format"].tolist() != [_FORMAT]:
                raise ValueError(f"format {a['format'].tolist()}")
            versions: dict[int, list[tuple[dt.date, Decimal]]] = {}
            for row, day, cents in zip(a["v_rows"].tolist(), a["v_days"].tolist(), a["v_cents"].tolist(),
                                       strict=True):
                versions.setdefault(row, []).append((dt.date.fromordinal(day), from_cents(cents)))
            columns = TermColumns(
                ids=a["ids"], account=a["c_account"], system=a["c_system"], systems=tuple(a["systems"].tolist()),
                cents=a["cents"], start=a["start"], renewal=a["renewal"], status=a["status"],
                versions={row: tuple(steps) for row, steps in versions.items()},
                keys=tuple(a["names"].tolist()) if "names" in a else None)
            book = _Book.restore(columns, a["account_ids"], a["b_account"], a["b_system"], a["record"], a["end"],
                                 a["won"], a["system_names"].tolist())
            return cls(book, a["keys"], a["values"], a["renewal_keys"], a["renewal_up"], a["open_rows"],
                       a["open_cents"])
        except (KeyError, OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"not a stored ARR timeline: {exc}") from None

    @cached_property
    def open_terms(self) -> tuple[SubscriptionTerm, ...]:
        """Won terms of the system of record with a renewal date and an open end, by renewal date."""
        return tuple(self._book.columns.term(i) for i in self._open_rows.tolist())

    @cached_property
    def ends(self) -> dict[str, dt.date | None]:
        """{term key: end} (`term_ends`)."""
        columns = self._book.columns
        return {columns.key(i): (dt.date.fromordinal(e) if e else None) for i, e in enumerate(self._book.end.tolist())}

    @cached_property
    def system_of_record(self) -> dict[int, str]:
        """{account: its system of record}."""
        names = self._book.system_names
        return {a: names[r] for a, r in zip(self.account_ids.tolist(), self._book.record.tolist(), strict=True)}

    @cached_property
    def _index(self) -> dict[int, int]:
        return {a: i for i, a in enumerate(self.account_ids.tolist())}

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
        """ARR cents on `day` of every account, aligned with `account_ids` (read-only: the timeline keeps the last
        `CENTS_DAYS_KEPT` days asked for, so a revenue page's months — each asks for its eve and its last day —
        are searched once per timeline, not on every request)."""
        ordinal = day.toordinal()
        with self._cents_lock:
            found = self._cents_days.get(ordinal)
            if found is not None:
                self._cents_days.move_to_end(ordinal)
                return found
        cents = self._cents_at(self._base | ordinal)
        cents.flags.writeable = False
        with self._cents_lock:
            self._cents_days[ordinal] = cents
            while len(self._cents_days) > CENTS_DAYS_KEPT:
                self._cents_days.popitem(last=False)
        return cents

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
        rows = self._open_rows[lo:hi][mask[self._o_accounts[lo:hi]]]
        return [self._book.columns.term(i) for i in rows.tolist()]

    def open_rows(self, end: dt.date, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(account ids, renewal day ordinals, cents up) of the open terms renewing before `end`, summed per
        account and renewal day, by day then account."""
        hi = int(np.searchsorted(self._o_days, end.toordinal(), side="left"))
        pick = np.flatnonzero(mask[self._o_accounts[:hi]])
        keys, cents = _sum_by_key(self._o_accounts[pick] << _SHIFT | self._o_days[pick], self._o_cents[pick])
        index, days = keys >> _SHIFT, keys & _DAY
        order = np.lexsort((index, days))
        return self.account_ids[index[order]], days[order], cents[order]


def build_timeline(terms: Iterable[SubscriptionTerm] | TermColumns) -> ArrTimeline:
    """The ARR timeline of the accounts of `terms` (any order; keys must be unique)."""
    columns = terms if isinstance(terms, TermColumns) else TermColumns.from_terms(terms)
    book = _Book(columns)
    cents = columns.cents
    versioned = np.zeros(len(columns), dtype=bool)
    versioned[list(columns.versions)] = True
    base = book.account << _SHIFT
    # A term without versions: + its ARR on its start, - its ARR on its end.
    plain = np.flatnonzero(book.won & ~versioned)
    ending = plain[book.end[plain] > 0]
    delta_keys = [base[plain] | book.start[plain], base[ending] | book.end[ending]]
    deltas = [cents[plain], -cents[ending]]
    end_keys = [base[ending] | book.end[ending]]
    ended = [cents[ending]]
    # A term with versions: each edit is a delta on its day (the first from the start), inside [start, end).
    extra_keys: list[int] = []
    extra: list[int] = []
    extra_end_keys: list[int] = []
    extra_ended: list[int] = []
    for i in np.flatnonzero(book.won & versioned).tolist():
        t = columns.term(i)
        start, end, key_base = int(book.start[i]), int(book.end[i]), int(base[i])
        previous = 0
        for j, (day, value) in enumerate(zip(t._version_days, t._version_cents, strict=True)):
            since = start if j == 0 else max(day.toordinal(), start)
            if end and since >= end:
                break
            extra_keys.append(key_base | since)
            extra.append(value - previous)
            previous = value
        if end:
            extra_keys.append(key_base | end)
            extra.append(-previous)
            extra_end_keys.append(key_base | end)
            extra_ended.append(t.cents_on(dt.date.fromordinal(end - 1)))
    change_keys, change = _sum_by_key(np.concatenate([*delta_keys, np.array(extra_keys, dtype=np.int64)]),
                                      np.concatenate([*deltas, np.array(extra, dtype=np.int64)]))
    moved = change != 0
    change_keys, change = change_keys[moved], change[moved]
    values = np.cumsum(change)
    if len(values):  # restart the running sum at each account
        accounts = change_keys >> _SHIFT
        starts = np.flatnonzero(np.r_[True, accounts[1:] != accounts[:-1]])
        before_start = values[starts] - change[starts]
        values = values - np.repeat(before_start, np.diff(np.r_[starts, len(values)]))
    renewal_keys, renewal_up = _sum_by_key(
        np.concatenate([*end_keys, np.array(extra_end_keys, dtype=np.int64)]),
        np.concatenate([*ended, np.array(extra_ended, dtype=np.int64)]))
    open_rows = np.flatnonzero(book.won & (book.end == 0) & (book.renewal > 0))
    open_cents = np.array([columns.term(i).cents_on(dt.date.fromordinal(int(book.renewal[i]) - 1))
                           for i in open_rows[versioned[open_rows]].tolist()], dtype=np.int64)
    up = cents[open_rows]
    up[versioned[open_rows]] = open_cents
    return ArrTimeline(book, change_keys, values, renewal_keys, renewal_up, open_rows, up)

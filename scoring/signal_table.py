"""`compute_signals` for many accounts at once, over arrays: the signals of a whole chunk as a `SignalTable`.

`compute_signal_table(accounts, as_of, model, usage)` gives, for every account, exactly
``compute_signals(accounts[i], as_of, model)`` — `table.row(i)` is that `Signals`, field for field, and
the table's columns hold its scorable values — without a Python loop per usage row. The usage rows of all
accounts are one set of columns (`UsageColumns`: account position, day ordinal, user and event codes,
count), which a loader fills set-wise or `UsageColumns.from_inputs` builds from the accounts' own rows.

How the counts are made: every (account, user) pair gets a dense id (a dense mark of the row keys, or, with
many users, the user's code in its owner account: no sort of the rows); a pair's activity is a 64-bit mask of
the days it was active (bit = days back; login rows apart) and its key features a bit mask of the features
it used in the last 28 days; windowed distinct users and user-days are then bit tests and population counts,
last days lowest set bits, sums one `bincount` per account and class of row. Tickets, contacts and survey
answers are flattened to columns once (maps over the objects) and counted the same way; the per-account
facts (seats, onboarding start, renewal, ARR) are read by maps over the accounts. Every float is built from the same
whole numbers by the same operations as `compute_signals` builds it, so the values are the same floats.

One case keeps the one-account computation (as `scoring.series` does): an account whose usage keys
differ only in letter case (which of them the contacts match depends on the order of the rows, which
are then taken in the columns' order).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from operator import attrgetter
from typing import TYPE_CHECKING, Any, cast, overload

import numpy as np
import numpy.typing as npt

from scoring.batch import CATEGORIES, SignalTable, _codes
from scoring.inputs import CLOSED_TICKET_STATUSES, AccountInputs, UsageDay
from scoring.signals import SIGNALS, USUAL_TICKETS_FROM, Signals, SignalSettings, _day, _settings, compute_signals

if TYPE_CHECKING:
    from scoring.model import HealthModel

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

DAY_COLUMNS = 64
"""Days back marked per (account, user) pair (the windows read the last 28)."""
MAX_FLAGS = 64
"""Key features and milestones are bit masks of 64 bits; a model naming more (or one twice) is computed
account by account."""


@dataclass(frozen=True)
class UsageColumns:
    """The usage rows of many accounts as columns. Row r: account `accounts[account[r]]`, the day with
    ordinal `day[r]`, user `users[user[r]]`, event `events[event[r]]`, `count[r]` uses."""

    account: IntArray
    day: IntArray
    user: IntArray
    event: IntArray
    count: IntArray
    users: tuple[str, ...]
    events: tuple[str, ...]

    def __post_init__(self) -> None:
        size = len(self.account)
        for name in ("day", "user", "event", "count"):
            if len(getattr(self, name)) != size:
                raise ValueError(f"usage column {name!r} has {len(getattr(self, name))} rows, account has {size}")

    @classmethod
    def from_inputs(cls, accounts: Sequence[AccountInputs]) -> UsageColumns:
        """The columns of the accounts' own `usage` rows (one pass over them)."""
        collecting = gc.isenabled()
        gc.disable()
        try:
            return cls._from_inputs(accounts)
        finally:
            if collecting:
                gc.enable()

    @classmethod
    def _from_inputs(cls, accounts: Sequence[AccountInputs]) -> UsageColumns:
        users: dict[str, int] = {}
        events: dict[str, int] = {}
        ordinals: dict[Any, int] = {}
        account: list[int] = []
        day: list[int] = []
        user: list[int] = []
        event: list[int] = []
        count: list[int] = []
        for i, a in enumerate(accounts):
            if not a.usage:
                continue
            for row in a.usage:
                d = row.day
                o = ordinals.get(d)
                if o is None:
                    o = ordinals[d] = _day(d).toordinal()
                account.append(i)
                day.append(o)
                user.append(users.setdefault(row.user_key, len(users)))
                event.append(events.setdefault(row.event, len(events)))
                count.append(row.count)
        return cls(np.array(account, dtype=np.int64), np.array(day, dtype=np.int64), np.array(user, dtype=np.int64),
                   np.array(event, dtype=np.int64), np.array(count, dtype=np.int64), tuple(users), tuple(events))


def _group_ids(keys: IntArray, space: int) -> tuple[IntArray, IntArray]:
    """(the distinct keys, sorted; each key's position among them). Keys lie in 0..space−1: a small space is
    marked densely, a large one sorted."""
    if space <= 2 * len(keys) + 65536:
        seen = np.zeros(space, dtype=bool)
        seen[keys] = True
        rank = np.cumsum(seen) - 1
        return np.flatnonzero(seen), rank[keys]
    ordered = np.sort(keys, kind="stable")
    distinct = ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if len(ordered) else ordered
    return distinct, np.searchsorted(distinct, keys)


def _pairs(acc: IntArray, user: IntArray, n: int, width: int) -> tuple[IntArray, IntArray, int, IntArray | None]:
    """The rows' (account, user) pairs: (the pairs' keys ``account × width + user``, sorted; each row's id among
    `rows` ids; `rows`; each sorted pair's id, None when the ids are the sorted positions).

    A small key space is marked densely (`_group_ids`). A large one comes from many users (user keys are mostly
    an account's own): a user's rows in its owner account (the account of any one of its rows) are one pair, whose
    id is the user's code, and only its rows in other accounts are grouped by key; the pairs, not the rows, are
    then sorted."""
    space = n * width
    if space <= 2 * len(acc) + 65536:
        keys = acc * width
        keys += user
        pairs, pid = _group_ids(keys, space)
        return pairs, pid, len(pairs), None
    owner = np.full(width, -1, dtype=np.int64)
    owner[user] = acc  # each user's owner: the account of one of its rows
    rid = user
    others = np.flatnonzero(owner[user] != acc)
    extra = np.zeros(0, dtype=np.int64)
    if len(others):
        extra, position = _group_ids(acc[others] * width + user[others], space)
        rid = user.copy()
        rid[others] = width + position
    owned = np.flatnonzero(owner >= 0)
    keys = np.concatenate([owner[owned] * width + owned, extra])
    ids = np.concatenate([owned, width + np.arange(len(extra), dtype=np.int64)])
    order = np.argsort(keys)  # the keys are distinct
    return keys[order], rid, width + len(extra), ids[order]


def _trailing_zeros(x: npt.NDArray[np.uint64]) -> IntArray:
    """The position of each number's lowest set bit (64 for 0)."""
    return _popcount((x & (~x + np.uint64(1))) - np.uint64(1))


def _casefolded(keys: Sequence[str]) -> list[str]:
    """``[k.casefold() for k in keys]``, folded as one string (case folding maps each character on its own, and
    only NUL folds to NUL); the keys themselves when folding changes none (their hashes already known)."""
    joined = "\0".join(keys)
    folded = joined.casefold()
    if folded == joined:
        return list(keys)
    if joined.count("\0") != len(keys) - 1:
        return [k.casefold() for k in keys]
    return folded.split("\0")


class _Ordinals(dict[Any, int]):
    """Day ordinals of dates and datetimes (only the day counts), each worked out once; None's is 0."""

    def __init__(self) -> None:
        super().__init__({None: 0})

    def __missing__(self, value: Any) -> int:
        found = self[value] = _day(value).toordinal()
        return found


def _popcount(x: npt.NDArray[Any]) -> IntArray:
    return np.bitwise_count(x).astype(np.int64)


def _packed(rows: int, bits: int, row: IntArray, bit: IntArray, where: BoolArray) -> npt.NDArray[np.uint64]:
    """Per row, the bits `bit[r]` of every r in it where `where` holds, as one number (`bits` ≤ 64 of them):
    marked in a boolean matrix and packed (`bitwise_or.at` costs several times more)."""
    width = max(8, -(-bits // 8) * 8)
    marks = np.zeros(rows * width, dtype=bool)
    if where.all():
        marks[row * width + bit] = True
    else:
        marks[row[where] * width + bit[where]] = True
    return _as_u64(np.packbits(marks.reshape(rows, width), axis=1, bitorder="little"))


def _as_u64(packed: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint64]:
    """Rows of little-endian bytes (the first 8 of each) as unsigned 64-bit numbers."""
    rows = np.zeros((len(packed), 8), dtype=np.uint8)
    rows[:, :min(8, packed.shape[1])] = packed[:, :8]
    return rows.view("<u8").reshape(-1).astype(np.uint64)


def _bits(flags: Sequence[str]) -> dict[str, int]:
    return {name: 1 << k for k, name in enumerate(flags)}


def _names(mask: int, flags: Sequence[str], present: bool = True) -> tuple[str, ...]:
    return tuple(f for k, f in enumerate(flags) if bool(mask >> k & 1) is present)


def compute_signal_table(
    accounts: Sequence[AccountInputs],
    as_of: dt.date,
    model: SignalSettings | HealthModel | None = None,
    usage: UsageColumns | None = None,
) -> SignalTable:
    """`compute_signals(accounts[i], as_of, model)` for every account, as a `SignalTable`.

    `usage`: the accounts' usage rows as columns (their own `usage` tuples are then only read to know
    whether a usage stream is connected: None or not); without it they are built from the accounts."""
    collecting = gc.isenabled()
    gc.disable()  # many small acyclic objects (rows' tuples, contacts): the cyclic collector only costs time
    try:
        return _Computation(accounts, as_of, _settings(model), usage).table()
    finally:
        if collecting:
            gc.enable()


class _Computation:
    def __init__(self, accounts: Sequence[AccountInputs], as_of: dt.date, settings: SignalSettings,
                 usage: UsageColumns | None) -> None:
        self.accounts = accounts
        self.as_of = as_of
        self.today = as_of.toordinal()
        self.settings = settings
        self.n = n = len(accounts)
        self.fallback: dict[int, Signals] = {}
        self._lists: tuple[Any, ...] | None = None
        self.column_index = {name: j for j, name in enumerate(SIGNALS)}
        """Each scorable signal's place in a row of `_row_lists`' values (SIGNALS' order)."""
        self._names_memo: dict[tuple[int, int, bool], tuple[str, ...]] = {}
        self.values: dict[str, FloatArray] = {name: np.full(n, np.nan) for name in SIGNALS}
        self.present: dict[str, BoolArray] = {name: np.zeros(n, dtype=bool) for name in SIGNALS}
        self.ordinal = _Ordinals()
        self._facts()
        if any(len(flags) > MAX_FLAGS or len(set(flags)) != len(flags)
               for flags in (settings.key_features, settings.milestones)):
            self.fallback = {i: compute_signals(a, as_of, settings) for i, a in enumerate(accounts)}
            self._fill_fallback()
            return
        self.given = usage is not None
        self._usage(usage if usage is not None else UsageColumns.from_inputs(accounts))
        self._tickets()
        self._surveys()
        self._contacts()
        self._onboarding()
        self._fill_fallback()

    # --- set a scorable column ---------------------------------------------------------------------------

    def _set(self, name: str, where: BoolArray, value: FloatArray | float) -> None:
        self.present[name] = where
        self.values[name] = np.where(where, value, np.nan)

    # --- per-account facts, one pass ---------------------------------------------------------------------

    def _facts(self) -> None:
        n, today, accounts, ordinal = self.n, self.today, self.accounts, self.ordinal

        def field(name: str) -> list[Any]:
            return list(map(attrgetter(name), accounts))

        def given(values: list[Any]) -> BoolArray:
            return np.fromiter(map(operator.is_not, values, repeat(None)), dtype=bool, count=n)

        has_usage = given(field("usage"))
        has_tickets = given(field("tickets"))
        seats = np.array([s or 0 for s in field("seats_purchased")], dtype=np.float64)
        # onboarding start ordinal, 0: none
        start = np.array([0 if d is None else ordinal[d] for d in field("onboarding_start")], dtype=np.int64)
        renewal: list[dt.date | None] = [None if d is None else _day(d) for d in field("renewal_date")]
        has_renewal = given(renewal)
        renewal_days = np.zeros(n)
        renewal_days[has_renewal] = [float(d.toordinal() - today) for d in renewal if d is not None]
        arrs = field("arr")
        has_arr = given(arrs)
        arr = np.zeros(n)
        arr[has_arr] = [float(a) for a in arrs if a is not None]
        self.has_usage, self.has_tickets, self.seats, self.start = has_usage, has_tickets, seats, start
        self.renewal = renewal
        self._set("days_to_renewal", has_renewal, renewal_days)
        self._set("arr", has_arr, arr)

    # --- usage -------------------------------------------------------------------------------------------

    def _usage(self, usage: UsageColumns) -> None:
        n, today, settings = self.n, self.today, self.settings
        feature_of = {name: k for k, name in enumerate(settings.key_features)}
        milestone_of = {name: k for k, name in enumerate(settings.milestones)}
        spare = len(settings.key_features)  # the column of a row that is no recent key-feature use
        is_login = [e == settings.login_event for e in usage.events] or [False]
        is_keyed = [e in feature_of for e in usage.events] or [False]
        # Per event code: its column among a pair's marks (login rows' days in the second block; key features
        # after both), and its class in the windowed sums (login × key feature, as a multiple of n).
        event_day_block = np.array(is_login, dtype=np.uint8) * np.uint8(DAY_COLUMNS)
        event_feature = np.array([feature_of.get(e, spare) for e in usage.events] or [0], dtype=np.uint8)
        event_feature += np.uint8(2 * DAY_COLUMNS)
        event_class = (np.array(is_login, dtype=np.int64) * 2 + np.array(is_keyed, dtype=np.int64)) * n
        event_milestone = np.array([milestone_of.get(e, -1) for e in usage.events] or [-1], dtype=np.int64)
        acc, day, count, user, event = usage.account, usage.day, usage.count, usage.user, usage.event
        keep: BoolArray | None = None
        if len(acc):
            if acc.min(initial=0) < 0 or acc.max(initial=0) >= n:
                raise ValueError(f"usage rows name account positions outside 0..{n - 1}")
            if count.min() <= 0 or day.max() > today:  # two reductions, not three passes, when every row counts
                keep = (count > 0) & (day <= today)
            if not self.has_usage.all():
                keep = self.has_usage[acc] if keep is None else keep & self.has_usage[acc]
        if keep is not None and not keep.all():
            acc, day, count, user, event = acc[keep], day[keep], count[keep], user[keep], event[keep]
        age = today - day
        clamp = DAY_COLUMNS - 1
        oldest = int(age.max()) if len(age) else 0
        days_back = age if oldest <= clamp else np.minimum(age, clamp)  # rows 63 days back or more: column 63

        # (account, user) pairs, ordered by account: each row's pair id (`rid`, a row of the marks below) and the
        # row of each pair.
        width = max(len(usage.users), 1)
        pairs, rid, raw_rows, raw_of = _pairs(acc, user, n, width)
        pair_acc = pairs // width
        pair_user = pairs % width
        # Bit sets per pair in one boolean matrix, packed: the days it was active (a column per day back), apart
        # for login rows (a second block of 64), then the key features it used in the last 28 days (and a spare
        # column the other rows mark). A pair's last day and last login are its lowest bits.
        columns = 2 * DAY_COLUMNS + -(-(spare + 1) // 8) * 8
        marks = np.zeros(raw_rows * columns, dtype=bool)
        base = rid * columns
        at = base + days_back
        at += event_day_block[event]
        marks[at] = True
        del at
        base += np.where(days_back >= 28, np.uint8(2 * DAY_COLUMNS + spare), event_feature[event])
        marks[base] = True
        del base
        packed = np.packbits(marks.reshape(raw_rows, columns), axis=1, bitorder="little")
        del marks
        if raw_of is not None:
            packed = packed[raw_of]
        login_days = _as_u64(packed[:, 8:16])
        seen_days = _as_u64(packed[:, :8]) | login_days
        days28 = seen_days & np.uint64((1 << 28) - 1)
        features = _as_u64(packed[:, 2 * DAY_COLUMNS // 8:]) & np.uint64((1 << spare) - 1)
        never = np.int64(1 << 40)
        seen_back = _trailing_zeros(seen_days)
        pair_login_back = _trailing_zeros(login_days)
        pair_login_back[pair_login_back == 64] = never  # no login row
        if oldest >= clamp:  # a lowest bit of 63 stands for every row 63 days back or more: their exact ages
            far = np.flatnonzero(age >= clamp)
            exact = np.full((raw_rows, 2), never, dtype=np.int64)
            far_login = event_day_block[event[far]] != 0
            np.minimum.at(exact.reshape(-1), rid[far] * 2 + far_login, age[far])
            if raw_of is not None:
                exact = exact[raw_of]
            seen_back = np.where(seen_back == clamp, exact.min(axis=1), seen_back)
            pair_login_back = np.where(pair_login_back == clamp, exact[:, 1], pair_login_back)
        last_seen = today - seen_back  # every pair has a row
        starts = np.searchsorted(pair_acc, np.arange(n))
        ends = np.searchsorted(pair_acc, np.arange(n), side="right")
        used = np.zeros(n, dtype=np.uint64)
        some_pair = ends > starts
        if len(pairs):
            used[some_pair] = np.bitwise_or.reduceat(features, starts[some_pair])
        milestones = np.zeros(n, dtype=np.uint64)
        if (event_milestone >= 0).any():  # else no row is a milestone: no pass over them
            milestone = event_milestone[event]
            milestones = _packed(n, len(settings.milestones), acc, milestone, milestone >= 0)
        login_back = np.full(n, never, dtype=np.int64)
        if len(pairs):
            login_back[some_pair] = np.minimum.reduceat(pair_login_back, starts[some_pair])
        last_login = np.where(login_back < never, today - login_back, -1)

        def per_account(where: BoolArray, weights: IntArray | None = None, of: IntArray = acc) -> IntArray:
            counted = np.bincount(of[where], weights=None if weights is None else weights[where], minlength=n)
            return np.rint(counted).astype(np.int64)

        active_pair = days28 != 0
        active = per_account(active_pair, of=pair_acc)
        users7 = per_account((days28 & 0x7F) != 0, of=pair_acc)
        before = per_account(((days28 >> 14) & 0x7F) != 0, of=pair_acc)
        days14 = per_account(np.ones(len(pairs), dtype=bool), _popcount(days28 & 0x3FFF), of=pair_acc)
        days_prev14 = per_account(np.ones(len(pairs), dtype=bool), _popcount(days28 >> 14), of=pair_acc)
        # The windowed sums of counts in one `bincount`: each row's class is (age 0–13, 14–27, older) × login
        # × key feature; each sum adds its classes (whole numbers: the order of the additions does not matter).
        # (class-major: each class's accounts in order, the class looked up by days back and by event; float
        # weights: `bincount` converts ints slowly)
        age_class = np.zeros(DAY_COLUMNS, dtype=np.int64)
        age_class[14:28] = 4 * n
        age_class[28:] = 8 * n
        at = age_class[days_back]
        at += event_class[event]
        at += acc
        sums = np.bincount(at, weights=count.astype(np.float64), minlength=n * 12).reshape(12, n)
        del at
        events14 = np.rint(sums[0:4].sum(axis=0)).astype(np.int64)
        events_prev14 = np.rint(sums[4:8].sum(axis=0)).astype(np.int64)
        logins28 = np.rint(sums[[2, 3, 6, 7]].sum(axis=0)).astype(np.int64)
        key_uses28 = np.rint(sums[[1, 3, 5, 7]].sum(axis=0)).astype(np.int64)
        total = len(settings.key_features)

        has = self.has_usage
        some = active > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            self._set("logins_per_user_week", has, np.where(some, logins28 / active / 4.0, 0.0))
            self._set("days_since_last_login", has & (last_login >= 0), (today - last_login).astype(np.float64))
            self._set("weekly_active_users", has, users7.astype(np.float64))
            self._set("active_users_trend", has & (before > 0), (users7 - before) / before * 100.0)
            self._set("usage_trend", has & (events_prev14 > 0), (events14 - events_prev14) / events_prev14 * 100.0)
            self._set("license_utilisation", has & (self.seats != 0), active / self.seats * 100.0)
            self._set("feature_breadth", has & (total > 0),
                      _popcount(used) / total * 100.0 if total else np.zeros(n))
            self._set("feature_depth", has, np.where(some, key_uses28 / active / 4.0, 0.0))

        # Case-insensitive duplicates of a key: the one-account computation for that account.
        folds = _casefolded(usage.users)
        if len(set(folds)) == len(folds):
            # no two keys differ only in case (keys as the user codes): no twins, the pairs' keys are the folds'
            self.folded = dict(zip(folds, range(len(folds)), strict=True))
            self.fold_width = width
            self.fold_keys, self.fold_last_seen = pairs, last_seen
        else:
            folded = {f: k for k, f in enumerate(dict.fromkeys(folds))}
            fold_of_user = np.fromiter(map(folded.__getitem__, folds), dtype=np.int64, count=len(folds))
            self.folded = folded
            self.fold_width = max(len(folded), 1)
            fold_keys = pair_acc * self.fold_width + fold_of_user[pair_user]
            order = np.argsort(fold_keys, kind="stable")
            sorted_keys = fold_keys[order]
            twins = np.flatnonzero(sorted_keys[1:] == sorted_keys[:-1])
            for i in sorted(set((sorted_keys[twins] // self.fold_width).tolist())):
                account = self.accounts[i]
                if self.given:  # its rows, from the columns, in their order
                    mine = np.flatnonzero(usage.account == i).tolist()
                    account = dataclasses.replace(account, usage=tuple(
                        UsageDay(dt.date.fromordinal(int(usage.day[r])), usage.users[usage.user[r]],
                                 usage.events[usage.event[r]], int(usage.count[r])) for r in mine))
                self.fallback[i] = compute_signals(account, self.as_of, self.settings)
            self.fold_keys, self.fold_last_seen = sorted_keys, last_seen[order]

        self.usage_raw = (before, events14, events_prev14, days14, days_prev14, active, used, starts, ends,
                          active_pair, _popcount(features))
        self.milestone_mask = milestones

    # --- tickets -----------------------------------------------------------------------------------------

    def _tickets(self) -> None:
        n, today = self.n, self.today
        accounts = self.accounts
        lists = [t or () for t in map(attrgetter("tickets"), accounts)]
        tickets = list(chain.from_iterable(lists))
        t_acc = np.repeat(np.arange(n, dtype=np.int64), list(map(len, lists)))
        # Columns of the tickets' fields at C speed (`map`s of attrgetters, not appends in a loop).
        size = len(tickets)
        priority, status, created_at, solved_at, escalated = (
            list(map(attrgetter(name), tickets)) for name in ("priority", "status", "created_at", "solved_at",
                                                              "escalated"))
        ordinal = self.ordinal
        age = today - np.fromiter(map(ordinal.__getitem__, created_at), dtype=np.int64, count=size)
        solved_day = np.fromiter(map(ordinal.__getitem__, solved_at), dtype=np.int64, count=size)  # None: 0
        closed = np.fromiter(map(CLOSED_TICKET_STATUSES.__contains__, status), dtype=bool, count=size)
        urgent = np.fromiter(map(operator.eq, priority, repeat("urgent")), dtype=bool, count=size)
        seen = age >= 0
        is_solved = (solved_day != 0) & (solved_day <= today)
        is_open = seen & ~(is_solved | ((solved_day == 0) & closed))
        is_urgent = is_open & urgent

        def per_account(where: BoolArray, weights: IntArray | None = None) -> IntArray:
            counted = np.bincount(t_acc[where], weights=None if weights is None else weights[where], minlength=n)
            return np.rint(counted).astype(np.int64)

        open_count = per_account(is_open)
        urgent_count = per_account(is_urgent)
        escalations = per_account(is_open, np.fromiter(escalated, dtype=np.int64, count=size))
        created7 = per_account(seen & (age < 7))
        usual = per_account(seen & (age >= 7) & (age >= USUAL_TICKETS_FROM) & (age < USUAL_TICKETS_FROM + 28))
        created30 = per_account(seen & (age < 30))
        prev30 = per_account((age >= 30) & (age < 60))
        oldest = np.full(n, -1, dtype=np.int64)
        np.maximum.at(oldest, t_acc[is_urgent], age[is_urgent])
        has = self.has_tickets
        self._set("open_tickets", has, open_count.astype(np.float64))
        self._set("urgent_open_tickets", has, urgent_count.astype(np.float64))
        self._set("escalated_open_tickets", has, escalations.astype(np.float64))
        self._set("ticket_trend", has, (created30 - prev30) / np.maximum(prev30, 1) * 100.0)
        self.ticket_raw = (oldest, created7, usual, created30, prev30)

    # --- surveys -----------------------------------------------------------------------------------------

    def _surveys(self) -> None:
        n, today, settings = self.n, self.today, self.settings
        c_acc: list[int] = []
        c_day: list[int] = []
        c_good: list[int] = []
        p_acc: list[int] = []
        p_day: list[int] = []
        p_score: list[int] = []
        ordinal = self.ordinal
        for i, a in enumerate(self.accounts):
            for answer in a.csat:
                c_acc.append(i)
                c_day.append(ordinal[answer.day])
                c_good.append(answer.good)
            for nps in a.nps:
                p_acc.append(i)
                p_day.append(ordinal[nps.day])
                p_score.append(nps.score)
        age = today - np.array(c_day, dtype=np.int64)
        inside = (age >= 0) & (age < settings.csat_days)
        ca = np.array(c_acc, dtype=np.int64)
        answered = np.bincount(ca[inside], minlength=n)
        good = np.rint(np.bincount(ca[inside], weights=np.array(c_good, dtype=np.float64)[inside],
                                   minlength=n)).astype(np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            self._set("csat", answered > 0, good / answered * 100.0)
        pa = np.array(p_acc, dtype=np.int64)
        day = np.array(p_day, dtype=np.int64)
        score = np.array(p_score, dtype=np.int64)
        age = today - day
        inside = (age >= 0) & (age < settings.nps_days)
        responses = np.bincount(pa[inside], minlength=n)
        promoters = np.bincount(pa[inside & (score >= 9)], minlength=n)
        detractor = inside & (score <= 6)
        detractors = np.bincount(pa[detractor], minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            self._set("nps", responses > 0, (promoters - detractors) / responses * 100.0)
        # The last detractor: the latest day, and on that day the lowest score.
        last_day = np.full(n, -1, dtype=np.int64)
        np.maximum.at(last_day, pa[detractor], day[detractor])
        on_last = detractor & (day == last_day[pa])
        lowest = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(lowest, pa[on_last], score[on_last])
        self.survey_raw = (answered, responses, last_day, lowest)

    # --- contacts ----------------------------------------------------------------------------------------

    def _contacts(self) -> None:
        n, today, accounts = self.n, self.today, self.accounts
        # The contacts of a role that counts, as columns (maps over them at C speed, as for tickets).
        lists = list(map(attrgetter("contacts"), accounts))
        contacts = list(chain.from_iterable(lists))
        size = len(contacts)
        c_acc = np.repeat(np.arange(n, dtype=np.int64), list(map(len, lists)))
        roles = list(map(attrgetter("role"), contacts))
        is_champion = np.fromiter(map(operator.eq, roles, repeat("champion")), dtype=bool, count=size)
        wanted = is_champion | np.fromiter(map(operator.eq, roles, repeat("executive_sponsor")), dtype=bool,
                                           count=size)
        if self.fallback:
            computed = np.zeros(n, dtype=bool)
            computed[list(self.fallback)] = True
            wanted &= ~computed[c_acc]
        pick = np.flatnonzero(wanted)
        people = list(map(contacts.__getitem__, pick.tolist()))
        acc, champion = c_acc[pick], is_champion[pick]
        count = len(people)
        # The day each was last seen in the usage rows (its key, folded, among the account's pairs) or -1...
        keys = list(map(attrgetter("user_key"), people))
        codes = np.fromiter(map(self.folded.get, _casefolded(keys), repeat(-1)), dtype=np.int64, count=count)
        lookup = np.where(self.has_usage[acc] & (codes >= 0), acc * self.fold_width + codes, -1)
        seen = np.full(count, -1, dtype=np.int64)
        if len(self.fold_keys) and count:
            at = np.minimum(np.searchsorted(self.fold_keys, lookup), len(self.fold_keys) - 1)
            found = (lookup >= 0) & (self.fold_keys[at] == lookup)
            seen[found] = self.fold_last_seen[at[found]]
        # ... or its stored last activity when later (and not after the day).
        ordinal = self.ordinal
        stored = np.array([-1 if d is None else ordinal[d] for d in map(attrgetter("last_active"), people)],
                          dtype=np.int64)
        day = np.where((seen < stored) & (stored <= today), stored, seen)
        # Per account and role the most recently active; on one day the first name alphabetically.
        group = acc * 2 + champion
        someone = day >= 0
        last = np.full(2 * n, -1, dtype=np.int64)
        np.maximum.at(last, group[someone], day[someone])
        winners = np.flatnonzero(someone & (day == last[group]))
        won = people if len(winners) == count else list(map(people.__getitem__, winners.tolist()))
        won_names = [name or key for name, key in zip(map(attrgetter("name"), won), map(attrgetter("user_key"), won),
                                                      strict=True)]
        won_groups = group[winners]
        tied = np.bincount(won_groups, minlength=2 * n)[won_groups] > 1
        if not tied.any():
            self.names = dict(zip(won_groups.tolist(), won_names, strict=True))
        else:
            names: dict[int, str] = {}
            for g, name in zip(won_groups.tolist(), won_names, strict=True):
                current = names.get(g)
                if current is None or name < current:
                    names[g] = name
            self.names = names
        sponsor = np.where(last[0::2] >= 0, (today - last[0::2]).astype(np.float64), np.nan)
        champion_days = np.where(last[1::2] >= 0, (today - last[1::2]).astype(np.float64), np.nan)
        self._set("sponsor_days_inactive", last[0::2] >= 0, sponsor)
        self._set("champion_days_inactive", last[1::2] >= 0, champion_days)

    # --- onboarding --------------------------------------------------------------------------------------

    def _onboarding(self) -> None:
        today, settings = self.today, self.settings
        marks = _bits(settings.milestones)
        full = (1 << len(settings.milestones)) - 1
        started = (self.start != 0) & (self.start <= today)
        self._set("days_since_onboarding_start", started, (today - self.start).astype(np.float64))
        known = self.milestone_mask.tolist()
        masks: list[int | None] = [None] * self.n
        complete = np.full(self.n, -1, dtype=np.int8)
        progress = np.full(self.n, np.nan)
        started_list = started.tolist()
        for i, a in enumerate(self.accounts):
            mask = int(known[i])
            for m in a.milestones_reached:
                mask |= marks.get(m, 0)
            if not settings.milestones or not (started_list[i] or known[i] or a.milestones_reached):
                continue
            masks[i] = mask
            complete[i] = 1 if mask == full else 0
            progress[i] = mask.bit_count() / len(settings.milestones) * 100.0
        self.milestones = masks
        self.complete = complete
        self._set("onboarding_progress", ~np.isnan(progress), progress)

    # --- accounts computed one by one --------------------------------------------------------------------

    def _fill_fallback(self) -> None:
        if not hasattr(self, "complete"):
            self.complete = np.full(self.n, -1, dtype=np.int8)
        for i, s in self.fallback.items():
            for name in SIGNALS:
                value = getattr(s, name)
                self.present[name][i] = value is not None
                self.values[name][i] = np.nan if value is None else value
            self.complete[i] = 1 if s.onboarding_complete is True else 0 if s.onboarding_complete is False else -1

    # --- the table and its rows --------------------------------------------------------------------------

    def table(self) -> SignalTable:
        categories = {f: _codes([getattr(a, f) for a in self.accounts]) for f in CATEGORIES}
        return SignalTable(_Rows(self), self.values, self.present, categories, self.complete)

    def _row_lists(self) -> tuple[Any, ...]:
        """The columns `row` reads, as Python lists (made once per table: an element of a list costs a fraction of
        a NumPy scalar's read, and gives the same int or float)."""
        if self._lists is None:
            names = tuple(SIGNALS)
            values = np.stack([self.values[n] for n in names], axis=1).tolist() if self.n else []
            present = np.stack([self.present[n] for n in names], axis=1).tolist() if self.n else []
            usage = tuple(a.tolist() for a in self.usage_raw[:9]) if hasattr(self, "usage_raw") else None
            tickets = tuple(a.tolist() for a in self.ticket_raw) if hasattr(self, "ticket_raw") else None
            surveys = tuple(a.tolist() for a in self.survey_raw)
            self._lists = (names, values, present, usage, tickets, surveys)
        return self._lists

    def _flag_names(self, mask: int, flags: Sequence[str], present: bool = True) -> tuple[str, ...]:
        """`_names`, memoised per table (a chunk's accounts share a few masks)."""
        key = (mask, id(flags), present)
        found = self._names_memo.get(key)
        if found is None:
            found = self._names_memo[key] = _names(mask, flags, present)
        return found

    def row(self, i: int) -> Signals:
        found = self.fallback.get(i)
        if found is not None:
            return found
        a = self.accounts[i]
        names, value_rows, present_rows = self._row_lists()[:3]
        values: dict[str, Any] = {name: value for name, value, here in zip(names, value_rows[i], present_rows[i],
                                                                           strict=True) if here}
        for group in self._groups:
            values.update(group(self, i))
        return Signals(account_id=a.account_id, day=self.as_of, name=a.name, segment=a.segment, tier=a.tier,
                       lifecycle_stage=a.lifecycle_stage, parent_id=a.parent_id, seats_purchased=a.seats_purchased,
                       **values)

    # --- columns of fields beyond the scorable ones (what the alert rules' look-ahead reads) ------------------

    def field_column(self, name: str) -> tuple[FloatArray, BoolArray] | None:
        """The column of a whole-number or date field of the rows (a date as its ordinal) and where it is given:
        ``tickets_created_7d``, ``tickets_weekly_before`` or ``last_detractor_day``; None for another field, or
        when every row is computed one by one."""
        if not hasattr(self, "ticket_raw"):
            return None
        if name == "tickets_created_7d":
            values, present = self.ticket_raw[1].astype(np.float64), self.has_tickets.copy()
        elif name == "tickets_weekly_before":
            values, present = self.ticket_raw[2] / 4.0, self.has_tickets.copy()
        elif name == "last_detractor_day":
            last_day = self.survey_raw[2]
            values, present = last_day.astype(np.float64), last_day >= 0
        else:
            return None
        for i, row in self.fallback.items():
            value = getattr(row, name)
            present[i] = value is not None
            values[i] = np.nan if value is None else value.toordinal() if isinstance(value, dt.date) else value
        return np.where(present, values, np.nan), present

    def users_below(self, share: float) -> IntArray | None:
        """Per account, how many of its `user_key_feature_counts` are under `share` % of the key features (what
        the training rule counts); None when every row is computed one by one."""
        if not hasattr(self, "usage_raw"):
            return None
        total = len(self.settings.key_features)
        count = np.zeros(self.n, dtype=np.int64)
        if total:
            starts, ends, live, depth = self.usage_raw[7], self.usage_raw[8], self.usage_raw[9], self.usage_raw[10]
            below = np.concatenate(([0], np.cumsum(live & (depth / total * 100.0 < share))))
            count = np.where(self.has_usage, below[ends] - below[starts], 0)
        for i, row in self.fallback.items():
            count[i] = sum(1 for n in row.user_key_feature_counts if n / row.key_features_total * 100.0 < share) \
                if row.key_features_total else 0
        return count

    # --- a row's fields beyond the scorable columns, by group (`row`, and `SignalFields` one group at a time) ----

    def _usage_fields(self, i: int) -> dict[str, Any]:
        if self.accounts[i].usage is None:
            return {}
        before, events14, events_prev14, days14, days_prev14, active, used = self._row_lists()[3][:7]
        key_features = self.settings.key_features
        return {"weekly_active_users_before": int(before[i]), "events_14d": int(events14[i]),
                "events_prev_14d": int(events_prev14[i]), "active_days_14d": int(days14[i]),
                "active_days_prev_14d": int(days_prev14[i]), "active_users_28d": int(active[i]),
                "key_features_used": self._flag_names(int(used[i]), key_features),
                "key_features_total": len(key_features)}

    def _depth_fields(self, i: int) -> dict[str, Any]:
        if self.accounts[i].usage is None:
            return {}
        starts, ends = self._row_lists()[3][7:9]
        live, depth = self.usage_raw[9:]
        start, end = starts[i], ends[i]
        return {"user_key_feature_counts": tuple(sorted(depth[start:end][live[start:end]].tolist()))}

    def _ticket_fields(self, i: int) -> dict[str, Any]:
        if self.accounts[i].tickets is None:
            return {}
        oldest, created7, usual, created30, prev30 = self._row_lists()[4]
        return {"oldest_urgent_open_days": int(oldest[i]) if oldest[i] >= 0 else None,
                "tickets_created_7d": int(created7[i]), "tickets_weekly_before": int(usual[i]) / 4.0,
                "tickets_created_30d": int(created30[i]), "tickets_created_prev_30d": int(prev30[i])}

    def _survey_fields(self, i: int) -> dict[str, Any]:
        answered, responses, last_day, lowest = self._row_lists()[5]
        if last_day[i] < 0:
            return {"csat_responses": int(answered[i]), "nps_responses": int(responses[i])}
        return {"csat_responses": int(answered[i]), "nps_responses": int(responses[i]),
                "last_detractor_day": dt.date.fromordinal(int(last_day[i])), "last_detractor_score": int(lowest[i])}

    def _people_fields(self, i: int) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for champion, prefix in ((0, "sponsor"), (1, "champion")):
            person = self.names.get(i * 2 + champion)
            if person is not None:
                found[f"{prefix}_name"] = person
        return found

    def _milestone_fields(self, i: int) -> dict[str, Any]:
        mask = self.milestones[i]
        if mask is None:
            return {}
        milestones = self.settings.milestones
        return {"milestones_reached": self._flag_names(mask, milestones),
                "milestones_missing": self._flag_names(mask, milestones, present=False),
                "onboarding_complete": mask == (1 << len(milestones)) - 1}

    def _renewal_fields(self, i: int) -> dict[str, Any]:
        return {"renewal_date": self.renewal[i]} if self.renewal[i] is not None else {}

    _groups = (_usage_fields, _depth_fields, _ticket_fields, _survey_fields, _people_fields, _milestone_fields,
               _renewal_fields)


_GROUP_FIELDS: dict[Any, tuple[str, ...]] = {
    _Computation._usage_fields: ("weekly_active_users_before", "events_14d", "events_prev_14d", "active_days_14d",
                                 "active_days_prev_14d", "active_users_28d", "key_features_used",
                                 "key_features_total"),
    _Computation._depth_fields: ("user_key_feature_counts",),
    _Computation._ticket_fields: ("oldest_urgent_open_days", "tickets_created_7d", "tickets_weekly_before",
                                  "tickets_created_30d", "tickets_created_prev_30d"),
    _Computation._survey_fields: ("csat_responses", "nps_responses", "last_detractor_day", "last_detractor_score"),
    _Computation._people_fields: ("sponsor_name", "champion_name"),
    _Computation._milestone_fields: ("milestones_reached", "milestones_missing", "onboarding_complete"),
    _Computation._renewal_fields: ("renewal_date",),
}
_GROUP_OF = {name: group for group, names in _GROUP_FIELDS.items() for name in names}
_ACCOUNT_FIELDS = ("name", "segment", "tier", "lifecycle_stage", "parent_id", "seats_purchased")
_DEFAULTS = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[operator]
             for f in dataclasses.fields(Signals) if f.name not in ("account_id", "day")}


class SignalFields:
    """Account i's `Signals` read field by field — what describing a reason or evaluating an alert rule reads of it,
    a few fields — without building the whole `Signals`: a scorable signal from the table's columns, the others a
    group at a time (`_Computation._groups`, the same code `row` runs), each group made when first read and kept as
    attributes (read again without a call). Every field reads as the row's (a test compares them all)."""

    def __init__(self, computation: _Computation, i: int) -> None:
        self._computation = computation
        self._i = i

    def __getattr__(self, name: str) -> Any:
        c, i = self._computation, self._i
        found = c.fallback.get(i)
        if found is not None:
            return getattr(found, name)
        known = self.__dict__
        group = _GROUP_OF.get(name)
        if group is not None:
            fields = group(c, i)
            for field in _GROUP_FIELDS[group]:
                known[field] = fields.get(field, _DEFAULTS[field])
            return known[name]
        column = c.column_index.get(name)
        if column is not None:
            value_rows, present_rows = c._row_lists()[1:3]
            value = known[name] = value_rows[i][column] if present_rows[i][column] else None
            return value
        if name == "account_id":
            return c.accounts[i].account_id
        if name == "day":
            return c.as_of
        if name in _ACCOUNT_FIELDS:
            return getattr(c.accounts[i], name)
        raise AttributeError(name)


class _Rows(Sequence[Signals]):
    """The accounts' `Signals`, each built when read (and kept)."""

    def __init__(self, computation: _Computation) -> None:
        self.computation = computation
        self.built: dict[int, Signals] = {}

    def __len__(self) -> int:
        return self.computation.n

    @overload
    def __getitem__(self, i: int) -> Signals: ...

    @overload
    def __getitem__(self, i: slice) -> list[Signals]: ...

    def __getitem__(self, i: int | slice) -> Signals | list[Signals]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError("account index out of range")
        found = self.built.get(i)
        if found is None:
            found = self.built[i] = self.computation.row(i)
        return found

    def field_column(self, name: str) -> tuple[FloatArray, BoolArray] | None:
        return self.computation.field_column(name)

    def users_below(self, share: float) -> IntArray | None:
        return self.computation.users_below(share)

    def fields(self, i: int) -> Signals:
        """Account i's `Signals` as a `SignalFields` (its fields read when asked), or the row when built already."""
        found = self.built.get(i)
        return found if found is not None else cast("Signals", SignalFields(self.computation, i))

    def from_columns(self) -> tuple[npt.NDArray[np.bool_], list[int], dt.date]:
        """Which rows' `Signals` take every scorable signal from the table's columns (a present value is
        ``float(values[name][i])``, a missing one None: all but the accounts computed one by one), with every
        row's account id and the day (what `Signals.account_id` and `Signals.day` hold)."""
        c = self.computation
        mask = np.ones(c.n, dtype=bool)
        if c.fallback:
            mask[list(c.fallback)] = False
        return mask, [a.account_id for a in c.accounts], c.as_of

"""The usage part of `compute_signal_table` at its edges: the (account, user) pairs both ways (a dense mark of a
small key space; owner accounts when user keys are each account's own), day bits at and past the 63rd day back,
case folding, and accounts with no, one or repeated days — each equal to `compute_signals` for the account alone."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from scoring.inputs import AccountInputs, ContactFact, UsageDay
from scoring.signal_table import UsageColumns, _casefolded, _pairs, compute_signal_table
from scoring.signals import SignalSettings, compute_signals
from tests.scoring.build import AS_OF, days_ago
from tests.scoring.test_signal_table import MODEL, SETTINGS, _account


def _rows_equal(accounts: list[AccountInputs], model: SignalSettings = MODEL.signals,
                columns: UsageColumns | None = None) -> None:
    bare = accounts if columns is None else [dataclasses.replace(a, usage=None if a.usage is None else ())
                                             for a in accounts]
    table = compute_signal_table(bare, AS_OF, model, columns)
    assert [table.row(i) for i in range(len(accounts))] == [compute_signals(a, AS_OF, model) for a in accounts]


def _own_keys(account: AccountInputs, shared: frozenset[str] = frozenset()) -> AccountInputs:
    """The account with user keys of its own (but those in `shared`), in usage and contacts alike."""
    def own(key: str) -> str:
        return key if key.casefold() in shared else f"{key}.{account.account_id}"

    usage = None if account.usage is None else tuple(dataclasses.replace(u, user_key=own(u.user_key))
                                                     for u in account.usage)
    contacts = tuple(dataclasses.replace(c, user_key=own(c.user_key)) for c in account.contacts)
    return dataclasses.replace(account, usage=usage, contacts=contacts)


# --- pairs ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("accounts, users, rows", [(5, 3, 40), (400, 2000, 300), (50, 3000, 5000), (1, 1, 0),
                                                    (300, 1, 0)])
def test_pairs_are_the_distinct_account_user_keys_in_order(accounts: int, users: int, rows: int) -> None:
    rng = np.random.default_rng(accounts * 7 + users)
    acc = rng.integers(0, accounts, rows)
    # users mostly of one account each (user u's account: u % accounts), some met in others
    user = np.where(rng.random(rows) < 0.8, rng.integers(0, users, rows) // accounts * accounts + acc,
                    rng.integers(0, users, rows)) % users
    pairs, rid, raw_rows, raw_of = _pairs(acc, user, accounts, users)
    keys = acc * users + user
    assert pairs.tolist() == np.unique(keys).tolist()
    assert len(rid) == rows and (rid.min(initial=0) >= 0) and rid.max(initial=-1) < raw_rows
    position = np.arange(len(pairs)) if raw_of is None else np.full(raw_rows, -1)
    if raw_of is not None:
        position[raw_of] = np.arange(len(pairs))
    assert (pairs[position[rid]] == keys).all()  # each row's id is its own pair's


def test_both_ways_of_numbering_pairs_are_taken() -> None:
    acc = np.arange(10) % 5
    assert _pairs(acc, acc % 3, 5, 3)[3] is None  # a small space: marked densely
    assert _pairs(acc, acc, 5, 100_000)[3] is not None  # many users: owner accounts


# --- case folding ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("keys", [(), ("a",), ("Straße", "ΣΑΣ", "ǅemal", "İstanbul", "ﬁle", "MiXeD@X.Org"),
                                  ("nul\0inside", "B"), ("", "", "C")])
def test_keys_are_casefolded_as_one_by_one(keys: tuple[str, ...]) -> None:
    assert _casefolded(keys) == [k.casefold() for k in keys]


# --- whole accounts -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(8))
def test_accounts_with_their_own_user_keys_equal_compute_signals(seed: int) -> None:
    """Keys of each account's own (many users: pairs numbered through owner accounts), a few shared by every
    account (a user met in many accounts) and some in two cases in one account. (Seeded, not drawn by
    Hypothesis: hundreds of accounts are more than it draws quickly.)"""
    rng = random.Random(seed)
    size, signal_settings = rng.randint(260, 360), SETTINGS[seed % len(SETTINGS)]
    shared = frozenset({"user0@acme.test"}) if rng.random() < 0.5 else frozenset()
    accounts = [_own_keys(_account(rng, i + 1), shared) for i in range(size)]
    users = {u.user_key for a in accounts for u in a.usage or ()}
    rows = sum(len(a.usage or ()) for a in accounts)
    assert size * len(users) > 2 * rows + 65536  # the owner-account way
    _rows_equal(accounts, signal_settings)
    columns = UsageColumns.from_inputs(accounts)
    order = list(range(len(columns.account)))
    rng.shuffle(order)
    shuffled = UsageColumns(*(getattr(columns, f)[order] for f in ("account", "day", "user", "event", "count")),
                            columns.users, columns.events)
    twins = [any(u.user_key != u.user_key.casefold() for u in a.usage or ()) for a in accounts]
    bare = [dataclasses.replace(a, usage=None if a.usage is None else ()) for a in accounts]
    table = compute_signal_table(bare, AS_OF, signal_settings, shuffled)
    expected = [compute_signals(a, AS_OF, signal_settings) for a in accounts]
    assert [table.row(i) for i, twin in enumerate(twins) if not twin] == [
        e for e, twin in zip(expected, twins, strict=True) if not twin]


def _user(account_id: int, *rows: tuple[int, str, str, int], contacts: tuple[ContactFact, ...] = ()) -> AccountInputs:
    return AccountInputs(account_id, seats_purchased=10, usage=tuple(UsageDay(days_ago(ago), user, event, count)
                                                                     for ago, user, event, count in rows),
                         contacts=contacts)


EDGES = [
    _user(1),  # a usage stream, no rows
    AccountInputs(2, usage=None),  # no usage stream
    _user(3, (0, "a", "Logged In", 1)),  # one row, today
    _user(4, (5, "a", "Logged In", 2), (5, "a", "Logged In", 3), (5, "a", "Report Created", 1),
          (5, "A", "API Call", 4)),  # one day, the same user and event twice, a key in two cases
    _user(5, (64, "a", "Logged In", 1), (3, "a", "Report Created", 1)),  # the only login 64 days back
    _user(6, (63, "a", "Logged In", 1), (70, "b", "Report Created", 2), (90, "b", "Logged In", 1),
          contacts=(ContactFact("B", "champion", "Bo"),)),  # every row of a user 63 days back or more
    _user(7, (13, "a", "Report Created", 1), (14, "a", "Report Created", 1), (27, "b", "API Call", 1),
          (28, "b", "API Call", 1), (6, "c", "Logged In", 1), (7, "c", "Logged In", 1), (20, "c", "Logged In", 1),
          (21, "c", "Logged In", 1)),  # each side of every window's edge
    _user(8, (-1, "a", "Logged In", 5), (0, "a", "Dashboard Viewed", 0), (2, "b", "Workspace Created", 1),
          (400, "b", "Teammate Invited", 1)),  # a future row, a zero count, milestones (one long ago)
]


@pytest.mark.parametrize("own", [False, True])
def test_usage_edges_equal_compute_signals(own: bool) -> None:
    accounts = [_own_keys(a) if own else a for a in EDGES]
    if own:  # many accounts of their own users: the owner-account way
        accounts += [_own_keys(_user(100 + i, (i % 70, f"u{i}", "Logged In", 1))) for i in range(400)]
    _rows_equal(accounts)
    _rows_equal(accounts, columns=UsageColumns.from_inputs(accounts))
    for settings_ in SETTINGS:
        _rows_equal(accounts, settings_)
    table = compute_signal_table(accounts, AS_OF, MODEL)
    assert table.row(4).days_since_last_login == 64.0
    assert table.row(5).days_since_last_login == 63.0
    assert table.row(5).champion_days_inactive == 70.0
    assert table.row(0).active_users_28d == 0 and table.row(0).events_14d == 0
    assert table.row(1).events_14d is None
    assert (table.row(3).events_14d, table.row(3).active_days_14d) == (10, 2)  # "a" and "A": two keys


def test_contacts_tied_on_a_day_take_the_first_name_alphabetically() -> None:
    tie = (ContactFact("z@x", "champion", "Zed", days_ago(3)), ContactFact("a@x", "champion", None, days_ago(3)),
           ContactFact("b@x", "champion", "Bea", days_ago(9)), ContactFact("s@x", "executive_sponsor", "Sy"),
           ContactFact("q@x", "admin", "Quin", days_ago(1)))
    accounts = [_user(1, (5, "S@X", "Logged In", 1), contacts=tie),  # the sponsor seen in usage (other case)
                _user(2, (2, "b@x", "Logged In", 1), contacts=tie),  # Bea's usage makes her the latest
                AccountInputs(3, contacts=tie[:2])]  # no usage stream: stored days only
    table = compute_signal_table(accounts, AS_OF, MODEL)
    rows = [table.row(i) for i in range(3)]
    assert rows == [compute_signals(a, AS_OF, MODEL) for a in accounts]
    assert [(r.champion_name, r.champion_days_inactive, r.sponsor_name, r.sponsor_days_inactive) for r in rows] == [
        ("Zed", 3.0, "Sy", 5.0), ("Bea", 2.0, None, None), ("Zed", 3.0, None, None)]

"""`compute_signal_table` gives, for every account of a chunk, exactly what `compute_signals` gives for it alone:
the same `Signals` field for field, and columns holding the same scorable values."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.batch import score_table
from scoring.engine import score_account
from scoring.inputs import AccountInputs, ContactFact, CsatAnswer, NpsAnswer, TicketFact, UsageDay
from scoring.model import default_model
from scoring.signal_table import UsageColumns, compute_signal_table
from scoring.signals import SIGNALS, SignalSettings, compute_signals
from tests.scoring.build import AS_OF, days_ago

EVENTS = ("Logged In", "Report Created", "API Call", "Dashboard Viewed", "Workspace Created",
          "Teammate Invited", "Data Source Connected", "Something Else")
MODEL = default_model()
SETTINGS = (
    MODEL.signals,
    SignalSettings(key_features=("API Call", "Report Created"), login_event="API Call",
                   milestones=("Workspace Created",), csat_days=7, nps_days=30),
    SignalSettings(key_features=("Dashboard Viewed",), milestones=()),
)

SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large]
"""Examples are whole batches of accounts: on a busy shared machine drawing one can pass Hypothesis' time check."""


def _account(rng: random.Random, account_id: int) -> AccountInputs:
    """One account with facts of every kind (or none), dated before, inside and after the windows."""
    users = [f"user{i}@acme.test" for i in range(rng.randint(1, 6))]
    if rng.random() < 0.15:
        users.append(users[0].upper())  # a key twice, in two cases
    usage = None
    if rng.random() < 0.85:
        rows = []
        for _ in range(rng.randint(0, 80)):
            day: dt.date = days_ago(rng.randint(-5, 70))
            if rng.random() < 0.1:  # some facts come as datetimes: only the day counts
                day = dt.datetime.combine(day, dt.time(13, 5), dt.UTC)
            rows.append(UsageDay(day, rng.choice(users), rng.choice(EVENTS), rng.choice((0, 1, 1, 2, 5))))
        usage = tuple(rows)
    tickets = None
    if rng.random() < 0.8:
        tickets = []
        for i in range(rng.randint(0, 10)):
            created = days_ago(rng.randint(-5, 80))
            solved = created + dt.timedelta(days=rng.randint(-2, 40)) if rng.random() < 0.5 else None
            tickets.append(TicketFact(str(i), rng.choice(("low", "normal", "urgent")),
                                      rng.choice(("new", "open", "solved", "closed")), created, solved,
                                      rng.random() < 0.3))
        tickets = tuple(tickets)
    csat = tuple(CsatAnswer(days_ago(rng.randint(-5, 120)), rng.random() < 0.7) for _ in range(rng.randint(0, 5)))
    nps = tuple(NpsAnswer(days_ago(rng.randint(-5, 40)), rng.randint(0, 10)) for _ in range(rng.randint(0, 6)))
    contacts = tuple(
        ContactFact(rng.choice([*users, users[0].upper(), "nobody@acme.test"]),
                    rng.choice(("executive_sponsor", "champion", "admin")),
                    rng.choice((None, "Sam", "Alex", "Ada")),
                    rng.choice((None, days_ago(rng.randint(-3, 90)))))
        for _ in range(rng.randint(0, 4)))
    return AccountInputs(
        account_id=account_id, name=f"Acme {account_id}", segment=rng.choice((None, "smb", "enterprise")),
        tier=rng.choice((None, "growth")), lifecycle_stage=rng.choice((None, "adopting")),
        parent_id=rng.choice((None, 3)), arr=rng.choice((None, 12000.5, 0)),
        seats_purchased=rng.choice((None, 0, 4, 10)), renewal_date=rng.choice((None, days_ago(-30), days_ago(3))),
        onboarding_start=rng.choice((None, days_ago(100), days_ago(-2), days_ago(20))),
        usage=usage, tickets=tickets, csat=csat, nps=nps, contacts=contacts,
        milestones_reached=rng.choice((frozenset(), frozenset({"Teammate Invited"}), frozenset({"Not A Milestone"}))))


def _same(table_value: float, present: bool, expected: float | None) -> bool:
    if expected is None:
        return not present
    return present and (table_value == expected or (math.isnan(table_value) and math.isnan(expected)))


@settings(max_examples=60, deadline=None, suppress_health_check=SLOW_DATA)
@given(st.randoms(use_true_random=False), st.integers(0, 25), st.sampled_from(SETTINGS))
def test_every_account_equals_compute_signals(rng: random.Random, size: int, signal_settings: SignalSettings) -> None:
    accounts = [_account(rng, i + 1) for i in range(size)]
    table = compute_signal_table(accounts, AS_OF, signal_settings)
    expected = [compute_signals(a, AS_OF, signal_settings) for a in accounts]
    assert len(table) == size
    assert [table.row(i) for i in range(size)] == expected
    for name in SIGNALS:
        column, present = table.values[name].tolist(), table.present[name].tolist()
        assert [_same(v, p, getattr(s, name)) for v, p, s in zip(column, present, expected, strict=True)] == (
            [True] * size), name
    complete = [{True: 1, False: 0, None: -1}[s.onboarding_complete] for s in expected]
    assert table.onboarding_complete.tolist() == complete


@settings(max_examples=25, deadline=None, suppress_health_check=SLOW_DATA)
@given(st.randoms(use_true_random=False), st.integers(1, 20))
def test_usage_given_as_columns_equals_the_accounts_own_rows(rng: random.Random, size: int) -> None:
    accounts = [_account(rng, i + 1) for i in range(size)]
    columns = UsageColumns.from_inputs(accounts)
    order = list(range(len(columns.account)))
    rng.shuffle(order)  # a loader's rows come in any order
    shuffled = UsageColumns(*(getattr(columns, f)[order] for f in ("account", "day", "user", "event", "count")),
                            columns.users, columns.events)
    bare = [dataclasses.replace(a, usage=None if a.usage is None else ()) for a in accounts]
    table = compute_signal_table(bare, AS_OF, MODEL, shuffled)
    plain = compute_signal_table(accounts, AS_OF, MODEL)
    for i, a in enumerate(accounts):
        if any(u.user_key != u.user_key.casefold() for u in a.usage or ()):
            continue  # twin keys: which one the contacts match depends on the rows' order, shuffled here
        assert table.row(i) == plain.row(i)
    in_order = compute_signal_table(bare, AS_OF, MODEL, columns)
    assert [in_order.row(i) for i in range(size)] == [plain.row(i) for i in range(size)]


def test_scores_from_the_table_equal_scoring_each_account() -> None:
    rng = random.Random(18)
    accounts = [_account(rng, i + 1) for i in range(300)]
    table = compute_signal_table(accounts, AS_OF, MODEL)
    many = score_table(table, MODEL).to_list()
    assert many == [score_account(compute_signals(a, AS_OF, MODEL), MODEL) for a in accounts]
    assert {s.profile for s in many} == {"onboarding", "high_touch", "tech_touch"}


def test_usage_rows_naming_an_account_outside_the_chunk_are_refused() -> None:
    columns = UsageColumns(np.array([3]), np.array([AS_OF.toordinal()]), np.array([0]), np.array([0]),
                           np.array([1]), ("u",), ("Logged In",))
    with pytest.raises(ValueError, match=r"outside 0\.\.0"):
        compute_signal_table([AccountInputs(1, usage=())], AS_OF, MODEL, columns)
    with pytest.raises(ValueError, match="usage column 'day' has 0 rows, account has 1"):
        UsageColumns(np.array([0]), np.array([], dtype=np.int64), np.array([0]), np.array([0]), np.array([1]),
                     ("u",), ("Logged In",))


FALLBACK = SignalSettings(key_features=("API Call", "API Call"), milestones=())
"""A key feature named twice: the table computes every account one by one (`compute_signals`)."""


@settings(max_examples=60, deadline=None, suppress_health_check=SLOW_DATA)
@given(st.randoms(use_true_random=False), st.integers(1, 25), st.sampled_from((*SETTINGS, FALLBACK)))
def test_fields_read_one_by_one_equal_the_row(rng: random.Random, size: int, signal_settings: SignalSettings) -> None:
    """`SignalTable.fields(i)` — the fields made when read, a group at a time — reads as `compute_signals` gives
    the account, every field, in any order, before and after the rows are built."""
    accounts = [_account(rng, i + 1) for i in range(size)]
    table = compute_signal_table(accounts, AS_OF, signal_settings)
    expected = [compute_signals(a, AS_OF, signal_settings) for a in accounts]
    names = [f.name for f in dataclasses.fields(expected[0])]
    for i, want in enumerate(expected):
        order = names[:]
        rng.shuffle(order)
        view = table.fields(i)
        got = {name: getattr(view, name) for name in order}
        assert got == {name: getattr(want, name) for name in names}, i
        assert getattr(view, order[0]) == getattr(want, order[0])  # read again: the kept value
    with pytest.raises(AttributeError):
        _ = table.fields(0).no_such_field  # type: ignore[attr-defined]
    assert [table.row(i) for i in range(size)] == expected
    assert [table.fields(i) for i in range(size)] == expected  # built: the rows themselves

"""The score run's usage read by series (SQLite: one driver row per account, user and event, days and counts
concatenated by the database and parsed by NumPy) holds exactly the rows the row-wise read gives, and the
signals computed from either are the same as those of each account's own rows; on PostgreSQL, and when a
chunk has user keys differing only in letter case, the row-wise read is used."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, text

from scoring import compute_signal_table, compute_signals, default_model
from store.db import Store
from store.models import Account, UsageDaily
from store.tenants import create_tenant
from sync.health import WINDOW_DAYS, InputLoader, Sources, _SeriesAhead, _Usage

DAY = dt.date(2026, 11, 20)


def _rows(usage: _Usage) -> list[tuple[Any, ...]]:
    return sorted(zip(usage.account.tolist(), usage.ordinal.tolist(), [usage.users[u] for u in usage.user.tolist()],
                      [usage.events[e] for e in usage.event.tolist()], usage.counts.tolist(), strict=True))


def _world(store: Store, *, twins: bool = False) -> tuple[int, list[int]]:
    with store.session() as s:
        tenant_id = create_tenant(s, "usage-reads", "Usage reads")[0].id
    with store.session(tenant_id) as s:
        accounts = [Account(name=f"Account {k}", segment="smb", tier="growth", lifecycle_stage="customer")
                    for k in range(4)]
        s.add_all(accounts)
        s.flush()
        ids = [a.id for a in accounts]
        rows: list[dict[str, Any]] = []

        def use(account: int, user: str, event: str, back: int, count: int) -> None:
            rows.append({"tenant_id": tenant_id, "account_id": account, "user_key": user, "event": event,
                         "day": DAY - dt.timedelta(days=back), "count": count, "minutes": 1.5})

        a, b, c, _quiet = ids
        for back in range(0, 50):  # within the window and before it (the window starts 35 days back)
            use(a, "ann@a.example", "Logged In", back, 1 + back % 4)
            if back % 3 == 0:
                use(a, "bob@a.example", "Report Created", back, 1234567 if back == 3 else back % 5)
        for back in (0, 1, 7, 14, 27, 28, 35, 36):
            use(b, "u-7", "Dashboard Viewed", back, 2)
        use(b, "u-7", "Logged In", 2, 0)  # a count of 0: read, then ignored by the signals
        # milestones: before the window (read from the monthly roll-up) and within it
        use(a, "ann@a.example", "Workspace Created", 120, 1)
        use(c, "c1", "Data Source Connected", 70, 1)
        use(c, "c1", "Teammate Invited", 3, 1)
        use(c, "c1", "Logged In", 0, 4)
        if twins:
            use(c, "C1", "Logged In", 1, 3)
        s.execute(insert(UsageDaily), rows)
    return tenant_id, [*ids, 10**6]


def _both(store: Store, tenant_id: int, ids: list[int]) -> tuple[_Usage, _Usage | None, InputLoader]:
    with store.session(tenant_id) as s:
        loader = InputLoader(s, default_model(), DAY, DAY, Sources(usage=True, helpdesk=False))
        return loader._usage_rows(ids), loader._usage_series(ids), loader


def test_usage_read_by_series_holds_the_rows_read_one_by_one(store: Store) -> None:
    tenant_id, ids = _world(store)
    rows, series, _ = _both(store, tenant_id, ids)
    if store.engine.dialect.name != "sqlite":
        assert series is None  # read row by row there
        return
    assert series is not None
    assert _rows(series) == _rows(rows)
    a, b = ids[:2]
    got = _rows(series)
    # the window's rows (35 days back to the day: A 36 + 12, B 7 + 1, C 2) and 2 milestones from before it
    assert len(got) == 36 + 12 + 7 + 1 + 2 + 2
    assert (a, DAY.toordinal() - 3, "bob@a.example", "Report Created", 1234567) in got
    assert (a, (DAY - dt.timedelta(days=120)).toordinal(), "(milestone)", "Workspace Created", 1) in got
    assert (b, DAY.toordinal() - 2, "u-7", "Logged In", 0) in got
    assert not any(row[0] == ids[3] for row in got)
    # The signals from the columns are those of each account's own rows.
    with store.session(tenant_id) as s:
        loader = InputLoader(s, default_model(), DAY, DAY, Sources(usage=True, helpdesk=False))
        inputs = loader.load(ids)
        bare, usage = loader.load_columns(ids)
    table = compute_signal_table(bare, DAY, default_model(), usage)
    assert [table.row(i) for i in range(len(bare))] == [compute_signals(x, DAY, default_model()) for x in inputs]
    assert table.row(0).weekly_active_users == 2


def test_usage_read_by_series_gives_way_to_rows(store: Store) -> None:
    tenant_id, ids = _world(store, twins=True)
    _, series, _ = _both(store, tenant_id, ids)
    assert series is None  # user keys differing in case only: the rows in their stored order
    if store.engine.dialect.name != "sqlite":
        return
    with store.session(tenant_id) as s:  # the twin renamed: read by series again
        s.execute(text("UPDATE usage_daily SET user_key = 'c2' WHERE user_key = 'C1'"))
    _, series, _ = _both(store, tenant_id, ids)
    assert series is not None
    with store.session(tenant_id) as s:  # a count that is no whole number: row by row
        s.execute(text("UPDATE usage_daily SET count = 2.5 WHERE user_key = 'c2'"))
    rows, series, _ = _both(store, tenant_id, ids)
    assert series is None
    assert (ids[2], DAY.toordinal() - 1, "c2", "Logged In", 2) in _rows(rows)


def test_series_read_ahead_on_a_second_connection_are_the_series_read_in_the_session(store: Store) -> None:
    tenant_id, ids = _world(store)
    if not _SeriesAhead.usable(store):
        assert store.engine.dialect.name != "sqlite"
        return
    ahead = _SeriesAhead(store, [ids[:2], ids[2:]], DAY - dt.timedelta(days=WINDOW_DAYS), DAY)
    try:
        first, second = ahead.get(0), ahead.get(1)
    finally:
        ahead.close()
    assert len(first.rows) == 4 and {row[0] for row in second.rows} == {ids[2]}  # A: 2 series, B: 2; C only
    assert first.parsed is not None and second.parsed is not None  # parsed on the reading thread
    with store.session(tenant_id) as s:
        loader = InputLoader(s, default_model(), DAY, DAY, Sources(usage=True, helpdesk=False))
        for chunk, read in ((ids[:2], first), (ids[2:], second)):
            given, own = loader._usage_series(chunk, read), loader._usage_series(chunk)
            rows = loader._usage_series(chunk, read.rows)  # the same rows parsed here
            assert given is not None and own is not None and rows is not None
            assert _rows(given) == _rows(own) == _rows(rows)
    assert not _SeriesAhead.usable(Store("sqlite://"))

"""``usage_monthly`` (migration 0019): filled by the migration's backfill, kept by the triggers on ``usage_daily``,
always equal to grouping ``usage_daily``; and the Adoption and Users reports read from it equal to the analytics
functions fed straight from the daily rows. After collector batches: tests/collector/test_collector_rollup.py."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, inspect, select, text

from analytics import adoption as ad
from store.db import Store, make_engine
from store.migrate import downgrade, upgrade
from store.models import Account, HealthSnapshot, UsageDaily, UsageMonthly
from sync.base_reports import adoption_report, leaderboard_report
from tests.shared import WORLD_AS_OF

Rollup = dict[tuple[int, str, str, dt.date], tuple[int, int]]


def _day(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def grouped(daily: list[tuple[int, str, str, Any, int]]) -> Rollup:
    """What usage_monthly must hold: (account, user, event, month) → (day bits, count), '' for any event."""
    out: dict[tuple[int, str, str, dt.date], list[int]] = defaultdict(lambda: [0, 0])
    for account, user, event, day, count in daily:
        d = _day(day)
        for e in (event, ""):
            cell = out[(account, user, e, d.replace(day=1))]
            cell[0] |= 1 << (d.day - 1)
            cell[1] += count
    return {k: (v[0], v[1]) for k, v in out.items()}


def stored(conn: Any, tenant_id: int) -> Rollup:
    rows = conn.execute(text("SELECT account_id, user_key, event, month, days, count FROM usage_monthly "
                             "WHERE tenant_id = :t"), {"t": tenant_id}).all()
    return {(a, u, e, _day(m)): (d, n) for a, u, e, m, d, n in rows}


def daily_rows(conn: Any, tenant_id: int) -> list[tuple[int, str, str, Any, int]]:
    return [tuple(r) for r in conn.execute(text("SELECT account_id, user_key, event, day, count FROM usage_daily "
                                                "WHERE tenant_id = :t"), {"t": tenant_id}).all()]


def _tenant_and_account(conn: Any) -> tuple[int, int]:
    """A workspace and one account in it, written with plain SQL (the models may be ahead of the schema)."""
    tenant = conn.execute(text("INSERT INTO tenants (slug, name, created_at) VALUES ('acme', 'Acme', "
                               "CURRENT_TIMESTAMP) RETURNING id")).scalar_one()
    account = conn.execute(text("INSERT INTO accounts (tenant_id, name, created_at, updated_at) VALUES "
                                "(:t, 'A', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id"),
                           {"t": tenant}).scalar_one()
    return int(tenant), int(account)


# --- the migration's backfill ------------------------------------------------------------------------------------
def test_0019_backfills_existing_usage_then_its_triggers_keep_it(database_url: str) -> None:
    upgrade(database_url, "0018")
    engine = make_engine(database_url)
    usage = [("u1", "Logged In", "2026-10-31", 2), ("u1", "Logged In", "2026-11-01", 1),
             ("u1", "Report Created", "2026-11-01", 4), ("u1", "Report Created", "2026-11-30", 1),
             ("u2", "Logged In", "2026-11-15", 7)]
    try:
        with engine.begin() as conn:
            tenant, account = _tenant_and_account(conn)
            for user, event, day, count in usage:
                conn.execute(text("INSERT INTO usage_daily (tenant_id, account_id, user_key, event, day, count, "
                                  "minutes) VALUES (:t, :a, :u, :e, :d, :n, 0)"),
                             {"t": tenant, "a": account, "u": user, "e": event, "d": dt.date.fromisoformat(day),
                              "n": count})
        upgrade(database_url, "0019")
        nov, october = dt.date(2026, 11, 1), dt.date(2026, 10, 1)
        with engine.begin() as conn:
            filled = stored(conn, tenant)
            assert filled == grouped(daily_rows(conn, tenant))
            assert filled[(account, "u1", "", nov)] == (1 | 1 << 29, 6)
            assert filled[(account, "u1", "", october)] == (1 << 30, 2)
            assert filled[(account, "u2", "Logged In", nov)] == (1 << 14, 7)
            assert len(filled) == 7
            # the triggers after the backfill: a delete clears its day, a moved row moves its bit
            conn.execute(text("DELETE FROM usage_daily WHERE user_key = 'u2'"))
            conn.execute(text("UPDATE usage_daily SET day = :d WHERE event = 'Report Created' AND day = :old"),
                         {"d": dt.date(2026, 11, 2), "old": dt.date(2026, 11, 30)})
            kept = stored(conn, tenant)
            assert kept == grouped(daily_rows(conn, tenant))
            assert (account, "u2", "", nov) not in kept
            assert kept[(account, "u1", "Report Created", nov)] == (1 | 1 << 1, 5)
        downgrade(database_url, "0018")
        assert "usage_monthly" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


# --- equal to usage_daily, and the reports equal to the pure functions on the daily rows -------------------------
KEY = ("Report Created", "Dashboard Viewed")
LOGIN = "Logged In"
EVENTS = (LOGIN, *KEY, "Page Viewed")
FIRST_DAY = dt.date(2026, 9, 20)


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, int, list[int]]]:
    """A migrated SQLite workspace with three accounts (the property test runs many examples on it)."""
    from store.tenants import create_tenant

    url = f"sqlite:///{Path(tmp_path_factory.mktemp('rollup')) / 'rollup.db'}"
    upgrade(url)
    store = Store(url)
    with store.session() as s:
        tenant, _ = create_tenant(s, "roll", "Roll")
    with store.session(tenant.id) as s:
        accounts = [Account(name=f"R{i}", tier=("gold", "silver", None)[i]) for i in range(3)]
        s.add_all(accounts)
        s.flush()
        ids = [a.id for a in accounts]
    yield store, tenant.id, ids
    store.dispose()


ROW = st.tuples(st.integers(0, 2), st.sampled_from(["a", "b"]), st.sampled_from((LOGIN, *EVENTS)),
                st.integers(0, 71), st.integers(1, 4))  # logins drawn twice as often: the training rule needs them
CHANGE = st.tuples(st.sampled_from(["delete", "move", "add"]), st.integers(0, 10_000), st.integers(0, 71))


def _reference(rows: list[tuple[int, str, str, dt.date, int]], ids: list[int], tiers: dict[int, str | None],
               day: dt.date) -> dict[str, Any]:
    """The window figures straight from the daily rows, through the pure functions."""
    start = day - dt.timedelta(days=29)
    before = start - dt.timedelta(days=30)
    days: dict[tuple[int, str], set[dt.date]] = defaultdict(set)
    event_days: dict[tuple[int, str, str], set[dt.date]] = defaultdict(set)
    logins: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    first: dict[int, dt.date] = {}
    for a, u, e, d, n in rows:
        first[a] = min(first.get(a, d), d)
        if start <= d <= day:
            days[(a, u)].add(d)
            event_days[(a, u, e)].add(d)
        if e == LOGIN and before <= d <= day:
            logins[(a, u)][0 if d >= start else 1] += n
    users = [ad.UserActivity(a, u, len(days.get((a, u), ())), *logins.get((a, u), [0, 0]))
             for a, u in sorted(set(days) | set(logins))]
    uses = [ad.EventUse(a, u, e, len(ds)) for (a, u, e), ds in event_days.items()]
    accounts = [ad.AdoptionAccount(i, tiers[i], first.get(i)) for i in ids]
    return {
        "leaderboard": [(r.account_id, r.user_key, r.active_days, r.key_feature_days)
                        for r in ad.leaderboard([x for x in users if x.active_days], uses, KEY, 50)],
        "training": [(t.account_id, t.user_key, list(t.reasons)) for t in ad.needs_training(users, uses, KEY)],
        "by_tier": ad.feature_adoption_of(ad.adoption_counts(accounts, uses, KEY, "tier"), KEY),
        "by_cohort": ad.feature_adoption_of(ad.adoption_counts(accounts, uses, KEY, "cohort"), KEY),
    }


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROW, min_size=20, max_size=60), changes=st.lists(CHANGE, max_size=6), as_of=st.integers(25, 71))
def test_rollup_equals_grouping_usage_daily_and_reports_equal_the_pure_functions(
        lite: tuple[Store, int, list[int]], rows: list[tuple[int, str, str, int, int]],
        changes: list[tuple[str, int, int]], as_of: int) -> None:
    store, tenant, ids = lite
    with store.session(tenant) as s:
        s.execute(delete(UsageDaily))
        folded: dict[tuple[int, str, str, dt.date], int] = defaultdict(int)
        for a, u, e, d, n in rows:  # as the collector folds a batch: one row per account, user, event and day
            folded[(ids[a], u, e, FIRST_DAY + dt.timedelta(days=d))] += n
        s.add_all([UsageDaily(account_id=a, user_key=u, event=e, day=d, count=n, minutes=0.0)
                   for (a, u, e, d), n in folded.items()])
        s.flush()
        for kind, pick, d in changes:  # then deletes, moves to another day and added counts (the upsert's)
            present = s.scalars(select(UsageDaily).order_by(UsageDaily.id)).all()
            if not present:
                break
            row = present[pick % len(present)]
            new_day = FIRST_DAY + dt.timedelta(days=d)
            if kind == "delete":
                s.delete(row)
            elif kind == "move" and not any((p.account_id, p.user_key, p.event, p.day)
                                            == (row.account_id, row.user_key, row.event, new_day) for p in present):
                row.day = new_day
            else:
                row.count += 2
            s.flush()
        daily = [(r.account_id, r.user_key, r.event, r.day, r.count) for r in s.scalars(select(UsageDaily))]
        assert stored(s.connection(), tenant) == grouped(daily)
        assert s.scalar(select(UsageMonthly.id).where(UsageMonthly.days == 0)) is None

        day = FIRST_DAY + dt.timedelta(days=as_of)
        tiers = {i: t for i, t in s.execute(select(Account.id, Account.tier))}
        want = _reference(daily, ids, tiers, day)
        board = leaderboard_report(s, key_features=KEY, as_of=day)
        adoption = adoption_report(s, key_features=KEY, login_event=LOGIN, as_of=day)
        s.rollback()
    assert [(u["account_id"], u["user_key"], u["active_days"], u["key_feature_days"]) for u in board["users"]] \
        == want["leaderboard"]
    assert [(u["account_id"], u["user_key"], u["reasons"]) for u in adoption["needs_training"]["users"]] \
        == want["training"]
    assert adoption["needs_training"]["total"] == len(want["training"])
    for by in ("by_tier", "by_cohort"):
        assert [(r["group"], r["feature"], r["accounts_using"], r["active_users"], r["users_using"])
                for r in adoption[by]] == [(r.group, r.feature, r.accounts_using, r.active_users, r.users_using)
                                          for r in want[by]]


def test_a_reference_month_mask_example_is_what_the_reports_count(lite: tuple[Store, int, list[int]]) -> None:
    """A hand-computed case across a month boundary, as_of mid-month (split login months)."""
    store, tenant, ids = lite
    day = WORLD_AS_OF - dt.timedelta(days=15)  # 2026-11-15: window 10-17…11-15, the one before 09-17…10-16
    rows = [(ids[0], "x", LOGIN, dt.date(2026, 10, 10), 5), (ids[0], "x", LOGIN, dt.date(2026, 10, 20), 1),
            (ids[0], "x", LOGIN, dt.date(2026, 9, 18), 3), (ids[0], "x", "Page Viewed", dt.date(2026, 11, 2), 1),
            (ids[1], "y", "Report Created", dt.date(2026, 10, 31), 1),
            (ids[1], "y", "Report Created", dt.date(2026, 11, 1), 1), (ids[1], "y", LOGIN, dt.date(2026, 11, 1), 1)]
    with store.session(tenant) as s:
        s.execute(delete(UsageDaily))
        s.add_all([UsageDaily(account_id=a, user_key=u, event=e, day=d, count=n, minutes=0.0)
                   for a, u, e, d, n in rows])
        s.flush()
        board = leaderboard_report(s, key_features=KEY, as_of=day)
        adoption = adoption_report(s, key_features=KEY, login_event=LOGIN, as_of=day)
        s.rollback()
    # y: active on 10-31 and 11-01, Report Created on both → 2 + 2; x: active 10-20 and 11-02, no key feature
    assert [(u["user_key"], u["active_days"], u["key_feature_days"], u["engagement"]) for u in board["users"]] \
        == [("y", 2, 2, 4), ("x", 2, 0, 2)]
    # x: logins 8 the window before (09-18: 3, 10-10: 5), 1 in the window (10-20)
    assert [(u["user_key"], u["reasons"]) for u in adoption["needs_training"]["users"]] == [
        ("x", ["active on 2 day(s) but used no key feature", "logins fell from 8 to 1"])]


# --- health_weeks: each account's week-end snapshot ----------------------------------------------------------------
def week_ends(snapshots: list[tuple[int, Any, float | None, str | None]]) -> dict[tuple[int, dt.date], tuple]:
    """What health_weeks must hold: per account and Monday, the week's last snapshot (day, score, band)."""
    out: dict[tuple[int, dt.date], tuple[dt.date, float | None, str | None]] = {}
    for account, day, score, band in snapshots:
        d = _day(day)
        key = (account, d - dt.timedelta(days=d.weekday()))
        if key not in out or out[key][0] < d:
            out[key] = (d, score, band)
    return out


def stored_weeks(conn: Any, tenant_id: int) -> dict[tuple[int, dt.date], tuple]:
    rows = conn.execute(text("SELECT account_id, week, day, score, band FROM health_weeks WHERE tenant_id = :t"),
                        {"t": tenant_id}).all()
    return {(a, _day(w)): (_day(d), s, b) for a, w, d, s, b in rows}


def test_0019_backfills_health_weeks_and_its_triggers_keep_them(database_url: str) -> None:
    upgrade(database_url, "0018")
    engine = make_engine(database_url)
    # Monday 11-23 … Sunday 11-29; Monday 11-30
    snapshots = [("2026-11-23", 40.0, "average"), ("2026-11-29", 30.0, "poor"), ("2026-11-30", 80.0, "good")]
    try:
        with engine.begin() as conn:
            tenant, account = _tenant_and_account(conn)
            for day, score, band in snapshots:
                conn.execute(text("INSERT INTO health_snapshots (tenant_id, account_id, day, score, band, parts, "
                                  "reasons, computed_at) VALUES (:t, :a, :d, :s, :b, '{}', '[]', CURRENT_TIMESTAMP)"),
                             {"t": tenant, "a": account, "d": dt.date.fromisoformat(day), "s": score, "b": band})
        upgrade(database_url, "0019")
        week, next_week = dt.date(2026, 11, 23), dt.date(2026, 11, 30)
        with engine.begin() as conn:
            assert stored_weeks(conn, tenant) == {(account, week): (dt.date(2026, 11, 29), 30.0, "poor"),
                                                  (account, next_week): (next_week, 80.0, "good")}
            conn.execute(text("DELETE FROM health_snapshots WHERE day = :d"), {"d": dt.date(2026, 11, 29)})
            assert stored_weeks(conn, tenant)[(account, week)] == (week, 40.0, "average")  # the week's previous
            conn.execute(text("UPDATE health_snapshots SET score = 20, band = 'poor' WHERE day = :d"), {"d": week})
            assert stored_weeks(conn, tenant)[(account, week)] == (week, 20.0, "poor")
            conn.execute(text("DELETE FROM health_snapshots WHERE day = :d"), {"d": week})
            assert (account, week) not in stored_weeks(conn, tenant)
    finally:
        engine.dispose()


SNAPSHOT = st.tuples(st.integers(0, 2), st.integers(0, 27), st.one_of(st.none(), st.floats(0, 100).map(round)))


@settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(snapshots=st.lists(SNAPSHOT, min_size=5, max_size=40), changes=st.lists(CHANGE, max_size=8))
def test_health_weeks_equal_the_week_ends_of_the_snapshots(lite: tuple[Store, int, list[int]],
                                                           snapshots: list[tuple[int, int, float | None]],
                                                           changes: list[tuple[str, int, int]]) -> None:
    store, tenant, ids = lite
    with store.session(tenant) as s:
        s.execute(delete(HealthSnapshot))
        seen: dict[tuple[int, dt.date], float | None] = {}
        for a, d, score in snapshots:
            seen[(ids[a], FIRST_DAY + dt.timedelta(days=d))] = score
        s.add_all([HealthSnapshot(account_id=a, day=d, score=x,
                                  band=None if x is None else "poor" if x < 40 else "good")
                   for (a, d), x in seen.items()])
        s.flush()
        for kind, pick, d in changes:  # deletes, moves to another day, rescoring
            present = s.scalars(select(HealthSnapshot).order_by(HealthSnapshot.id)).all()
            if not present:
                break
            row = present[pick % len(present)]
            new_day = FIRST_DAY + dt.timedelta(days=d % 28)
            if kind == "delete":
                s.delete(row)
            elif kind == "move" and not any((p.account_id, p.day) == (row.account_id, new_day) for p in present):
                row.day = new_day
            else:
                row.score, row.band = float(d), "average"
            s.flush()
        rows = [(r.account_id, r.day, r.score, r.band) for r in s.scalars(select(HealthSnapshot))]
        assert stored_weeks(s.connection(), tenant) == week_ends(rows)
        s.rollback()


def test_the_rollups_of_another_workspace_never_reach_a_report(lite: tuple[Store, int, list[int]]) -> None:
    from store.tenants import create_tenant
    from sync.base_reports import health_report

    store, tenant, ids = lite
    with store.session() as s:
        other, _ = create_tenant(s, "roll-other", "Other")
    with store.session(other.id) as s:
        theirs = Account(name="Theirs", tier="gold")
        s.add(theirs)
        s.flush()
        s.add_all([UsageDaily(account_id=theirs.id, user_key="a", event=e, day=WORLD_AS_OF - dt.timedelta(days=d),
                              count=9, minutes=0.0) for e in (LOGIN, *KEY) for d in range(0, 40, 3)])
        s.add_all([HealthSnapshot(account_id=theirs.id, day=WORLD_AS_OF - dt.timedelta(days=7 * w), score=10.0,
                                  band="poor") for w in range(4)])
    with store.session(tenant) as s:
        s.execute(delete(UsageDaily))
        s.execute(delete(HealthSnapshot))
        s.add(UsageDaily(account_id=ids[0], user_key="a", event=LOGIN, day=WORLD_AS_OF, count=1, minutes=0.0))
        s.add(HealthSnapshot(account_id=ids[0], day=WORLD_AS_OF, score=90.0, band="good"))
        s.flush()
        board = leaderboard_report(s, key_features=KEY, as_of=WORLD_AS_OF)
        adoption = adoption_report(s, key_features=KEY, login_event=LOGIN, as_of=WORLD_AS_OF)
        health = health_report(s, as_of=WORLD_AS_OF)
        s.rollback()
    assert [(u["account_id"], u["active_days"], u["key_feature_days"]) for u in board["users"]] == [(ids[0], 1, 0)]
    assert adoption["monthly"][-1]["rows"][0]["active_users"] == 1
    assert adoption["needs_training"]["total"] == 1
    assert health["overall"]["count"] == {"good": 1, "average": 0, "poor": 0, "unscored": 2}
    assert health["persistent_poor"]["accounts"] == []
    assert sum(points[-1]["accounts"] for points in health["trend"].values()) == 1

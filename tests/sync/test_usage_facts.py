"""Issue 16: the usage facts (`sync.usage_facts`, migration 0030) the Adoption and Users views of the latest scored
day read — every figure equals the one computed from the monthly usage rows, after new usage, moves of accounts
and of usage, and deletes, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import BigInteger, and_, case, cast, delete, func, literal, or_, select, union_all, update

from extensions import canary_store
from scoring import default_model
from store.models import (
    Account,
    HealthSnapshot,
    Subscription,
    UsageAccountFact,
    UsageDaily,
    UsageFactsState,
    UsageMonthly,
    UsageUserFact,
)
from sync import base_reports as br
from sync import usage_facts as uf
from sync.reports import Cohort
from tests.console.conftest import CHEAP_ARGON2, Workspace, console_app, seeded_workspaces
from tests.dbtemplate import Templates
from tests.shared import WORLD_AS_OF, record_calls

__all__ = ["console_app"]
SIGNALS = default_model().signals
KEYS, LOGIN = tuple(SIGNALS.key_features), SIGNALS.login_event
FACT_READS = ("fact_adoption_counts", "fact_upgrade_ready", "fact_needs_training", "fact_leaderboard")


def _usage(account_ids: list[int], salt: int = 0) -> list[UsageDaily]:
    """75 days of varied usage: per account up to 4 users, logins (many in October for some, few after: the
    training rule's fall, across the split month), key features on some days, a non-key event on others."""
    rows = []
    for n, a in enumerate(account_ids):
        for u in range(1 + (n + salt) % 4):
            key = f"user{salt}-{a}-{u}"
            for back in range(75):
                day = WORLD_AS_OF - dt.timedelta(days=back)
                if (back + u + n + salt) % (2 + u) == 0 or (u == 1 and 30 <= back < 62):
                    rows.append(UsageDaily(account_id=a, user_key=key, event=LOGIN, day=day, count=1 + back % 3))
                if u != 2 and (back + n) % 5 == u:
                    rows.append(UsageDaily(account_id=a, user_key=key, event=KEYS[(back + u) % 3], day=day,
                                           count=2))
                if (back + salt) % 7 == u:
                    rows.append(UsageDaily(account_id=a, user_key=key, event="Settings Opened", day=day, count=1))
    return rows


@pytest.fixture
def seeded(app_factory: Any, database_url: str, db_templates: Templates) -> tuple[Any, Workspace]:
    app = app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False, DATABASE_URL=database_url)
    store, ws = canary_store(app), seeded_workspaces(app, db_templates, ("alpha", "Alpha"))[0]
    with store.session(ws.tenant_id) as s:
        s.add_all(_usage(sorted(ws.accounts.values())))
        good = ws.accounts["Alpha Good Steady"]  # healthy, with its seats in use: upgrade-ready
        s.execute(update(HealthSnapshot).where(HealthSnapshot.account_id == good,
                                               HealthSnapshot.day >= WORLD_AS_OF - dt.timedelta(days=40))
                  .values(score=90.0))
        s.execute(update(Subscription).where(Subscription.account_id == good)
                  .values(seats_purchased=2, product_tier="Enterprise"))
        s.execute(update(Account).where(Account.id == good).values(tier=""))
    return store, ws


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Which views read the facts (one entry per facts read)."""
    return record_calls(monkeypatch, uf, FACT_READS)


def _views(s: Any, ws: Workspace) -> dict[str, Any]:
    """Views computed in a request: cohorts, months, one account's leaderboard, other limits."""
    csm = ws.users["csm"]
    a = ws.accounts
    adoption = {"key_features": KEYS, "login_event": LOGIN}
    return {
        "adoption": br._adoption_report(s, **adoption),
        "adoption-csm": br._adoption_report(s, **adoption, cohort=Cohort(csm_user_id=csm), months=3),
        "adoption-segment": br._adoption_report(s, **adoption, cohort=Cohort(segment="mid-market"), months=1),
        "adoption-tier": br._adoption_report(s, **adoption, cohort=Cohort(tier="gold")),
        "adoption-none": br._adoption_report(s, **adoption, cohort=Cohort(segment="no such")),
        "users": br._leaderboard_report(s, key_features=KEYS),
        "users-3": br._leaderboard_report(s, key_features=KEYS, limit=3),
        "users-account": br._leaderboard_report(s, key_features=KEYS, account_id=a["Alpha Poor Later"]),
        "users-csm2": br._leaderboard_report(s, key_features=KEYS, cohort=Cohort(csm_user_id=ws.users["csm2"])),
        "users-unused": br._leaderboard_report(s, key_features=KEYS, account_id=a["Alpha Unowned"],
                                               cohort=Cohort(tier="gold")),
    }


def _from_rows(s: Any, ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    with monkeypatch.context() as m:
        m.setattr(uf, "fresh_usage_facts", lambda *args, **kwargs: None)
        return _views(s, ws)


def _assert_user_rows(s: Any) -> None:
    """Each stored user fact equals the report query's figures for that user (its GROUP BY, no cohort)."""
    day = br.as_of_day(s)
    both, sums, rule = br._user_activity(s, day, KEYS, LOGIN)
    expected = {(a, u): (int(n), int(k), int(lg), int(lb), bool(t)) for a, u, n, k, lg, lb, t in s.execute(
        select(both.c.a, both.c.u, *sums, rule).group_by(both.c.a, both.c.u))}
    stored = {(f.account_id, f.user_key): (f.active, f.key_days, f.logins, f.logins_before, f.training)
              for f in s.scalars(select(UsageUserFact))}
    assert stored == expected
    assert all(f.engagement == f.active + f.key_days for f in s.scalars(select(UsageUserFact)))


def test_facts_equal_the_monthly_rows_for_every_view(seeded: Any, reads: list[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    store, ws = seeded
    with store.session(ws.tenant_id) as s:
        assert uf.refresh_usage_facts(s, KEYS, LOGIN) == 5
    with store.session(ws.tenant_id) as s:
        _assert_user_rows(s)
        assert uf.fresh_usage_facts(s, WORLD_AS_OF, KEYS, LOGIN, 6) is not None
        facts = _views(s, ws)
        assert set(FACT_READS) <= set(reads)
        used = len(reads)
        assert facts == _from_rows(s, ws, monkeypatch)
        assert len(reads) == used  # the comparison read no facts
        report = facts["adoption"]
        # the figures are real ones: users counted, the training rule's both reasons, an upgrade-ready account
        assert report["accounts"] == 5 and report["upgrade_ready"]
        assert report["upgrade_ready"][0]["account_id"] == ws.accounts["Alpha Good Steady"]
        reasons = " ".join(r for u in report["needs_training"]["users"] for r in u["reasons"])
        assert "used no key feature" in reasons and "logins fell" in reasons
        assert {r["group"] for r in report["by_tier"]} == {"premium", "standard"}
        assert sum(r["active_users"] for r in report["by_tier"] if r["feature"] == KEYS[0]) > 0
        assert len(report["monthly"]) == 6 and facts["users"]["users"]
        assert facts["users-account"]["users"] and facts["users-unused"]["users"] == []
        # what the facts do not hold is computed from the monthly rows: another day, more months, other features
        reads.clear()
        br._adoption_report(s, key_features=KEYS, login_event=LOGIN, as_of=WORLD_AS_OF - dt.timedelta(days=3))
        br._adoption_report(s, key_features=KEYS, login_event=LOGIN, months=7)
        br._adoption_report(s, key_features=KEYS, login_event="Signed In")
        br._leaderboard_report(s, key_features=KEYS[:2])
        br._leaderboard_report(s, key_features=KEYS, as_of=WORLD_AS_OF - dt.timedelta(days=1))
        assert reads == []
        br._leaderboard_report(s, key_features=KEYS, limit=500)
        assert reads == ["fact_leaderboard"]


def test_facts_follow_new_usage_moves_and_deletes(seeded: Any, reads: list[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    store, ws = seeded
    a = ws.accounts
    with store.session(ws.tenant_id) as s:
        br.prepare_base_reports(s)
        assert s.scalar(select(func.count()).select_from(UsageAccountFact)) == 5
    with store.session(ws.tenant_id) as s:  # new usage: the facts no longer hold, until built again
        s.add_all(_usage([a["Alpha Unowned"], a["Alpha Poor Later"]], salt=3))
    with store.session(ws.tenant_id) as s:
        assert uf.fresh_usage_facts(s, WORLD_AS_OF, KEYS, LOGIN) is None
        before = _from_rows(s, ws, monkeypatch)
        reads.clear()
        assert _views(s, ws) == before and reads == []
        uf.refresh_usage_facts(s, KEYS, LOGIN)
    with store.session(ws.tenant_id) as s:
        _assert_user_rows(s)
        assert _views(s, ws) == before and "fact_adoption_counts" in reads
    # accounts moved (another CSM, segment and tier, as a sync writes them): read from the accounts, the facts
    # still hold
    with store.session(ws.tenant_id) as s:
        later, unowned = s.get(Account, a["Alpha Poor Later"]), s.get(Account, a["Alpha Unowned"])
        assert later is not None and unowned is not None
        later.csm_user_id, later.segment, later.tier = ws.users["csm2"], "enterprise", "enterprise"
        unowned.csm_user_id = ws.users["csm"]
    with store.session(ws.tenant_id) as s:
        assert uf.fresh_usage_facts(s, WORLD_AS_OF, KEYS, LOGIN) is not None
        reads.clear()
        moved = _views(s, ws)
        assert reads and moved == _from_rows(s, ws, monkeypatch)
        assert moved != before
    # usage moved to another account (a merge, in a sync) and a subscription's seats changed: the sync's prepare
    with store.session(ws.tenant_id) as s:
        s.execute(update(UsageDaily).where(UsageDaily.account_id == a["Alpha Other Poor"])
                  .values(account_id=a["Alpha Poor Renewing"], user_key=UsageDaily.user_key + "-merged"))
        s.execute(update(Subscription).where(Subscription.account_id == a["Alpha Good Steady"])
                  .values(seats_purchased=50))
    with store.session(ws.tenant_id) as s:
        assert uf.fresh_usage_facts(s, WORLD_AS_OF, KEYS, LOGIN) is None  # the subscription's change shows
        merged = _from_rows(s, ws, monkeypatch)
        br.prepare_base_reports(s)
    with store.session(ws.tenant_id) as s:
        _assert_user_rows(s)
        reads.clear()
        assert _views(s, ws) == merged and reads
        assert merged["adoption"]["upgrade_ready"] != moved["adoption"]["upgrade_ready"]  # 50 seats: not in use
    # deletes: an account (its facts with it), then usage rows and a sync's prepare
    with store.session(ws.tenant_id) as s:
        s.execute(delete(Account).where(Account.id == a["Alpha Good Steady"]))
    with store.session(ws.tenant_id) as s:
        assert s.scalar(select(func.count()).select_from(UsageAccountFact)) == 4
        assert _views(s, ws) == _from_rows(s, ws, monkeypatch)
        s.execute(delete(UsageDaily).where(UsageDaily.account_id == a["Alpha Poor Renewing"],
                                           UsageDaily.day >= WORLD_AS_OF - dt.timedelta(days=20)))
    with store.session(ws.tenant_id) as s:
        br.prepare_base_reports(s)
    with store.session(ws.tenant_id) as s:
        _assert_user_rows(s)
        reads.clear()
        assert _views(s, ws) == _from_rows(s, ws, monkeypatch) and reads
        br.drop_base_reports(s)
    with store.session(ws.tenant_id) as s:
        assert s.scalar(select(func.count()).select_from(UsageFactsState)) == 0
        assert uf.fresh_usage_facts(s, WORLD_AS_OF, KEYS, LOGIN) is None


def test_no_facts_for_a_workspace_never_scored(seeded: Any) -> None:
    store, ws = seeded
    with store.session(ws.tenant_id) as s:
        assert uf.refresh_usage_facts(s, KEYS, LOGIN) == 5
        s.execute(delete(HealthSnapshot))
        assert uf.refresh_usage_facts(s, KEYS, LOGIN) == 0
        assert s.scalar(select(func.count()).select_from(UsageAccountFact)) == 0
        assert s.scalar(select(func.count()).select_from(UsageUserFact)) == 0
        assert uf.fresh_usage_facts(s, br.as_of_day(s), KEYS, LOGIN) is None


def _correlated_user_activity(session: Any, day: dt.date, key_features: Any, login_event: str,
                              tenant: int | None = None) -> tuple[Any, tuple[Any, Any, Any, Any], Any]:
    """`br._user_activity` as it was before the per-month reads (the reference the new SQL must equal): the window
    rows' masks by CASE on the month, every split login row's two counts by correlated sums over the daily rows of
    its month (each window's days, the month matched per daily row)."""
    monthly_scope = [UsageMonthly.tenant_id == tenant] if tenant is not None else []
    daily_scope = [UsageDaily.tenant_id == tenant] if tenant is not None else []
    start, before = br._window(day)
    eve = start - dt.timedelta(days=1)
    now, then = cast(br._days_in(start, day), BigInteger), cast(br._days_in(before, eve), BigInteger)
    window = (select(UsageMonthly.account_id.label("a"), UsageMonthly.user_key.label("u"),
                     UsageMonthly.event.label("e"), UsageMonthly.days.label("days"), UsageMonthly.count.label("n"),
                     now.label("now"), then.label("then"))
              .where(or_(and_(UsageMonthly.event == login_event,
                              UsageMonthly.month.in_(list(br._masks(before, day)))),
                         and_(UsageMonthly.event.in_([*key_features, ""]),
                              UsageMonthly.month.in_(list(br._masks(start, day))))), *monthly_scope)
              .subquery("window_rows"))
    recent = br._bits(window.c.now)
    is_login = window.c.e == login_event
    whole = and_(or_(window.c.now == 0, window.c.now == window.c.days),
                 or_(window.c.then == 0, window.c.then == window.c.days))
    monthly = select(window.c.a, window.c.u, case((window.c.e == "", recent), else_=0).label("active"),
                     case((window.c.e.in_(list(key_features)), recent), else_=0).label("k"),
                     case((and_(is_login, whole, window.c.now != 0), window.c.n), else_=0).label("l"),
                     case((and_(is_login, whole, window.c.then != 0), window.c.n), else_=0).label("lb"))
    split = (select(UsageMonthly.account_id, UsageMonthly.user_key, UsageMonthly.month)
             .where(UsageMonthly.event == login_event, UsageMonthly.month.in_(list(br._masks(before, day))),
                    ~and_(or_(now == 0, now == UsageMonthly.days), or_(then == 0, then == UsageMonthly.days)),
                    *monthly_scope)
             .subquery("split"))

    def daily(first: dt.date, last: dt.date) -> Any:
        return (select(func.coalesce(func.sum(UsageDaily.count), 0))
                .where(UsageDaily.account_id == split.c.account_id, UsageDaily.user_key == split.c.user_key,
                       UsageDaily.event == login_event, br._month(session, UsageDaily.day) == split.c.month,
                       UsageDaily.day >= first, UsageDaily.day <= last, *daily_scope).scalar_subquery())

    logins = select(split.c.account_id, split.c.user_key, literal(0), literal(0), daily(start, day),
                    daily(before, eve))
    both = union_all(monthly, logins).subquery("both")
    active, key_days = func.sum(both.c.active), func.sum(both.c.k)
    logins_now, logins_before = func.sum(both.c.l), func.sum(both.c.lb)
    rule = or_(and_(active > 0, key_days == 0), and_(logins_before >= 4, 2 * logins_now <= logins_before))
    return both, (active, key_days, logins_now, logins_before), rule


def _per_user(s: Any, activity: Any, day: dt.date, tenant: int | None) -> dict[tuple[int, str], tuple[int, ...]]:
    both, sums, rule = activity(s, day, KEYS, LOGIN, tenant)
    return {(a, u): (int(n), int(k), int(lg), int(lb), int(bool(t))) for a, u, n, k, lg, lb, t in s.execute(
        select(both.c.a, both.c.u, *sums, rule).group_by(both.c.a, both.c.u))}


def _shaped(account_id: int, prefix: str) -> list[UsageDaily]:
    """Users of the shapes the split months must get right: back from a pause (the 60 days' ends, nothing between),
    active only in the 30 days before, logins on a month's first and last days and on every day of 70."""
    rows = []
    for back in range(70):
        day = WORLD_AS_OF - dt.timedelta(days=back)
        if back < 4 or 52 <= back < 60:
            rows.append(UsageDaily(account_id=account_id, user_key=f"{prefix}back", event=LOGIN, day=day, count=3))
        if 30 <= back < 60:
            rows.append(UsageDaily(account_id=account_id, user_key=f"{prefix}before", event=LOGIN, day=day,
                                   count=1 + back % 2))
        if day.day in (1, 2, 30, 31) or day == day.replace(day=28):
            rows.append(UsageDaily(account_id=account_id, user_key=f"{prefix}edges", event=LOGIN, day=day, count=5))
        rows.append(UsageDaily(account_id=account_id, user_key=f"{prefix}daily", event=LOGIN, day=day, count=back))
        if back % 9 == 0:
            rows.append(UsageDaily(account_id=account_id, user_key=f"{prefix}daily", event=KEYS[1], day=day, count=1))
    return rows


def test_user_activity_equals_the_correlated_daily_sums(app_factory: Any, database_url: str,
                                                        db_templates: Templates) -> None:
    """The per-month reads of `_user_activity` (a split month's shorter part from the daily rows, the rest from its
    count) give every user's figures the correlated per-row sums gave: two workspaces, split months (windows
    ending on several days, usage after the day too), a user back from a pause, one active only in the 30 days
    before, a deleted account; and the stored user facts equal them."""
    app = app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False, DATABASE_URL=database_url)
    store = canary_store(app)
    spaces = list(seeded_workspaces(app, db_templates, ("alpha", "Alpha"), ("beta", "Beta")))
    for i, ws in enumerate(spaces):
        ids = sorted(ws.accounts.values())
        with store.session(ws.tenant_id) as s:
            s.add_all(_usage(ids, salt=i))
            s.add_all(_shaped(ids[0], "shape-") + _shaped(ids[1], "other-"))
    gone = spaces[0].accounts["Alpha Other Poor"]
    with store.session(spaces[0].tenant_id) as s:
        s.add_all(_shaped(gone, "gone-"))
    with store.session(spaces[0].tenant_id) as s:
        s.execute(delete(Account).where(Account.id == gone))
    days = [WORLD_AS_OF - dt.timedelta(days=back) for back in (0, 10, 19, 30, 47)]
    for ws in spaces:
        with store.session(ws.tenant_id) as s:
            for day in days:
                for tenant in (None, ws.tenant_id):  # the session's scoping, the workspace spelled out
                    new, old = (_per_user(s, f, day, tenant) for f in (br._user_activity, _correlated_user_activity))
                    assert new == old, (ws.slug, day, tenant)
            figures = _per_user(s, br._user_activity, WORLD_AS_OF, None)
            # the shapes are there: split months' logins, a pause, the earlier window only, a deleted account's none
            assert figures[(sorted(ws.accounts.values())[0], "shape-before")][2:4] == (0, 45)
            assert figures[(sorted(ws.accounts.values())[0], "shape-back")][2:4] == (12, 24)
            assert not any(a == gone for a, _u in figures)
            assert sum(v[3] for v in figures.values()) > 0 and sum(v[4] for v in figures.values()) > 0
            uf.refresh_usage_facts(s, KEYS, LOGIN)
        with store.session(ws.tenant_id) as s:
            stored = {(f.account_id, f.user_key): (f.active, f.key_days, f.logins, f.logins_before, int(f.training))
                      for f in s.scalars(select(UsageUserFact))}
            assert stored == _per_user(s, _correlated_user_activity, br.as_of_day(s), None)
            assert len(stored) > 10


def test_usage_blobs_take_the_narrowest_width_and_read_back_exactly() -> None:
    """Each account's counts stored in 1, 2 or 4 bytes a count (its largest decides), read back as int32 whatever
    the width; a blob of the former all-int32 layout and a missing one (None: zeros) read too."""
    import numpy as np

    counts = np.array([[0, 0, 0], [3, 255, 1], [256, 2, 0], [65535, 0, 7], [65536, 1, 2], [2**31 - 1, 0, 5]],
                      dtype=np.int32)
    blobs = uf.usage_blobs(counts)
    assert [len(b) for b in blobs] == [3, 3, 6, 6, 12, 12]
    back = uf.usage_counts([*blobs, None, np.array([9, 0, 300], dtype="<i4").tobytes()], 3)
    assert back.dtype == np.int32
    assert back[:6].tolist() == counts.tolist()
    assert back[6:].tolist() == [[0, 0, 0], [9, 0, 300]]


def _stored_facts(s: Any) -> tuple[list[Any], list[Any]]:
    accounts = [tuple(r) for r in s.execute(select(*[c for c in UsageAccountFact.__table__.c if c.name != "usage"],
                                                   UsageAccountFact.usage).order_by(UsageAccountFact.id))]
    users = [tuple(r) for r in s.execute(select(*[c for c in UsageUserFact.__table__.c if c.name != "id"])
                                         .order_by(UsageUserFact.account_id, UsageUserFact.user_key))]
    return accounts, users


def test_facts_read_ahead_on_a_second_connection_equal_the_sessions(seeded: Any) -> None:
    """`ReadAhead` (the reads on a thread, a connection of their own) builds the very rows the session's own reads
    do; a session that wrote first reads itself (a second connection would not see its write), and its
    uncommitted usage is counted."""
    store, ws = seeded
    with store.session(ws.tenant_id) as s:
        ahead = uf.ReadAhead(s, KEYS, LOGIN)
        assert ahead.future is not None  # started: a database file or server, nothing written yet
        assert uf.refresh_usage_facts(s, KEYS, LOGIN, ahead) == 5
        assert ahead.future is None  # taken
    with store.session(ws.tenant_id) as s:
        read_ahead = _stored_facts(s)
        assert uf.fresh_usage_facts(s, WORLD_AS_OF, KEYS, LOGIN, 6) is not None
        _assert_user_rows(s)
    with store.session(ws.tenant_id) as s:
        assert uf.refresh_usage_facts(s, KEYS, LOGIN) == 5
    with store.session(ws.tenant_id) as s:
        assert _stored_facts(s) == read_ahead
        assert len(read_ahead[0]) == 5 and len(read_ahead[1]) > 5
    with store.session(ws.tenant_id) as s:  # a write first: no read ahead, the write counted
        s.add_all(_usage([ws.accounts["Alpha Unowned"]], salt=5))
        s.flush()
        ahead = uf.ReadAhead(s, KEYS, LOGIN)
        assert ahead.future is None
        uf.refresh_usage_facts(s, KEYS, LOGIN, ahead)
        _assert_user_rows(s)
        assert _stored_facts(s)[1] != read_ahead[1]
    with store.session(ws.tenant_id) as s:  # a read ahead of another day is not taken: the session reads
        ahead = uf.ReadAhead(s, KEYS, LOGIN)
        assert ahead.future is not None
        assert ahead.take(ws.tenant_id, WORLD_AS_OF - dt.timedelta(days=1), KEYS, LOGIN) is None


def _grouped_reference(tenant: int, day: dt.date) -> Any:
    """The per-account read `uf._cells` replaced (the reference it must equal): per account and event (any, then
    the key features) its distinct users of the 30 days and the 30 before, and its rows of each month."""
    start, before = br._window(day)
    events = ["", *KEYS]
    column = case(*[(UsageMonthly.event == e, i) for i, e in enumerate(events)], else_=-1)
    months = uf._month_firsts(day, uf.FACT_MONTHS)

    def users_in(days: Any) -> Any:
        return func.count(func.distinct(case((days != 0, UsageMonthly.user_key))))

    in_month = [UsageMonthly.month == m if m < months[-1]
                else and_(UsageMonthly.month == m, br._days_in(months[-1], day) != 0) for m in months]
    return (select(UsageMonthly.account_id, column, users_in(br._days_in(start, day)),
                   users_in(br._days_in(before, start - dt.timedelta(days=1))),
                   *[func.sum(case((month, 1), else_=0)) for month in in_month])
            .where(UsageMonthly.tenant_id == tenant, UsageMonthly.month >= months[0],
                   UsageMonthly.month <= months[-1], UsageMonthly.event.in_(events))
            .group_by(UsageMonthly.account_id, UsageMonthly.event))


def test_cells_equal_the_grouped_reads_they_replace(app_factory: Any, database_url: str,
                                                     db_templates: Templates) -> None:
    """One streamed pass per user (`uf._cells`, decoded by NumPy) gives each account's first use and its distinct
    users and month rows exactly as the grouped reads did, for days that split months and windows, with a user
    back after months away, one active only in the earlier window, usage after the day, a deleted account and a
    second workspace."""
    app = app_factory(PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False, DATABASE_URL=database_url)
    store = canary_store(app)
    alpha, beta = seeded_workspaces(app, db_templates, ("alpha", "Alpha"), ("beta", "Beta"))
    ids = sorted(alpha.accounts.values())
    for ws, salt in ((alpha, 0), (beta, 1)):
        with store.session(ws.tenant_id) as s:
            s.add_all(_usage(sorted(ws.accounts.values()), salt=salt))
    with store.session(alpha.tenant_id) as s:
        special = [(ids[0], "back", LOGIN, dt.date(2026, 6, 10)), (ids[0], "back", KEYS[0], dt.date(2026, 6, 11)),
                   (ids[0], "back", KEYS[1], dt.date(2026, 11, 25)), (ids[1], "early", KEYS[2], dt.date(2026, 10, 5)),
                   (ids[1], "early", LOGIN, dt.date(2026, 9, 20)), (ids[2], "late", KEYS[0], dt.date(2026, 11, 28)),
                   (ids[2], "first", "Settings Opened", dt.date(2026, 3, 3))]
        s.add_all([UsageDaily(account_id=a, user_key=u, event=e, day=d, count=1) for a, u, e, d in special])
    with store.session(beta.tenant_id) as s:
        s.execute(delete(Account).where(Account.id == min(beta.accounts.values())))
    days = (WORLD_AS_OF, dt.date(2026, 11, 20), dt.date(2026, 11, 1), dt.date(2026, 10, 31), dt.date(2026, 10, 15))
    for ws in (alpha, beta):
        with store.session(ws.tenant_id) as s:
            t = ws.tenant_id
            first_use = br._first_use(t)
            expected_firsts = {a: br._date(m).replace(day=int(offset).bit_length()) for a, m, offset in s.execute(
                select(first_use.c.account_id, first_use.c.month, first_use.c.offset))}
            assert len(expected_firsts) >= 4
            for day in days:
                firsts, cells = uf._decode_cells(br._driver_rows(s, uf._cells(s, t, day, KEYS)), 1 + len(KEYS))
                assert {a: dt.date(n // 100, n % 100, offset.bit_length())
                        for a, (n, offset) in firsts.items()} == expected_firsts
                expected = sorted(tuple(int(v) for v in row) for row in s.execute(_grouped_reference(t, day))
                                  if row[1] >= 0)
                assert sorted(map(tuple, cells.tolist())) == expected, day
                assert sum(row[2] for row in expected) > 0 and sum(sum(row[4:]) for row in expected) > 0
    with store.session(alpha.tenant_id) as s:  # the special users counted: back in the window, early before it
        _, cells = uf._decode_cells(br._driver_rows(s, uf._cells(s, alpha.tenant_id, WORLD_AS_OF, KEYS)),
                                    1 + len(KEYS))
        by = {(a, c): row for a, c, *row in cells.tolist()}
        assert by[(ids[0], 1)][2] == 1 and by[(ids[0], 0)][2] == 1  # June (slot 1): only the user back since
        assert by[(ids[1], 3)][1] >= 1  # KEYS[2] on 5 October: the 30 days before

"""Migration 0020 builds the panel views of existing databases' accounts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, bindparam, text

from store import panel_views
from store.db import make_engine
from store.migrate import upgrade


def test_0020_builds_the_views_of_existing_accounts_as_of_their_workspaces_latest_scored_day(
        database_url: str) -> None:
    day = dt.date(2026, 11, 30)
    upgrade(database_url, "0018")
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            scored, unscored = (conn.execute(text(
                "INSERT INTO tenants (slug, name, created_at) VALUES (:s, :s, CURRENT_TIMESTAMP) RETURNING id"),
                {"s": slug}).scalar_one() for slug in ("scored", "unscored"))
            account = text("INSERT INTO accounts (tenant_id, name, owner, created_at, updated_at) "
                           "VALUES (:t, :n, :o, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP) RETURNING id")
            first = conn.execute(account, {"t": scored, "n": "First", "o": "casey@example.com"}).scalar_one()
            second = conn.execute(account, {"t": scored, "n": "Second", "o": None}).scalar_one()
            conn.execute(account, {"t": unscored, "n": "Never scored", "o": None})
            snapshot = text("INSERT INTO health_snapshots (tenant_id, account_id, day, score, band, parts, reasons, "
                            "trend, computed_at) VALUES (:t, :a, :d, :s, :b, '{}', :r, -0.2, CURRENT_TIMESTAMP)"
                            ).bindparams(bindparam("d", type_=Date))
            conn.execute(snapshot, {"t": scored, "a": first, "d": day - dt.timedelta(days=1), "s": 61.0,
                                    "b": "average", "r": '[{"text": "Logins fell"}]'})
            conn.execute(snapshot, {"t": scored, "a": first, "d": day, "s": 38.0, "b": "poor",
                                    "r": '[{"text": "Logins fell by half"}]'})
        upgrade(database_url)
        with engine.connect() as conn:
            rows = {a: (as_of, payload) for a, as_of, payload in conn.execute(text(
                "SELECT account_id, as_of, payload FROM panel_views ORDER BY account_id"))}
    finally:
        engine.dispose()
    assert sorted(rows) == [first, second]  # the unscored workspace's account gets its view on first request
    as_of, payload = rows[first]
    assert str(as_of) == day.isoformat()
    view = panel_views.decode(payload)
    assert (view["score"], view["band"], view["reasons"], view["owner"]) == (38.0, "poor", ["Logins fell by half"],
                                                                           "casey@example.com")
    assert view["scores"][-2:] == [61.0, 38.0] and len(view["scores"]) == panel_views.TREND_DAYS
    second_view = panel_views.decode(rows[second][1])
    assert (second_view["name"], second_view["score"], second_view["scores"][-1]) == ("Second", None, None)

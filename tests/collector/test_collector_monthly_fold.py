"""The collector's set-based monthly fold (PostgreSQL, migration 0032) gives ``usage_monthly`` exactly what 0019's
per-row triggers give, on a mixed workload: batches with new days, grown daily rows, duplicates inside and across
batches, late events in earlier months, non-usage messages, and other writers' plain SQL between batches."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from sqlalchemy import text

import collector.ingest
from extensions import canary_store
from store import usage_fold
from tests.collector.conftest import OTHER_KEY, WRITE_KEY, post, ts
from tests.store.test_usage_rollup import daily_rows, grouped, stored

EVENTS = ["Logged In", "Report Created", "Dashboard Viewed", "Data Exported"]
DAYS_AGO = [1, 2, 3, 12, 29, 30, 31, 45, 64]  # WORLD_NOW is 11-30: November, October and September


def _batches() -> list[list[dict[str, Any]]]:
    rng = random.Random(18)
    batches: list[list[dict[str, Any]]] = []
    sent: list[dict[str, Any]] = []
    for b in range(6):
        batch: list[dict[str, Any]] = []
        for i in range(70):
            user = f"u{rng.randrange(9)}"
            kind = rng.random()
            if kind < 0.06:
                batch.append({"type": "identify", "messageId": f"i{b}-{i}", "userId": user,
                              "traits": {"email": f"{user}@example.com"}, "timestamp": ts(1)})
            elif kind < 0.12 and sent:
                batch.append(rng.choice(sent))  # sent before: in this batch or an earlier one
            else:
                batch.append({"type": "track", "messageId": f"t{b}-{i}", "userId": user,
                              "event": rng.choice(EVENTS), "properties": {"minutes": rng.randrange(30)},
                              "timestamp": ts(rng.choice(DAYS_AGO), hour=rng.randrange(24)),
                              "context": {"groupId": f"g{int(user[1:]) % 3}"}})
            sent.append(batch[-1])
        batches.append(batch)
    # an import of history: one user's logins over 40 days (few monthly rows for many daily ones); later more of
    # them on days already counted (their daily rows grow), one sent before
    history = [{"type": "track", "messageId": f"h{d}", "userId": "u7", "event": "Logged In", "timestamp": ts(d, 3),
                "context": {"groupId": "g1"}} for d in range(1, 41)]
    more = [{**m, "messageId": m["messageId"] + "-more"} for m in history[5:]]
    return [*batches[:3], history, *batches[3:], [*more, history[0]]]


def _other_writers(conn: Any, tenant_id: int, step: int) -> None:
    """Writes to ``usage_daily`` that are not the collector's (a sync, a backfill, plain SQL): the triggers' part."""
    where = "tenant_id = :t AND user_key = :u"
    if step == 1:
        conn.execute(text(f"UPDATE usage_daily SET count = count + 3 WHERE {where}"), {"t": tenant_id, "u": "u1"})
    elif step == 2:
        conn.execute(text(f"DELETE FROM usage_daily WHERE {where} AND event = :e"),
                     {"t": tenant_id, "u": "u2", "e": "Logged In"})
    elif step == 3:
        account = conn.execute(text(f"SELECT account_id FROM usage_daily WHERE {where} LIMIT 1"),
                               {"t": tenant_id, "u": "u4"}).scalar_one()
        conn.execute(text("INSERT INTO usage_daily (tenant_id, account_id, user_key, event, day, count, minutes) "
                          "VALUES (:t, :a, 'u4', 'Imported', :d, 7, 0)"),
                     {"t": tenant_id, "a": account, "d": dt.date(2026, 10, 5)})


def _by_name(conn: Any, tenant_id: int, rollup: dict[Any, Any]) -> dict[Any, Any]:
    names = dict(conn.execute(text("SELECT id, name FROM accounts WHERE tenant_id = :t"), {"t": tenant_id}).all())
    return {(names[a], u, e, m): v for (a, u, e, m), v in rollup.items()}


def test_the_batch_fold_equals_the_triggers_on_a_mixed_workload(collector_app: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    folded, triggered = collector_app.config["TEST_TENANT"], collector_app.config["OTHER_TENANT"]
    client = collector_app.test_client()
    engine = canary_store(collector_app).engine
    postgres = engine.dialect.name == "postgresql"
    calls: list[int] = []
    real_add = collector.ingest.add_monthly

    def counting_add(session: Any, tenant_id: int, daily: Any) -> None:
        calls.append(tenant_id)
        real_add(session, tenant_id, daily)

    monkeypatch.setattr(collector.ingest, "add_monthly", counting_add)
    answers: dict[str, list[tuple[int, int]]] = {WRITE_KEY: [], OTHER_KEY: []}
    for step, batch in enumerate(_batches()):
        for key, folds in ((WRITE_KEY, usage_fold.folds_itself), (OTHER_KEY, lambda session: False)):
            # the second workspace's batches go through the triggers whatever the database
            monkeypatch.setattr(collector.ingest, "folds_itself", folds)
            body = post(client, "/v1/batch", {"batch": batch}, key=key).get_json()
            assert body["rejectedCount"] == 0, body
            answers[key].append((body["accepted"], body["duplicates"]))
        with engine.begin() as conn:
            for tenant in (folded, triggered):
                _other_writers(conn, tenant, step)
    assert answers[WRITE_KEY] == answers[OTHER_KEY]
    assert sum(d for _, d in answers[WRITE_KEY]) > 10  # duplicates in batches and across them
    assert calls == ([folded] * 8 if postgres else [])

    with engine.connect() as conn:
        by_fold = _by_name(conn, folded, stored(conn, folded))
        by_triggers = _by_name(conn, triggered, stored(conn, triggered))
        assert by_fold == by_triggers
        # and both are the roll-up of the daily rows
        assert by_fold == _by_name(conn, folded, grouped(daily_rows(conn, folded)))
        daily = daily_rows(conn, folded)
    months = {m for (_, _, _, m) in by_fold}
    assert months == {dt.date(2026, 9, 1), dt.date(2026, 10, 1), dt.date(2026, 11, 1)}
    assert any(bin(days).count("1") >= 3 for (_, _, e, _), (days, _) in by_fold.items() if e == "")
    assert any(count > 1 for *_, count in daily)  # daily rows that grew across batches
    assert ("g1", "u4", "Imported", dt.date(2026, 10, 1)) in by_fold
    assert by_fold[("g1", "u7", "Logged In", dt.date(2026, 10, 1))][0] & (1 << 20)  # 10-21, from the imports


def test_the_fold_setting_is_the_one_the_trigger_reads() -> None:
    """Migration 0032 spells the setting and its value in its trigger's condition, as migrations must."""
    import importlib.util
    from pathlib import Path

    import store

    path = Path(store.__file__).parent / "migrations" / "versions" / "0032_usage_monthly_batch_fold.py"
    spec = importlib.util.spec_from_file_location("migration_0032", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (module.SETTING, module.FOLDED) == (usage_fold.SETTING, usage_fold.FOLDED)
    assert f"current_setting('{usage_fold.SETTING}', true) IS DISTINCT FROM '{usage_fold.FOLDED}'" in module.PG_TRIGGER


def test_monthly_rows_or_the_days_and_add_the_counts() -> None:
    nov3, nov5, oct5 = dt.date(2026, 11, 3), dt.date(2026, 11, 5), dt.date(2026, 10, 5)
    rows = usage_fold.monthly_rows([(1, "u", "A", nov3, 2), (1, "u", "B", nov3, 1), (1, "u", "A", nov5, 4),
                                    (1, "u", "A", oct5, 1), (2, "u", "A", nov3, 1)])
    nov, oct_ = dt.date(2026, 11, 1), dt.date(2026, 10, 1)
    assert rows == [
        (1, "u", "", oct_, 1 << 4, 1), (1, "u", "", nov, 1 << 2 | 1 << 4, 7), (1, "u", "A", oct_, 1 << 4, 1),
        (1, "u", "A", nov, 1 << 2 | 1 << 4, 6), (1, "u", "B", nov, 1 << 2, 1), (2, "u", "", nov, 1 << 2, 1),
        (2, "u", "A", nov, 1 << 2, 1),
    ]

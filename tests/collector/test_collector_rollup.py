"""``usage_monthly`` right after collector batches, duplicates and late events for an old day included (SQLite and
PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from extensions import canary_store
from tests.collector.conftest import post, ts
from tests.store.test_usage_rollup import daily_rows, grouped, stored


def _track(mid: str, user: str, event: str, days_ago: int) -> dict[str, Any]:
    return {"type": "track", "messageId": mid, "userId": user, "event": event, "timestamp": ts(days_ago),
            "context": {"groupId": "acct-r"}}


def test_collector_batches_keep_the_rollup_with_duplicates_and_late_events(collector_app: Any) -> None:
    client = collector_app.test_client()
    tenant = collector_app.config["TEST_TENANT"]
    first = [_track("r1", "u1", "Logged In", 1), _track("r2", "u1", "Logged In", 1),
             _track("r2", "u1", "Logged In", 1),  # a duplicate in the batch: counted once
             _track("r3", "u1", "Report Created", 3), _track("r4", "u2", "Logged In", 1)]
    assert post(client, "/v1/batch", {"batch": first}).get_json()["accepted"] == 4
    engine = canary_store(collector_app).engine
    with engine.connect() as conn:
        after_first = stored(conn, tenant)
        assert after_first == grouped(daily_rows(conn, tenant))
    account = next(iter({a for a, *_ in after_first}))
    nov = dt.date(2026, 11, 1)
    # 11-29 is day 29 (bit 28), 11-27 day 27 (bit 26)
    assert after_first[(account, "u1", "Logged In", nov)] == (1 << 28, 2)
    assert after_first[(account, "u1", "", nov)] == (1 << 28 | 1 << 26, 3)
    assert after_first[(account, "u2", "", nov)] == (1 << 28, 1)
    # the same batch again (all duplicates), then late events: 40 days ago (October) and again on 11-29
    assert post(client, "/v1/batch", {"batch": first}).get_json()["accepted"] == 0
    late = [_track("r5", "u1", "Logged In", 40), _track("r6", "u1", "Dashboard Viewed", 40),
            _track("r7", "u1", "Logged In", 1)]
    assert post(client, "/v1/batch", {"batch": late}).get_json()["accepted"] == 3
    with engine.connect() as conn:
        after = stored(conn, tenant)
        assert after == grouped(daily_rows(conn, tenant))
    october = dt.date(2026, 10, 1)  # 40 days before 11-30 is 10-21: bit 20
    assert after[(account, "u1", "", october)] == (1 << 20, 2)
    assert after[(account, "u1", "Dashboard Viewed", october)] == (1 << 20, 1)
    assert after[(account, "u1", "Logged In", nov)] == (1 << 28, 3)
    assert after[(account, "u1", "", nov)] == (1 << 28 | 1 << 26, 4)
    assert len(after) == len(after_first) + 3

"""The scoring run over the store: snapshots, trend, roll-up, alerts deduplicated and resolved."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from scoring import default_model
from store.db import Store
from store.models import Account, Alert, Contact, HealthSnapshot, ProductUser, Subscription, Task, UsageDaily
from store.tenants import create_tenant
from sync.health import score_tenant

TODAY = dt.date(2026, 11, 20)


@pytest.fixture
def tenant(store: Store) -> int:
    with store.session() as s:
        t, _ = create_tenant(s, "acme", "Acme CS")
        return t.id


def _usage(account_id: int, users: int, days: range, events: tuple[str, ...] = ("Logged In", "Report Created")
           ) -> list[UsageDaily]:
    rows = []
    for back in days:
        for u in range(users):
            for event in events:
                rows.append(UsageDaily(account_id=account_id, user_key=f"a{account_id}-u{u}", event=event,
                                       day=TODAY - dt.timedelta(days=back), count=2, minutes=15.0))
    return rows


def _world(store: Store, tenant: int) -> dict[str, int]:
    with store.session(tenant) as s:
        steady = Account(name="Steady Co", segment="mid_market", owner="casey@canary.test")
        falling = Account(name="Falling Co", segment="mid_market", owner="casey@canary.test")
        parent = Account(name="Holding", segment="enterprise")
        s.add_all([steady, falling, parent])
        s.flush()
        steady.parent_id = parent.id
        falling.parent_id = parent.id
        for acc, seats in ((steady, 20), (falling, 20)):
            s.add(Subscription(account_id=acc.id, system="salesforce", external_id=f"006{acc.id}",
                               arr=Decimal("50000"), seats_purchased=seats, start_date=dt.date(2025, 1, 1),
                               renewal_date=dt.date(2027, 6, 1), status="active"))
        s.add_all(_usage(steady.id, 10, range(0, 40)))
        # Falling: 10 users until two weeks ago, then 2.
        s.add_all(_usage(falling.id, 10, range(14, 40)) + _usage(falling.id, 2, range(0, 14)))
        s.add(Contact(account_id=steady.id, email="champ@steady.test", role="champion",
                      last_active_at=dt.datetime(2026, 11, 19, tzinfo=dt.UTC)))
        return {"steady": steady.id, "falling": falling.id, "parent": parent.id}


def test_score_run_writes_snapshots_and_raises_alerts_once(store: Store, tenant: int) -> None:
    ids = _world(store, tenant)
    model = default_model()
    first = score_tenant(store, tenant, model, TODAY)
    assert first.accounts == 3
    with store.session(tenant) as s:
        snaps = {x.account_id: x for x in s.scalars(select(HealthSnapshot).where(HealthSnapshot.day == TODAY))}
        assert set(snaps) == set(ids.values())
        steady, falling = snaps[ids["steady"]], snaps[ids["falling"]]
        assert steady.score is not None and falling.score is not None
        assert steady.score > falling.score
        assert 0 <= falling.score <= 100
        assert steady.parts["parts"]  # per-measure parts are kept
        assert "benchmarks" in steady.parts
        rules = set(s.scalars(select(Alert.rule).where(Alert.account_id == ids["falling"])))
        assert "usage_drop" in rules
        assert "usage_drop" not in set(s.scalars(select(Alert.rule).where(Alert.account_id == ids["steady"])))
        usage_alert = s.scalars(select(Alert).where(Alert.rule == "usage_drop")).one()
        assert any("%" in r for r in usage_alert.reasons)
        task = s.scalars(select(Task).where(Task.alert_id == usage_alert.id)).one()
        assert task.owner == "casey@canary.test"
        parent = snaps[ids["parent"]]
        assert parent.profile == "rollup"
        assert any("Falling Co" in r["text"] for r in parent.reasons)
    assert first.alerts_by_rule["usage_drop"] == 1

    again = score_tenant(store, tenant, model, TODAY)
    assert again.alerts_raised == 0  # the condition persists: no new alert
    with store.session(tenant) as s:
        assert s.scalar(select(func.count()).select_from(Alert).where(Alert.rule == "usage_drop")) == 1
        assert s.scalar(select(func.count()).select_from(HealthSnapshot).where(HealthSnapshot.day == TODAY)) == 3


def test_alert_resolves_when_the_condition_is_gone(store: Store, tenant: int) -> None:
    ids = _world(store, tenant)
    model = default_model()
    score_tenant(store, tenant, model, TODAY)
    with store.session(tenant) as s:
        s.add_all(_usage(ids["falling"], 10, range(-14, 0)))  # usage recovers over the next two weeks
    later = TODAY + dt.timedelta(days=14)
    summary = score_tenant(store, tenant, model, later)
    assert summary.alerts_resolved >= 1
    with store.session(tenant) as s:
        alert = s.scalars(select(Alert).where(Alert.rule == "usage_drop", Alert.account_id == ids["falling"])).one()
        assert alert.status == "resolved" and alert.resolved_at is not None
        # Steady Co stopped using the product after TODAY: that is a new usage drop
        assert s.scalars(select(Alert.status).where(Alert.rule == "usage_drop",
                                                    Alert.account_id == ids["steady"])).all() == ["open"]
        assert s.scalars(select(Task.status).where(Task.alert_id == alert.id)).one() == "done"


def test_since_recomputes_history_with_a_trend(store: Store, tenant: int) -> None:
    ids = _world(store, tenant)
    summary = score_tenant(store, tenant, default_model(), TODAY, since=TODAY - dt.timedelta(days=29))
    assert summary.days == 30
    with store.session(tenant) as s:
        days = s.scalars(select(HealthSnapshot.day).where(HealthSnapshot.account_id == ids["falling"])
                         .order_by(HealthSnapshot.day)).all()
        assert len(days) == 30 and days[0] == TODAY - dt.timedelta(days=29)
        falling = s.scalars(select(HealthSnapshot).where(HealthSnapshot.account_id == ids["falling"],
                                                         HealthSnapshot.day == TODAY)).one()
        assert falling.trend is not None and falling.trend < 0


def test_scoring_a_stored_day_again_gives_the_same_snapshot(store: Store, tenant: int) -> None:
    """The day's earlier snapshot is replaced, not counted in its own trend a second time."""
    ids = _world(store, tenant)
    score_tenant(store, tenant, default_model(), TODAY, since=TODAY - dt.timedelta(days=29))

    def today() -> tuple[float | None, float | None, list[object]]:
        with store.session(tenant) as s:
            snap = s.scalars(select(HealthSnapshot).where(HealthSnapshot.account_id == ids["falling"],
                                                          HealthSnapshot.day == TODAY)).one()
            return snap.score, snap.trend, snap.reasons

    first = today()
    assert first[1] is not None and first[1] < 0
    score_tenant(store, tenant, default_model(), TODAY)
    assert today() == first
    with store.session(tenant) as s:
        assert s.scalar(select(func.count()).select_from(HealthSnapshot).where(HealthSnapshot.day == TODAY)) == 3


def test_since_after_day_is_refused(store: Store, tenant: int) -> None:
    with pytest.raises(ValueError, match="after the scoring day"):
        score_tenant(store, tenant, default_model(), TODAY, since=TODAY + dt.timedelta(days=1))


def test_cli_score_prints_a_summary(tmp_path: object, monkeypatch: pytest.MonkeyPatch, migrated_url: str,
                                    store: Store, tenant: int) -> None:
    import json

    from click.testing import CliRunner

    from app import cli

    _world(store, tenant)
    monkeypatch.setenv("DATABASE_URL", migrated_url)
    monkeypatch.setenv("CANARY_SECRET_KEY", "cli-secret-key-0123456789")
    runner = CliRunner()
    result = runner.invoke(cli, ["score", "--as-of", TODAY.isoformat(), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["accounts"] == 3 and sum(summary["bands"].values()) + summary["unscored"] == 3
    assert summary["alerts_by_rule"]["usage_drop"] == 1
    bad = runner.invoke(cli, ["score", "--since", "last week"])
    assert bad.exit_code != 0 and "is not a date" in bad.output
    model = tmp_path / "model.yaml"  # type: ignore[operator]
    model.write_text("measures: {}\nprofiles: []\n")
    invalid = runner.invoke(cli, ["score", "--model", str(model)])
    assert invalid.exit_code != 0 and "the health model is not valid" in invalid.output


def test_a_champion_is_matched_to_the_product_user_of_the_same_customer(store: Store, tenant: int) -> None:
    """Two customers' people may share an address (a subsidiary on its parent's domain): the quiet
    champion of one must not look active because the other's product user with that address is."""
    with store.session(tenant) as s:
        quiet, busy = Account(name="Quiet Sub"), Account(name="Busy Parent")
        s.add_all([quiet, busy])
        s.flush()
        s.add_all(_usage(quiet.id, 3, range(0, 40)) + _usage(busy.id, 3, range(0, 40)))
        s.add(Contact(account_id=quiet.id, email="henry@shared.test", role="champion", name="Henry",
                      last_active_at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC)))
        s.add(ProductUser(user_key="quiet-henry", account_id=quiet.id, email="henry@shared.test",
                          last_seen=dt.datetime(2026, 10, 1, 12, tzinfo=dt.UTC)))
        s.add(ProductUser(user_key="busy-henry", account_id=busy.id, email="henry@shared.test",
                          last_seen=dt.datetime(2026, 11, 19, 12, tzinfo=dt.UTC)))
        quiet_id = quiet.id
    score_tenant(store, tenant, default_model(), TODAY)
    with store.session(tenant) as s:
        alert = s.scalars(select(Alert).where(Alert.account_id == quiet_id, Alert.rule == "champion_inactive")).one()
        assert "50 days" in alert.title

"""Sync keeps subscription history: derived term ends, dated movements, in-place edits as versions, and an
account's ARR counted from the terms in force only."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from integrations.base import AccountRecord, DealRecord
from store.db import Store
from store.models import Account, AuditEvent, RenewalCall, Subscription, SubscriptionMovement, SubscriptionVersion
from store.tenants import create_tenant
from sync.revenue import RevenueError, record_call, set_settings
from sync.runner import sync
from tests.shared import WORLD_NOW
from tests.sync.memory_adapter import MemoryAdapter

D = dt.date


def _deal(key: str, arr: int, start: dt.date, renewal: dt.date, status: str = "active",
          updated: dt.datetime = WORLD_NOW) -> DealRecord:
    return DealRecord("salesforce", key, updated, "001A", f"Deal {key}", Decimal(arr), 10, "growth", start, renewal,
                      status)


@pytest.fixture
def tenant(store: Store) -> int:
    with store.session() as s:
        t, _ = create_tenant(s, "rev", "Revenue")
        return t.id


def _crm(*deals: DealRecord) -> MemoryAdapter:
    return MemoryAdapter("salesforce", {"accounts": [AccountRecord("salesforce", "001A", "Initech", WORLD_NOW)],
                                        "deals": list(deals)}, page_size=100)


def _movements(store: Store, tenant: int) -> list[tuple[Any, ...]]:
    with store.session(tenant) as s:
        return [(m.day, m.kind, m.arr_before, m.arr_after) for m in s.scalars(
            select(SubscriptionMovement).order_by(SubscriptionMovement.day, SubscriptionMovement.kind))]


def test_a_renewed_term_ends_and_the_account_counts_the_renewal_only(store: Store, tenant: int) -> None:
    crm = _crm(_deal("006A", 10_000, D(2024, 3, 1), D(2025, 3, 1)),      # first term
               _deal("006B", 12_000, D(2025, 3, 1), D(2026, 3, 1)),      # renewed up
               _deal("006C", 3_000, D(2025, 9, 1), D(2026, 3, 1)),       # co-terminous expansion
               _deal("006D", 15_000, D(2026, 3, 1), D(2027, 3, 1)),      # renewed flat (12,000 + 3,000)
               _deal("006E", 5_000, D(2026, 6, 1), D(2027, 3, 1), status="pending"))  # not won: never counted
    sync(store, tenant, {"salesforce": crm})
    with store.session(tenant) as s:
        ends = {sub.external_id: sub.term_end for sub in s.scalars(select(Subscription))}
        arr = s.scalar(select(Account.arr))
    assert ends == {"006A": D(2025, 3, 1), "006B": D(2026, 3, 1), "006C": D(2026, 3, 1), "006D": None,
                    "006E": None}
    assert arr == 15_000.0  # the terms in force now; the four won deals together would say 40,000
    assert _movements(store, tenant) == [
        (D(2024, 3, 1), "new", Decimal(0), Decimal(10_000)),
        (D(2025, 3, 1), "expansion", Decimal(10_000), Decimal(12_000)),
        (D(2025, 3, 1), "renewal", Decimal(10_000), Decimal(12_000)),
        (D(2025, 9, 1), "expansion", Decimal(12_000), Decimal(15_000)),
        (D(2026, 3, 1), "renewal", Decimal(15_000), Decimal(15_000)),
    ]


def test_a_lost_renewal_is_churn_and_a_later_win_back_a_reactivation(store: Store, tenant: int) -> None:
    crm = _crm(_deal("006A", 8_000, D(2024, 1, 1), D(2025, 1, 1)),
               _deal("006L", 8_000, D(2025, 1, 1), D(2026, 1, 1), status="churned"))
    sync(store, tenant, {"salesforce": crm})
    assert [m[:2] for m in _movements(store, tenant)] == [(D(2024, 1, 1), "new"), (D(2025, 1, 1), "churn")]
    crm.data["deals"].append(_deal("006W", 6_000, D(2025, 5, 1), D(2026, 5, 1)))  # won back: a new page
    sync(store, tenant, {"salesforce": crm})
    assert _movements(store, tenant)[-1] == (D(2025, 5, 1), "reactivation", Decimal(0), Decimal(6_000))


def test_an_in_place_edit_is_kept_as_a_version_and_dated_by_the_vendor(store: Store, tenant: int) -> None:
    crm = _crm(_deal("006A", 10_000, D(2025, 1, 1), D(2026, 1, 1)))
    sync(store, tenant, {"salesforce": crm})
    later = WORLD_NOW.replace(year=2025, month=7, day=15)
    crm.data["deals"] = [_deal("006A", 9_000, D(2025, 1, 1), D(2026, 1, 1), updated=later)]
    sync(store, tenant, {"salesforce": crm}, full=True)
    with store.session(tenant) as s:
        versions = [(v.seen_on, v.arr_before, v.arr_after) for v in s.scalars(select(SubscriptionVersion))]
    assert versions == [(D(2025, 7, 15), Decimal(10_000), Decimal(9_000))]
    assert _movements(store, tenant) == [(D(2025, 1, 1), "new", Decimal(0), Decimal(10_000)),
                                         (D(2025, 7, 15), "contraction", Decimal(10_000), Decimal(9_000))]


def test_a_forecast_call_is_checked_replaced_and_audited(store: Store, tenant: int) -> None:
    sync(store, tenant, {"salesforce": _crm(_deal("006A", 10_000, D(2025, 1, 1), D(2027, 1, 1)))})
    with store.session(tenant) as s:
        account_id = s.scalar(select(Account.id))
        assert account_id is not None
        with pytest.raises(RevenueError, match="'monitor' is allowed only at the 6-month checkpoint"):
            record_call(s, account_id, D(2027, 1, 1), 3, "monitor", None, None, "csm@example.com", None)
        with pytest.raises(RevenueError, match="recorded 6 or 3 months before the renewal"):
            record_call(s, account_id, D(2027, 1, 1), 4, "commit", None, None, "csm@example.com", None)
        with pytest.raises(RevenueError, match="expected ARR must be a number"):
            record_call(s, account_id, D(2027, 1, 1), 6, "commit", "lots", None, "csm@example.com", None)
        record_call(s, account_id, D(2027, 1, 1), 6, "monitor", "9000", " budget review ", "csm@example.com", None)
        record_call(s, account_id, D(2027, 1, 1), 6, "likely", "9500.5", "", "csm@example.com", None)
    with store.session(tenant) as s:
        calls = [(c.checkpoint, c.call, c.expected_arr, c.note) for c in s.scalars(select(RenewalCall))]
        audits = list(s.scalars(select(AuditEvent.action).where(AuditEvent.action == "renewal.call")))
    assert calls == [(6, "likely", Decimal("9500.50"), None)]
    assert audits == ["renewal.call", "renewal.call"]


def test_analytics_settings_refuse_bad_numbers_and_audit_changes(store: Store, tenant: int) -> None:
    with store.session(tenant) as s:
        with pytest.raises(RevenueError, match="gross margin must be above 0"):
            set_settings(s, "80", {}, "admin@example.com", None)
        with pytest.raises(RevenueError, match="no band great"):
            set_settings(s, 0.7, {"great": 0.9}, "admin@example.com", None)
        assert set_settings(s, "0.7", {"poor": "0.3", "good": 0.95}, "admin@example.com", None) is True
        assert set_settings(s, 0.7, {"poor": 0.3}, "admin@example.com", None) is False
    with store.session(tenant) as s:
        from store.models import Tenant

        t = s.get(Tenant, tenant)
        assert t is not None and (t.gross_margin, t.renewal_probabilities) == (0.7, {"poor": 0.3})
        assert list(s.scalars(select(AuditEvent.action))) == ["analytics.settings"]


def test_the_database_accepts_the_calls_the_forecast_rule_knows() -> None:
    from analytics.forecast import CALLS
    from store.models import FORECAST_CALLS

    assert FORECAST_CALLS == CALLS


def test_the_rebuild_command_recomputes_what_an_upgrade_left_empty(store: Store, tenant: int,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner
    from sqlalchemy import delete, update

    from app import cli

    crm = _crm(_deal("006A", 10_000, D(2024, 3, 1), D(2025, 3, 1)), _deal("006B", 12_000, D(2025, 3, 1), D(2026, 3, 1)))
    sync(store, tenant, {"salesforce": crm})
    with store.session(tenant) as s:  # as a database upgraded to 0018 holds them: no term ends, no movements
        s.execute(update(Subscription).values(term_end=None))
        s.execute(delete(SubscriptionMovement))
    monkeypatch.setenv("DATABASE_URL", store.url)
    monkeypatch.setenv("CANARY_SECRET_KEY", "cli-secret-key-0123456789")
    result = CliRunner().invoke(cli, ["revenue", "rebuild", "--tenant", "rev"])
    assert result.exit_code == 0, result.output
    assert "1 accounts with subscriptions, 3 movements and renewals recorded" in result.output
    with store.session(tenant) as s:
        assert s.scalar(select(Subscription.term_end).where(Subscription.external_id == "006A")) == D(2025, 3, 1)
    assert [m[1] for m in _movements(store, tenant)] == ["new", "expansion", "renewal"]


def test_quarters_and_years_are_periods_of_their_own(store: Store, tenant: int) -> None:
    from sync.reports import ReportError, figure_accounts, parse_period, revenue

    assert parse_period("2026-q3") == (D(2026, 7, 1), "quarter") and parse_period("2025") == (D(2025, 1, 1), "year")
    with pytest.raises(ReportError, match="looks like 2026-10, 2026-Q3 or 2026"):
        parse_period("Q3 2026")
    crm = _crm(_deal("006A", 10_000, D(2024, 3, 1), D(2025, 3, 1)), _deal("006B", 12_000, D(2025, 3, 1), D(2026, 3, 1)),
               _deal("006C", 3_000, D(2025, 9, 1), D(2026, 3, 1)), _deal("006D", 15_000, D(2026, 3, 1), D(2027, 3, 1)))
    sync(store, tenant, {"salesforce": crm})
    with store.session(tenant) as s:
        quarters = revenue(s, months=4, period="quarter", as_of=D(2026, 1, 20))
        years = revenue(s, months=1, period="year", as_of=D(2026, 1, 20))
        behind = figure_accounts(s, "2025-Q3", "expansion", as_of=D(2026, 1, 20))
    # Q1 2025: 10,000 on 31 Dec 2024 → 12,000 on 31 Mar 2025 (renewed up): expansion 2,000, NRR 120 %, GRR 100 %.
    q = {row["month"]: row for row in quarters["months"]}
    assert list(q) == ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4", "2026-Q1"] and q["2026-Q1"]["complete"] is False
    assert (q["2025-Q1"]["start"], q["2025-Q1"]["expansion"], q["2025-Q1"]["nrr"], q["2025-Q1"]["grr"]) == \
        (10_000.0, 2_000.0, 1.2, 1.0)
    assert (q["2025-Q3"]["start"], q["2025-Q3"]["closing"], q["2025-Q3"]["nrr"]) == (12_000.0, 15_000.0, 1.25)
    # 2025: 10,000 at its opening, 15,000 at its close: NRR 150 %.
    assert [(y["month"], y["nrr"]) for y in years["months"]] == [("2025", 1.5), ("2026", 1.0)]
    assert [(a["opening"], a["closing"]) for a in behind["accounts"]] == [(12_000.0, 15_000.0)]


def test_the_column_read_gives_the_timeline_the_row_read_gives(store: Store, tenant: int) -> None:
    """Reports read every subscription as integer columns (`load_columns`); the answer is the one the per-row
    read (`load_terms`) gives: ARR changes, renewals, open terms and ends — versions, lost and open deals
    included, another workspace's deals not."""
    from analytics.timeline import build_timeline
    from store.arrays import int_columns
    from sync.revenue import load_columns, load_terms

    crm = _crm(_deal("006A", 10_000, D(2024, 1, 1), D(2025, 1, 1)),
               _deal("006B", 12_500, D(2025, 1, 1), D(2026, 1, 1)),
               _deal("006C", 3_000, D(2025, 3, 1), D(2026, 1, 1), status="churned"),
               _deal("006D", 700, D(2025, 9, 1), D(2026, 9, 1), status="pending"))
    sync(store, tenant, {"salesforce": crm})
    crm.data["deals"][1] = _deal("006B", 11_000, D(2025, 1, 1), D(2026, 1, 1),
                                 updated=WORLD_NOW.replace(year=2025, month=6, day=1))
    sync(store, tenant, {"salesforce": crm}, full=True)
    with store.session() as s:
        other, _ = create_tenant(s, "other", "Other")
        s.add(Subscription(tenant_id=other.id, system="hubspot", external_id="x", arr=Decimal("99.99"),
                           start_date=D(2025, 1, 1), renewal_date=D(2026, 1, 1), status="active"))
    with store.session(tenant) as s:
        rows, columns = build_timeline(load_terms(s)), build_timeline(load_columns(s))
        with pytest.raises(ValueError, match="tenant session"):
            int_columns(s, select(Subscription.id), ())
    for day in (D(2024, 6, 1), D(2025, 2, 1), D(2025, 7, 1), D(2026, 2, 1)):
        assert columns.cents_all(day).tolist() == rows.cents_all(day).tolist()
    assert columns.account_ids.tolist() == rows.account_ids.tolist() != []
    assert columns.changes(D(2020, 1, 1), D(2030, 1, 1), columns.mask(None)) == rows.changes(
        D(2020, 1, 1), D(2030, 1, 1), rows.mask(None))
    assert columns.renewals == rows.renewals != ()
    assert columns.open_terms == rows.open_terms != ()
    assert columns.ends == rows.ends
    assert sum(t.versions != () for t in load_terms_with_versions(store, tenant)) == 1


def load_terms_with_versions(store: Store, tenant: int) -> list[Any]:
    from sync.revenue import load_columns

    with store.session(tenant) as s:
        table = load_columns(s)
        return [table.term(i) for i in range(len(table))]


def test_a_sync_stores_the_timeline_and_a_fresh_process_reads_it_instead_of_building(
        store: Store, tenant: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from sqlalchemy import update

    from store.models import RevenueTimeline
    from sync import reports

    crm = _crm(_deal("006A", 10_000, D(2024, 3, 1), D(2025, 3, 1)), _deal("006B", 12_000, D(2025, 3, 1), D(2026, 3, 1)))
    sync(store, tenant, {"salesforce": crm})
    with store.session(tenant) as s:
        stored = s.scalars(select(RevenueTimeline)).all()
        assert [(r.subscriptions, r.fingerprint) for r in stored] == [(2, repr(reports._fingerprint(s)))]
        reports._timelines.clear()  # a web process that has read nothing yet
        monkeypatch.setattr(reports, "build_timeline", lambda *_: pytest.fail("built instead of read"))
        first = reports.revenue(s, months=12, as_of=D(2026, 1, 20))
    assert first["recurring_now"] == 12_000.0
    monkeypatch.undo()
    # A subscription changed outside a sync: the next report builds, answers the new figure and stores it.
    with store.session(tenant) as s:
        s.execute(update(Subscription).where(Subscription.external_id == "006B").values(arr=Decimal(13_000)))
    with store.session(tenant) as s:
        assert reports.revenue(s, months=12, as_of=D(2026, 1, 20))["recurring_now"] == 13_000.0
    with store.session(tenant) as s:
        row = s.scalars(select(RevenueTimeline)).one()
        assert row.fingerprint == repr(reports._fingerprint(s))
        assert reports.prepare_timeline(s) is False  # current: nothing to build
        row.payload = b"not a timeline"
    reports._timelines.clear()
    with store.session(tenant) as s, caplog.at_level("INFO", "canary.reports"):
        assert reports.revenue(s, months=12, as_of=D(2026, 1, 20))["recurring_now"] == 13_000.0
    assert "stored ARR timeline not read" in caplog.text
    with store.session(tenant) as s:
        assert s.scalars(select(RevenueTimeline)).one().payload != b"not a timeline"


def test_a_process_keeps_the_timelines_of_its_latest_workspaces_only(store: Store, tenant: int,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from sync import reports

    monkeypatch.setattr(reports, "CACHED_WORKSPACES", 2)
    reports._timelines.clear()
    ids = []
    for n in range(3):
        with store.session() as s:
            ids.append(create_tenant(s, f"w{n}", f"W{n}")[0].id)
        with store.session(ids[-1]) as s:
            reports.timeline(s)
    assert list(reports._timelines) == ids[1:]


def test_the_forecasts_p_band_is_computed_once_and_read_by_every_process(store: Store, tenant: int,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from store.models import RevenueTimeline, Tenant
    from sync import reports

    crm = _crm(_deal("006A", 10_000, D(2023, 3, 1), D(2024, 3, 1)), _deal("006B", 9_000, D(2024, 3, 1), D(2025, 3, 1)),
               _deal("006C", 9_000, D(2025, 3, 1), D(2026, 3, 1)), _deal("006D", 9_000, D(2026, 3, 1), D(2027, 3, 1)))
    sync(store, tenant, {"salesforce": crm})  # the sync prepares the reports: timeline and p(band) for today
    day = D(2026, 6, 1)
    with store.session(tenant) as s:
        first = reports.renewals(s, as_of=day)
        stored = s.scalars(select(RevenueTimeline)).one().calibration
    # Renewals decided since 2024-03 (so 12 months of history); in the 12 months before 2026-06-01 one, 2026-03
    # (9,000 → 9,000: 100 % renewed), of an account never scored: p(none) = (1 + 5 × 0.75) ÷ (1 + 5).
    assert first["calibrated"] is True and stored is not None and stored["calibrated"] is True
    assert first["probabilities"]["none"]["p"] == round(float((1 + 5 * Decimal("0.75")) / 6), 6)
    reports._calibrations.clear()  # another process
    monkeypatch.setattr(reports, "calibrate", lambda *_: pytest.fail("recalibrated instead of read"))
    with store.session(tenant) as s:
        assert reports.renewals(s, as_of=day)["probabilities"] == first["probabilities"]
    monkeypatch.undo()
    with store.session(tenant) as s:
        workspace = s.get(Tenant, tenant)
        assert workspace is not None
        workspace.renewal_probabilities = {"none": 0.5}  # a new default: recalibrated from it
    with store.session(tenant) as s:
        changed = reports.renewals(s, as_of=day)
    assert changed["probabilities"]["none"]["p"] == round(float((1 + 5 * Decimal("0.5")) / 6), 6)

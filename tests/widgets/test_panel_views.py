"""Prepared panel views: one stored view per account, rebuilt after every change it shows, never stale."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select, update

from extensions import canary_store, health_model
from store import panel_views
from store.models import Account, Alert, HealthSnapshot, PanelView, Task, Tenant, UsageDaily
from store.panel_views import touches
from sync.health import score_tenant
from sync.tasks import complete_task, create_task
from tests.shared import pinned_clock
from tests.widgets.conftest import TODAY, Tenantry


@pytest.fixture
def panel(embed_app: Any) -> Iterator[Any]:
    with pinned_clock():
        yield embed_app


def _get(app: Any, variant: str = "full") -> str:
    a: Tenantry = app.config["TENANT_A"]
    token = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="canary-widget-session").dumps(
        {"t": a.tenant_id, "v": "zendesk"})
    response = app.test_client().get(f"/widgets/zendesk/panel?organization_id=100&variant={variant}",
                                     headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return str(response.get_data(as_text=True))


def _score(html: str) -> str:
    match = re.search(r'data-testid="score">([^<]*)<', html)
    assert match, html
    return match.group(1)


def _account(app: Any) -> tuple[int, int]:
    a: Tenantry = app.config["TENANT_A"]
    with canary_store(app).session(a.tenant_id) as s:
        return a.tenant_id, s.scalars(select(Account.id).where(Account.name == "Alpha Industries")).one()


def _row(app: Any, tenant_id: int, account_id: int) -> PanelView | None:
    with canary_store(app).session(tenant_id) as s:
        return s.scalars(select(PanelView).where(PanelView.account_id == account_id)).one_or_none()


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """The account ids of every view build."""
    calls: list[list[int]] = []
    real = panel_views.build_payloads

    def counted(session: Any, account_ids: Any, as_of: dt.date) -> Any:
        ids = sorted(account_ids)
        calls.append(ids)
        return real(session, ids, as_of)

    monkeypatch.setattr(panel_views, "build_payloads", counted)
    return calls


def test_the_first_request_builds_and_stores_the_view_and_the_next_only_reads_it(panel: Any,
                                                                                 builds: list[list[int]]) -> None:
    tenant_id, account_id = _account(panel)
    first = _get(panel)
    row = _row(panel, tenant_id, account_id)
    assert row is not None and row.payload is not None and row.as_of == TODAY
    assert builds == [[account_id]]
    again = _get(panel)
    assert again == first
    assert builds == [[account_id]]  # read, not built
    assert _score(first) == "34" and "Dana Lee" in first and "$120,000" in first


def test_a_missing_row_is_built_on_the_request(panel: Any, builds: list[list[int]]) -> None:
    tenant_id, account_id = _account(panel)
    with canary_store(panel).session(tenant_id) as s:
        s.execute(PanelView.__table__.delete().where(PanelView.account_id == account_id),
                  execution_options=touches(()))
    assert _row(panel, tenant_id, account_id) is None
    assert _score(_get(panel)) == "34"
    row = _row(panel, tenant_id, account_id)
    assert row is not None and row.payload is not None
    assert builds == [[account_id]]


def test_a_rescore_updates_what_the_panel_shows(panel: Any) -> None:
    tenant_id, account_id = _account(panel)
    assert _score(_get(panel)) == "34"
    with canary_store(panel).session(tenant_id) as s:  # today's snapshot rewritten in place
        s.execute(update(HealthSnapshot).where(HealthSnapshot.account_id == account_id, HealthSnapshot.day == TODAY)
                  .values(score=77.0, band="good"), execution_options=touches([account_id]))
    html = _get(panel)
    assert _score(html) == "77" and 'data-testid="band">Good<' in html
    # A scoring run (the snapshot of a new day written as multi-row INSERTs) moves it again.
    score_tenant(canary_store(panel), tenant_id, health_model(panel), TODAY + dt.timedelta(days=1),
                 only=[account_id])
    with canary_store(panel).session(tenant_id) as s:
        stored = s.scalars(select(HealthSnapshot.score).where(HealthSnapshot.account_id == account_id,
                                                              HealthSnapshot.day == TODAY + dt.timedelta(days=1))).one()
    panel.config["WIDGET_TODAY"] = (TODAY + dt.timedelta(days=1)).isoformat()
    assert _score(_get(panel)) == ("–" if stored is None else str(round(stored)))


def test_a_scoring_run_prepares_the_views_of_opened_panels(panel: Any, builds: list[list[int]]) -> None:
    tenant_id, account_id = _account(panel)
    _get(panel)
    assert builds == [[account_id]]
    day = TODAY + dt.timedelta(days=1)
    score_tenant(canary_store(panel), tenant_id, health_model(panel), day)
    row = _row(panel, tenant_id, account_id)
    assert row is not None and row.payload is not None and row.as_of == day
    assert builds == [[account_id], [account_id]]  # built by the run; the tenant's other accounts were never opened
    panel.config["WIDGET_TODAY"] = day.isoformat()
    _get(panel)
    assert len(builds) == 2  # the request only read it


def test_a_completed_task_leaves_the_panel(panel: Any) -> None:
    tenant_id, account_id = _account(panel)
    with canary_store(panel).session(tenant_id) as s:
        create_task(s, account_id, "Call the sponsor about the usage drop", due_date=TODAY + dt.timedelta(days=3))
    assert "Call the sponsor about the usage drop" in _get(panel)
    with canary_store(panel).session(tenant_id) as s:
        complete_task(s.scalars(select(Task).where(Task.account_id == account_id)).one())
    assert "Call the sponsor about the usage drop" not in _get(panel)


def test_a_raised_and_a_resolved_alert_show_at_once(panel: Any) -> None:
    tenant_id, account_id = _account(panel)
    assert "Seats at 98 % of the contract" not in _get(panel, "compact")
    with canary_store(panel).session(tenant_id) as s:
        s.add(Alert(account_id=account_id, rule="seat_capacity", dedupe_key="seat_capacity", severity="warning",
                    title="Seats at 98 % of the contract"))
    assert "Seats at 98 % of the contract" in _get(panel, "compact")
    from sync.writer import _close_alerts

    with canary_store(panel).session(tenant_id) as s:  # the statement path (an account retired in its system)
        _close_alerts(s, account_id, "test")
    html = _get(panel, "compact")
    assert "Seats at 98 % of the contract" not in html and "Usage dropped 58 %" not in html


def test_an_owner_change_shows_at_once(panel: Any) -> None:
    tenant_id, account_id = _account(panel)
    assert "Casey CSM" in _get(panel)
    with canary_store(panel).session(tenant_id) as s:  # as sync.owners writes it
        s.execute(update(Account).where(Account.id == account_id).values(owner="robin@example.com"),
                  execution_options=touches([account_id]))
    html = _get(panel)
    assert "robin@example.com" in html and "Casey CSM" not in html
    with canary_store(panel).session(tenant_id) as s:  # through the ORM
        s.get_one(Account, account_id).owner = "sam@example.com"
    assert "sam@example.com" in _get(panel)


def test_a_statement_that_names_no_accounts_makes_every_view_of_the_workspace_stale(panel: Any) -> None:
    tenant_id, _ = _account(panel)
    assert "Dana Lee" in _get(panel)
    with canary_store(panel).session(tenant_id) as s:
        epoch = s.scalar(select(Tenant.panel_epoch).where(Tenant.id == tenant_id))
        s.execute(update(UsageDaily).values(user_key="u-other"))  # no touches(): the whole workspace
    with canary_store(panel).session(tenant_id) as s:
        assert s.scalar(select(Tenant.panel_epoch).where(Tenant.id == tenant_id)) == (epoch or 0) + 1
    html = _get(panel)
    assert "Dana Lee" not in html and "u-other" in html


def test_a_view_built_from_data_changed_meanwhile_is_not_stored(panel: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A change committed while a request builds the view (after it read the row's version) wins."""
    tenant_id, account_id = _account(panel)
    _get(panel)
    with canary_store(panel).session(tenant_id) as s:
        s.execute(update(Account).where(Account.id == account_id).values(owner="first@example.com"),
                  execution_options=touches([account_id]))
    real = panel_views.build_payloads
    done: list[bool] = []

    def racing(session: Any, account_ids: Any, as_of: dt.date) -> Any:
        built = real(session, account_ids, as_of)
        if not done:  # another worker commits a change between this build's reads and its write
            done.append(True)
            with canary_store(panel).session(tenant_id) as other:
                other.execute(update(Account).where(Account.id == account_id).values(owner="second@example.com"),
                              execution_options=touches([account_id]))
        return built

    monkeypatch.setattr(panel_views, "build_payloads", racing)
    assert "first@example.com" in _get(panel)  # the racing request shows what it read
    row = _row(panel, tenant_id, account_id)
    assert row is not None and row.payload is None  # but did not store it over the newer change
    assert "second@example.com" in _get(panel)


def test_build_payloads_for_many_accounts_equal_each_built_alone(panel: Any) -> None:
    tenant_id, account_id = _account(panel)
    with canary_store(panel).session(tenant_id) as s:
        other = Account(name="Second Co", owner="x@example.com")
        s.add(other)
        s.flush()
        s.add_all([HealthSnapshot(account_id=other.id, day=TODAY, score=55.0, band="average", trend=0.1,
                                  reasons=[{"text": "Logins steady"}]),
                   UsageDaily(account_id=other.id, user_key="u-zed", event="Logged In", day=TODAY, count=1,
                              minutes=1.0)])
        s.flush()
        together = panel_views.build_payloads(s, [account_id, other.id], TODAY)
        alone = {a: panel_views.build_payloads(s, [a], TODAY)[a] for a in (account_id, other.id)}
    assert together == alone
    assert together[other.id]["score"] == 55.0 and together[other.id]["engaged"] == [["u-zed", 1, TODAY.isoformat()]]
    assert together[account_id]["alerts"] == [["high", "Usage dropped 58 % in two weeks"]]

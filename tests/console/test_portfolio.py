"""My portfolio: whose accounts first, filters, sort, keyset paging, CSV; the account and product-user pages."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from sqlalchemy import select

from extensions import canary_store
from store.models import User
from tests.console.conftest import Workspace, signed_in_client


def names(html: str) -> list[str]:
    return re.findall(r'<td class="name" data-label="Account"><a href="/accounts/\d+">([^<]+)</a>', html)


def test_a_csm_sees_their_own_portfolio_first(console_app: Any, two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, _ = two_workspaces
    client = signed_in_client(console_app, a.emails["csm"])
    page = client.get("/accounts").get_data(as_text=True)
    assert "My portfolio" in page
    assert names(page) == ["Alpha Poor Renewing", "Alpha Poor Later", "Alpha Good Steady"]  # lowest health first
    everything = names(client.get("/accounts?scope=all").get_data(as_text=True))
    assert sorted(everything) == sorted(a.accounts)


def test_a_manager_sees_the_team(console_app: Any, two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, _ = two_workspaces
    client = signed_in_client(console_app, a.emails["manager"])
    page = client.get("/accounts").get_data(as_text=True)
    assert "My team" in page
    # csm reports to the manager; csm2 does not
    assert set(names(page)) == {"Alpha Poor Renewing", "Alpha Poor Later", "Alpha Good Steady"}
    unassigned = names(client.get("/accounts?scope=unassigned").get_data(as_text=True))
    assert unassigned == ["Alpha Unowned"]


@pytest.mark.parametrize(("query", "expected"), [
    ("band=poor", ["Alpha Other Poor", "Alpha Poor Renewing", "Alpha Poor Later"]),
    ("band=poor&renewal=90", ["Alpha Other Poor", "Alpha Poor Renewing"]),
    ("band=poor,good&renewal=90&sort=name", ["Alpha Good Steady", "Alpha Other Poor", "Alpha Poor Renewing"]),
    ("trend=down&sort=name", ["Alpha Other Poor", "Alpha Poor Later", "Alpha Poor Renewing"]),
    ("arr_min=15000&arr_max=60000&sort=-arr", ["Alpha Poor Renewing", "Alpha Poor Later"]),
    ("tier=gold&sort=name", ["Alpha Other Poor", "Alpha Poor Later"]),
    ("alert=usage_drop&renewal=30", ["Alpha Other Poor"]),
    ("sort=renewal", ["Alpha Other Poor", "Alpha Poor Renewing", "Alpha Good Steady", "Alpha Poor Later"]),
    ("sort=-score", ["Alpha Good Steady", "Alpha Unowned", "Alpha Poor Later", "Alpha Poor Renewing",
                     "Alpha Other Poor"]),
    ("q=renew", ["Alpha Poor Renewing"]),
    ("band=none", []),
])
def test_filters_and_sorts(console_app: Any, two_workspaces: tuple[Workspace, Workspace], query: str,
                           expected: list[str]) -> None:
    a, _ = two_workspaces
    client = signed_in_client(console_app, a.emails["admin"])
    answer = client.get(f"/accounts?scope=all&{query}")
    assert answer.status_code == 200
    assert names(answer.get_data(as_text=True)) == expected


@pytest.mark.parametrize(("query", "reason"), [
    ("band=terrible", "band must be one of"), ("renewal=7", "renewal must be one of"),
    ("sort=password", "sort must be one of"), ("arr_min=lots", "arr_min must be a number"),
    ("scope=everyone", "scope must be one of"), ("cursor=%21%21", "cursor is not one this server gave"),
    ("owner=-3", "owner is out of range"),
])
def test_bad_filters_get_a_clear_400(console_app: Any, two_workspaces: tuple[Workspace, Workspace], query: str,
                                     reason: str) -> None:
    a, _ = two_workspaces
    answer = signed_in_client(console_app, a.emails["admin"]).get(f"/accounts?{query}")
    assert answer.status_code == 400 and reason in answer.get_data(as_text=True)


@pytest.mark.parametrize("sort", ["score", "-score", "name", "renewal", "-arr", "alerts", "trend", "owner"])
def test_keyset_paging_visits_every_account_once(console_app: Any, two_workspaces: tuple[Workspace, Workspace],
                                                 sort: str) -> None:
    a, _ = two_workspaces
    client = signed_in_client(console_app, a.emails["admin"])
    from console.auth import SignedIn
    from console.portfolio import PortfolioQuery, load_page

    store = canary_store(console_app)
    who = SignedIn(a.users["admin"], a.tenant_id, "Alpha", a.emails["admin"], None, "admin")
    seen: list[int] = []
    pages = 0
    query = PortfolioQuery(scope="all", sort=sort.lstrip("-"), descending=sort.startswith("-"), limit=25)
    with store.session(a.tenant_id) as s:
        full = [r["id"] for r in load_page(s, query, who).rows]
        query = PortfolioQuery(**{**query.__dict__, "limit": 2})  # smaller than allowed: paging by 2
        while True:
            page = load_page(s, query, who)
            seen += [r["id"] for r in page.rows]
            pages += 1
            if page.next_cursor is None:
                break
            query = PortfolioQuery(**{**query.__dict__, "cursor": page.next_cursor})
    with_subscription = sort.lstrip("-") in ("renewal", "arr")
    assert pages == (2 if with_subscription else 3) and seen == full
    assert len(set(seen)) == (4 if with_subscription else 5)
    assert client.get(f"/accounts?scope=all&sort={sort}&limit=25").status_code == 200


def test_csv_export_is_what_the_filters_show(console_app: Any, two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, _ = two_workspaces
    client = signed_in_client(console_app, a.emails["csm"])
    answer = client.get("/accounts?band=poor&renewal=90&format=csv")
    assert answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert [r["name"] for r in rows] == ["Alpha Poor Renewing"]
    assert rows[0]["band"] == "poor" and rows[0]["arr"] == "50000.00" and rows[0]["csm"] == "Alpha Csm"
    assert rows[0]["renewal"] == "2027-01-14" and rows[0]["alerts"] == "1"


def test_account_profile_shows_history_band_change_and_reasons(console_app: Any,
                                                               two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, _ = two_workspaces
    client = signed_in_client(console_app, a.emails["csm"])
    page = client.get(f"/accounts/{a.accounts['Alpha Poor Renewing']}").get_data(as_text=True)
    assert 'data-testid="history-chart"' in page and "180 days" in page
    assert page.count('class="band-change-marker"') == 1
    changes = page.split('data-testid="band-changes"')[1].split("</ol>")[0]
    assert "11 Nov 2026" in changes and "average → " in changes and "Weekly active users fell from 12 to 3" in changes
    assert 'data-testid="score">30<' in page
    measures = page.split('data-testid="measures"')[1].split("</table>")[0]
    assert "Weekly active users" in measures and "12th" in measures and "-9.00" in measures
    assert "Alpha Champion 0" in page and "champion" in page
    assert "https://app.hubspot.com/contacts/771/company/alpha-hs-0" in page
    assert "has the domain alpha0.example" in page
    assert "Usage dropped at Alpha Poor Renewing" in page and "Call Alpha Poor Renewing" in page
    assert 'data-testid="profile-renewal">2027-01-14<' in page


def test_account_profile_shows_each_open_task_s_priority_assignee_and_crm_copies(
        console_app: Any, two_workspaces: tuple[Workspace, Workspace]) -> None:
    from store.models import Task, TaskLink

    a, _ = two_workspaces
    account_id = a.accounts["Alpha Poor Renewing"]
    with canary_store(console_app).session(a.tenant_id) as s:
        task = s.scalars(select(Task).where(Task.account_id == account_id)).one()
        task.priority, task.assignee_user_id = "high", a.users["csm2"]
        s.add(TaskLink(task_id=task.id, system="salesforce", key="canary-9", external_id="00T9", state="created"))
        csm2 = s.get_one(User, a.users["csm2"])
        expected_name = csm2.name or csm2.email
    page = signed_in_client(console_app, a.emails["csm"]).get(f"/accounts/{account_id}").get_data(as_text=True)
    tasks = [part.split("</div>")[0] for part in page.split('data-testid="task"')[1:]]
    assert len(tasks) == 1
    assert "<strong class=\"small\">High</strong>" in tasks[0] and "Call Alpha Poor Renewing" in tasks[0]
    assert f"for {expected_name}" in tasks[0] and "Salesforce: in sync" in tasks[0]


def test_steady_account_shows_no_band_change(console_app: Any, two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, _ = two_workspaces
    client = signed_in_client(console_app, a.emails["csm"])
    page = client.get(f"/accounts/{a.accounts['Alpha Good Steady']}").get_data(as_text=True)
    assert 'data-testid="no-band-changes"' in page and 'class="band-change-marker"' not in page


def test_product_user_profile(console_app: Any, two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, _ = two_workspaces
    client = signed_in_client(console_app, a.emails["csm"])
    page = client.get(f"/product-users/{a.product_users[0]}").get_data(as_text=True)
    assert "Alpha Champion 0" in page and "champion" in page and "Alpha Poor Renewing" in page
    features = page.split('data-testid="features"')[1].split("</table>")[0]
    assert "Report Created" in features and "<td class=\"num\">4</td>" in features and "2026-11-28" in features
    assert "1 active days, 4 events" in page
    assert client.get("/product-users/999999").status_code == 404


def test_connections_page_and_sync_now_for_an_unconnected_system(console_app: Any,
                                                                 two_workspaces: tuple[Workspace, Workspace]) -> None:
    import datetime as dt

    from sqlalchemy import select

    from store.models import AuditEvent, SyncRun
    from tests.console.conftest import csrf_of

    a, _ = two_workspaces
    store = canary_store(console_app)
    started = dt.datetime(2026, 11, 30, 8, tzinfo=dt.UTC)
    with store.session(a.tenant_id) as s:
        s.add(SyncRun(system="hubspot", kind="pull", trigger="cli", started_at=started,
                      finished_at=started + dt.timedelta(minutes=2), records=120, changed=7, calls=9, quota_left=4000,
                      failure="HubSpot answered 429 three times: stopped, resumes from its cursor"))
    client = signed_in_client(console_app, a.emails["admin"])
    page = client.get("/connections").get_data(as_text=True)
    hubspot = page.split('data-testid="connection-hubspot"')[1].split("</section>")[0]
    assert "2026-11-30 08:02 UTC (cli)" in hubspot and "120 records (7 changed) in 9 calls" in hubspot
    assert "4000" in hubspot and "answered 429 three times" in hubspot and "Sync now" in hubspot
    assert "not connected" in page.split('data-testid="connection-zendesk"')[1].split("</section>")[0]
    answer = client.post("/connections/zendesk/sync", data={"csrf_token": csrf_of(client)})
    assert "Zendesk is not connected" in client.get(answer.headers["Location"]).get_data(as_text=True)
    assert client.post("/connections/pipedrive/sync", data={"csrf_token": csrf_of(client)}).status_code == 404
    with store.session(a.tenant_id) as s:
        assert s.scalar(select(AuditEvent).where(AuditEvent.action == "connection.sync")) is None


def test_portfolio_queries_on_sqlite_and_postgresql(app_factory: Any, database_url: str) -> None:
    """The same filters, sorts and keyset pages on both backends (window functions, a materialized CTE,
    dates compared with a bound far-future date)."""
    from tests.console.conftest import CHEAP_ARGON2, seed_workspace

    app = app_factory(DATABASE_URL=database_url, PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False)
    a = seed_workspace(app, "alpha", "Alpha")
    client = signed_in_client(app, a.emails["admin"])
    expected = {
        "band=poor&renewal=90": ["Alpha Other Poor", "Alpha Poor Renewing"],
        "sort=renewal": ["Alpha Other Poor", "Alpha Poor Renewing", "Alpha Good Steady", "Alpha Poor Later"],
        "sort=-arr&arr_min=15000": ["Alpha Good Steady", "Alpha Poor Renewing", "Alpha Poor Later"],
        "sort=-alerts&band=poor": ["Alpha Other Poor", "Alpha Poor Later", "Alpha Poor Renewing"],
        "band=poor": ["Alpha Other Poor", "Alpha Poor Renewing", "Alpha Poor Later"],
    }
    for query, names_expected in expected.items():
        answer = client.get(f"/accounts?scope=all&{query}")
        assert answer.status_code == 200, (query, answer.get_data(as_text=True)[-400:])
        assert names(answer.get_data(as_text=True)) == names_expected, query
    from console.auth import SignedIn
    from console.portfolio import PortfolioQuery, load_page

    who = SignedIn(a.users["admin"], a.tenant_id, "Alpha", a.emails["admin"], None, "admin")
    store = canary_store(app)
    for sort, bands in (("renewal", ()), ("score", ("poor",)), ("arr", ())):
        query, seen = PortfolioQuery(scope="all", sort=sort, bands=bands, limit=1), []
        with store.session(a.tenant_id) as s:
            while True:
                page = load_page(s, query, who)
                seen += [r["name"] for r in page.rows]
                if page.next_cursor is None:
                    break
                query = PortfolioQuery(**{**query.__dict__, "cursor": page.next_cursor})
        assert len(seen) == len(set(seen)) == (3 if bands else 4), (sort, seen)  # Unowned has no subscription


def test_measure_percentile_falls_back_to_the_whole_base() -> None:
    """A segment too small for a percentile (None) shows the percentile among all accounts."""
    from console.profile import _measures
    from store.models import HealthSnapshot

    parts = {"parts": {"login_frequency": {"signal": "login_frequency", "dimension": "engagement",
                                           "label": "Logins", "value": 0.97, "status": "poor", "points": 0.0}},
             "benchmarks": {"login_frequency": {"segment_percentile": None, "base_percentile": 16.0}}}
    before = {"parts": {"login_frequency": {"value": 1.5}}}
    measures = _measures(HealthSnapshot(parts=parts), HealthSnapshot(parts=before))
    assert [(m.name, m.percentile, round(m.change_30d or 0, 2)) for m in measures] == [("login_frequency", 16.0, -0.53)]


def test_measures_of_a_snapshot_naming_a_legend_take_its_descriptors() -> None:
    """A snapshot written with a legend keeps no label, dimension or signal in its parts: the profile shows the
    legend's (the benchmark found by the signal too); without the legend, the measure's name and no dimension."""
    from console.profile import _measures
    from store.models import HealthSnapshot

    parts = {"legend": 3, "parts": {"logins": {"value": 0.97, "status": "poor", "points": 0.0, "weight": 1.0}},
             "benchmarks": {"login_frequency": {"segment_percentile": 40.0, "base_percentile": 16.0}}}
    legend = {"logins": ("login_frequency", "engagement", "Logins per user")}
    shown = _measures(HealthSnapshot(parts=parts), None, legend)
    assert [(m.name, m.label, m.dimension, m.status, m.percentile) for m in shown] == [
        ("logins", "Logins per user", "engagement", "poor", 40.0)]
    bare = _measures(HealthSnapshot(parts=parts), None)
    assert [(m.name, m.label, m.dimension, m.percentile) for m in bare] == [("logins", "logins", "", None)]

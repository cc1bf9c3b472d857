"""The console's Health, Adoption, Users and Team report pages on the seeded workspace: charts drawn from the
service's figures, table views and CSVs, definitions, the Team page's role scoping, 400 on bad parameters."""

from __future__ import annotations

import re
from typing import Any

import pytest

from extensions import canary_store, health_model
from sync.base_reports import health_report
from tests.console.conftest import Workspace, console_app, seeded_workspaces, signed_in_client
from tests.dbtemplate import Templates

__all__ = ["console_app"]


@pytest.fixture
def alpha(console_app: Any, db_templates: Templates) -> Workspace:
    return seeded_workspaces(console_app, db_templates, ("alpha", "Alpha"))[0]


def test_health_page_draws_bands_histogram_trend_and_lists_the_persistently_poor(console_app: Any,
                                                                                 alpha: Workspace) -> None:
    client = signed_in_client(console_app, alpha.emails["viewer"])
    html = client.get("/reports/health?by=tier").get_data(as_text=True)
    for ident in ("band-accounts", "band-arr", "histogram", "trend"):
        assert f'data-testid="chart-{ident}"' in html and f'data-testid="chart-csv-{ident}"' in html
    assert html.count('data-testid="poor"') == 3
    assert "Accounts whose week-end snapshot was poor" in html  # the definition box
    assert 'aria-selected="true" data-testid="tab-health"' in html
    csv = client.get("/reports/health?by=tier&csv=band-accounts").get_data(as_text=True)
    assert csv.splitlines() == ["Band,Accounts,Band", "Good,2,good", "Average,0,average", "Poor,3,poor",
                                "Not scored,0,"]
    trend = client.get("/reports/health?by=tier&csv=trend").get_data(as_text=True).splitlines()
    assert trend[0] == "Week of,silver,gold" and trend[-1] == "11-30,61.0,28.5"
    assert client.get("/reports/health?by=colour").status_code == 400


def test_health_page_lists_the_most_persistently_poor_and_the_csv_all_of_them(console_app: Any, alpha: Workspace,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """At 100,000 accounts tens of thousands can be persistently poor: the page lists the first `POOR_LISTED` (the
    most poor weeks first) and says how many there are; its CSV lists every one, as the API does."""
    from console import base_report_views

    monkeypatch.setattr(base_report_views, "POOR_LISTED", 2)
    client = signed_in_client(console_app, alpha.emails["viewer"])
    page = client.get("/reports/health?by=tier").get_data(as_text=True)
    assert page.count('data-testid="poor"') == 2
    assert re.search(r'data-testid="poor-count">\(3 accounts, the 2 with the most poor weeks listed\)', page)
    rows = client.get("/reports/health?by=tier&csv=persistent-poor")
    assert rows.headers["Content-Disposition"] == "attachment; filename=canary-persistent-poor.csv"
    lines = rows.get_data(as_text=True).splitlines()
    assert lines[0] == "Account id,Account,Poor weeks,Weeks of" and len(lines) == 4
    names = {alpha.accounts[n]: n for n in ("Alpha Poor Renewing", "Alpha Poor Later", "Alpha Other Poor")}
    assert sorted(int(line.split(",")[0]) for line in lines[1:]) == sorted(names)
    first = lines[1].split(",")
    assert first[1] == names[int(first[0])] and first[2] == "4"
    assert first[3] == "2026-11-09 2026-11-16 2026-11-23 2026-11-30"
    with canary_store(console_app).session(alpha.tenant_id) as s:  # what the API lists, in the same order
        accounts = health_report(s, by="tier", measures=sorted(health_model(console_app).measures))
    assert [a["account_id"] for a in accounts["persistent_poor"]["accounts"]] == \
        [int(line.split(",")[0]) for line in lines[1:]]
    listed = re.findall(r'data-testid="poor"><th scope="row"><a href="/accounts/(\d+)"', page)
    assert [int(a) for a in listed] == [int(line.split(",")[0]) for line in lines[1:3]]


def test_adoption_users_and_team_pages(console_app: Any, alpha: Workspace) -> None:
    client = signed_in_client(console_app, alpha.emails["csm"])
    adoption = client.get("/reports/adoption").get_data(as_text=True)
    assert 'data-testid="chart-tier-adoption"' in adoption and 'data-testid="chart-monthly-adoption"' in adoption
    lines = client.get("/reports/adoption?csv=tier-adoption").get_data(as_text=True).splitlines()
    assert lines[1] == "Report Created,,100.0"  # no premium account; all five standard ones used it
    users = client.get("/reports/users").get_data(as_text=True)
    assert users.count('data-testid="ranked"') == 5
    assert len(re.findall(r'class="bar series-\d"', users)) == 10  # active days and key-feature days, 5 users
    assert f'/product-users/{alpha.product_users[0]}' in users
    assert client.get("/reports/users?account=x").status_code == 400
    mine = client.get("/reports/team?days=7").get_data(as_text=True)
    assert mine.count('data-testid="csm-row"') == 1 and "Alpha Csm" in mine and "Alpha Othercsm" not in mine
    assert 'data-testid="team-row"' not in mine
    admin = signed_in_client(console_app, alpha.emails["admin"]).get("/reports/team").get_data(as_text=True)
    assert admin.count('data-testid="csm-row"') == 2 and admin.count('data-testid="team-row"') == 1
    assert client.get("/reports/team?days=14").status_code == 400

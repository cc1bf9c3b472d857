"""GET /api/v1/reports/health, /adoption, /users and /team on the seeded workspace: figures, the team report's
role scoping, 400 on bad parameters."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_api_v1 import alpha, bearer
from tests.console.conftest import Workspace, console_app

__all__ = ["alpha", "console_app"]


def test_health_adoption_and_users_reports(console_app: Any, alpha: Workspace) -> None:
    client = console_app.test_client()
    headers = bearer(console_app, alpha, "viewer")
    health = client.get("/api/v1/reports/health?by=csm&as_of=2026-11-30", headers=headers).get_json()
    assert health["overall"]["count"] == {"good": 2, "average": 0, "poor": 3, "unscored": 0}
    assert set(health["trend"]) == {"Alpha Csm", "Alpha Othercsm", "(not set)"}
    assert len(health["persistent_poor"]["accounts"]) == 3
    assert health["definitions"]["persistent_poor"].startswith("Accounts whose week-end snapshot")
    adoption = client.get("/api/v1/reports/adoption?tier=gold", headers=headers).get_json()
    assert adoption["accounts"] == 2 and adoption["as_of"] == "2026-11-30"
    created = [r for r in adoption["by_tier"] if r["feature"] == "Report Created"]
    assert created == [{"group": "standard", "feature": "Report Created", "accounts": 2, "accounts_using": 2,
                        "account_share": 1.0, "active_users": 2, "users_using": 2, "user_share": 1.0}]
    one = alpha.accounts["Alpha Good Steady"]
    users = client.get(f"/api/v1/reports/users?account={one}", headers=headers).get_json()
    assert [(u["rank"], u["account_id"], u["engagement"]) for u in users["users"]] == [(1, one, 2)]


def test_team_report_rows_follow_the_callers_role(console_app: Any, alpha: Workspace) -> None:
    client = console_app.test_client()

    def names(role: str) -> tuple[list[str], list[str]]:
        body = client.get("/api/v1/reports/team?days=90", headers=bearer(console_app, alpha, role)).get_json()
        assert body["days"] == 90
        return [r["name"] for r in body["csms"]], [t["name"] for t in body["teams"]]

    assert names("admin") == (["Alpha Csm", "Alpha Othercsm"], ["Alpha Manager"])
    assert names("manager") == (["Alpha Csm"], ["Alpha Manager"])
    assert names("csm") == (["Alpha Csm"], [])
    assert names("csm2") == (["Alpha Othercsm"], [])


@pytest.mark.parametrize(("path", "reason"), [
    ("/api/v1/reports/health?by=colour", "by must be one of"),
    ("/api/v1/reports/health?as_of=yesterday", "as_of must be a date"),
    ("/api/v1/reports/adoption?months=x", "months must be a whole number"),
    ("/api/v1/reports/adoption?months=99", "months must be from 1 to 24"),
    ("/api/v1/reports/users?limit=0", "limit must be from 1 to 500"),
    ("/api/v1/reports/users?account=999999", "no account 999999"),
    ("/api/v1/reports/team?days=14", "days must be one of 7, 30, 90, 365"),
    ("/api/v1/reports/team?segment=smb", "segment"),
])
def test_bad_parameters_are_400_with_a_reason(console_app: Any, alpha: Workspace, path: str, reason: str) -> None:
    answer = console_app.test_client().get(path, headers=bearer(console_app, alpha, "admin"))
    assert answer.status_code == 400
    assert reason in answer.get_json()["error"]


def test_another_workspaces_account_is_not_found_and_its_users_never_listed(console_app: Any, alpha: Workspace
                                                                             ) -> None:
    from tests.console.conftest import seed_workspace

    bravo = seed_workspace(console_app, "bravo", "Bravo")
    client = console_app.test_client()
    theirs = bravo.accounts["Bravo Good Steady"]
    answer = client.get(f"/api/v1/reports/users?account={theirs}", headers=bearer(console_app, alpha, "admin"))
    assert answer.status_code == 400 and f"no account {theirs}" in answer.get_json()["error"]
    board = client.get("/api/v1/reports/users", headers=bearer(console_app, alpha, "admin")).get_json()
    assert sorted(u["account_id"] for u in board["users"]) == sorted(alpha.accounts.values())
    team = client.get("/api/v1/reports/team", headers=bearer(console_app, alpha, "admin")).get_json()
    assert [r["name"] for r in team["csms"]] == ["Alpha Csm", "Alpha Othercsm"]

"""REST v1: tokens, scoping by role, cursor paging, JSON errors, the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from console.auth import issue_api_token
from extensions import canary_store
from store.models import User
from tests.console.conftest import Workspace, seeded_workspaces
from tests.dbtemplate import Templates


@pytest.fixture
def alpha(console_app: Any, db_templates: Templates) -> Workspace:
    return seeded_workspaces(console_app, db_templates, ("alpha", "Alpha"))[0]


def bearer(app: Any, ws: Workspace, role: str) -> dict[str, str]:
    store = canary_store(app)
    with store.session(ws.tenant_id) as s:
        _, token = issue_api_token(s, s.scalar(select(User).where(User.id == ws.users[role])), "t")
    return {"Authorization": f"Bearer {token}"}


def test_accounts_with_band_poor_follow_the_token_users_portfolio(console_app: Any, alpha: Workspace) -> None:
    client = console_app.test_client()
    mine = client.get("/api/v1/accounts?band=poor", headers=bearer(console_app, alpha, "csm")).get_json()
    assert [r["name"] for r in mine["data"]] == ["Alpha Poor Renewing", "Alpha Poor Later"]
    assert mine["as_of"] == "2026-11-30" and mine["next_cursor"] is None
    row = mine["data"][0]
    assert row["band"] == "poor" and row["renewal_date"] == "2027-01-14" and row["arr"] == 50000.0
    assert row["csm"] == "Alpha Csm" and row["open_alerts"] == 1
    everyone = client.get("/api/v1/accounts?band=poor", headers=bearer(console_app, alpha, "viewer")).get_json()
    assert len(everyone["data"]) == 3


def test_cursor_paging(console_app: Any, alpha: Workspace) -> None:
    client, headers = console_app.test_client(), bearer(console_app, alpha, "admin")
    seen, url, pages = [], "/api/v1/alerts?status=all&limit=2", 0
    while url:
        body = client.get(url, headers=headers).get_json()
        seen += [a["id"] for a in body["data"]]
        pages += 1
        url = f"/api/v1/alerts?status=all&limit=2&cursor={body['next_cursor']}" if body["next_cursor"] else ""
    assert pages == 3 and len(seen) == len(set(seen)) == 5 and seen == sorted(seen, reverse=True)
    first = client.get("/api/v1/accounts?scope=all&limit=25", headers=headers).get_json()
    assert len(first["data"]) == 5 and first["next_cursor"] is None


def test_one_account_and_lookup(console_app: Any, alpha: Workspace) -> None:
    client, headers = console_app.test_client(), bearer(console_app, alpha, "csm")
    account_id = alpha.accounts["Alpha Poor Renewing"]
    body = client.get(f"/api/v1/accounts/{account_id}", headers=headers).get_json()
    assert body["health"]["band"] == "poor" and body["health"]["reasons"] == ["Weekly active users fell from 12 to 3"]
    assert len(body["history"]) == 180 and body["history"][-1]["day"] == "2026-11-30"
    assert body["band_changes"] == [{"day": "2026-11-11", "from": "average", "to": "poor", "score": 29.81,
                                     "reasons": ["Weekly active users fell from 12 to 3"]}]
    assert body["measures"][0]["measure"] == "weekly_active_users" and body["measures"][0]["percentile"] == 12.0
    found = client.get(f"/api/v1/lookup/hubspot/{alpha.external_ids['Alpha Poor Renewing']}", headers=headers)
    assert found.get_json()["id"] == account_id


@pytest.mark.parametrize(("path", "status", "reason"), [
    ("/api/v1/accounts?band=awful", 400, "band must be one of"),
    ("/api/v1/accounts?limit=1000", 400, "limit must be one of"),
    ("/api/v1/accounts?colour=red", 400, "unknown query parameter(s): colour"),
    ("/api/v1/accounts?cursor=zzz", 400, "cursor is not one this server gave"),
    ("/api/v1/accounts/999999", 404, "no account 999999"),
    ("/api/v1/lookup/pipedrive/1", 400, "system must be one of"),
    ("/api/v1/lookup/hubspot/nope", 404, "no hubspot record nope"),
    ("/api/v1/alerts?status=maybe", 400, "status must be"),
    ("/api/v1/tasks?limit=0", 400, "limit must be a whole number from 1 to 200"),
    ("/api/v1/alerts?account_id=x", 400, "account_id must be a whole number"),
    ("/api/v1/nothing-here", 404, "Not Found"),
])
def test_errors_are_json_with_a_reason(console_app: Any, alpha: Workspace, path: str, status: int,
                                       reason: str) -> None:
    answer = console_app.test_client().get(path, headers=bearer(console_app, alpha, "admin"))
    assert answer.status_code == status and answer.mimetype == "application/json"
    assert reason in answer.get_json()["error"]


def test_openapi_document_lists_every_route(console_app: Any) -> None:
    answer = console_app.test_client().get("/api/v1/openapi.json")
    assert answer.status_code == 200
    doc = answer.get_json()
    assert doc["openapi"] == "3.1.0"
    assert set(doc["paths"]) == {"/accounts", "/accounts/{account_id}", "/lookup/{system}/{external_id}", "/alerts",
                                 "/tasks", "/tasks/{task_id}", "/users", "/lists", "/lists/{list_id}/accounts",
                                 "/plays", "/plays/{play_id}", "/plays/{play_id}/runs", "/plays/{play_id}/preview",
                                 "/accounts/{account_id}/plays", "/campaigns", "/campaigns/{campaign_id}/stats",
                                 "/reports/revenue", "/reports/revenue/accounts",
                                 "/reports/renewals", "/reports/renewals/calls", "/reports/health",
                                 "/reports/adoption", "/reports/users", "/reports/team"}
    params = {p["name"] for p in doc["paths"]["/accounts"]["get"]["parameters"]}
    assert {"band", "trend", "segment", "tier", "stage", "renewal", "owner", "arr_min", "arr_max", "alert", "sort",
            "cursor"} <= params
    routes = {r.rule for r in console_app.url_map.iter_rules() if r.rule.startswith("/api/v1/")}
    documented = {"/api/v1" + p.replace("{account_id}", "<int:account_id>").replace(
        "{system}/{external_id}", "<system>/<path:external_id>").replace("{list_id}", "<int:list_id>").replace(
        "{task_id}", "<int:task_id>").replace("{play_id}", "<int:play_id>").replace(
        "{campaign_id}", "<int:campaign_id>")
        for p in doc["paths"]}
    assert routes - {"/api/v1/openapi.json", "/api/v1/<path:rest>"} == documented


def test_users_list(console_app: Any, alpha: Workspace) -> None:
    body = console_app.test_client().get("/api/v1/users", headers=bearer(console_app, alpha, "viewer")).get_json()
    assert sorted(u["role"] for u in body["data"]) == ["admin", "csm", "csm", "manager", "viewer"]
    assert all("password" not in k for u in body["data"] for k in u)


def test_tasks_show_priority_source_assignee_completion_and_their_crm_copies(console_app: Any,
                                                                             alpha: Workspace) -> None:
    from store.models import Task, TaskLink
    from sync.tasks import complete_task

    store = canary_store(console_app)
    with store.session(alpha.tenant_id) as s:
        task = s.get_one(Task, alpha.tasks[0])
        task.priority, task.assignee_user_id = "high", alpha.users["csm"]
        s.add_all([TaskLink(task_id=task.id, system="salesforce", key="canary-1", external_id="00T000000000001AAA",
                            state="created"),
                   TaskLink(task_id=task.id, system="hubspot", key="canary-2", external_id=None, state="pending")])
        complete_task(task)
    client = console_app.test_client()
    answer = client.get("/api/v1/tasks?status=all", headers=bearer(console_app, alpha, "admin")).get_json()
    rows = {r["id"]: r for r in answer["data"]}
    assert len(rows) == len(alpha.tasks) >= 1
    row = rows[alpha.tasks[0]]
    assert (row["priority"], row["source"], row["assignee_user_id"], row["status"]) == (
        "high", "alert", alpha.users["csm"], "done")
    assert row["completed_at"] is not None
    assert row["crm"] == [{"system": "hubspot", "external_id": None, "state": "pending"},
                          {"system": "salesforce", "external_id": "00T000000000001AAA", "state": "created"}]
    assert all(r["crm"] == [] for tid, r in rows.items() if tid != alpha.tasks[0])

"""A user of workspace A can never read workspace B, by any route or parameter (console and API)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from console.auth import issue_api_token
from extensions import canary_store
from store.models import User
from tests.console.conftest import Workspace, signed_in_client

BRAVO_WORDS = ("Bravo", "bravo.example", "bravo0.example")


def _token(app: Any, ws: Workspace, role: str) -> str:
    store = canary_store(app)
    with store.session(ws.tenant_id) as s:
        user = s.scalar(select(User).where(User.id == ws.users[role]))
        _, token = issue_api_token(s, user, "test")
    return token


def _routes(b: Workspace) -> list[tuple[str, str, set[int]]]:
    """(kind, path with B's ids, statuses that are acceptable): every route that takes an id or filter."""
    acct = b.accounts["Bravo Poor Renewing"]
    ext = b.external_ids["Bravo Poor Renewing"]
    csm = b.users["csm"]
    return [
        ("html", f"/accounts/{acct}", {404}),
        ("html", f"/product-users/{b.product_users[0]}", {404}),
        ("html", f"/accounts?owner={csm}", {200}),
        ("html", f"/accounts?owner={csm}&scope=all", {200}),
        ("html", "/accounts?scope=all&q=Renewing", {200}),
        ("html", "/accounts?scope=all&format=csv", {200}),
        ("html", f"/accounts?scope=all&format=csv&owner={csm}", {200}),
        ("html", "/connections", {200}),
        ("html", "/admin/users", {200}),
        ("html", "/admin/audit", {200}),
        ("api", f"/api/v1/accounts/{acct}", {404}),
        ("api", f"/api/v1/accounts?owner={csm}&scope=all", {200}),
        ("api", "/api/v1/accounts?scope=all&q=Renewing", {200}),
        ("api", f"/api/v1/accounts?scope=all&tenant_id={b.tenant_id}", {400}),
        ("api", f"/api/v1/accounts?scope=all&tenant={b.slug}", {400}),
        ("api", f"/api/v1/lookup/hubspot/{ext}", {404}),
        ("api", f"/api/v1/alerts?account_id={acct}&status=all", {200}),
        ("api", f"/api/v1/tasks?account_id={acct}&status=all", {200}),
        ("api", "/api/v1/users", {200}),
        ("api", "/api/v1/alerts?status=all", {200}),
        ("api", "/api/v1/tasks?status=all", {200}),
    ]


def test_no_route_or_parameter_reaches_the_other_workspace(console_app: Any,
                                                           two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, b = two_workspaces
    browser = signed_in_client(console_app, a.emails["admin"])
    api_headers = {"Authorization": f"Bearer {_token(console_app, a, 'admin')}"}
    routes = _routes(b)
    checked = 0
    for kind, path, statuses in routes:
        answer = browser.get(path) if kind == "html" else console_app.test_client().get(path, headers=api_headers)
        body = answer.get_data(as_text=True)
        assert answer.status_code in statuses, (path, answer.status_code, body[:200])
        for word in BRAVO_WORDS:
            assert word not in body, (path, word)
        checked += 1
    assert checked == len(routes) == 21


def test_the_same_routes_do_show_a_workspace_its_own_rows(console_app: Any,
                                                          two_workspaces: tuple[Workspace, Workspace]) -> None:
    """The isolation test above would pass on a console that shows nothing: here B sees B."""
    _, b = two_workspaces
    browser = signed_in_client(console_app, b.emails["admin"])
    acct = b.accounts["Bravo Poor Renewing"]
    assert "Bravo Poor Renewing" in browser.get(f"/accounts/{acct}").get_data(as_text=True)
    assert "Bravo Champion 0" in browser.get(f"/product-users/{b.product_users[0]}").get_data(as_text=True)
    assert "Bravo Poor Renewing" in browser.get("/accounts?scope=all&format=csv").get_data(as_text=True)
    headers = {"Authorization": f"Bearer {_token(console_app, b, 'admin')}"}
    api = console_app.test_client()
    ext = b.external_ids["Bravo Poor Renewing"]
    assert api.get(f"/api/v1/lookup/hubspot/{ext}", headers=headers).get_json()["name"] == "Bravo Poor Renewing"
    alerts = api.get(f"/api/v1/alerts?account_id={acct}&status=all", headers=headers).get_json()["data"]
    assert [x["title"] for x in alerts] == ["Usage dropped at Bravo Poor Renewing"]


@pytest.mark.parametrize("role", ["csm", "viewer"])
def test_a_session_cookie_of_workspace_a_cannot_be_pointed_at_b(console_app: Any, role: str,
                                                               two_workspaces: tuple[Workspace, Workspace]) -> None:
    """Editing the (signed) session is impossible; a forged tenant id with A's user does not load."""
    a, b = two_workspaces
    client = signed_in_client(console_app, a.emails[role])
    with client.session_transaction() as session:
        session["tid"] = b.tenant_id  # what a forged cookie would need (the signature stops it in reality)
    answer = client.get(f"/accounts/{b.accounts['Bravo Poor Renewing']}")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/sign-in")


def test_a_revoked_or_unknown_token_reads_nothing(console_app: Any,
                                                  two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, _ = two_workspaces
    store = canary_store(console_app)
    token = _token(console_app, a, "csm")
    client = console_app.test_client()
    assert client.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    from store.models import ApiToken

    with store.session(a.tenant_id) as s:
        for row in s.scalars(select(ApiToken)):
            row.revoked_at = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    for value in (token, token + "x", "cny_" + "A" * 43, "garbage"):
        answer = client.get("/api/v1/users", headers={"Authorization": f"Bearer {value}"})
        assert answer.status_code == 401

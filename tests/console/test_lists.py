"""The console's list pages and the lists API on the seeded workspaces: counts in each role's scope,
members with why and links, CSV, create/edit with inline errors, follow and the weekly view, audit,
CSRF and viewer refusals, and that workspace A never reaches B's lists."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from sqlalchemy import select

from console.auth import issue_api_token
from extensions import canary_store
from store.models import AuditEvent, PortfolioList, PortfolioListFollow, PortfolioListVersion, User
from sync.lists import evaluate_lists
from tests.console.conftest import Workspace, csrf_of, signed_in_client
from tests.shared import WORLD_AS_OF

NEW_LIST = {"name": "Poor renewals", "description": "Escalate these.", "match": "all",
            "conditions": "- {field: subscription.renewal_date, op: within, from_days: 0, to_days: 90}\n"
                          "- {field: health.band, op: in, values: [poor]}\n"}


@pytest.fixture
def lists_ready(console_app: Any, two_workspaces: tuple[Workspace, Workspace]) -> tuple[Workspace, Workspace]:
    for ws in two_workspaces:
        summary = evaluate_lists(canary_store(console_app), ws.tenant_id, WORLD_AS_OF)
        assert summary.installed == 12
    return two_workspaces


def _list_id(app: Any, ws: Workspace, key: str) -> int:
    with canary_store(app).session(ws.tenant_id) as s:
        found = s.scalar(select(PortfolioList.id).where(PortfolioList.key == key))
    assert found is not None
    return int(found)


def _counts(html: str) -> dict[str, int]:
    rows = re.findall(r'<tr data-list-id="\d+">.*?<a href="[^"]+">([^<]+)</a>.*?data-testid="count">(\d+)<', html,
                      re.DOTALL)
    assert rows, "no list rows on the page"
    return {name: int(n) for name, n in rows}


def _members(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr data-account-id="(\d+)">', html)]


def test_each_role_sees_list_counts_in_its_portfolio_scope(console_app: Any, lists_ready: Any) -> None:
    a, _ = lists_ready
    expected = {"csm": 2, "manager": 2, "admin": 3, "viewer": 3}  # renewing within 90 days: 2 of the CSM's, 1 other
    for role, count in expected.items():
        html = signed_in_client(console_app, a.emails[role]).get("/lists").get_data(as_text=True)
        counts = _counts(html)
        assert len(counts) == 12
        assert counts["Renewals in 90 days"] == count, role
        assert counts["Usage dropped"] == {"csm": 3, "manager": 3}.get(role, 5), role  # every seeded account's alert
    csm = signed_in_client(console_app, a.emails["csm"])
    assert _counts(csm.get("/lists?scope=all").get_data(as_text=True))["Renewals in 90 days"] == 3
    assert csm.get("/lists?scope=everyone").status_code == 400


def test_a_list_page_shows_members_why_and_links_to_their_profiles(console_app: Any, lists_ready: Any) -> None:
    a, _ = lists_ready
    list_id = _list_id(console_app, a, "renewal-60")
    csm = signed_in_client(console_app, a.emails["csm"])
    html = csm.get(f"/lists/{list_id}").get_data(as_text=True)
    mine = _members(html)
    assert sorted(mine) == sorted([a.accounts["Alpha Poor Renewing"], a.accounts["Alpha Good Steady"]])
    for account_id in mine:
        assert f'href="/accounts/{account_id}"' in html
    assert "Renewal date 2027-01-14, in 45 days (between today and 60 days ahead)" in html
    every = _members(csm.get(f"/lists/{list_id}?scope=all").get_data(as_text=True))
    assert len(every) == 3 and a.accounts["Alpha Other Poor"] in every
    paged = csm.get(f"/lists/{list_id}?scope=all").get_data(as_text=True)
    assert "next-page" not in paged


def test_csv_export_holds_every_member_in_scope_with_why(console_app: Any, lists_ready: Any) -> None:
    a, _ = lists_ready
    list_id = _list_id(console_app, a, "renewal-90")
    admin = signed_in_client(console_app, a.emails["admin"])
    answer = admin.get(f"/lists/{list_id}?format=csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert "canary-list-renewals-in-90-days.csv" in answer.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True))))
    assert rows[0][:4] == ["id", "name", "entered_on", "why"]
    by_name = {r[1]: r for r in rows[1:]}
    assert set(by_name) == {"Alpha Poor Renewing", "Alpha Good Steady", "Alpha Other Poor"}
    assert by_name["Alpha Other Poor"][2] == WORLD_AS_OF.isoformat()
    assert by_name["Alpha Other Poor"][3] == "Renewal date 2026-12-30, in 30 days (between today and 90 days ahead)"
    csm_rows = list(csv.reader(io.StringIO(signed_in_client(console_app, a.emails["csm"]).get(
        f"/lists/{list_id}?format=csv").get_data(as_text=True))))
    assert len(csm_rows) == 3  # header + the CSM's two


def test_a_manager_creates_a_list_and_sees_its_members_at_once(console_app: Any, lists_ready: Any) -> None:
    a, _ = lists_ready
    manager = signed_in_client(console_app, a.emails["manager"])
    answer = manager.post("/lists/new", data={**NEW_LIST, "csrf_token": csrf_of(manager)})
    assert answer.status_code == 302
    page = manager.get(answer.headers["Location"]).get_data(as_text=True)
    assert "List created: 2 accounts in the workspace match it." in page
    assert _members(page) == [a.accounts["Alpha Poor Renewing"]]  # the team's; Other Poor belongs to csm2
    assert "Health is poor (score 30)" in page
    with canary_store(console_app).session(a.tenant_id) as s:
        row = s.scalar(select(PortfolioList).where(PortfolioList.name == "Poor renewals"))
        assert row is not None and row.version == 1 and row.key is None
        audit = s.execute(select(AuditEvent.action, AuditEvent.actor).where(AuditEvent.action == "list.create")).all()
        assert audit == [("list.create", a.emails["manager"])]


def test_a_bad_definition_is_refused_inline_and_nothing_typed_is_lost(console_app: Any, lists_ready: Any) -> None:
    a, _ = lists_ready
    manager = signed_in_client(console_app, a.emails["manager"])
    typed = "- {field: health.band, op: gte, value: 3}\n- {field: subscription.renewal_date, op: within}\n"
    answer = manager.post("/lists/new", data={"name": "My draft", "description": "keep me", "match": "any",
                                              "conditions": typed, "csrf_token": csrf_of(manager)})
    assert answer.status_code == 400
    html = answer.get_data(as_text=True)
    assert "conditions.0.op: &#39;gte&#39; does not apply to health.band" in html
    assert "conditions.1.from_days: required for op within" in html
    assert 'value="My draft"' in html and "keep me" in html and '<option value="any" selected' in html
    assert "- {field: health.band, op: gte, value: 3}" in html
    broken = manager.post("/lists/new", data={"name": "", "conditions": "- [unclosed", "csrf_token": csrf_of(manager)})
    assert broken.status_code == 400 and "conditions: not valid YAML or JSON" in broken.get_data(as_text=True)
    with canary_store(console_app).session(a.tenant_id) as s:
        assert s.scalar(select(PortfolioList).where(PortfolioList.name == "My draft")) is None


def test_editing_saves_a_new_version_and_is_audited(console_app: Any, lists_ready: Any) -> None:
    a, _ = lists_ready
    list_id = _list_id(console_app, a, "renewal-30")
    admin = signed_in_client(console_app, a.emails["admin"])
    form = admin.get(f"/lists/{list_id}/edit").get_data(as_text=True)
    assert "subscription.renewal_date" in form and "Save version 2" in form
    answer = admin.post(f"/lists/{list_id}/edit", data={
        "name": "Renewals in 60 days or less", "description": "Wider.", "match": "all",
        "conditions": "- {field: subscription.renewal_date, op: within, from_days: 0, to_days: 60}\n",
        "csrf_token": csrf_of(admin)})
    assert answer.status_code == 302
    page = admin.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Saved as version 2." in page and len(_members(page)) == 3
    assert "Version 2 by admin@alpha.example" in page and "Version 1 by Canary" in page
    with canary_store(console_app).session(a.tenant_id) as s:
        versions = s.scalars(select(PortfolioListVersion.version).where(PortfolioListVersion.list_id == list_id))
        assert sorted(versions) == [1, 2]
        assert s.scalar(select(AuditEvent.target).where(AuditEvent.action == "list.edit")) == \
            "Renewals in 60 days or less"


def test_follow_puts_a_list_on_my_lists_with_the_weeks_movement(console_app: Any, lists_ready: Any) -> None:
    a, _ = lists_ready
    list_id = _list_id(console_app, a, "renewal-30")
    csm = signed_in_client(console_app, a.emails["csm"])
    assert "You follow no list yet" in csm.get("/lists/mine").get_data(as_text=True)
    assert csm.post(f"/lists/{list_id}/follow", data={"csrf_token": csrf_of(csm)}).status_code == 302
    weekly = csm.get("/lists/mine?scope=all").get_data(as_text=True)
    assert "Renewals in 30 days" in weekly and "Alpha Other Poor" in weekly and "Entered" in weekly
    assert "Because: Renewal date 2026-12-30, in 30 days" in weekly
    own = csm.get("/lists/mine").get_data(as_text=True)  # the CSM's own scope: Other Poor is csm2's
    assert "Alpha Other Poor" not in own and "No account entered or left this week." in own
    with canary_store(console_app).session(a.tenant_id) as s:
        assert s.scalar(select(PortfolioListFollow.user_id).where(PortfolioListFollow.list_id == list_id)) == \
            a.users["csm"]
    assert csm.post(f"/lists/{list_id}/unfollow", data={"csrf_token": csrf_of(csm)}).status_code == 302
    with canary_store(console_app).session(a.tenant_id) as s:
        assert s.scalar(select(PortfolioListFollow).where(PortfolioListFollow.list_id == list_id)) is None
        actions = list(s.scalars(select(AuditEvent.action).where(AuditEvent.action.like("list.%"))
                                 .order_by(AuditEvent.id)))
        assert actions == ["list.follow", "list.unfollow"]


def test_posts_without_csrf_and_viewer_changes_are_refused(console_app: Any, lists_ready: Any) -> None:
    a, _ = lists_ready
    list_id = _list_id(console_app, a, "renewal-30")
    manager = signed_in_client(console_app, a.emails["manager"])
    assert manager.post("/lists/new", data=NEW_LIST).status_code == 403
    assert manager.post(f"/lists/{list_id}/follow").status_code == 403
    assert manager.post(f"/lists/{list_id}/edit", data={**NEW_LIST, "csrf_token": "forged"}).status_code == 403
    viewer = signed_in_client(console_app, a.emails["viewer"])
    assert viewer.get("/lists").status_code == 200 and viewer.get(f"/lists/{list_id}").status_code == 200
    assert "New list" not in viewer.get("/lists").get_data(as_text=True)
    token = csrf_of(viewer)
    assert viewer.get("/lists/new").status_code == 403
    assert viewer.post("/lists/new", data={**NEW_LIST, "csrf_token": token}).status_code == 403
    assert viewer.get(f"/lists/{list_id}/edit").status_code == 403
    assert viewer.post(f"/lists/{list_id}/edit", data={**NEW_LIST, "csrf_token": token}).status_code == 403
    assert viewer.post(f"/lists/{list_id}/follow", data={"csrf_token": token}).status_code == 403
    with canary_store(console_app).session(a.tenant_id) as s:
        assert s.scalar(select(PortfolioList).where(PortfolioList.name == NEW_LIST["name"])) is None
        assert s.scalar(select(PortfolioListFollow)) is None
        row = s.get(PortfolioList, list_id)
        assert row is not None and row.version == 1
    anonymous = console_app.test_client()
    assert anonymous.get("/lists").status_code == 302
    assert anonymous.get(f"/lists/{list_id}?format=csv").status_code == 302


def _token(app: Any, ws: Workspace, role: str) -> str:
    with canary_store(app).session(ws.tenant_id) as s:
        user = s.scalar(select(User).where(User.id == ws.users[role]))
        _, token = issue_api_token(s, user, "test")
    return token


def test_workspace_a_never_reaches_bs_lists(console_app: Any, lists_ready: Any) -> None:
    a, b = lists_ready
    theirs = _list_id(console_app, b, "renewal-90")
    admin = signed_in_client(console_app, a.emails["admin"])
    token = csrf_of(admin)
    for path in (f"/lists/{theirs}", f"/lists/{theirs}?format=csv", f"/lists/{theirs}/edit"):
        answer = admin.get(path)
        assert answer.status_code == 404 and "Bravo" not in answer.get_data(as_text=True), path
    for path in (f"/lists/{theirs}/follow", f"/lists/{theirs}/edit"):
        assert admin.post(path, data={**NEW_LIST, "csrf_token": token}).status_code == 404, path
    assert "Bravo" not in admin.get("/lists?scope=all").get_data(as_text=True)
    headers = {"Authorization": f"Bearer {_token(console_app, a, 'admin')}"}
    api = console_app.test_client()
    assert api.get(f"/api/v1/lists/{theirs}/accounts", headers=headers).status_code == 404
    ours = {r["id"] for r in api.get("/api/v1/lists", headers=headers).get_json()["data"]}
    with canary_store(console_app).session(b.tenant_id) as s:
        bravo = set(s.scalars(select(PortfolioList.id)))
    assert len(ours) == 12 and not ours & bravo
    with canary_store(console_app).session(b.tenant_id) as s:
        assert s.scalar(select(PortfolioListFollow)) is None and s.scalar(select(PortfolioListVersion.id).where(
            PortfolioListVersion.version > 1)) is None


def test_the_lists_api_pages_and_scopes_like_the_console(console_app: Any, lists_ready: Any) -> None:
    a, _ = lists_ready
    api = console_app.test_client()
    csm = {"Authorization": f"Bearer {_token(console_app, a, 'csm')}"}
    body = api.get("/api/v1/lists?limit=5", headers=csm).get_json()
    assert len(body["data"]) == 5 and body["next_cursor"] and body["as_of"] == WORLD_AS_OF.isoformat()
    rest = api.get(f"/api/v1/lists?cursor={body['next_cursor']}", headers=csm).get_json()
    assert len(rest["data"]) == 7 and rest["next_cursor"] is None
    renewal = next(r for r in body["data"] + rest["data"] if r["key"] == "renewal-90")
    assert (renewal["accounts"], renewal["arr"], renewal["entered_7d"], renewal["left_7d"]) == (2, 140000.0, 2, 0)
    list_id = renewal["id"]
    first = api.get(f"/api/v1/lists/{list_id}/accounts?limit=1", headers=csm).get_json()
    assert len(first["data"]) == 1 and first["next_cursor"]
    second = api.get(f"/api/v1/lists/{list_id}/accounts?limit=1&cursor={first['next_cursor']}", headers=csm).get_json()
    assert second["next_cursor"] is None
    names = {first["data"][0]["name"], second["data"][0]["name"]}
    assert names == {"Alpha Poor Renewing", "Alpha Good Steady"}
    assert first["data"][0]["reasons"][0].startswith("Renewal date ")
    assert first["data"][0]["entered_on"] == WORLD_AS_OF.isoformat()
    every = api.get(f"/api/v1/lists/{list_id}/accounts?scope=all", headers=csm).get_json()
    assert len(every["data"]) == 3
    assert api.get(f"/api/v1/lists/{list_id}/accounts?sort=name", headers=csm).status_code == 400
    assert api.get(f"/api/v1/lists/{list_id}/accounts?cursor=bogus", headers=csm).status_code == 400
    assert api.get("/api/v1/lists").status_code == 401

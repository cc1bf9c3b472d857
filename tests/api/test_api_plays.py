"""REST v1 plays: the list with triggers and run counts, one play with its definitions, runs with their logs
(filtered, paged), an account's runs, the preview (a dry run that writes nothing), and 400/404 errors."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from extensions import canary_store
from plays import template
from store.models import AuditEvent, Play, PlayRun, PlayVersion, Task
from sync.plays import create_from_template, evaluate_plays, publish
from tests.api.test_api_v1 import bearer
from tests.console.conftest import Workspace, seed_workspace, seeded_workspaces
from tests.dbtemplate import Templates
from tests.shared import WORLD_AS_OF


@pytest.fixture
def alpha(console_app: Any, db_templates: Templates) -> Workspace:
    return seeded_workspaces(console_app, db_templates, ("alpha", "Alpha"))[0]


def _plays(app: Any, ws: Workspace) -> dict[str, int]:
    """The usage-drop play published and evaluated on WORLD_AS_OF (every seeded account has a usage_drop
    alert raised that day: 5 runs, each with its first task); the renewal play made but left a draft."""
    store = canary_store(app)
    with store.session(ws.tenant_id) as s:
        live = create_from_template(s, "usage-drop-get-well", "admin@alpha.example", ws.users["admin"])
        publish(s, live, "admin@alpha.example", ws.users["admin"], WORLD_AS_OF)
        draft = create_from_template(s, "renewal-120", "admin@alpha.example", ws.users["admin"])
        ids = {"live": live.id, "draft": draft.id}
    summary = evaluate_plays(store, ws.tenant_id, WORLD_AS_OF)
    assert sum(summary.started.values()) == 5 and summary.tasks_created == 5
    return ids


def _get(app: Any, ws: Workspace, path: str, role: str = "viewer") -> Any:
    return app.test_client().get(path, headers=bearer(app, ws, role))


def test_plays_list_states_versions_triggers_and_runs_by_state(console_app: Any, alpha: Workspace) -> None:
    ids = _plays(console_app, alpha)
    body = _get(console_app, alpha, "/api/v1/plays").get_json()
    assert body["next_cursor"] is None
    live, draft = body["data"]
    assert (live["id"], live["name"], live["state"], live["version"], live["has_draft"]) == (
        ids["live"], "Usage drop get-well plan", "live", 1, False)
    assert live["published_on"] == "2026-11-30" and live["evaluated_on"] == "2026-11-30"
    assert live["trigger"] == {"text": "When alert usage_drop is raised on an account (alerts already open "
                                       "count when first published)", "data": {"type": "alert", "rule": "usage_drop"}}
    assert live["runs"] == {"queued": 0, "running": 5, "done": 0, "closed": 0, "skipped": 0, "failed": 0}
    assert (draft["id"], draft["state"], draft["version"], draft["has_draft"]) == (ids["draft"], "draft", None, True)
    assert draft["trigger"]["text"] == "120 days before the renewal date, for 30 days"
    assert draft["trigger"]["data"] == {"type": "date", "field": "subscription.renewal_date", "offset_days": -120,
                                        "window_days": 30}
    assert sum(draft["runs"].values()) == 0
    only_drafts = _get(console_app, alpha, "/api/v1/plays?state=draft").get_json()
    assert [p["id"] for p in only_drafts["data"]] == [ids["draft"]]


def test_plays_page_with_cursors(console_app: Any, alpha: Workspace) -> None:
    ids = _plays(console_app, alpha)
    first = _get(console_app, alpha, "/api/v1/plays?limit=1").get_json()
    assert [p["id"] for p in first["data"]] == [ids["live"]] and first["next_cursor"]
    second = _get(console_app, alpha, f"/api/v1/plays?limit=1&cursor={first['next_cursor']}").get_json()
    assert [p["id"] for p in second["data"]] == [ids["draft"]] and second["next_cursor"] is None


def test_one_play_with_its_published_definition_draft_and_versions(console_app: Any, alpha: Workspace) -> None:
    ids = _plays(console_app, alpha)
    live = _get(console_app, alpha, f"/api/v1/plays/{ids['live']}").get_json()
    assert live["published"] == template("usage-drop-get-well").as_dict() and live["draft"] is None
    assert [(v["version"], v["author"]) for v in live["versions"]] == [(1, "admin@alpha.example")]
    assert live["runs"]["running"] == 5
    draft = _get(console_app, alpha, f"/api/v1/plays/{ids['draft']}").get_json()
    assert draft["published"] is None and draft["versions"] == []
    assert draft["draft"] == template("renewal-120").as_dict()


def test_runs_with_their_logs_filtered_by_state_and_account_and_paged(console_app: Any, alpha: Workspace) -> None:
    ids = _plays(console_app, alpha)
    url = f"/api/v1/plays/{ids['live']}/runs"
    body = _get(console_app, alpha, url).get_json()
    runs = body["data"]
    assert len(runs) == 5 and body["next_cursor"] is None
    assert [r["id"] for r in runs] == sorted((r["id"] for r in runs), reverse=True)
    assert {r["account"] for r in runs} == set(alpha.accounts)
    run = next(r for r in runs if r["account"] == "Alpha Poor Renewing")
    assert (run["state"], run["step"], run["reason"], run["version"]) == ("running", 1, "alert:usage_drop", 1)
    assert run["why"] == "waiting for the previous task to be done" and run["started_on"] == "2026-11-30"
    assert [e["state"] for e in run["log"]] == ["queued", "running", "running", "running"]
    assert run["log"][2]["message"].startswith("step 1: task “Find out why usage dropped at Alpha Poor Renewing”")
    assert all(e["day"] == "2026-11-30" for e in run["log"])
    account_id = alpha.accounts["Alpha Poor Renewing"]
    mine = _get(console_app, alpha, f"{url}?account={account_id}").get_json()["data"]
    assert [r["id"] for r in mine] == [run["id"]]
    assert _get(console_app, alpha, f"{url}?state=running").get_json()["data"] == runs
    assert _get(console_app, alpha, f"{url}?state=done").get_json()["data"] == []
    seen, page_url, pages = [], f"{url}?limit=2", 0
    while page_url:
        page = _get(console_app, alpha, page_url).get_json()
        seen += [r["id"] for r in page["data"]]
        pages += 1
        page_url = f"{url}?limit=2&cursor={page['next_cursor']}" if page["next_cursor"] else ""
    assert pages == 3 and seen == [r["id"] for r in runs]


def test_an_accounts_runs(console_app: Any, alpha: Workspace) -> None:
    ids = _plays(console_app, alpha)
    account_id = alpha.accounts["Alpha Other Poor"]
    body = _get(console_app, alpha, f"/api/v1/accounts/{account_id}/plays", "csm").get_json()
    assert [(r["play_id"], r["play"], r["account_id"], r["state"]) for r in body["data"]] == [
        (ids["live"], "Usage drop get-well plan", account_id, "running")]
    assert body["data"][0]["log"][0]["state"] == "queued" and body["next_cursor"] is None


def _counts(app: Any, ws: Workspace) -> tuple[int, ...]:
    with canary_store(app).session(ws.tenant_id) as s:
        return tuple(s.scalar(select(func.count()).select_from(model))
                     for model in (Play, PlayVersion, PlayRun, Task, AuditEvent))


def test_preview_counts_and_rows_and_writes_nothing(console_app: Any, alpha: Workspace) -> None:
    ids = _plays(console_app, alpha)
    with canary_store(console_app).session(alpha.tenant_id) as s:  # a second copy of the play, never run
        fresh = create_from_template(s, "usage-drop-get-well", "admin@alpha.example").id
    before = _counts(console_app, alpha)
    client, headers = console_app.test_client(), bearer(console_app, alpha, "admin")
    before = _counts(console_app, alpha)
    answer = client.post(f"/api/v1/plays/{fresh}/preview", headers=headers, json={"limit": 2})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert (body["as_of"], body["starts"], body["skips"], body["tasks"], body["problem"]) == (
        "2026-11-30", 5, 0, 5, None)
    assert len(body["rows"]) == 2 and body["trigger"]["data"] == {"type": "alert", "rule": "usage_drop"}
    row = body["rows"][0]
    assert row["action"] == "start" and row["why"] == "would start"
    assert row["tasks"][0]["subject"] == f"Find out why usage dropped at {row['account']}"
    assert row["tasks"][0]["due"] == "2026-12-02" and row["tasks"][0]["priority"] == "high"
    assert row["later"][0] == "Wait until the previous task is done"
    published = client.post(f"/api/v1/plays/{ids['live']}/preview", headers=headers).get_json()
    assert (published["starts"], published["skips"], published["rows"]) == (0, 0, [])  # every alert handled
    other_day = client.post(f"/api/v1/plays/{ids['draft']}/preview", headers=headers,
                            json={"as_of": "2026-09-20"}).get_json()
    assert other_day["as_of"] == "2026-09-20" and other_day["starts"] == 2  # renewing in 120 to 91 days
    assert {r["account"] for r in other_day["rows"]} == {"Alpha Poor Renewing", "Alpha Other Poor"}
    assert _counts(console_app, alpha) == before


def test_preview_of_a_definition_sent_and_its_errors(console_app: Any, alpha: Workspace) -> None:
    ids = _plays(console_app, alpha)
    client, headers = console_app.test_client(), bearer(console_app, alpha, "admin")
    url = f"/api/v1/plays/{ids['draft']}/preview"
    document = template("nps-detractor").as_dict()
    document["trigger"] = {"type": "alert", "rule": "usage_drop"}
    tried = client.post(url, headers=headers, json={"definition": document}).get_json()
    assert tried["starts"] == 5 and tried["trigger"]["data"]["rule"] == "usage_drop"
    broken = {**document, "steps": [{"type": "task", "due_days": -3}]}
    for body, reason in (({"definition": broken}, "invalid play definition: steps.0."),
                         ({"as_of": "30/11/2026"}, "as_of must be a date"),
                         ({"limit": 0}, "limit must be a whole number from 1 to 200"),
                         ({"colour": "red"}, "unknown field(s): colour"),
                         ([1, 2], "the body must be a JSON object")):
        answer = client.post(url, headers=headers, json=body)
        assert answer.status_code == 400 and reason in answer.get_json()["error"], (body, answer.get_json())
    text = client.post(url, headers=headers, data="as_of=2026-11-30")
    assert text.status_code == 400 and "send a JSON object" in text.get_json()["error"]


@pytest.mark.parametrize(("path", "status", "reason"), [
    ("/api/v1/plays?state=asleep", 400, "state must be one of draft, live, paused, off"),
    ("/api/v1/plays?limit=500", 400, "limit must be a whole number from 1 to 200"),
    ("/api/v1/plays?cursor=zzz", 400, "cursor is not one this server gave"),
    ("/api/v1/plays?colour=red", 400, "unknown query parameter(s): colour"),
    ("/api/v1/plays/999999", 404, "no play 999999 in this workspace"),
    ("/api/v1/plays/999999/runs", 404, "no play 999999 in this workspace"),
    ("/api/v1/plays/{live}/runs?state=sleeping", 400, "state must be one of queued, running"),
    ("/api/v1/plays/{live}/runs?account=abc", 400, "account must be a whole number"),
    ("/api/v1/accounts/999999/plays", 404, "no account 999999 in this workspace"),
])
def test_errors(console_app: Any, alpha: Workspace, path: str, status: int, reason: str) -> None:
    ids = _plays(console_app, alpha)
    answer = _get(console_app, alpha, path.format(**ids))
    assert answer.status_code == status and answer.mimetype == "application/json"
    assert reason in answer.get_json()["error"]


def test_another_workspaces_plays_runs_and_accounts_are_not_found(console_app: Any, alpha: Workspace) -> None:
    ids = _plays(console_app, alpha)
    bravo = seed_workspace(console_app, "bravo", "Bravo")
    client, headers = console_app.test_client(), bearer(console_app, bravo, "admin")
    account_id = alpha.accounts["Alpha Poor Renewing"]
    before = _counts(console_app, alpha)
    for path in (f"/api/v1/plays/{ids['live']}", f"/api/v1/plays/{ids['live']}/runs",
                 f"/api/v1/accounts/{account_id}/plays"):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 404, path
    preview = client.post(f"/api/v1/plays/{ids['live']}/preview", headers=headers)
    assert preview.status_code == 404 and f"no play {ids['live']}" in preview.get_json()["error"]
    assert client.get("/api/v1/plays", headers=headers).get_json() == {"data": [], "next_cursor": None}
    assert client.get("/api/v1/plays").status_code == 401
    assert _counts(console_app, alpha) == before

"""The console's play pages and My day on the seeded workspaces (`tests.console.conftest`): who may do
what, another workspace's ids, the editor keeping bad input with its errors on their lines, a preview
that writes nothing, publishing that starts runs and makes tasks at once, turning off that closes them,
starting by hand, runs filtered and paged, the account's run log, and My day for a CSM and a manager's
team — all as of `WORLD_AS_OF` on a pinned clock."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from extensions import canary_store
from store.models import AuditEvent, Play, PlayRun, PlayVersion, PortfolioList, Task
from sync.lists import evaluate_lists
from sync.plays import create_from_template, create_play, publish
from tests.console.conftest import PASSWORD, Workspace, csrf_of, signed_in_client
from tests.shared import WORLD_AS_OF, pinned_clock

ROLES = ("admin", "manager", "csm", "viewer")


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    with pinned_clock():
        yield


@pytest.fixture
def ready(console_app: Any, two_workspaces: tuple[Workspace, Workspace]) -> tuple[Workspace, Workspace]:
    for ws in two_workspaces:
        assert evaluate_lists(canary_store(console_app), ws.tenant_id, WORLD_AS_OF).installed == 12
    return two_workspaces


def _draft(app: Any, ws: Workspace, key: str = "usage-drop-get-well") -> int:
    with canary_store(app).session(ws.tenant_id) as s:
        return int(create_from_template(s, key, ws.emails["manager"], ws.users["manager"]).id)


def _live_manual(app: Any, ws: Workspace) -> int:
    from plays import load_definition

    with canary_store(app).session(ws.tenant_id) as s:
        play = create_play(s, load_definition({
            "name": "Hand-started check", "trigger": {"type": "manual"},
            "steps": [{"type": "task", "subject": "Check on {account}", "due_days": 1, "assign": {"to": "owner"}},
                      {"type": "wait", "until": "task_done"}]}),
            "seed", None)
        publish(s, play, "seed", None, WORLD_AS_OF)
        return int(play.id)


def _post(client: FlaskClient, path: str, **data: Any) -> Any:
    return client.post(path, data={**data, "csrf_token": csrf_of(client)})


def _follow(client: FlaskClient, answer: Any) -> str:
    assert answer.status_code == 302, answer.get_data(as_text=True)[:500]
    return str(client.get(answer.headers["Location"]).get_data(as_text=True))


def _counts(app: Any, ws: Workspace) -> dict[str, Any]:
    with canary_store(app).session(ws.tenant_id) as s:
        return {"runs": s.scalar(select(func.count()).select_from(PlayRun)),
                "tasks": s.scalar(select(func.count()).select_from(Task)),
                "versions": s.scalar(select(func.count()).select_from(PlayVersion)),
                "audit": s.scalar(select(func.count()).select_from(AuditEvent)),
                "plays": [(p.id, p.state, p.draft, p.version) for p in s.scalars(select(Play).order_by(Play.id))]}


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


# --- permissions and workspaces ---------------------------------------------------------------------------


def test_only_managers_and_admins_change_plays_and_viewers_never_start_one(console_app: Any, ready: Any) -> None:
    a, _ = ready
    draft = _draft(console_app, a)
    manual = _live_manual(console_app, a)
    account = a.accounts["Alpha Poor Later"]
    for role in ROLES:
        client = signed_in_client(console_app, a.emails[role])
        manages = role in ("admin", "manager")
        index = client.get("/plays")
        assert index.status_code == 200
        assert ('data-testid="new-blank-play"' in index.get_data(as_text=True)) is manages, role
        assert client.get(f"/plays/{draft}").status_code == 200
        assert client.get(f"/plays/{draft}/edit").status_code == (200 if manages else 403), role
        if not manages:
            for path, data in ((f"/plays/{draft}/edit", {"definition": "name: x", "action": "save"}),
                               (f"/plays/{draft}/edit", {"definition": "name: x", "action": "preview"}),
                               (f"/plays/{draft}/publish", {}), (f"/plays/{manual}/pause", {}),
                               (f"/plays/{manual}/resume", {}), (f"/plays/{manual}/turn-off", {}),
                               ("/plays/new", {"template": "renewal-120"})):
                answer = _post(client, path, **data)
                assert answer.status_code == 403, (role, path)
                assert "only a manager or an admin" in answer.get_data(as_text=True)
        started = _post(client, f"/plays/{manual}/start", account_id=str(account))
        assert started.status_code == (403 if role == "viewer" else 302), role
    with canary_store(console_app).session(a.tenant_id) as s:
        assert s.scalar(select(func.count()).select_from(Play)) == 2  # nobody without the right made one
        assert s.get(Play, draft).state == "draft" and s.get(Play, manual).state == "live"
        runs = list(s.scalars(select(PlayRun).where(PlayRun.play_id == manual).order_by(PlayRun.id)))
    # admin started it, manager and CSM were skipped (already running by hand), the viewer refused
    assert [(r.account_id, r.state, r.started_by) for r in runs] == [
        (account, "running", a.emails["admin"]), (account, "skipped", a.emails["manager"]),
        (account, "skipped", a.emails["csm"])]


def test_another_workspaces_plays_and_accounts_are_not_found(console_app: Any, ready: Any) -> None:
    a, b = ready
    b_play = _draft(console_app, b)
    a_manual = _live_manual(console_app, a)
    before = _counts(console_app, b)
    manager = signed_in_client(console_app, a.emails["manager"])
    index = manager.get("/plays").get_data(as_text=True)
    assert re.findall(r'<tr data-play-id="(\d+)">', index) == [str(a_manual)]
    for path in (f"/plays/{b_play}", f"/plays/{b_play}/edit"):
        assert manager.get(path).status_code == 404, path
    for path in (f"/plays/{b_play}/publish", f"/plays/{b_play}/pause", f"/plays/{b_play}/turn-off",
                 f"/plays/{b_play}/start"):
        answer = _post(manager, path, account_id=str(b.accounts["Bravo Poor Later"]))
        assert answer.status_code == 404 and "no such play in this workspace" in answer.get_data(as_text=True)
    answer = _post(manager, f"/plays/{b_play}/edit", definition="name: x", action="save")
    assert answer.status_code == 404
    csm = signed_in_client(console_app, a.emails["csm"])
    answer = _post(csm, f"/plays/{a_manual}/start", account_id=str(b.accounts["Bravo Poor Later"]))
    assert answer.status_code == 404 and "no such account in this workspace" in answer.get_data(as_text=True)
    mixed = csm.post(f"/plays/{a_manual}/start", data={"account_id": [str(a.accounts["Alpha Poor Later"]),
                                                                      str(b.accounts["Bravo Poor Later"])],
                                                       "csrf_token": csrf_of(csm)})
    assert mixed.status_code == 404
    assert _counts(console_app, b) == before
    with canary_store(console_app).session(a.tenant_id) as s:
        assert s.scalar(select(func.count()).select_from(PlayRun)) == 0  # the mixed request started nothing
    assert _post(csm, f"/plays/{a_manual}/start", account_id="x1").status_code == 400


# --- creating and editing ---------------------------------------------------------------------------------


def test_a_manager_creates_plays_from_a_template_and_blank_and_each_is_audited(console_app: Any, ready: Any) -> None:
    a, _ = ready
    manager = signed_in_client(console_app, a.emails["manager"])
    index = _text(manager.get("/plays").get_data(as_text=True))
    assert "No plays yet" in index
    for name in ("Onboarding stalled", "Usage drop get-well plan", "Renewal 120-day path", "NPS detractor follow-up"):
        assert name in index
    assert "Trigger: When the alert “usage drop” is raised" in index
    assert "Task “Find out why usage dropped at {account}” due in 2 day(s), high priority, to owner" in index
    assert "120 days before the renewal date (caught up for 30 days)" in index
    assert index.count("Use this play") == 9

    answer = _post(manager, "/plays/new", template="renewal-120")
    editor = _follow(manager, answer)
    assert "Draft created." in editor and "name: Renewal 120-day path" in html.unescape(editor)
    blank = _follow(manager, _post(manager, "/plays/new"))
    assert "name: New play" in html.unescape(blank) and "trigger: {&#34;type&#34;: &#34;manual&#34;}" in blank
    unknown = _follow(manager, _post(manager, "/plays/new", template="nope"))
    assert "There is no play template “nope”." in unknown
    with canary_store(console_app).session(a.tenant_id) as s:
        plays = [(p.name, p.state, p.template, p.created_by_user_id) for p in s.scalars(select(Play).order_by(Play.id))]
        audit = list(s.execute(select(AuditEvent.action, AuditEvent.actor).where(AuditEvent.action == "play.created")))
    assert plays == [("Renewal 120-day path", "draft", "renewal-120", a.users["manager"]),
                     ("New play", "draft", None, a.users["manager"])]
    assert audit == [("play.created", a.emails["manager"])] * 2
    listed = manager.get("/plays").get_data(as_text=True)
    states = re.findall(r'<tr data-play-id="\d+">.*?<a [^>]*>([^<]+)</a>.*?data-testid="state">([^<]+)<.*?'
                        r'data-testid="trigger">([^<]+)<', listed, re.DOTALL)
    assert states == [("New play", "Draft", "Only when someone starts it by hand"),
                      ("Renewal 120-day path", "Draft", "120 days before the renewal date (caught up for 30 days)")]


def test_a_bad_definition_keeps_what_was_typed_and_says_which_line_is_wrong(console_app: Any, ready: Any) -> None:
    a, _ = ready
    play_id = _draft(console_app, a)
    manager = signed_in_client(console_app, a.emails["manager"])
    before = _counts(console_app, a)
    typed = ("name: Usage drop <b>plan</b>\n"
             "trigger: {type: alert, rule: no_such_rule}\n"
             "steps:\n"
             "  - {type: task, subject: \"Call {account}\", due_days: 2}\n"
             "  - {type: task, subject: Then again, due_days: -4, priority: urgent}\n")
    for action in ("save", "preview"):
        answer = _post(manager, f"/plays/{play_id}/edit", definition=typed, action=action)
        assert answer.status_code == 400
        page = answer.get_data(as_text=True)
        textarea = re.search(r'<textarea name="definition"[^>]*>(.*?)</textarea>', page, re.DOTALL)
        assert textarea is not None and html.unescape(textarea.group(1)) == typed  # nothing typed is lost
        assert "<b>plan</b>" not in page  # escaped, not markup
        errors = [_text(e).strip() for e in re.findall(r'<li data-testid="error">(.*?)</li>', page, re.DOTALL)]
        assert "line 2 trigger.rule: unknown alert rule; known: " in errors[-1] or any(
            e.startswith("line 2 trigger.rule:") for e in errors), errors
        assert any(e.startswith("line 5 steps.1.due_days:") for e in errors), errors
        assert any(e.startswith("line 5 steps.1.priority:") for e in errors), errors
        assert 'data-testid="preview-result"' not in page
    not_yaml = _post(manager, f"/plays/{play_id}/edit", definition="name: [unclosed\nsteps: {", action="save")
    assert not_yaml.status_code == 400
    assert "not valid YAML or JSON (line " in _text(not_yaml.get_data(as_text=True))
    assert _counts(console_app, a) == before


def test_saving_a_draft_keeps_the_published_version_until_publish(console_app: Any, ready: Any) -> None:
    a, _ = ready
    play_id = _draft(console_app, a, "renewal-120")
    manager = signed_in_client(console_app, a.emails["manager"])
    text = html.unescape(re.search(r'<textarea name="definition"[^>]*>(.*?)</textarea>',
                                   manager.get(f"/plays/{play_id}/edit").get_data(as_text=True), re.DOTALL).group(1))
    changed = text.replace("name: Renewal 120-day path", "name: Renewal path (ours)")
    page = _follow(manager, _post(manager, f"/plays/{play_id}/edit", definition=changed, action="save"))
    assert "Draft saved." in page
    with canary_store(console_app).session(a.tenant_id) as s:
        play = s.get(Play, play_id)
        assert play.draft["name"] == "Renewal path (ours)" and play.version is None
        saved = select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "play.draft_saved")
        assert s.scalar(saved) == 1


# --- preview, publish, turn off ---------------------------------------------------------------------------


def test_a_preview_shows_who_would_start_and_writes_nothing(console_app: Any, ready: Any) -> None:
    a, _ = ready
    play_id = _draft(console_app, a)
    manager = signed_in_client(console_app, a.emails["manager"])
    text = html.unescape(re.search(r'<textarea name="definition"[^>]*>(.*?)</textarea>',
                                   manager.get(f"/plays/{play_id}/edit").get_data(as_text=True), re.DOTALL).group(1))
    before = _counts(console_app, a)
    answer = _post(manager, f"/plays/{play_id}/edit", definition=text, action="preview")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert _counts(console_app, a) == before  # no run, task, version, audit line or draft change
    words = _text(page)
    assert "5 would start · 0 would be skipped · 5 tasks at once" in words
    rows = re.findall(r'<tr data-account-id="(\d+)">', page)
    assert sorted(map(int, rows)) == sorted(a.accounts.values())
    assert "Find out why usage dropped at Alpha Poor Renewing" in words
    assert f"for {a.emails['csm']} · due {(WORLD_AS_OF + dt.timedelta(days=2)).isoformat()} · high" in words
    assert f"for {a.emails['csm2']} · due" in words  # Alpha Other Poor is csm2's
    assert "Then: Wait until the previous task is done → Task “Agree a get-well plan" in words
    # the typed text stays in the editor
    assert html.unescape(re.search(r'<textarea name="definition"[^>]*>(.*?)</textarea>', page, re.DOTALL).group(1)) \
        == text


def test_a_preview_of_a_missing_list_says_so(console_app: Any, ready: Any) -> None:
    a, _ = ready
    play_id = _draft(console_app, a, "upsell-ready")
    manager = signed_in_client(console_app, a.emails["manager"])
    typed = ("name: Upsell\ntrigger: {type: list_entered, list: no-such-list}\nsteps:\n"
             "  - {type: task, subject: \"Talk to {account}\", due_days: 3}\n")
    page = _post(manager, f"/plays/{play_id}/edit", definition=typed, action="preview").get_data(as_text=True)
    assert "trigger.list: no list &#39;no-such-list&#39; in this workspace" in page or \
        "trigger.list: no list 'no-such-list' in this workspace" in html.unescape(page)
    assert 'data-testid="preview-starts"><strong>0</strong>' in page


def test_publishing_starts_runs_and_makes_tasks_and_turning_off_closes_them(console_app: Any, ready: Any) -> None:
    a, _ = ready
    play_id = _draft(console_app, a)
    manager = signed_in_client(console_app, a.emails["manager"])
    page = _follow(manager, _post(manager, f"/plays/{play_id}/publish"))
    assert (f"Published version 1: started 5 runs, created 5 tasks (as of {WORLD_AS_OF.isoformat()})."
            in html.unescape(page))
    with canary_store(console_app).session(a.tenant_id) as s:
        play = s.get(Play, play_id)
        assert (play.state, play.version, play.draft) == ("live", 1, None)
        runs = list(s.scalars(select(PlayRun).where(PlayRun.play_id == play_id)))
        tasks = list(s.scalars(select(Task).where(Task.source == "play").order_by(Task.account_id)))
        assert {r.state for r in runs} == {"running"} and len(runs) == 5
        assert {t.title for t in tasks} == {f"Find out why usage dropped at {n}" for n in a.accounts}
        mine = [t for t in tasks if t.account_id == a.accounts["Alpha Poor Renewing"]]
        assert mine[0].assignee_user_id == a.users["csm"] and mine[0].due_date == WORLD_AS_OF + dt.timedelta(days=2)
        assert s.scalar(select(AuditEvent.actor).where(AuditEvent.action == "play.published")) == a.emails["manager"]
    words = _text(page)
    assert "Usage drop get-well plan Live" in words and "5 running · 5 open tasks" in words
    assert words.count("waiting for the previous task to be done") == 5
    index = manager.get("/plays").get_data(as_text=True)
    row = re.search(rf'<tr data-play-id="{play_id}">(.*?)</tr>', index, re.DOTALL).group(1)
    assert "5 running" in row and re.search(r'data-testid="open-tasks">5<', row)

    confirm = _text(page)
    assert "closes its 5 running runs and their 5 open tasks" in confirm
    off = _follow(manager, _post(manager, f"/plays/{play_id}/turn-off"))
    assert "Turned off: 5 running runs closed with 5 open tasks." in off
    with canary_store(console_app).session(a.tenant_id) as s:
        assert {t.status for t in s.scalars(select(Task).where(Task.source == "play"))} == {"done"}
        reasons = {t.closed_reason for t in s.scalars(select(Task).where(Task.source == "play"))}
        assert reasons == {f"Closed by play “Usage drop get-well plan”: play turned off by {a.emails['manager']}"}
        assert {r.state for r in s.scalars(select(PlayRun))} == {"closed"}
        assert s.get(Play, play_id).state == "off"
    again = _follow(manager, _post(manager, f"/plays/{play_id}/turn-off"))
    assert "the play is already off" in again
    assert "Turn on again" in again and 'data-testid="edit-play"' not in again


def test_pause_resume_and_wrong_states_say_why(console_app: Any, ready: Any) -> None:
    a, _ = ready
    play_id = _draft(console_app, a)
    admin = signed_in_client(console_app, a.emails["admin"])
    refused = _follow(admin, _post(admin, f"/plays/{play_id}/pause"))
    assert "only a live play can be paused (this one is draft)" in refused
    _follow(admin, _post(admin, f"/plays/{play_id}/publish"))
    assert "nothing to publish" in _follow(admin, _post(admin, f"/plays/{play_id}/publish"))
    paused = _follow(admin, _post(admin, f"/plays/{play_id}/pause"))
    assert "Paused: nothing new starts" in paused and 'data-testid="play-state">Paused<' in paused
    assert "Resumed: the play is live again." in _follow(admin, _post(admin, f"/plays/{play_id}/resume"))
    with canary_store(console_app).session(a.tenant_id) as s:
        actions = list(s.scalars(select(AuditEvent.action).where(AuditEvent.action.like("play.%"))
                                 .order_by(AuditEvent.id)))
    assert actions == ["play.created", "play.published", "play.paused", "play.resumed"]


def test_republishing_can_move_running_runs_to_the_new_version(console_app: Any, ready: Any) -> None:
    a, _ = ready
    play_id = _draft(console_app, a)
    manager = signed_in_client(console_app, a.emails["manager"])
    _follow(manager, _post(manager, f"/plays/{play_id}/publish"))
    editor = manager.get(f"/plays/{play_id}/edit").get_data(as_text=True)
    text = html.unescape(re.search(r'<textarea name="definition"[^>]*>(.*?)</textarea>', editor, re.DOTALL).group(1))
    _follow(manager, _post(manager, f"/plays/{play_id}/edit", definition=text.replace("due_days\": 5", "due_days\": 4"),
                           action="save"))
    page = _follow(manager, _post(manager, f"/plays/{play_id}/publish", migrate_runs="1"))
    assert "Published version 2: started 0 runs, created 0 tasks" in html.unescape(page)
    with canary_store(console_app).session(a.tenant_id) as s:
        assert {r.version for r in s.scalars(select(PlayRun))} == {2}
    assert "Version 2 by " + a.emails["manager"] in page and "Version 1 by" in page


# --- start by hand, runs, account ---------------------------------------------------------------------------


def test_a_csm_starts_a_play_by_hand_on_a_chosen_account(console_app: Any, ready: Any) -> None:
    a, _ = ready
    play_id = _live_manual(console_app, a)
    csm = signed_in_client(console_app, a.emails["csm"])
    page = csm.get(f"/plays/{play_id}?q=poor").get_data(as_text=True)
    choices = re.findall(r'name="account_id" value="(\d+)"> ([^<]+?) <', page)
    assert [n for _, n in choices] == ["Alpha Poor Later", "Alpha Poor Renewing"]  # mine by default
    everyone = csm.get(f"/plays/{play_id}?q=poor&scope=all").get_data(as_text=True)
    assert "Alpha Other Poor" in everyone
    empty = _follow(csm, _post(csm, f"/plays/{play_id}/start"))
    assert "Choose at least one account to start the play on." in empty
    done = _follow(csm, _post(csm, f"/plays/{play_id}/start", account_id=str(a.accounts["Alpha Poor Later"])))
    assert "Started 1 run, created 1 task." in done
    with canary_store(console_app).session(a.tenant_id) as s:
        task = s.scalar(select(Task).where(Task.source == "play"))
        assert task is not None and task.title == "Check on Alpha Poor Later"
        assert task.due_date == WORLD_AS_OF + dt.timedelta(days=1) and task.assignee_user_id == a.users["csm"]
        assert s.scalar(select(AuditEvent.actor).where(AuditEvent.action == "play.started_by_hand")) == a.emails["csm"]
    profile = _text(csm.get(f"/accounts/{a.accounts['Alpha Poor Later']}").get_data(as_text=True))
    assert "Plays on this account" in profile
    assert (f"Hand-started check v1 Running waiting for the previous task to be done {WORLD_AS_OF.isoformat()} "
            f"by {a.emails['csm']}") in profile
    other = _text(csm.get(f"/accounts/{a.accounts['Alpha Good Steady']}").get_data(as_text=True))
    assert "No play has run on this account." in other


def test_runs_filter_by_state_and_page(console_app: Any, ready: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import console.play_data

    a, _ = ready
    play_id = _draft(console_app, a)
    manager = signed_in_client(console_app, a.emails["manager"])
    _follow(manager, _post(manager, f"/plays/{play_id}/publish"))
    with canary_store(console_app).session(a.tenant_id) as s:
        s.scalar(select(PlayRun).where(PlayRun.account_id == a.accounts["Alpha Unowned"])).state = "failed"
    monkeypatch.setattr(console.play_data, "RUNS_PAGE", 2)
    first = manager.get(f"/plays/{play_id}?state=running").get_data(as_text=True)
    ids = [int(x) for x in re.findall(r'<tr data-run-id="(\d+)">', first)]
    assert len(ids) == 2 and ids == sorted(ids, reverse=True)
    seen = list(ids)
    while (link := re.search(r'href="([^"]+)" data-testid="older-runs"', first)) is not None:
        first = manager.get(html.unescape(link.group(1))).get_data(as_text=True)
        seen += [int(x) for x in re.findall(r'<tr data-run-id="(\d+)">', first)]
    assert len(seen) == 4 == len(set(seen))
    failed = manager.get(f"/plays/{play_id}?state=failed").get_data(as_text=True)
    assert re.findall(r'data-testid="run-state">([^<]+)<', failed) == ["Failed"]
    assert "Alpha Unowned" in failed
    bad = manager.get(f"/plays/{play_id}?state=bogus")
    assert bad.status_code == 400 and "state must be one of queued, running" in bad.get_data(as_text=True)
    assert manager.get(f"/plays/{play_id}?before=abc").status_code == 400


# --- My day -----------------------------------------------------------------------------------------------


def _day_tasks(page: str) -> list[tuple[str, str]]:
    return [(_text(t).strip(), _text(acc).strip()) for t, acc in re.findall(
        r'data-testid="task-title">(.*?)</span>\s*<span class="muted small">'
        r'<a [^>]*data-testid="task-account">(.*?)</a>',
        page, re.DOTALL)]


def _section(page: str, testid: str) -> str:
    found = re.search(rf'<section class="card" data-testid="{testid}">(.*?)</section>', page, re.DOTALL)
    assert found is not None, testid
    return found.group(1)


@pytest.fixture
def day_world(console_app: Any, ready: Any) -> Workspace:
    """Besides the seeded tasks (due in 3 days, kept by the owner's e-mail): an overdue and a due-today task
    for the CSM, one for csm2 (not in the manager's team), a task due in 9 days (beyond the week), and the
    CSM following "Renewals in 90 days"."""
    from store.models import PortfolioListFollow

    a, _ = ready
    with canary_store(console_app).session(a.tenant_id) as s:
        s.add_all([
            Task(account_id=a.accounts["Alpha Poor Later"], title="Send the QBR deck", status="open",
                 due_date=WORLD_AS_OF - dt.timedelta(days=2), assignee_user_id=a.users["csm"], priority="high",
                 source="manual"),
            Task(account_id=a.accounts["Alpha Good Steady"], title="Renewal call prep", status="open",
                 due_date=WORLD_AS_OF, assignee_user_id=a.users["csm"], source="manual"),
            Task(account_id=a.accounts["Alpha Other Poor"], title="Other CSM's chore", status="open",
                 due_date=WORLD_AS_OF, assignee_user_id=a.users["csm2"], source="manual"),
            Task(account_id=a.accounts["Alpha Poor Renewing"], title="Far away", status="open",
                 due_date=WORLD_AS_OF + dt.timedelta(days=9), assignee_user_id=a.users["csm"], source="manual"),
        ])
        renewals = s.scalar(select(PortfolioList.id).where(PortfolioList.key == "renewal-90"))
        s.add(PortfolioListFollow(list_id=renewals, user_id=a.users["csm"]))
    return a


def test_my_day_shows_a_csm_their_tasks_alerts_lists_and_plays(console_app: Any, day_world: Workspace) -> None:
    a = day_world
    play_id = _draft(console_app, a)
    manager = signed_in_client(console_app, a.emails["manager"])
    _follow(manager, _post(manager, f"/plays/{play_id}/publish"))
    csm = signed_in_client(console_app, a.emails["csm"])
    page = csm.get("/my-day").get_data(as_text=True)
    assert "Monday 30 November 2026" in page
    due = _section(page, "due-tasks")
    assert _day_tasks(due) == [("High Send the QBR deck", "Alpha Poor Later"),
                               ("Renewal call prep", "Alpha Good Steady")]
    assert "overdue 2 days" in _text(due) and "due today" in _text(due)
    upcoming = _day_tasks(_section(page, "upcoming-tasks"))
    with canary_store(console_app).session(a.tenant_id) as s:
        theirs = s.execute(select(Task.title, Task.priority, Task.due_date, Task.account_id).where(
            Task.status == "open", (Task.assignee_user_id == a.users["csm"])
            | (Task.assignee_user_id.is_(None) & (Task.owner == a.emails["csm"])),
            Task.due_date > WORLD_AS_OF, Task.due_date <= WORLD_AS_OF + dt.timedelta(days=7))).all()
    names = {v: k for k, v in a.accounts.items()}
    assert len(theirs) >= 6  # three play tasks due in 2 days and the three seeded calls due in 3
    assert upcoming == [(("High " if p == "high" else "") + title, names[acc]) for title, p, _, acc in
                        sorted(theirs, key=lambda r: (r[2], r[1] != "high"))] or sorted(upcoming) == sorted(
        (("High " if p == "high" else "") + title, names[acc]) for title, p, _, acc in theirs)
    due_days = re.findall(r"due (\w{3} \d\d \w{3})", _text(_section(page, "upcoming-tasks")))
    assert due_days == sorted(due_days, key=lambda d: dt.datetime.strptime(d + " 2026", "%a %d %b %Y"))
    assert "Far away" not in page and "Other CSM's chore" not in page
    alerts = _text(_section(page, "new-alerts"))
    assert f"Raised since {WORLD_AS_OF.isoformat()}" in alerts
    assert sorted(re.findall(r"Usage dropped at (Alpha [A-Za-z ]+?) \d{4}-", alerts)) == [
        "Alpha Good Steady", "Alpha Poor Later", "Alpha Poor Renewing"]
    lists = _text(_section(page, "followed-lists"))
    assert "Renewals in 90 days +2 −0" in lists and "Alpha Other Poor" not in lists
    runs = _text(_section(page, "running-plays"))
    assert runs.count("Usage drop get-well plan on") == 3 and "Alpha Other Poor" not in runs
    assert 'data-testid="view-team"' not in page
    assert csm.get("/my-day?view=team").status_code == 400

    task_id = re.search(r'data-task-id="(\d+)"', due).group(1)
    answer = csm.post(f"/tasks/{task_id}/done", data={"next": "/my-day", "csrf_token": csrf_of(csm)})
    assert answer.status_code == 302 and answer.headers["Location"] == "/my-day"
    after = _section(csm.get("/my-day").get_data(as_text=True), "due-tasks")
    assert _day_tasks(after) == [("Renewal call prep", "Alpha Good Steady")]


def test_a_manager_sees_the_teams_day_with_each_tasks_assignee(console_app: Any, day_world: Workspace) -> None:
    a = day_world
    manager = signed_in_client(console_app, a.emails["manager"])
    own = manager.get("/my-day").get_data(as_text=True)
    assert 'data-testid="view-team"' in own and "Nothing due today." in own
    team = manager.get("/my-day?view=team").get_data(as_text=True)
    assert "My team's day Monday 30 November 2026 · Alpha Csm" in _text(team)
    due = _section(team, "due-tasks")
    assert _day_tasks(due) == [("High Send the QBR deck", "Alpha Poor Later"),
                               ("Renewal call prep", "Alpha Good Steady")]
    assert re.findall(r'data-testid="task-assignee">([^<]+)<', due) == ["Alpha Csm", "Alpha Csm"]
    upcoming = _section(team, "upcoming-tasks")
    assert set(re.findall(r'data-testid="task-assignee">([^<]+)<', upcoming)) == {"Alpha Csm"}
    assert "Other CSM's chore" not in team and "Call Alpha Other Poor" not in team  # csm2 is not in the team
    viewer = signed_in_client(console_app, a.emails["viewer"])
    quiet = viewer.get("/my-day").get_data(as_text=True)
    assert 'data-testid="done"' not in quiet and 'data-testid="view-team"' not in quiet


def test_my_day_and_plays_need_a_session(console_app: Any, ready: Any) -> None:
    client = console_app.test_client()
    for path in ("/my-day", "/plays", "/plays/1", "/plays/1/edit"):
        answer = client.get(path)
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/sign-in"), path


def test_csms_and_managers_land_on_my_day_and_the_others_on_the_portfolio(console_app: Any, ready: Any) -> None:
    from tests.console.conftest import sign_in

    a, _ = ready
    for role, landing in (("csm", "/my-day"), ("manager", "/my-day"), ("admin", "/accounts"), ("viewer", "/accounts")):
        answer = sign_in(console_app.test_client(), a.emails[role])
        assert answer.status_code == 302 and answer.headers["Location"] == landing, role
    client = console_app.test_client()
    kept = client.post("/sign-in?next=/plays", data={"email": a.emails["csm"], "password": PASSWORD,
                                                     "csrf_token": csrf_of(client)})
    assert kept.headers["Location"] == "/plays"

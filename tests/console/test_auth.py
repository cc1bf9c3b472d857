"""Sign-in safe on the internet: sessions, CSRF, rate limits, roles, resets."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from console.auth import Passwords, SignInLimiter, SignInWiring, passwords, sign_in_limiter
from console.people import PeopleError, issue_reset_token, redeem_reset_token
from extensions import canary_store
from store.models import AuditEvent, SignInFailure, Task, User
from tests.console.conftest import PASSWORD, Workspace, csrf_of, sign_in, signed_in_client

CONSOLE_PAGES = ["/accounts", "/accounts/1", "/accounts?band=poor", "/product-users/1", "/connections",
                 "/admin/users", "/admin/audit", "/accounts?format=csv"]


@pytest.mark.parametrize("path", CONSOLE_PAGES)
def test_no_session_redirects_to_sign_in(console_app: Any, path: str) -> None:
    answer = console_app.test_client().get(path)
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/sign-in?next=")


@pytest.mark.parametrize("path", ["/api/v1/accounts", "/api/v1/accounts/1", "/api/v1/alerts", "/api/v1/tasks",
                                  "/api/v1/users", "/api/v1/lookup/hubspot/1"])
def test_no_token_is_401_json(console_app: Any, path: str) -> None:
    answer = console_app.test_client().get(path)
    assert answer.status_code == 401
    assert "API token" in answer.get_json()["error"]
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_start_and_sign_in_pages_are_public(console_app: Any) -> None:
    client = console_app.test_client()
    assert client.get("/").status_code == 200
    page = client.get("/sign-in")
    assert page.status_code == 200 and 'name="csrf_token"' in page.get_data(as_text=True)


def test_sign_in_rotates_the_session_and_sets_safe_cookie_flags(console_app: Any,
                                                                two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, _ = two_workspaces
    client = console_app.test_client()
    before = csrf_of(client)
    answer = sign_in(client, a.emails["csm"])
    assert answer.status_code == 302 and answer.headers["Location"] == "/my-day"  # a CSM lands on My day
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie  # COOKIE_SECURE=False
    with client.session_transaction() as session:
        assert session["uid"] == a.users["csm"] and session["tid"] == a.tenant_id
        assert session["csrf"] != before and len(session["sid"]) >= 16
    assert client.get("/accounts").status_code == 200


@pytest.mark.parametrize(("public_url", "setting", "secure"), [
    ("https://canary.example.com", None, True),
    ("http://127.0.0.1:5000", None, False),
    ("https://canary.example.com", False, False),
])
def test_secure_cookie_follows_public_url(app_factory: Any, public_url: str, setting: bool | None,
                                          secure: bool) -> None:
    app = app_factory(PUBLIC_URL=public_url, COOKIE_SECURE=setting)
    assert app.config["SESSION_COOKIE_SECURE"] is secure
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True and app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_idle_session_ends(console_app: Any, two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, _ = two_workspaces
    client = signed_in_client(console_app, a.emails["csm"])
    with client.session_transaction() as session:
        session["seen"] = session["seen"] - 31 * 60  # SESSION_IDLE_MINUTES is 30
    answer = client.get("/accounts")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/sign-in")


def test_a_password_reset_ends_every_session(console_app: Any, two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, _ = two_workspaces
    client = signed_in_client(console_app, a.emails["csm"])
    store = canary_store(console_app)
    now = dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)
    with store.session(a.tenant_id) as s:
        user = s.get(User, a.users["csm"])
        token = issue_reset_token(s, user, now)
    with store.session(a.tenant_id) as s:
        redeem_reset_token(s, token, "a brand new password!", passwords(console_app), now)
    assert client.get("/accounts").status_code == 302
    assert sign_in(console_app.test_client(), a.emails["csm"]).status_code == 401
    assert sign_in(console_app.test_client(), a.emails["csm"], "a brand new password!").status_code == 302


def test_reset_token_is_single_use_stored_hashed_and_expires(console_app: Any,
                                                             two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, _ = two_workspaces
    store, hasher = canary_store(console_app), passwords(console_app)
    now = dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)
    with store.session(a.tenant_id) as s:
        token = issue_reset_token(s, s.get(User, a.users["viewer"]), now, minutes=60)
        late = issue_reset_token(s, s.get(User, a.users["csm2"]), now, minutes=60)
    from store.models import PasswordResetToken

    with store.session(a.tenant_id) as s:
        stored = [r.token_hash for r in s.scalars(select(PasswordResetToken))]
        assert token not in stored and late not in stored and len(stored) == 2
    with store.session(a.tenant_id) as s, pytest.raises(PeopleError, match="expired"):
        redeem_reset_token(s, late, "long enough password", hasher, now + dt.timedelta(minutes=61))
    with store.session(a.tenant_id) as s:
        redeem_reset_token(s, token, "long enough password", hasher, now + dt.timedelta(minutes=59))
    with store.session(a.tenant_id) as s, pytest.raises(PeopleError, match="already used"):
        redeem_reset_token(s, token, "another long password", hasher, now + dt.timedelta(minutes=59))
    with store.session(a.tenant_id) as s, pytest.raises(PeopleError, match="12 characters"):
        redeem_reset_token(s, issue_reset_token(s, s.get(User, a.users["viewer"]), now), "short", hasher, now)


# --- CSRF ----------------------------------------------------------------------------------------


def test_post_without_csrf_token_is_refused(console_app: Any, two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, _ = two_workspaces
    client = signed_in_client(console_app, a.emails["admin"])
    store = canary_store(console_app)
    task_id = a.tasks[0]
    for path, data in ((f"/tasks/{task_id}/done", {}), (f"/admin/users/{a.users['viewer']}/role", {"role": "admin"}),
                       ("/sign-out", {})):
        for token in (None, "not-the-token"):
            answer = client.post(path, data={**data, **({"csrf_token": token} if token else {})})
            assert answer.status_code == 403, path
            assert "CSRF" in answer.get_data(as_text=True)
    with store.session(a.tenant_id) as s:
        assert s.get(Task, task_id).status == "open"
        assert s.get(User, a.users["viewer"]).role == "viewer"
    assert client.get("/accounts").status_code == 200  # sign-out without a token did not sign out
    done = client.post(f"/tasks/{task_id}/done", data={"csrf_token": csrf_of(client)})
    assert done.status_code == 302
    with store.session(a.tenant_id) as s:
        task = s.get(Task, task_id)
        assert task.status == "done" and task.completed_at is not None  # when: what the CRMs' copies close with
        assert s.scalar(select(AuditEvent.action).where(AuditEvent.target == f"task {task_id}")) == "task.done"


def test_sign_in_post_needs_the_csrf_token_too(console_app: Any, two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, _ = two_workspaces
    answer = console_app.test_client().post("/sign-in", data={"email": a.emails["csm"], "password": PASSWORD})
    assert answer.status_code == 403


# --- roles ---------------------------------------------------------------------------------------


def test_a_viewer_cannot_change_anything(console_app: Any, two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, _ = two_workspaces
    client = signed_in_client(console_app, a.emails["viewer"])
    store = canary_store(console_app)
    token = csrf_of(client)
    with store.session(a.tenant_id) as s:
        audit_before = s.scalar(select(func.count()).select_from(AuditEvent))
    for path, data in ((f"/tasks/{a.tasks[0]}/done", {}), (f"/admin/users/{a.users['viewer']}/role", {"role": "admin"}),
                       (f"/admin/users/{a.users['csm']}/role", {"role": "viewer"}), ("/connections/hubspot/sync", {})):
        answer = client.post(path, data={**data, "csrf_token": token})
        assert answer.status_code == 403, path
    page = client.get(f"/accounts/{a.accounts['Alpha Poor Renewing']}").get_data(as_text=True)
    assert "Call Alpha Poor Renewing" in page and ">Done<" not in page  # no button for a viewer
    assert "Sync now" not in client.get("/connections").get_data(as_text=True)
    with store.session(a.tenant_id) as s:
        assert {t.status for t in s.scalars(select(Task))} == {"open"}
        assert s.get(User, a.users["viewer"]).role == "viewer" and s.get(User, a.users["csm"]).role == "csm"
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == audit_before


def test_admin_pages_are_for_admins_only(console_app: Any, two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, _ = two_workspaces
    for role in ("manager", "csm", "viewer"):
        client = signed_in_client(console_app, a.emails[role])
        assert client.get("/admin/users").status_code == 403
        assert client.get("/admin/audit").status_code == 403


def test_admin_changes_a_role_and_the_audit_log_shows_it(console_app: Any,
                                                          two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, _ = two_workspaces
    client = signed_in_client(console_app, a.emails["admin"])
    answer = client.post(f"/admin/users/{a.users['viewer']}/role", data={"role": "csm", "csrf_token": csrf_of(client)})
    assert answer.status_code == 302
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "user.role" in page and a.emails["viewer"] in page and "before: viewer; after: csm" in page
    last = client.post(f"/admin/users/{a.users['admin']}/role", data={"role": "csm", "csrf_token": csrf_of(client)})
    assert "at least one admin" in client.get(last.headers["Location"]).get_data(as_text=True)


# --- rate limits ---------------------------------------------------------------------------------


class CountingPasswords(Passwords):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_kib=1024, parallelism=1)
        self.verified = 0

    def verify(self, stored: str | None, password: str) -> bool:
        self.verified += 1
        return super().verify(stored, password)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now


def test_the_tenth_wrong_password_within_a_minute_is_refused_without_checking_it(
        console_app: Any, two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, _ = two_workspaces
    counting, clock = CountingPasswords(), FakeClock()
    limiter: SignInLimiter = sign_in_limiter(console_app)
    console_app.extensions["canary.sign_in"] = SignInWiring(counting, limiter)  # type: ignore[arg-type]
    limiter.clock = clock
    client = console_app.test_client()
    for attempt in range(1, 10):
        clock.now += 5
        answer = sign_in(client, a.emails["csm"], f"wrong guess {attempt}")
        assert answer.status_code == 401 and "not right" in answer.get_data(as_text=True)
        assert counting.verified == attempt
    clock.now += 5  # 50 s after the first failure
    tenth = sign_in(client, a.emails["csm"], PASSWORD)  # even the right password
    assert tenth.status_code == 401 and "Too many failed sign-ins" in tenth.get_data(as_text=True)
    assert counting.verified == 9  # the hash was not even computed
    clock.now += 60  # the window has moved past the first failures
    assert sign_in(client, a.emails["csm"], PASSWORD).status_code == 302
    assert counting.verified == 10


def test_the_limit_counts_per_address_across_accounts(console_app: Any,
                                                      two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, b = two_workspaces
    counting = CountingPasswords()
    console_app.extensions["canary.sign_in"] = SignInWiring(counting, sign_in_limiter(console_app))  # type: ignore[arg-type]
    client = console_app.test_client()
    emails = list(a.emails.values()) + list(b.emails.values())
    for i in range(9):
        assert sign_in(client, emails[i], "wrong").status_code == 401
    assert counting.verified == 9
    refused = sign_in(client, emails[9], PASSWORD)
    assert refused.status_code == 401 and counting.verified == 9
    other_address = console_app.test_client()
    answer = other_address.post("/sign-in", data={"email": emails[9], "password": PASSWORD,
                                                  "csrf_token": csrf_of(other_address)},
                                environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert answer.status_code == 302
    store = canary_store(console_app)
    with store.session() as s:
        keys = list(s.scalars(select(SignInFailure.key_hash)))
    assert len(keys) == 18 and not any("@" in k or "127.0.0.1" in k for k in keys)


def test_unknown_address_costs_the_same_work(console_app: Any, two_workspaces: tuple[Workspace, Workspace]) -> None:
    counting = CountingPasswords()
    console_app.extensions["canary.sign_in"] = SignInWiring(counting, sign_in_limiter(console_app))  # type: ignore[arg-type]
    answer = sign_in(console_app.test_client(), "nobody@nowhere.example", PASSWORD)
    assert answer.status_code == 401 and "not right" in answer.get_data(as_text=True)
    assert counting.verified == 1


def test_an_address_in_two_workspaces_needs_the_workspace(console_app: Any,
                                                          two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, b = two_workspaces
    store, hasher = canary_store(console_app), passwords(console_app)
    from console.people import add_user

    with store.session(b.tenant_id) as s:
        add_user(s, a.emails["csm"], "viewer", password=PASSWORD, hasher=hasher)
    client = console_app.test_client()
    ambiguous = sign_in(client, a.emails["csm"])
    assert ambiguous.status_code == 401 and "several workspaces" in ambiguous.get_data(as_text=True)
    assert sign_in(client, a.emails["csm"], workspace="bravo").status_code == 302
    with client.session_transaction() as session:
        assert session["tid"] == b.tenant_id


def test_next_parameter_cannot_leave_the_site(console_app: Any, two_workspaces: tuple[Workspace, Workspace]) -> None:
    a, _ = two_workspaces
    client = console_app.test_client()
    answer = client.post("/sign-in?next=//evil.example/x", data={"email": a.emails["csm"], "password": PASSWORD,
                                                                  "csrf_token": csrf_of(client)})
    assert answer.headers["Location"] == "/my-day"

"""Marketplace installs against the sandbox's OAuth servers: the whole flow, its refusals, token rotation."""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select

import widgets.install as install_module
from extensions import canary_store, credential_cipher
from integrations.errors import AuthError
from integrations.oauth import InvalidGrant, client_from_config, refresh_tokens
from integrations.registry import vendor as vendor_of
from sandbox.oauth import install_config
from sandbox.server import Sandbox
from store.models import AuditEvent, Connection, Tenant
from sync.connections import TenantAdapters, build_adapter
from sync.tokens import rotate_connection_tokens
from tests.conftest import TEST_SECRET

PUBLIC = "http://localhost"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(accounts=4, seed=11, as_of=date(2026, 11, 20)) as running:
        yield running


@pytest.fixture
def make_app(app_factory: Any, sandbox: Sandbox) -> Any:
    def build(**overrides: Any) -> Any:
        config = {**install_config(sandbox, PUBLIC), **overrides}
        app = app_factory(PUBLIC_URL=PUBLIC, **config)
        if "install" not in app.blueprints:  # until app.create_app registers it
            app.register_blueprint(install_module.install)
        return app

    return build


@pytest.fixture
def install_app(make_app: Any) -> Any:
    return make_app()


def _vendor_session(sandbox: Sandbox) -> requests.Session:
    """The admin's browser at the vendor: trusts the sandbox certificate, ignores proxies."""
    session = requests.Session()
    session.trust_env = False
    assert sandbox.tls is not None
    session.verify = sandbox.tls.cert_path
    return session


def _consent(client: Any, sandbox: Sandbox, vendor: str, **query: str) -> str:
    """Start the install and let the vendor consent; returns the callback path with its query."""
    started = client.get(f"/install/{vendor}", query_string=query)
    assert started.status_code == 302, started.get_data(as_text=True)
    cookie = started.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/install/" in cookie
    authorize = urlsplit(started.headers["Location"])
    params = parse_qs(authorize.query)
    assert params["code_challenge_method"] == ["S256"] and params["redirect_uri"] == [
        f"{PUBLIC}/install/{vendor}/callback"]
    consent = _vendor_session(sandbox).get(started.headers["Location"], allow_redirects=False)
    assert consent.status_code == 302
    back = urlsplit(consent.headers["Location"])
    assert back.path == f"/install/{vendor}/callback"
    return f"{back.path}?{back.query}"


def _install(client: Any, sandbox: Sandbox, vendor: str) -> Any:
    query = {"subdomain": "canary-sandbox"} if vendor == "zendesk" else {}
    return client.get(_consent(client, sandbox, vendor, **query))


def _rows(app: Any) -> tuple[int, int]:
    with canary_store(app).session() as session:
        return (session.scalar(select(func.count()).select_from(Tenant)) or 0,
                session.scalar(select(func.count()).select_from(Connection)) or 0)


def _connection(app: Any, vendor: str) -> tuple[Connection, dict[str, Any]]:
    with canary_store(app).session() as session:
        conn = session.scalars(select(Connection).where(Connection.system == vendor)).one()
        return conn, credential_cipher(app).load(conn)


@pytest.mark.parametrize(("vendor", "account_ref", "slug"), [
    ("zendesk", "canary-sandbox", "canary-sandbox"),
    ("hubspot", "24681357", "hub-24681357"),
    ("salesforce", "00D5g000004CnryEAC", "sf-00d5g000004cnryeac"),
])
def test_full_install_creates_a_tenant_and_a_usable_encrypted_connection(
        install_app: Any, sandbox: Sandbox, vendor: str, account_ref: str, slug: str) -> None:
    client = install_app.test_client()
    answer = _install(client, sandbox, vendor)
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200, page
    assert "Canary is installed" in page and slug in page
    assert "canary_install=;" in answer.headers["Set-Cookie"]  # the flow cookie is gone
    conn, credentials = _connection(install_app, vendor)
    with canary_store(install_app).session() as session:
        tenant = session.get_one(Tenant, conn.tenant_id)
    assert (tenant.slug, conn.account_ref, conn.status) == (slug, account_ref, "active")
    access = credentials["oauth_token" if vendor == "zendesk" else "access_token"]
    assert sandbox.oauth[vendor].accepts(access)
    assert credentials["refresh_token"] in sandbox.oauth[vendor].live_refresh_tokens()
    for secret in (access, credentials["refresh_token"]):
        assert secret.encode() not in conn.credentials_encrypted
        assert secret not in page
    if vendor == "salesforce":
        assert credentials["instance_url"] == sandbox.urls["salesforce"]
    else:
        assert conn.base_url == sandbox.urls[vendor]
    adapter = build_adapter(vendor, credentials, conn.base_url)
    adapter.check_connection()  # raises AuthError if the emulator refused the installed token


def test_reinstall_updates_the_same_tenant_and_keeps_other_keys(install_app: Any, sandbox: Sandbox) -> None:
    client = install_app.test_client()
    assert _install(client, sandbox, "zendesk").status_code == 200
    conn, first = _connection(install_app, "zendesk")
    with canary_store(install_app).session() as session:
        stored = session.get_one(Connection, conn.id)
        credential_cipher(install_app).store(stored, {**first, "app_public_key": "PEM"})
    again = _install(client, sandbox, "zendesk")
    assert again.status_code == 200 and "renewed" in again.get_data(as_text=True)
    conn2, second = _connection(install_app, "zendesk")
    assert _rows(install_app) == (1, 1)
    assert conn2.id == conn.id and conn2.tenant_id == conn.tenant_id
    assert second["oauth_token"] != first["oauth_token"]
    assert second["app_public_key"] == "PEM"
    with canary_store(install_app).session(conn.tenant_id) as session:  # both installs are in the audit log
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    installs = [e for e in events if e.action == "connection.install"]
    assert [(e.action, e.actor, e.target, e.detail["new_workspace"]) for e in installs] == [
        ("connection.install", "Zendesk install", "zendesk", True),
        ("connection.install", "Zendesk install", "zendesk", False)]
    assert "oauth_token" in installs[1].detail["settings"]  # which settings changed, never their values
    hooks = [e.detail for e in events if e.action == "connection.webhooks"]  # registered once, then found
    assert len(hooks) == 2 and hooks[1]["registered"] == hooks[0]["registered"] and len(hooks[0]["registered"]) == 3
    assert (hooks[1]["created"], hooks[1]["problem"]) == (0, None)
    zendesk = sandbox.emulators["zendesk"].hooks
    assert (len(zendesk.webhooks), len(zendesk.triggers)) == (2, 1)  # no duplicates at the vendor
    assert all(second["oauth_token"] not in json.dumps(e.detail) for e in events)


def _flow_cookie(payload: dict[str, Any]) -> str:
    return URLSafeTimedSerializer(TEST_SECRET, salt=install_module.FLOW_SALT).dumps(payload)


@pytest.mark.parametrize(("case", "says"), [
    ("missing cookie", "not started from this browser"),
    ("tampered cookie", "could not be verified"),
    ("state mismatch", "state mismatch"),
    ("other vendor's flow", "state mismatch"),
    ("expired", "expired"),
    ("reused", "already used"),
    ("denied at the vendor", "did not grant access (access_denied)"),
    ("pkce mismatch", "did not accept the authorization (BAD_AUTH_CODE)"),
    ("no code", "sent no authorization code"),
])
def test_bad_callbacks_get_a_400_page_and_nothing_is_stored(
        install_app: Any, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, case: str, says: str) -> None:
    client = install_app.test_client()
    callback = _consent(client, sandbox, "hubspot")
    query = parse_qs(urlsplit(callback).query)
    state = query["state"][0]
    path = "/install/hubspot/callback"
    if case == "missing cookie":
        client.delete_cookie("canary_install", path="/install/")
    elif case == "tampered cookie":
        raw = client.get_cookie("canary_install", path="/install/").value
        client.set_cookie("canary_install", raw[:-3] + "AAA", path="/install/")
    elif case == "state mismatch":
        callback = f"{path}?code={query['code'][0]}&state=someone-elses"
    elif case == "other vendor's flow":
        client.set_cookie("canary_install", _flow_cookie({"v": "zendesk", "s": state, "p": "x", "d": "a"}),
                          path="/install/")
    elif case == "expired":
        monkeypatch.setattr(install_module, "FLOW_MAX_AGE", -1)
    elif case == "reused":
        cookie = client.get_cookie("canary_install", path="/install/").value
        assert client.get(callback).status_code == 200
        client.set_cookie("canary_install", cookie, path="/install/")
    elif case == "denied at the vendor":
        callback = f"{path}?error=access_denied&state={state}"
    elif case == "pkce mismatch":
        client.set_cookie("canary_install", _flow_cookie({"v": "hubspot", "s": state, "p": "w" * 64, "d": None}),
                          path="/install/")
    elif case == "no code":
        callback = f"{path}?state={state}"
    before = _rows(install_app)
    answer = client.get(callback)
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400, page
    assert "Canary was not installed" in page and says in page
    assert "Traceback" not in page
    assert _rows(install_app) == before == ((1, 1) if case == "reused" else (0, 0))


@pytest.mark.parametrize(("overrides", "status", "says"), [
    ({"OAUTH_HUBSPOT_CLIENT_SECRET": "wrong-secret-value"}, 400, "(BAD_CLIENT_ID)"),
    ({"OAUTH_HUBSPOT_TOKEN_URL": "http://127.0.0.1:9/oauth/v1/token"}, 502, "(temporarily_unavailable)"),
])
def test_vendor_errors_are_a_clear_page_without_secrets_in_page_or_log(
        make_app: Any, sandbox: Sandbox, caplog: pytest.LogCaptureFixture, overrides: dict[str, str], status: int,
        says: str) -> None:
    app = make_app(**overrides)
    client = app.test_client()
    caplog.set_level(logging.DEBUG)
    callback = _consent(client, sandbox, "hubspot")
    answer = client.get(callback)
    page = answer.get_data(as_text=True)
    assert answer.status_code == status
    assert says in page
    code = parse_qs(urlsplit(callback).query)["code"][0]
    for secret in (app.config["OAUTH_HUBSPOT_CLIENT_SECRET"], sandbox.oauth["hubspot"].client_secret, code):
        assert secret not in page
        assert secret not in caplog.text
    assert _rows(app) == (0, 0)


def test_install_logs_no_token(install_app: Any, sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = install_app.test_client()
    for vendor in ("zendesk", "salesforce", "hubspot"):
        callback = _consent(client, sandbox, vendor, **({"subdomain": "canary-sandbox"} if vendor == "zendesk" else {}))
        assert client.get(callback).status_code == 200
        _, credentials = _connection(install_app, vendor)
        code = parse_qs(urlsplit(callback).query)["code"][0]
        for secret in (credentials["refresh_token"], credentials.get("oauth_token") or credentials["access_token"],
                       code, sandbox.oauth[vendor].client_secret):
            assert secret not in caplog.text
    assert "installed zendesk for tenant canary-sandbox" in caplog.text


@pytest.mark.parametrize(("path", "status", "says"), [
    ("/install/zendesk", 400, "subdomain"),
    ("/install/zendesk?subdomain=Not%20A%20Subdomain", 400, "subdomain"),
    ("/install/pipedrive", 404, "Salesforce, Zendesk or HubSpot"),
    ("/install/hubspot?installation_id=5", 400, "installation_id is the Zendesk app&#39;s installation number"),
    ("/install/zendesk?subdomain=acme&installation_id=12a", 400, "installation number (digits only)"),
])
def test_start_refusals(install_app: Any, path: str, status: int, says: str) -> None:
    answer = install_app.test_client().get(path)
    assert answer.status_code == status and says in answer.get_data(as_text=True)
    assert "Set-Cookie" not in answer.headers or "canary_install=;" in answer.headers["Set-Cookie"]


def test_unconfigured_vendor_says_which_settings_are_missing(make_app: Any) -> None:
    app = make_app(OAUTH_SALESFORCE_CLIENT_ID=None)
    answer = app.test_client().get("/install/salesforce")
    assert answer.status_code == 503 and "OAUTH_SALESFORCE_CLIENT_ID" in answer.get_data(as_text=True)


# ------------------------------------------------------------------ refresh with rotation


def _installed_zendesk(app: Any, sandbox: Sandbox) -> tuple[int, dict[str, Any]]:
    assert _install(app.test_client(), sandbox, "zendesk").status_code == 200
    conn, credentials = _connection(app, "zendesk")
    return conn.tenant_id, credentials


def _refresher(app: Any) -> Any:
    client = client_from_config("zendesk", app.config, "canary-sandbox")
    return functools.partial(refresh_tokens, client)


def test_rotation_stores_the_new_pair_before_returning_it(install_app: Any, sandbox: Sandbox) -> None:
    tenant_id, before = _installed_zendesk(install_app, sandbox)
    server = sandbox.oauth["zendesk"]
    rotations = server.rotations
    store, cipher = canary_store(install_app), credential_cipher(install_app)
    unchanged = rotate_connection_tokens(store, cipher, tenant_id, "zendesk", _refresher(install_app))
    assert unchanged == before["oauth_token"] and server.rotations == rotations  # still fresh: no refresh
    token = rotate_connection_tokens(store, cipher, tenant_id, "zendesk", _refresher(install_app),
                                     stale_access_token=before["oauth_token"])
    _, after = _connection(install_app, "zendesk")
    assert server.rotations == rotations + 1
    assert token == after["oauth_token"] != before["oauth_token"]
    assert after["refresh_token"] != before["refresh_token"]
    assert server.live_refresh_tokens().count(after["refresh_token"]) == 1
    assert not server.accepts(before["oauth_token"]) and server.accepts(token)
    build_adapter("zendesk", after, install_app.config["OAUTH_ZENDESK_API_URL"]).check_connection()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_concurrent_refreshes_rotate_once_and_both_hold_a_valid_token(
        make_app: Any, sandbox: Sandbox, request: pytest.FixtureRequest, backend: str) -> None:
    url = None
    if backend == "postgresql":
        from tests.pg import create_database

        url = create_database(request.getfixturevalue("postgres_admin_url"))
    app = make_app(**({"DATABASE_URL": url} if url else {}))
    tenant_id, before = _installed_zendesk(app, sandbox)
    server = sandbox.oauth["zendesk"]
    rotations = server.rotations
    store, cipher = canary_store(app), credential_cipher(app)
    inner = _refresher(app)
    barrier = threading.Barrier(2)
    results: list[str] = []
    errors: list[BaseException] = []

    def slow_refresh(refresh_token: str) -> Any:
        answer = inner(refresh_token)
        threading.Event().wait(0.2)  # the vendor has answered; the other caller is waiting on the lock
        return answer

    def caller() -> None:
        try:
            barrier.wait()
            results.append(rotate_connection_tokens(store, cipher, tenant_id, "zendesk", slow_refresh,
                                                    stale_access_token=before["oauth_token"]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    _, after = _connection(app, "zendesk")
    assert server.rotations == rotations + 1
    assert results == [after["oauth_token"]] * 2
    assert server.accepts(after["oauth_token"])
    assert after["refresh_token"] in server.live_refresh_tokens()


def test_a_crash_after_the_vendor_answered_leaves_the_old_pair_whole(install_app: Any, sandbox: Sandbox) -> None:
    tenant_id, before = _installed_zendesk(install_app, sandbox)
    store, cipher = canary_store(install_app), credential_cipher(install_app)
    inner = _refresher(install_app)

    def crash_after_answer(refresh_token: str) -> Any:
        inner(refresh_token)
        raise SystemExit("killed before commit")

    with pytest.raises(SystemExit):
        rotate_connection_tokens(store, cipher, tenant_id, "zendesk", crash_after_answer,
                                 stale_access_token=before["oauth_token"])
    _, stored = _connection(install_app, "zendesk")
    assert (stored["oauth_token"], stored["refresh_token"]) == (before["oauth_token"], before["refresh_token"])
    with pytest.raises(InvalidGrant, match="invalid_grant"):  # Zendesk killed the old pair: reinstall
        rotate_connection_tokens(store, cipher, tenant_id, "zendesk", inner,
                                 stale_access_token=before["oauth_token"])
    _, still = _connection(install_app, "zendesk")
    assert still == stored


# ------------------------------------------------------------------ installed connections stay usable


@contextmanager
def _vendor_clock_ahead(server: Any, seconds: float) -> Iterator[None]:
    """The vendor's clock jumps: every access token it issued before is now expired there."""
    server.clock = lambda: time.time() + seconds
    try:
        yield
    finally:
        server.clock = time.time


def _store_credentials(app: Any, vendor: str, **changes: Any) -> None:
    with canary_store(app).session() as session:
        conn = session.scalars(select(Connection).where(Connection.system == vendor)).one()
        cipher = credential_cipher(app)
        cipher.store(conn, {**cipher.load(conn), **changes})


def test_a_token_about_to_expire_is_refreshed_before_the_adapter_is_built(
        install_app: Any, sandbox: Sandbox) -> None:
    assert _install(install_app.test_client(), sandbox, "hubspot").status_code == 200
    conn, before = _connection(install_app, "hubspot")
    _store_credentials(install_app, "hubspot", expires_at=time.time() + 120)  # inside the 15-minute leeway
    server = sandbox.oauth["hubspot"]
    rotations = server.rotations
    store, cipher = canary_store(install_app), credential_cipher(install_app)
    connected = TenantAdapters(store, cipher, conn.tenant_id, config=install_app.config)
    with _vendor_clock_ahead(server, 10):
        adapters = connected.build()
        assert set(adapters) == {"hubspot"} and connected.refreshes == 1 and server.rotations == rotations + 1
        _, after = _connection(install_app, "hubspot")
        assert after["access_token"] != before["access_token"] and server.accepts(after["access_token"])
        assert after["expires_at"] > time.time() + 1800
        adapters["hubspot"].check_connection()
        connected.build()
    assert connected.refreshes == 1 and server.rotations == rotations + 1  # fresh now: no second refresh


def test_sync_recovers_from_a_token_the_vendor_refuses_mid_run(install_app: Any, sandbox: Sandbox) -> None:
    from app import cli

    assert _install(install_app.test_client(), sandbox, "zendesk").status_code == 200
    _, before = _connection(install_app, "zendesk")
    server = sandbox.oauth["zendesk"]
    rotations = server.rotations
    with _vendor_clock_ahead(server, 3 * 3600):  # our stored expiry still says fresh; Zendesk says 401
        assert not server.accepts(before["oauth_token"])
        result = install_app.test_cli_runner().invoke(cli, ["sync", "--system", "zendesk", "--json"])
        assert result.exit_code == 0, result.output
        summary = json.loads(result.output.strip().splitlines()[-1])
        _, after = _connection(install_app, "zendesk")
        assert server.accepts(after["oauth_token"])
    zendesk = summary["zendesk"]
    assert zendesk["stopped"] is None and server.rotations == rotations + 1
    assert zendesk["objects"]["accounts"]["pulled"] == len(sandbox.emulators["zendesk"]._tables["organizations"].ids())
    assert after["refresh_token"] != before["refresh_token"] and before["oauth_token"] not in result.output


def test_a_refused_token_without_oauth_settings_says_what_to_configure(install_app: Any, sandbox: Sandbox) -> None:
    assert _install(install_app.test_client(), sandbox, "zendesk").status_code == 200
    conn, _ = _connection(install_app, "zendesk")
    store, cipher = canary_store(install_app), credential_cipher(install_app)
    connected = TenantAdapters(store, cipher, conn.tenant_id, config={})
    assert set(connected.build()) == {"zendesk"}  # not refused yet: the stored token is used while it lasts
    with pytest.raises(AuthError, match="cannot be refreshed: zendesk installs are not configured: set "
                                        "OAUTH_ZENDESK_CLIENT_ID"):
        connected.reconnect("zendesk")


def test_a_concurrent_install_of_the_same_account_updates_the_one_workspace(
        install_app: Any, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    store, cipher = canary_store(install_app), credential_cipher(install_app)
    real_create_tenant = install_module.create_tenant
    raced: list[str] = []

    def create_tenant_after_a_competitor(session: Any, slug: str, name: str) -> Any:
        if not raced:  # another worker finishes the same install between our lookup and our commit
            raced.append(slug)
            with store.session() as other:
                tenant, _ = real_create_tenant(other, "first-worker", name)
                connection = Connection(tenant_id=tenant.id, system="hubspot", account_ref="24681357")
                other.add(connection)
                cipher.store(connection, {"access_token": "from-the-other-worker"})
        return real_create_tenant(session, slug, name)

    monkeypatch.setattr(install_module, "create_tenant", create_tenant_after_a_competitor)
    answer = _install(install_app.test_client(), sandbox, "hubspot")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert raced == ["hub-24681357"]
    assert _rows(install_app) == (1, 1)
    conn, credentials = _connection(install_app, "hubspot")
    with store.session() as session:
        assert session.get_one(Tenant, conn.tenant_id).slug == "first-worker"
    assert credentials["access_token"] != "from-the-other-worker"
    assert sandbox.oauth["hubspot"].accepts(credentials["access_token"])


def test_zendesk_install_keeps_the_installation_id_the_app_passed(install_app: Any, sandbox: Sandbox) -> None:
    client = install_app.test_client()
    callback = _consent(client, sandbox, "zendesk", subdomain="canary-sandbox", installation_id="9001")
    assert client.get(callback).status_code == 200
    _, credentials = _connection(install_app, "zendesk")
    assert credentials["installation_id"] == 9001 and credentials["subdomain"] == "canary-sandbox"


@pytest.mark.parametrize(("vendor", "key", "call"), [
    ("salesforce", "integration_user_id", ("GET", "/services/data/v<version>")),
    ("zendesk", "api_user_id", ("GET", "/api/v2/users/me.json")),
    ("hubspot", None, None),
])
def test_install_stores_the_user_the_new_token_acts_as(install_app: Any, sandbox: Sandbox, vendor: str,
                                                       key: str | None, call: tuple[str, str] | None) -> None:
    spec = vendor_of(vendor).webhooks
    assert spec is not None and spec.user_key == key
    emulator = sandbox.emulators[vendor]
    stats_before = emulator.stats.snapshot()["calls_total"]
    before = emulator.stats.calls(*call) if call else 0
    client = install_app.test_client()
    assert _install(client, sandbox, vendor).status_code == 200
    _, credentials = _connection(install_app, vendor)
    if key is None:  # HubSpot's loop guard reads the app id: no user, no call
        assert emulator.stats.snapshot()["calls_total"] == stats_before
        assert not {"integration_user_id", "api_user_id"} & set(credentials)
        return
    assert call is not None
    assert emulator.stats.calls(*call) == before + 1  # the token was asked who it is, once
    assert credentials[key] == emulator.credentials[key]  # the user the emulator stamps on API changes

    # a reinstall refreshes a stale value
    with canary_store(install_app).session() as session:
        conn = session.scalars(select(Connection).where(Connection.system == vendor)).one()
        credential_cipher(install_app).store(conn, {**credentials, key: "stale-user"})
    assert _install(client, sandbox, vendor).status_code == 200
    assert _connection(install_app, vendor)[1][key] == emulator.credentials[key]
    assert emulator.stats.calls(*call) == before + 2

"""Signing in with Salesforce, HubSpot or Zendesk over HTTP against the sandbox's emulated authorization
servers: the right user of the right workspace, never another workspace, and every refusal.

Workspace alpha is connected to the sandbox's Salesforce org, HubSpot portal and Zendesk subdomain;
workspace bravo to another HubSpot portal. The vendor users who consent are named with ``login_hint``
(the sandbox's stand-in for typing credentials at the vendor). The flow clock is pinned.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from sqlalchemy import select, update

from console import vendor_sign_in
from console.auth import sign_in_limiter
from extensions import canary_store
from integrations.registry import vendor as vendor_of
from sandbox.oauth import Person, install_config
from sandbox.server import Sandbox
from store.models import AuditEvent, Connection, User, VendorUserLink
from tests.console.conftest import CHEAP_ARGON2, Workspace, csrf_of, seeded_workspaces
from tests.dbtemplate import Templates
from tests.shared import WORLD_AS_OF

PUBLIC = "http://localhost"
NOW = 1_795_000_000.0
VENDORS = ("salesforce", "hubspot", "zendesk")
SANDBOX_ACCOUNT = {"salesforce": "00D5g000004CnryEAC", "hubspot": "24681357", "zendesk": "canary-sandbox"}
# vendor user ids per vendor: (csm, unverified csm2, stranger, bravo's admin, viewer)
IDS = {"salesforce": ("005AL0000000001AAA", "005AL0000000002AAA", "005AL0000000003AAA", "005AL0000000004AAA",
                      "005AL0000000005AAA"),
       "hubspot": ("810001", "810002", "810003", "810004", "810005"),
       "zendesk": ("910001", "910002", "910003", "910004", "910005")}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(accounts=4, seed=11, as_of=WORLD_AS_OF) as running:
        for vendor, (csm, csm2, stranger, bravo, viewer) in IDS.items():
            server = running.oauth[vendor]
            server.add_person(Person(csm, "csm@alpha.example", "Alpha Csm"))
            server.add_person(Person(csm2, "csm2@alpha.example", "Alpha Othercsm", verified=False))
            server.add_person(Person(stranger, "nobody@elsewhere.example", "No Body"))
            server.add_person(Person(bravo, "admin@bravo.example", "Bravo Admin"))
            server.add_person(Person(viewer, "viewer@alpha.example", "Alpha Viewer"))
        running.oauth["zendesk"].add_person(Person("910006", "manager@alpha.example", "A Customer",
                                                   role="end-user"))
        yield running


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [NOW]
    monkeypatch.setattr(vendor_sign_in, "clock", lambda: now[0])
    return now


@pytest.fixture
def setup(app_factory: Any, sandbox: Sandbox, clock: list[float],
          db_templates: Templates) -> tuple[Any, Workspace, Workspace]:
    app = app_factory(PUBLIC_URL=PUBLIC, PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False,
                      **install_config(sandbox, PUBLIC))
    alpha, bravo = seeded_workspaces(app, db_templates, ("alpha", "Alpha"), ("bravo", "Bravo"))
    with canary_store(app).session(alpha.tenant_id) as s:  # alpha is connected to the sandbox's accounts
        s.execute(update(Connection).where(Connection.system == "hubspot")
                  .values(account_ref=SANDBOX_ACCOUNT["hubspot"]))
        s.add_all([Connection(system="salesforce", account_ref=SANDBOX_ACCOUNT["salesforce"],
                              credentials_encrypted=b"x"),
                   Connection(system="zendesk", account_ref=SANDBOX_ACCOUNT["zendesk"], credentials_encrypted=b"x")])
    sign_in_limiter(app).clock = lambda: clock[0]
    return app, alpha, bravo


def _vendor_browser(sandbox: Sandbox) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    assert sandbox.tls is not None
    session.verify = sandbox.tls.cert_path
    return session


def _start(client: Any, vendor: str, **form: str) -> Any:
    if vendor_of(vendor).oauth.subdomain is not None:
        form.setdefault("subdomain", SANDBOX_ACCOUNT["zendesk"])
    return client.post(f"/sign-in/{vendor}", data={"csrf_token": csrf_of(client), **form})


def _consent(client: Any, sandbox: Sandbox, vendor: str, login_hint: str, **form: str) -> str:
    """Start the sign-in, consent at the vendor as ``login_hint``; the callback path with its query."""
    started = _start(client, vendor, **form)
    assert started.status_code == 302, started.get_data(as_text=True)
    cookie = started.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/sign-in/" in cookie
    location = started.headers["Location"]
    query = dict(p.split("=", 1) for p in urlsplit(location).query.split("&"))
    assert query["code_challenge_method"] == "S256" and query["state"]
    assert query["redirect_uri"] == f"{PUBLIC}/sign-in/{vendor}/callback".replace(":", "%3A").replace("/", "%2F")
    consent = _vendor_browser(sandbox).get(f"{location}&{urlencode({'login_hint': login_hint})}",
                                           allow_redirects=False)
    assert consent.status_code == 302, consent.text
    back = urlsplit(consent.headers["Location"])
    assert back.path == f"/sign-in/{vendor}/callback"
    return f"{back.path}?{back.query}"


def _sign_in(client: Any, sandbox: Sandbox, vendor: str, login_hint: str, **form: str) -> Any:
    return client.get(_consent(client, sandbox, vendor, login_hint, **form))


def _refusal(answer: Any) -> str:
    page = answer.get_data(as_text=True)
    assert "Traceback" not in page
    assert 'data-testid="vendor-sign-in-error"' in page, page
    return page


@pytest.mark.parametrize("vendor", VENDORS)
def test_signs_in_as_the_linked_user_of_the_connected_workspace(
        setup: tuple[Any, Workspace, Workspace], sandbox: Sandbox, vendor: str,
        caplog: pytest.LogCaptureFixture) -> None:
    app, alpha, _bravo = setup
    client = app.test_client()
    before = csrf_of(client)
    caplog.set_level(logging.DEBUG)
    answer = _sign_in(client, sandbox, vendor, "csm@alpha.example", next="/accounts")
    assert answer.status_code == 302, answer.get_data(as_text=True)
    assert urlsplit(answer.headers["Location"]).path == "/accounts"
    assert "canary_sign_in=;" in answer.headers["Set-Cookie"]  # the flow cookie is gone
    with client.session_transaction() as session:
        assert (session["uid"], session["tid"]) == (alpha.users["csm"], alpha.tenant_id)
        assert session["csrf"] != before  # rotated
        assert set(session) == {"uid", "tid", "epoch", "sid", "csrf", "seen", "_permanent"}  # no vendor token
    portfolio = client.get("/accounts")
    assert portfolio.status_code == 200 and "Alpha Csm" in portfolio.get_data(as_text=True)
    with canary_store(app).session(alpha.tenant_id) as s:
        link = s.scalars(select(VendorUserLink).where(VendorUserLink.system == vendor)).one()
        assert (link.external_id, link.user_id, link.matched_by) == (IDS[vendor][0], alpha.users["csm"], "email")
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "sign_in")).one()
        assert (event.actor_user_id, event.detail) == (alpha.users["csm"], {"method": vendor})
        assert s.get_one(User, alpha.users["csm"]).last_sign_in_at is not None
    server = sandbox.oauth[vendor]
    assert server.client_secret not in caplog.text
    issued = server._issued.access  # the tokens this sign-in was given
    assert issued and not any(token in caplog.text for token in issued)


@pytest.mark.parametrize("vendor", VENDORS)
def test_an_existing_link_wins_over_the_email(setup: tuple[Any, Workspace, Workspace], sandbox: Sandbox,
                                              vendor: str) -> None:
    """The stranger's vendor user was linked by hand to alpha's manager: the link decides, not the e-mail."""
    app, alpha, _bravo = setup
    with canary_store(app).session(alpha.tenant_id) as s:
        s.add(VendorUserLink(user_id=alpha.users["manager"], system=vendor, external_id=IDS[vendor][2],
                             matched_by="manual"))
    client = app.test_client()
    answer = _sign_in(client, sandbox, vendor, "nobody@elsewhere.example")
    assert answer.status_code == 302, answer.get_data(as_text=True)
    with client.session_transaction() as session:
        assert (session["uid"], session["tid"]) == (alpha.users["manager"], alpha.tenant_id)


@pytest.mark.parametrize("vendor", VENDORS)
def test_workspace_a_org_never_gives_a_session_in_workspace_b(setup: tuple[Any, Workspace, Workspace],
                                                              sandbox: Sandbox, vendor: str) -> None:
    """bravo's admin signs in at alpha's vendor account: bravo's user is not matched, and even a link in bravo
    for that very vendor user is not looked at."""
    app, alpha, bravo = setup
    with canary_store(app).session(bravo.tenant_id) as s:
        s.add(VendorUserLink(user_id=bravo.users["admin"], system=vendor, external_id=IDS[vendor][3],
                             matched_by="manual"))
    client = app.test_client()
    answer = _sign_in(client, sandbox, vendor, "admin@bravo.example")
    assert answer.status_code == 403
    assert "No user of the Alpha workspace matches" in _refusal(answer)
    with client.session_transaction() as session:
        assert "uid" not in session
    with canary_store(app).session(alpha.tenant_id) as s:
        assert s.scalars(select(VendorUserLink)).all() == []


@pytest.mark.parametrize("vendor", VENDORS)
def test_refused_when_the_vendor_account_is_connected_to_no_workspace(
        setup: tuple[Any, Workspace, Workspace], sandbox: Sandbox, vendor: str) -> None:
    app, alpha, _bravo = setup
    with canary_store(app).session(alpha.tenant_id) as s:
        s.execute(update(Connection).where(Connection.system == vendor).values(account_ref="00D000000000999"
                                                                                if vendor == "salesforce"
                                                                                else "999"))
    answer = _sign_in(app.test_client(), sandbox, vendor, "csm@alpha.example")
    assert answer.status_code == 403
    assert f"({SANDBOX_ACCOUNT[vendor]}) is not connected to any Canary workspace" in _refusal(answer)


@pytest.mark.parametrize("vendor", VENDORS)
def test_refused_when_no_user_matches(setup: tuple[Any, Workspace, Workspace], sandbox: Sandbox,
                                      vendor: str) -> None:
    app, _alpha, _bravo = setup
    answer = _sign_in(app.test_client(), sandbox, vendor, "nobody@elsewhere.example")
    assert answer.status_code == 403
    assert "No user of the Alpha workspace matches your" in _refusal(answer)


@pytest.mark.parametrize("vendor", VENDORS)
def test_refused_for_a_disabled_user_even_when_linked(setup: tuple[Any, Workspace, Workspace], sandbox: Sandbox,
                                                     vendor: str) -> None:
    app, alpha, _bravo = setup
    with canary_store(app).session(alpha.tenant_id) as s:
        s.get_one(User, alpha.users["viewer"]).active = False
    answer = _sign_in(app.test_client(), sandbox, vendor, "viewer@alpha.example")
    assert answer.status_code == 403
    assert "Your Canary user in the Alpha workspace is disabled" in _refusal(answer)
    with canary_store(app).session(alpha.tenant_id) as s:  # linked earlier: still refused
        s.add(VendorUserLink(user_id=alpha.users["viewer"], system=vendor, external_id=IDS[vendor][4]))
    answer = _sign_in(app.test_client(), sandbox, vendor, "viewer@alpha.example")
    assert answer.status_code == 403 and "is disabled" in _refusal(answer)


@pytest.mark.parametrize("vendor", ["salesforce", "zendesk"])
def test_refused_when_the_vendor_says_the_email_is_not_verified(setup: tuple[Any, Workspace, Workspace],
                                                                sandbox: Sandbox, vendor: str) -> None:
    app, alpha, _bravo = setup
    answer = _sign_in(app.test_client(), sandbox, vendor, "csm2@alpha.example")
    assert answer.status_code == 403
    assert "csm2@alpha.example is not verified" in _refusal(answer)
    with canary_store(app).session(alpha.tenant_id) as s:
        assert s.scalars(select(VendorUserLink)).all() == []


def test_hubspot_does_not_say_whether_the_email_is_verified(setup: tuple[Any, Workspace, Workspace],
                                                            sandbox: Sandbox) -> None:
    """HubSpot's token information has no verification flag: its login e-mail is taken as HubSpot vouches."""
    app, alpha, _bravo = setup
    client = app.test_client()
    assert _sign_in(client, sandbox, "hubspot", "csm2@alpha.example").status_code == 302
    with client.session_transaction() as session:
        assert session["uid"] == alpha.users["csm2"]


def test_a_zendesk_end_user_cannot_sign_in(setup: tuple[Any, Workspace, Workspace], sandbox: Sandbox) -> None:
    app, _alpha, _bravo = setup
    answer = _sign_in(app.test_client(), sandbox, "zendesk", "manager@alpha.example")
    assert answer.status_code == 403
    assert "is a customer (end-user)" in _refusal(answer)


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_used_state_is_refused(setup: tuple[Any, Workspace, Workspace], sandbox: Sandbox, vendor: str) -> None:
    app, _alpha, _bravo = setup
    client = app.test_client()
    callback = _consent(client, sandbox, vendor, "csm@alpha.example")
    flow = client.get_cookie(vendor_sign_in.FLOW_COOKIE, path="/sign-in/")
    assert flow is not None
    assert client.get(callback).status_code == 302
    client.post("/sign-out", data={"csrf_token": csrf_of(client)})
    client.set_cookie(vendor_sign_in.FLOW_COOKIE, flow.value, path="/sign-in/")
    again = client.get(callback)
    assert again.status_code == 400
    assert "already used" in _refusal(again)
    with client.session_transaction() as session:
        assert "uid" not in session


def test_refused_without_the_flow_cookie_or_with_another_state(setup: tuple[Any, Workspace, Workspace],
                                                               sandbox: Sandbox) -> None:
    app, _alpha, _bravo = setup
    client = app.test_client()
    callback = _consent(client, sandbox, "hubspot", "csm@alpha.example")
    other = app.test_client().get(callback)  # another browser: no flow cookie
    assert other.status_code == 400 and "not started from this browser" in _refusal(other)
    forged = client.get(callback.replace("state=", "state=x"))
    assert forged.status_code == 400 and "state mismatch" in _refusal(forged)


def test_an_expired_flow_is_refused(setup: tuple[Any, Workspace, Workspace], sandbox: Sandbox,
                                    clock: list[float]) -> None:
    app, _alpha, _bravo = setup
    client = app.test_client()
    callback = _consent(client, sandbox, "salesforce", "csm@alpha.example")
    clock[0] = NOW + vendor_sign_in.FLOW_MAX_AGE + 1
    answer = client.get(callback)
    assert answer.status_code == 400 and "expired" in _refusal(answer)


def test_the_vendor_denies(setup: tuple[Any, Workspace, Workspace], sandbox: Sandbox) -> None:
    app, _alpha, _bravo = setup
    client = app.test_client()
    started = _start(client, "zendesk")
    state = dict(p.split("=", 1) for p in urlsplit(started.headers["Location"]).query.split("&"))["state"]
    answer = client.get(f"/sign-in/zendesk/callback?error=access_denied&state={state}")
    assert answer.status_code == 400
    assert "Zendesk did not let you sign in (access_denied)" in _refusal(answer)


def test_failed_vendor_sign_ins_count_against_the_address(app_factory: Any, sandbox: Sandbox,
                                                          clock: list[float], db_templates: Templates) -> None:
    app = app_factory(PUBLIC_URL=PUBLIC, PASSWORD_HASH=CHEAP_ARGON2, COOKIE_SECURE=False, SIGN_IN_MAX_FAILURES=2,
                      **install_config(sandbox, PUBLIC))
    seeded_workspaces(app, db_templates, ("alpha", "Alpha"))
    sign_in_limiter(app).clock = lambda: clock[0]
    client = app.test_client()
    for _ in range(2):
        assert client.get("/sign-in/hubspot/callback?code=x&state=y").status_code == 400
    blocked = _sign_in(client, sandbox, "hubspot", "csm@alpha.example")
    assert blocked.status_code == 429 and "Too many failed sign-ins" in _refusal(blocked)
    clock[0] = NOW + 61  # the window has passed
    assert client.post("/sign-in", data={"email": "csm@alpha.example", "password": "correct horse battery staple",
                                         "csrf_token": csrf_of(client)}).status_code == 302


def test_buttons_follow_the_registry_and_configuration(app_factory: Any, sandbox: Sandbox) -> None:
    config = {k: v for k, v in install_config(sandbox, PUBLIC).items() if not k.startswith("OAUTH_HUBSPOT_")}
    app = app_factory(PUBLIC_URL=PUBLIC, COOKIE_SECURE=False, **config)
    client = app.test_client()
    answer = client.get("/sign-in")
    page = answer.get_data(as_text=True)
    policy = answer.headers["Content-Security-Policy"]  # the browser lets the forms redirect to these only
    form_action = next(d for d in policy.split("; ") if d.startswith("form-action"))
    assert sorted(form_action.split()[1:]) == sorted(["'self'", sandbox.urls["salesforce"], sandbox.urls["zendesk"]])
    assert 'data-testid="sign-in-with-salesforce"' in page and 'data-testid="sign-in-with-zendesk"' in page
    assert "sign-in-with-hubspot" not in page
    assert page.count('name="subdomain"') == 1  # Zendesk's, from its descriptor
    refused = _start(client, "hubspot")
    assert refused.status_code == 503 and "not set up here" in _refusal(refused)
    bad = _start(client, "zendesk", subdomain="not a subdomain!")
    assert bad.status_code == 400 and "subdomain" in _refusal(bad)
    assert client.post("/sign-in/salesforce", data={}).status_code == 403  # the CSRF check applies


@pytest.mark.parametrize("vendor", VENDORS)
def test_the_sandbox_own_users_sign_in_as_demo_csms(setup: tuple[Any, Workspace, Workspace], sandbox: Sandbox,
                                                    vendor: str) -> None:
    """The sandbox's vendor users (Salesforce Users, else the world's CSMs) are the demo CSMs: one with a
    Canary user of that address signs in."""
    from console.people import add_user

    app, alpha, _bravo = setup
    added = {p.email for p in sandbox.oauth[vendor]._added}  # this module's own people
    email = next(p.email for p in sandbox.oauth[vendor].people() if p.email.endswith("@canary.example")
                 and p.email not in added)
    with canary_store(app).session(alpha.tenant_id) as s:
        user_id = add_user(s, email, "csm").id
    client = app.test_client()
    assert _sign_in(client, sandbox, vendor, email).status_code == 302
    with client.session_transaction() as session:
        assert (session["uid"], session["tid"]) == (user_id, alpha.tenant_id)


def test_consent_origins_of_the_vendors_own_hosts() -> None:
    from integrations.oauth import authorize_origin

    assert authorize_origin("zendesk", {}) == "https://*.zendesk.com"
    assert authorize_origin("salesforce", {}) == "https://login.salesforce.com"
    assert authorize_origin("hubspot", {"OAUTH_HUBSPOT_AUTHORIZE_URL": "http://127.0.0.1:8001/oauth/authorize"}) == (
        "http://127.0.0.1:8001")


def test_the_demo_offers_every_vendor_and_its_connections_are_the_accounts_the_vendors_name(
        app_factory: Any, sandbox: Sandbox) -> None:
    """`canary demo` wiring: the demo workspace's connections are the sandbox's accounts as the vendors' identity
    calls name them, every vendor's button shows, and each vendor's sign-in page asks who you are."""
    from cli.demo import enable_vendor_sign_in, sandbox_connections

    assert {v: ref for v, (_c, _b, ref) in sandbox_connections(sandbox).items()} == {
        v: SANDBOX_ACCOUNT[v] for v in ("salesforce", "zendesk", "hubspot")}
    app = app_factory(PUBLIC_URL=PUBLIC, COOKIE_SECURE=False)
    try:
        assert enable_vendor_sign_in(app, sandbox) == ["Salesforce", "Zendesk", "HubSpot"]
        assert all(server.login_page for server in sandbox.oauth.values())
        page = app.test_client().get("/sign-in").get_data(as_text=True)
        assert all(f'data-testid="sign-in-with-{v}"' in page for v in VENDORS)
    finally:
        for server in sandbox.oauth.values():
            server.login_page = False

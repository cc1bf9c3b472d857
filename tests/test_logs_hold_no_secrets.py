"""A full run under a real gunicorn (`canary serve`): no token, code, signature or key reaches any log.

Installs through the sandbox's OAuth servers, the three vendors' panel requests (and the HubSpot
full view, whose token rides in the URL), collector calls with a write key, and syncs; then both
the access log and the application/error log are searched for every secret the run used.
Before issue 11 gunicorn's access log recorded OAuth ``code=``/``state=`` values, full-view
``token=`` values and (as the HTTP Basic user) the collector's write key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from app import cli, create_app
from extensions import canary_store, credential_cipher
from sandbox.oauth import install_config
from sandbox.server import Sandbox
from store.models import Connection, SourceLink, Tenant
from tests.dbtemplate import migrate_new

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "full-run-secret-key-0123456789abcdef"
ZENDESK_TENANT, SF_TENANT, HUB_TENANT = "canary-sandbox", "sf-00d5g000004cnryeac", "hub-24681357"


@dataclass
class Run:
    url: str
    env: dict[str, str]
    db_url: str
    access_log: Path
    error_log: Path
    secrets: dict[str, str] = field(default_factory=dict)

    def keep(self, name: str, value: Any) -> None:
        assert isinstance(value, str) and len(value) >= 8, name
        self.secrets[name] = value


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(sandbox: Sandbox, public: str, db_url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANARY_") and k != "DATABASE_URL"}
    env.update({f"CANARY_{k}": str(v) for k, v in install_config(sandbox, public).items()})
    env.update({"CANARY_SECRET_KEY": SECRET_KEY, "DATABASE_URL": db_url, "CANARY_PUBLIC_URL": public,
                "CANARY_CONFIG": str(tmp_path / "none.toml"), "CANARY_LOG_LEVEL": "DEBUG",
                "PYTHONPATH": str(ROOT), "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
    return env


def _canary(*args: str) -> list[str]:
    return [sys.executable, "-c", "from app import main; main()", *args]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("full-run")
    db_url = f"sqlite:///{tmp / 'canary.db'}"
    migrate_new(db_url)
    port = _free_port()
    public = f"http://127.0.0.1:{port}"
    with Sandbox(accounts=4, seed=11, as_of=date(2026, 11, 20)) as sandbox:
        env = _env(sandbox, public, db_url, tmp)
        state = Run(public, env, db_url, tmp / "access.log", tmp / "error.log")
        with state.access_log.open("wb") as out, state.error_log.open("wb") as err:
            server = subprocess.Popen(_canary("serve", "--port", str(port), "--workers", "2"), env=env, stdout=out,
                                      stderr=err, cwd=ROOT)
            try:
                _wait_until_serving(public, server)
                _exercise(state, sandbox, tmp)
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=60)
        yield state


def _wait_until_serving(public: str, server: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        assert server.poll() is None, "canary serve exited"
        try:
            if requests.get(f"{public}/healthz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise AssertionError("canary serve did not start")


def _browser() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def _install(state: Run, sandbox: Sandbox, vendor: str, **query: str) -> None:
    browser = _browser()
    started = browser.get(f"{state.url}/install/{vendor}", params=query, allow_redirects=False)
    assert started.status_code == 302, started.text
    at_vendor = _browser()
    assert sandbox.tls is not None
    at_vendor.verify = sandbox.tls.cert_path
    consent = at_vendor.get(started.headers["Location"], allow_redirects=False)
    callback = consent.headers["Location"]
    params = parse_qs(urlsplit(callback).query)
    state.keep(f"{vendor} code", params["code"][0])
    state.keep(f"{vendor} state", params["state"][0])
    finished = browser.get(callback, headers={"Referer": started.headers["Location"]})
    assert finished.status_code == 200, finished.text
    state.keep(f"{vendor} client secret", sandbox.oauth[vendor].client_secret)


def _cli(state: Run, *args: str) -> str:
    app = create_app({"TESTING": True, "SECRET_KEY": SECRET_KEY, "DATABASE_URL": state.db_url})
    result = app.test_cli_runner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    canary_store(app).dispose()
    return str(result.output)


def _stored_credentials(state: Run) -> dict[str, dict[str, Any]]:
    app = create_app({"TESTING": True, "SECRET_KEY": SECRET_KEY, "DATABASE_URL": state.db_url})
    store, cipher = canary_store(app), credential_cipher(app)
    with store.session() as session:
        found = {c.system: cipher.load(c) for c in session.scalars(select(Connection))}
    store.dispose()
    return found


def _hubspot_company(state: Run) -> str:
    app = create_app({"TESTING": True, "SECRET_KEY": SECRET_KEY, "DATABASE_URL": state.db_url})
    store = canary_store(app)
    with store.session() as session:
        tenant_id = session.scalars(select(Tenant.id).where(Tenant.slug == HUB_TENANT)).one()
    with store.session(tenant_id) as session:
        company = session.scalars(select(SourceLink.external_id).where(SourceLink.system == "hubspot")).first()
    store.dispose()
    assert company
    return str(company)


def _exercise(state: Run, sandbox: Sandbox, tmp: Path) -> None:
    _install(state, sandbox, "zendesk", subdomain=ZENDESK_TENANT, installation_id="4242")
    _install(state, sandbox, "salesforce")
    _install(state, sandbox, "hubspot")
    for system, credentials in _stored_credentials(state).items():
        for key in ("access_token", "oauth_token", "refresh_token"):
            if credentials.get(key):
                state.keep(f"{system} {key}", credentials[key])
    for slug in (ZENDESK_TENANT, HUB_TENANT):
        sync = subprocess.run(_canary("sync", "--tenant", slug), env=state.env, cwd=ROOT, capture_output=True,
                              timeout=300)
        assert sync.returncode == 0, sync.stderr.decode()[-2000:]
        with state.error_log.open("ab") as log:  # the sync's application log joins the server's
            log.write(sync.stdout + sync.stderr)
    _zendesk_panel(state, tmp)
    _canvas_panel(state, tmp)
    _hubspot_panel(state, tmp)
    _collector(state)


def _zendesk_panel(state: Run, tmp: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp / "zendesk.pem").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    _cli(state, "connect", "zendesk", "--tenant", ZENDESK_TENANT, "--app-public-key", str(tmp / "zendesk.pem"))
    now = int(time.time())
    token = jwt.encode({"iss": f"{ZENDESK_TENANT}.zendesk.com", "iat": now, "exp": now + 300, "jti": "zaf-jti-1",
                        "aud": f"https://{ZENDESK_TENANT}.zendesk.com/api/v2/apps/installations/4242.json"},
                       key, algorithm="RS256")
    state.keep("zendesk jwt", token)
    state.keep("zendesk jwt signature", token.rsplit(".", 1)[1])
    shell = _browser().post(f"{state.url}/widgets/zendesk/sidebar?origin=x", data={"token": token})
    assert shell.status_code == 200, shell.text
    session = shell.text.split('name="canary-session" content="', 1)[1].split('"', 1)[0]
    state.keep("zendesk panel session", session)
    panel = _browser().get(f"{state.url}/widgets/zendesk/panel", params={"organization_id": "1"},
                           headers={"Authorization": f"Bearer {session}"})
    assert panel.status_code in (200, 404)


def _canvas_panel(state: Run, tmp: Path) -> None:
    secret = "canvas-consumer-secret-full-run-01"
    state.keep("canvas consumer secret", secret)
    (tmp / "canvas.secret").write_text(secret)
    _cli(state, "connect", "salesforce", "--tenant", SF_TENANT, "--canvas-consumer-secret-file",
         str(tmp / "canvas.secret"))
    context = {"algorithm": "HMACSHA256", "issuedAt": int(time.time()), "client": {"oauthToken": "00Dx!sf-oauth"},
               "context": {"organization": {"organizationId": "00D5g000004CnryEAC"},
                           "environment": {"record": {"Id": "001000000000009AAA"}}}}
    encoded = base64.b64encode(json.dumps(context).encode()).decode()
    signature = base64.b64encode(hmac.new(secret.encode(), encoded.encode(), hashlib.sha256).digest()).decode()
    state.keep("canvas signature", signature)
    state.keep("canvas signed request", f"{signature}.{encoded}")
    signed = f"{signature}.{encoded}"
    answer = _browser().post(f"{state.url}/widgets/salesforce/canvas", data={"signed_request": signed})
    assert answer.status_code == 404  # verified; that record is not linked
    replayed = _browser().post(f"{state.url}/widgets/salesforce/canvas?signed_request={signature}.{encoded}",
                               data={"signed_request": f"{signature}.{encoded}"})
    assert replayed.status_code == 401  # a replay; and its URL carried the signed request


def _hubspot_panel(state: Run, tmp: Path) -> None:
    secret = "hubspot-client-secret-full-run-01"
    state.keep("hubspot card client secret", secret)
    (tmp / "hub.secret").write_text(secret)
    _cli(state, "connect", "hubspot", "--tenant", HUB_TENANT, "--client-secret-file", str(tmp / "hub.secret"))
    url = f"{state.url}/widgets/hubspot/card?companyId={_hubspot_company(state)}&portalId=24681357"
    stamp = str(int(time.time() * 1000))
    signature = base64.b64encode(hmac.new(secret.encode(), f"GET{url}{stamp}".encode(), hashlib.sha256).digest())
    state.keep("hubspot v3 signature", signature.decode())
    card = _browser().get(url, headers={"X-HubSpot-Signature-v3": signature.decode(),
                                        "X-HubSpot-Request-Timestamp": stamp})
    assert card.status_code == 200, card.text
    full_view = card.json()["full_view_url"]
    state.keep("hubspot full view token", parse_qs(urlsplit(full_view).query)["token"][0])
    assert _browser().get(full_view).status_code == 200


def _collector(state: Run) -> None:
    output = _cli(state, "tenant", "rotate-write-key", HUB_TENANT)
    write_key = output.split("(shown once): ", 1)[1].strip()
    state.keep("collector write key", write_key)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    batch = {"batch": [
        {"type": "group", "messageId": "full-run-g", "userId": "u1", "groupId": "acct-1", "timestamp": stamp,
         "traits": {"name": "Initech"}},
        {"type": "track", "messageId": "full-run-1", "userId": "u1", "event": "Logged In", "timestamp": stamp,
         "context": {"groupId": "acct-1"}}]}
    for auth, status in (((write_key, ""), 200), ((write_key + "x", ""), 401)):
        answer = _browser().post(f"{state.url}/v1/batch", json=batch, auth=auth)
        assert answer.status_code == status, answer.text


def test_the_run_was_logged(run: Run) -> None:
    access = run.access_log.read_text()
    for line in ("GET /install/zendesk/callback ", "GET /install/hubspot/callback ", "POST /widgets/zendesk/sidebar ",
                 "POST /widgets/salesforce/canvas ", "GET /widgets/hubspot/full ", "POST /v1/batch "):
        assert line in access, line
    assert "installed hubspot for tenant hub-24681357" in run.error_log.read_text()
    assert len(run.secrets) >= 25


@pytest.mark.parametrize("log", ["access", "application"])
def test_no_secret_of_the_run_is_in_any_log(run: Run, log: str) -> None:
    text = (run.access_log if log == "access" else run.error_log).read_text()
    assert text.strip()
    leaked = sorted(name for name, value in run.secrets.items()
                    if any(form in text for form in (value, quote(value, safe=""), quote_plus(value))))
    assert leaked == []
    assert SECRET_KEY not in text

"""Panels an admin sets up without touching the database (`canary connect`), and strict host inputs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import select

from app import cli
from extensions import canary_store, credential_cipher
from sandbox.server import Sandbox
from store.models import Connection, Tenant
from store.tenants import create_tenant
from sync.connections import save_connection
from tests.widgets.conftest import Tenantry as _Tenantry
from tests.widgets.conftest import canvas_request, hubspot_headers

SUBDOMAIN = "canary-sandbox"


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with Sandbox(accounts=3, seed=5, as_of=date(2026, 11, 20), vendors=("zendesk",)) as running:
        yield running


@pytest.fixture
def panel_app(app_factory: Any) -> Any:
    app = app_factory(PUBLIC_URL="http://localhost")
    with canary_store(app).session() as session:
        create_tenant(session, "acme", "Acme")
    return app


def _connect(app: Any, *args: str, env: dict[str, str] | None = None) -> Any:
    return app.test_cli_runner().invoke(cli, ["connect", *args, "--tenant", "acme"], env=env or {})


def _connect_zendesk_api(app: Any, box: Sandbox, token: str | None = None) -> Any:
    c = box.credentials["zendesk"]
    return _connect(app, "zendesk", "--url", c["base_url"], "--subdomain", c["subdomain"], "--email", c["email"],
                    env={"CANARY_CONNECT_TOKEN": token or c["token"]})


def _stored(app: Any, system: str) -> tuple[Connection, dict[str, Any]]:
    with canary_store(app).session() as session:
        conn = session.scalars(select(Connection).where(Connection.system == system)).one()
        return conn, credential_cipher(app).load(conn)


def _keypair(tmp_path: Path) -> tuple[Any, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    path = tmp_path / "zendesk-app.pem"
    path.write_bytes(pem)
    return key, path


def _zaf_token(key: Any, installation_id: int) -> str:
    now = int(time.time())
    return jwt.encode({"iss": f"{SUBDOMAIN}.zendesk.com", "iat": now, "exp": now + 300, "sub": "user:1",
                       "aud": f"https://{SUBDOMAIN}.zendesk.com/api/v2/apps/installations/{installation_id}.json"},
                      key, algorithm="RS256")


def test_zendesk_public_key_set_with_connect_makes_the_panel_verify(panel_app: Any, box: Sandbox,
                                                                    tmp_path: Path) -> None:
    assert _connect_zendesk_api(panel_app, box).exit_code == 0
    key, pem_path = _keypair(tmp_path)
    client = panel_app.test_client()
    before = client.post("/widgets/zendesk/sidebar", data={"token": _zaf_token(key, 4242)})
    assert before.status_code == 401 and "not set up yet" in before.get_json()["error"]

    result = _connect(panel_app, "zendesk", "--app-public-key", str(pem_path), "--app-installation-id", "4242")
    assert result.exit_code == 0, result.output
    assert "Zendesk app public key, Zendesk app installation id" in result.output
    assert "BEGIN PUBLIC KEY" not in result.output
    conn, credentials = _stored(panel_app, "zendesk")
    assert credentials["app_public_key"] == pem_path.read_text()
    assert credentials["installation_id"] == 4242
    assert credentials["token"] == box.credentials["zendesk"]["token"]  # the API token is kept
    assert conn.account_ref == SUBDOMAIN and conn.base_url == box.credentials["zendesk"]["base_url"]
    assert b"BEGIN PUBLIC KEY" not in conn.credentials_encrypted

    answer = client.post("/widgets/zendesk/sidebar", data={"token": _zaf_token(key, 4242)})
    assert answer.status_code == 200, answer.get_data(as_text=True)


def test_reconnecting_with_only_a_new_token_keeps_the_panel_settings(panel_app: Any, box: Sandbox,
                                                                     tmp_path: Path) -> None:
    assert _connect_zendesk_api(panel_app, box).exit_code == 0
    key, pem_path = _keypair(tmp_path)
    assert _connect(panel_app, "zendesk", "--app-public-key", str(pem_path), "--app-installation-id",
                    "77").exit_code == 0
    emulator = box.emulators["zendesk"]
    old_token = emulator.credentials["token"]
    emulator.credentials["token"] = "rotated-api-token-0001"  # the admin rotated the API token in Zendesk
    try:
        result = _connect(panel_app, "zendesk", env={"CANARY_CONNECT_TOKEN": "rotated-api-token-0001"})
        assert result.exit_code == 0, result.output
        assert "rotated-api-token-0001" not in result.output
    finally:
        emulator.credentials["token"] = old_token
    conn, credentials = _stored(panel_app, "zendesk")
    assert credentials["token"] == "rotated-api-token-0001"
    assert (credentials["app_public_key"], credentials["installation_id"]) == (pem_path.read_text(), 77)
    assert (credentials["subdomain"], credentials["email"]) == (SUBDOMAIN, box.credentials["zendesk"]["email"])
    assert conn.account_ref == SUBDOMAIN and conn.base_url == box.credentials["zendesk"]["base_url"]
    answer = panel_app.test_client().post("/widgets/zendesk/sidebar", data={"token": _zaf_token(key, 77)})
    assert answer.status_code == 200


def test_a_refused_new_token_changes_nothing(panel_app: Any, box: Sandbox, tmp_path: Path) -> None:
    assert _connect_zendesk_api(panel_app, box).exit_code == 0
    _, pem_path = _keypair(tmp_path)
    assert _connect(panel_app, "zendesk", "--app-public-key", str(pem_path)).exit_code == 0
    _, before = _stored(panel_app, "zendesk")
    wrong = _connect(panel_app, "zendesk", env={"CANARY_CONNECT_TOKEN": "not-the-token"})
    assert wrong.exit_code == 1 and "zendesk refused the credentials" in wrong.output
    assert _stored(panel_app, "zendesk")[1] == before


def _seed_connection(app: Any, system: str, ref: str, credentials: dict[str, Any]) -> int:
    store, cipher = canary_store(app), credential_cipher(app)
    with store.session() as session:
        tenant_id = session.scalars(select(Tenant.id).where(Tenant.slug == "acme")).one()
    with store.session(tenant_id) as session:
        save_connection(session, cipher, system, credentials, base_url=None, account_ref=ref, actor="test")
    return int(tenant_id)


@pytest.mark.parametrize("source", ["file", "env"])
def test_canvas_consumer_secret_set_with_connect(panel_app: Any, tmp_path: Path, source: str) -> None:
    org = "00D000000000001"
    tenant_id = _seed_connection(panel_app, "salesforce", org, {"instance_url": "https://acme.my.salesforce.com",
                                                                "access_token": "sf-access-token-1"})
    secret = "canvas-consumer-secret-0123456789"
    if source == "file":
        (tmp_path / "canvas.secret").write_text(secret + "\n")
        result = _connect(panel_app, "salesforce", "--canvas-consumer-secret-file", str(tmp_path / "canvas.secret"))
    else:
        result = _connect(panel_app, "salesforce", env={"CANARY_CONNECT_CANVAS_CONSUMER_SECRET": secret})
    assert result.exit_code == 0, result.output
    assert secret not in result.output and "API credentials unchanged" not in result.output
    _, credentials = _stored(panel_app, "salesforce")
    assert credentials == {"instance_url": "https://acme.my.salesforce.com", "access_token": "sf-access-token-1",
                           "consumer_secret": secret}
    t = _Tenantry(tenant_id, "", 0, None, "", secret, org, "")
    answer = panel_app.test_client().post("/widgets/salesforce/canvas",
                                          data={"signed_request": canvas_request(t, "001000000000001AAA")})
    assert answer.status_code == 404  # verified: this record is simply not linked to an account yet
    assert "001000000000001AAA" in answer.get_data(as_text=True)


def test_hubspot_client_secret_set_with_connect(panel_app: Any, tmp_path: Path) -> None:
    _seed_connection(panel_app, "hubspot", "24681357", {"access_token": "hub-token-1"})
    url = "http://localhost/widgets/hubspot/card?companyId=555&portalId=24681357"
    client = panel_app.test_client()
    unset = client.get(url, headers=hubspot_headers("GET", url, secret="hub-client-secret-1"))
    assert unset.status_code == 401 and "--client-secret-file" in unset.get_json()["error"]
    (tmp_path / "hub.secret").write_text("hub-client-secret-1")
    result = _connect(panel_app, "hubspot", "--client-secret-file", str(tmp_path / "hub.secret"))
    assert result.exit_code == 0, result.output
    assert _stored(panel_app, "hubspot")[1] == {"access_token": "hub-token-1", "client_secret": "hub-client-secret-1"}
    answer = client.get(url, headers=hubspot_headers("GET", url, secret="hub-client-secret-1"))
    assert answer.status_code == 404 and "not linked" in answer.get_json()["error"]


@pytest.mark.parametrize(("args", "says"), [
    (["zendesk", "--app-public-key", "NOT_PEM"], "not a PEM public key"),
    (["zendesk", "--app-public-key", "EC_PEM"], "must be an RSA public key"),
    (["salesforce", "--app-public-key", "RSA_PEM"], "not a setting of a salesforce connection"),
    (["zendesk", "--app-installation-id", "0"], "--app-installation-id"),
    (["hubspot", "--client-secret-file", "RSA_PEM"], "one line of text"),
    (["hubspot", "--client-secret-file", "SECRET"], "has no hubspot connection yet"),
    (["zendesk", "--subdomain", "evil\n.zendesk.com", "--email", "a@b.c", "--token", "t"], "control characters"),
    (["zendesk", "--subdomain", "evil", "--url", "http://evil.example", "--email", "a@b.c", "--token", "t"],
     "must use https://"),
    (["salesforce", "--instance-url", "https://evil.example\n", "--access-token", "x"], "control characters"),
    (["salesforce", "--instance-url", "https://user@evil.example", "--access-token", "x"], "user name"),
    (["hubspot", "--access-token", "x", "--account-ref", "12 34"], "control characters"),
    (["zendesk"], "has no zendesk connection yet"),
])
def test_bad_connect_inputs_are_refused_and_nothing_is_stored(panel_app: Any, tmp_path: Path, args: list[str],
                                                              says: str) -> None:
    files = {"NOT_PEM": "hello", "SECRET": "s3cret-value",
             "RSA_PEM": rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
                 serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
             "EC_PEM": ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
                 serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    result = _connect(panel_app, *[str(tmp_path / a) if a in files else a for a in args])
    assert result.exit_code != 0
    assert says in result.output
    with canary_store(panel_app).session() as session:
        assert session.scalars(select(Connection)).all() == []


# --- hosts formed from input ---------------------------------------------------------------

OAUTH = {"OAUTH_ZENDESK_CLIENT_ID": "zd-client", "OAUTH_ZENDESK_CLIENT_SECRET": "zd-client-secret"}


@pytest.mark.parametrize("subdomain", ["evil%0A.zendesk.com", "evil%0A", "evil%0D", "ev%00il", "acme%20x",
                                       "a.b", "-acme", "acme-", "%E2%80%A8acme", "acme.zendesk.com.evil.com"])
def test_install_refuses_a_malformed_zendesk_subdomain(app_factory: Any, subdomain: str) -> None:
    """Before: ``evil%0A.zendesk.com`` passed (``match`` with ``$``) and stored a workspace named ``evil\\n``."""
    app = app_factory(PUBLIC_URL="http://localhost", **OAUTH)
    answer = app.test_client().get(f"/install/zendesk?subdomain={subdomain}")
    assert answer.status_code == 400
    assert "Give your Zendesk subdomain" in answer.get_data(as_text=True)
    assert "Location" not in answer.headers


@pytest.mark.parametrize(("given", "host"), [("acme", "acme"), ("ACME.zendesk.com", "acme"), ("a-1", "a-1")])
def test_install_accepts_a_well_formed_subdomain(app_factory: Any, given: str, host: str) -> None:
    app = app_factory(PUBLIC_URL="http://localhost", **OAUTH)
    answer = app.test_client().get(f"/install/zendesk?subdomain={given}")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith(f"https://{host}.zendesk.com/oauth/authorizations/new?")


@pytest.mark.parametrize("installation_id", ["12a", "-1", "%0A1", ""])
def test_install_refuses_a_malformed_installation_id(app_factory: Any, installation_id: str) -> None:
    app = app_factory(PUBLIC_URL="http://localhost", **OAUTH)
    answer = app.test_client().get(f"/install/zendesk?subdomain=acme&installation_id={installation_id}")
    assert answer.status_code == 400 and "installation number" in answer.get_data(as_text=True)

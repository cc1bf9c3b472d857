"""Connection credentials are encrypted at rest and never reach a log line."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from cli.logs import RedactingFilter, redact, register_secret
from store.crypto import CredentialCipher, CredentialError
from store.db import Store
from store.models import Connection, Tenant

SECRET_TOKEN = "zd-oauth-token-5f3a9c1e77b04d2b"
KEY = "a-long-secret-key-for-tests-0123456789"


def test_credentials_are_encrypted_at_rest(store: Store) -> None:
    cipher = CredentialCipher(KEY)
    with store.session() as s:
        tenant = Tenant(slug="acme", name="Acme")
        s.add(tenant)
        s.flush()
        tenant_id = tenant.id
    with store.session(tenant_id) as s:
        conn = Connection(system="zendesk", base_url="https://acme.zendesk.com")
        cipher.store(conn, {"access_token": SECRET_TOKEN, "refresh_token": "r-" + SECRET_TOKEN})
        s.add(conn)
    with store.engine.connect() as raw:
        stored = raw.execute(text("SELECT credentials_encrypted FROM connections")).scalar_one()
    stored_bytes = bytes(stored)
    assert SECRET_TOKEN.encode() not in stored_bytes
    assert b"access_token" not in stored_bytes
    with store.session(tenant_id) as s:
        loaded = s.query(Connection).one()
        assert cipher.load(loaded) == {"access_token": SECRET_TOKEN, "refresh_token": "r-" + SECRET_TOKEN}


def test_wrong_key_gives_a_clear_error() -> None:
    token = CredentialCipher(KEY).encrypt({"token": SECRET_TOKEN})
    with pytest.raises(CredentialError, match="CANARY_SECRET_KEY differs"):
        CredentialCipher("another-secret-key-0123456789").decrypt(token)


def test_short_passphrase_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        CredentialCipher("short")


def test_logging_a_connection_never_shows_its_secret(caplog: pytest.LogCaptureFixture) -> None:
    cipher = CredentialCipher(KEY)
    conn = Connection(id=7, tenant_id=1, system="zendesk")
    cipher.store(conn, {"access_token": SECRET_TOKEN})
    logger = logging.getLogger("canary.test")
    handler_filter = RedactingFilter()
    caplog.handler.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO, logger="canary.test"):
            logger.info("syncing %r with %s", conn, cipher)
            logger.info("refreshing with credentials=%s", cipher.load(conn)["access_token"])
            logger.info("calling with headers %s", {"Authorization": f"Bearer {SECRET_TOKEN}"})
    finally:
        caplog.handler.removeFilter(handler_filter)
    assert len(caplog.records) == 3
    assert SECRET_TOKEN not in caplog.text
    assert "credentials=[redacted]" in caplog.text
    assert "<Connection 7 tenant=1 system=zendesk credentials=[redacted]>" in caplog.text


@pytest.mark.parametrize(
    ("line", "leaked"),
    [
        ("Authorization: Bearer abcDEF123456789", "abcDEF123456789"),
        ('{"client_secret": "cs-99887766"}', "cs-99887766"),
        ("postgresql://canary:pg-pass-123@db:5432/canary", "pg-pass-123"),
        ("token=tok_4455667788&x=1", "tok_4455667788"),
        ("password = hunter22", "hunter22"),
    ],
)
def test_redact_masks_credential_shapes(line: str, leaked: str) -> None:
    cleaned = redact(line)
    assert leaked not in cleaned
    assert "[redacted]" in cleaned


def test_registered_secret_is_masked_anywhere() -> None:
    register_secret("my-very-own-secret-value")
    assert redact("key is my-very-own-secret-value!") == "key is [redacted]!"

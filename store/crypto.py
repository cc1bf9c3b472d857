"""Credentials at rest: Fernet encryption with a key derived from ``CANARY_SECRET_KEY``."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from store.models import Connection


class CredentialError(Exception):
    """Credentials could not be decrypted (wrong ``CANARY_SECRET_KEY``?)."""


def _fernet_key(secret_key: str) -> bytes:
    """Accept a ready Fernet key, or derive one from any passphrase of 16+ characters."""
    try:
        raw = base64.urlsafe_b64decode(secret_key.encode())
        if len(raw) == 32:
            return secret_key.encode()
    except (ValueError, TypeError):
        pass
    if len(secret_key) < 16:
        raise ValueError("CANARY_SECRET_KEY must be at least 16 characters long")
    digest = hashlib.pbkdf2_hmac("sha256", secret_key.encode(), b"canary-credentials-v1", 100_000)
    return base64.urlsafe_b64encode(digest)


class CredentialCipher:
    """Encrypts a connection's credentials (a JSON object) and decrypts them on use."""

    def __init__(self, secret_key: str) -> None:
        self._fernet = Fernet(_fernet_key(secret_key))

    def __repr__(self) -> str:
        return "<CredentialCipher [redacted]>"

    def encrypt(self, credentials: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(credentials, sort_keys=True).encode())

    def decrypt(self, token: bytes) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self._fernet.decrypt(token))
        except InvalidToken as exc:
            raise CredentialError(
                "stored credentials cannot be decrypted: CANARY_SECRET_KEY differs from the one "
                "they were saved with; reconnect the system or restore the key"
            ) from exc
        return data

    def store(self, connection: Connection, credentials: dict[str, Any]) -> None:
        connection.credentials_encrypted = self.encrypt(credentials)

    def load(self, connection: Connection) -> dict[str, Any]:
        return self.decrypt(connection.credentials_encrypted)

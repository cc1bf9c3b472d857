"""A workspace's in-app settings: read, rotated and saved by an admin, every change audited (names only).

* The identity-verification secret: 32 random bytes (hex), Fernet-encrypted with
  `store.crypto.CredentialCipher` like connections' credentials; shown to admins on Settings, rotated there.
  A rotation invalidates every ``userHash`` signed with the old secret at once.
* The origins the snippet may call from (CORS, exact matches).
* The Web Push VAPID key pair (P-256): generated on Settings; the private key encrypted, the public key is
  the ``applicationServerKey`` browsers subscribe with.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import Session

from inapp.rules import InAppError, parse_origins
from store.audit import record_audit
from store.crypto import CredentialCipher
from store.models import InAppSettings, Tenant


@dataclass(frozen=True)
class Resolved:
    """What the public API needs about a workspace (found by its slug)."""

    tenant_id: int
    secret: str | None
    origins: tuple[str, ...]
    vapid_public_key: str | None


@dataclass(frozen=True)
class Vapid:
    private_pem: bytes
    public_key: str
    subject: str


def _row(session: Session) -> InAppSettings | None:
    return session.scalars(select(InAppSettings)).first()


def _ensure(session: Session) -> InAppSettings:
    row = _row(session)
    if row is None:
        row = InAppSettings(allowed_origins=[])
        session.add(row)
    return row


def _secret(row: InAppSettings | None, cipher: CredentialCipher) -> str | None:
    if row is None or row.secret_encrypted is None:
        return None
    value = cipher.decrypt(row.secret_encrypted).get("secret")
    return str(value) if value else None


def resolve(session: Session, cipher: CredentialCipher, workspace: str) -> Resolved | None:
    """The workspace named ``workspace`` (its slug) and its in-app settings; None if unknown.

    ``session`` is unscoped (the caller does not know the tenant yet); only this workspace's row is read."""
    tenant = session.scalar(select(Tenant).where(Tenant.slug == workspace)) if workspace else None
    if tenant is None:
        return None
    row = session.scalar(select(InAppSettings).where(InAppSettings.tenant_id == tenant.id))
    return Resolved(tenant_id=tenant.id, secret=_secret(row, cipher),
                    origins=tuple(row.allowed_origins or ()) if row else (),
                    vapid_public_key=row.vapid_public_key if row else None)


@dataclass(frozen=True)
class SettingsView:
    secret: str | None
    secret_rotated_at: dt.datetime | None
    origins: list[str]
    vapid_public_key: str | None
    vapid_subject: str | None


def view_settings(session: Session, cipher: CredentialCipher) -> SettingsView:
    row = _row(session)
    if row is None:
        return SettingsView(None, None, [], None, None)
    return SettingsView(_secret(row, cipher), row.secret_rotated_at, list(row.allowed_origins or []),
                        row.vapid_public_key, row.vapid_subject)


def rotate_secret(session: Session, cipher: CredentialCipher, actor: str, actor_user_id: int | None,
                  now: dt.datetime) -> str:
    """A new identity-verification secret (the old one stops working now); audited as ``inapp.secret``."""
    row = _ensure(session)
    first = row.secret_encrypted is None
    secret = secrets.token_hex(32)
    row.secret_encrypted = cipher.encrypt({"secret": secret})
    row.secret_rotated_at = now
    record_audit(session, actor, "inapp.secret", "in-app identity secret", actor_user_id,
                 change="created" if first else "rotated")
    return secret


def save_origins(session: Session, text: str, actor: str, actor_user_id: int | None) -> list[str]:
    """Store the allowed origins from a text field; audited as ``inapp.origins`` (the count, no values)."""
    origins = parse_origins(text)
    row = _ensure(session)
    if list(row.allowed_origins or []) != origins:
        row.allowed_origins = origins
        record_audit(session, actor, "inapp.origins", "in-app allowed origins", actor_user_id, count=len(origins))
    return origins


def _public_key_b64(private_key: object) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec

    assert isinstance(private_key, ec.EllipticCurvePrivateKey)
    raw = private_key.public_key().public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def generate_vapid(session: Session, cipher: CredentialCipher, subject: str, actor: str,
                   actor_user_id: int | None) -> str:
    """A new VAPID key pair for Web Push (the browsers' old subscriptions stop working: they were made with
    the old public key, and are deleted); audited as ``inapp.vapid``. Returns the public key."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from store.models import PushSubscription

    subject = subject.strip()
    if not (subject.startswith("mailto:") and "@" in subject) and not subject.startswith("https://"):
        raise InAppError("the VAPID contact must be a mailto: address or an https:// URL")
    if len(subject) > 320:
        raise InAppError("the VAPID contact must be at most 320 characters")
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    row = _ensure(session)
    replaced = row.vapid_public_key is not None
    row.vapid_private_encrypted = cipher.encrypt({"pem": pem.decode()})
    row.vapid_public_key = _public_key_b64(key)
    row.vapid_subject = subject
    dropped = 0
    if replaced:
        for sub in session.scalars(select(PushSubscription)):
            session.delete(sub)
            dropped += 1
    record_audit(session, actor, "inapp.vapid", "Web Push VAPID keys", actor_user_id,
                 change="rotated" if replaced else "created", subscriptions_dropped=dropped)
    return row.vapid_public_key


def vapid_keys(session: Session, cipher: CredentialCipher) -> Vapid | None:
    row = _row(session)
    if row is None or row.vapid_private_encrypted is None or not row.vapid_public_key:
        return None
    pem = str(cipher.decrypt(row.vapid_private_encrypted)["pem"]).encode()
    return Vapid(private_pem=pem, public_key=row.vapid_public_key, subject=row.vapid_subject or "")

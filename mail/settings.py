"""A workspace's SMTP settings: read (falling back to the app's ``SMTP_*``), validated, saved and audited.

The password is encrypted with `store.crypto.CredentialCipher` — the one mechanism connections'
credentials use (Fernet, key from ``CANARY_SECRET_KEY``) — as the JSON object ``{"password": …}``.
It is never shown back: the form leaves it empty, and an empty password field keeps the stored one.
The audit row names the settings that changed, never their values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mail.message import check_address
from mail.smtp import DEFAULT_TIMEOUT, SmtpSettings
from store.audit import changed_keys, record_audit
from store.crypto import CredentialCipher
from store.models import MailSettings

HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                  r"[A-Za-z0-9])?)*$|^\d{1,3}(?:\.\d{1,3}){3}$")


class MailSettingsError(ValueError):
    """A setting that cannot be saved, in words naming the field."""


@dataclass(frozen=True)
class SettingsView:
    """What the Settings page shows: everything but the password, of which only whether one is stored."""

    host: str
    port: int
    starttls: bool
    username: str
    from_address: str
    password_set: bool
    configured: bool


def _row(session: Session) -> MailSettings | None:
    return session.scalars(select(MailSettings)).first()


def view_settings(session: Session) -> SettingsView:
    row = _row(session)
    if row is None:
        return SettingsView("", 587, True, "", "", False, False)
    return SettingsView(row.host, row.port, row.starttls, row.username or "", row.from_address,
                        row.password_encrypted is not None, True)


def smtp_settings(session: Session, cipher: CredentialCipher, config: Mapping[str, Any]) -> SmtpSettings | None:
    """The SMTP server this workspace sends through: its own settings, else the app's ``SMTP_*``, else None."""
    timeout = float(config.get("SMTP_TIMEOUT") or DEFAULT_TIMEOUT)
    row = _row(session)
    if row is not None:
        password = cipher.decrypt(row.password_encrypted).get("password") if row.password_encrypted else None
        return SmtpSettings(host=row.host, port=row.port, starttls=row.starttls, username=row.username,
                            password=password, from_address=row.from_address, timeout=timeout,
                            ca_file=config.get("SMTP_CA_FILE"))
    if not config.get("SMTP_HOST"):
        return None
    return SmtpSettings(host=str(config["SMTP_HOST"]), port=int(config.get("SMTP_PORT") or 25),
                        starttls=bool(config.get("SMTP_STARTTLS")), username=config.get("SMTP_USERNAME") or None,
                        password=config.get("SMTP_PASSWORD") or None,
                        from_address=str(config.get("SMTP_FROM") or "canary@localhost"), timeout=timeout,
                        ca_file=config.get("SMTP_CA_FILE"))


def _flag(value: Any) -> bool:
    return str(value or "").strip().lower() in ("1", "on", "true", "yes")


def save_settings(session: Session, cipher: CredentialCipher, form: Mapping[str, Any], actor: str,
                  actor_user_id: int | None) -> list[str]:
    """Validate and store the settings from a form (host, port, starttls, username, password, from_address);
    returns the names of those that changed (audited as ``mail.settings``)."""
    host = str(form.get("host") or "").strip()
    if not HOST.match(host):
        raise MailSettingsError("SMTP host must be a host name like smtp.example.com or an IPv4 address")
    raw_port = str(form.get("port") or "").strip()
    if not raw_port.isdigit() or not 1 <= int(raw_port) <= 65535:
        raise MailSettingsError("SMTP port must be a number from 1 to 65535 (587 for STARTTLS, 25 without)")
    username = str(form.get("username") or "").strip() or None
    if username is not None and (len(username) > 320 or any(c in username for c in "\r\n")):
        raise MailSettingsError("SMTP user name must be one line of at most 320 characters")
    password = str(form.get("password") or "")
    if any(c in password for c in "\r\n") or len(password) > 1000:
        raise MailSettingsError("SMTP password must be one line of at most 1000 characters")
    try:
        from_address = check_address(str(form.get("from_address") or ""), "from address")
    except ValueError as exc:
        raise MailSettingsError(str(exc)) from None
    row = _row(session)
    before = {} if row is None else {"host": row.host, "port": row.port, "starttls": row.starttls,
                                     "username": row.username, "from_address": row.from_address}
    if row is None:
        row = MailSettings(host=host, port=int(raw_port), from_address=from_address)
        session.add(row)
    row.host, row.port, row.starttls = host, int(raw_port), _flag(form.get("starttls"))
    row.username, row.from_address = username, from_address
    after = {"host": row.host, "port": row.port, "starttls": row.starttls, "username": row.username,
             "from_address": row.from_address}
    changed = changed_keys(before, after)
    if _flag(form.get("clear_password")):
        if row.password_encrypted is not None:
            row.password_encrypted = None
            changed.append("password")
    elif password:
        row.password_encrypted = cipher.encrypt({"password": password})
        changed.append("password")
    if changed:
        record_audit(session, actor, "mail.settings", "SMTP settings", actor_user_id, changed=sorted(changed))
    return sorted(changed)

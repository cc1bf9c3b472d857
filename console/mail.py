"""Outgoing e-mail (password-reset links, play steps), through the SMTP server in the config.

``SMTP_HOST`` unset means no mail: the admin prints a link with ``canary user reset-link EMAIL``.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any


def smtp_configured(config: Any) -> bool:
    return bool(config.get("SMTP_HOST"))


def send_reset_mail(config: Any, to: str, link: str, minutes: int) -> None:
    send_mail(config, to, "Reset your Canary password",
              f"Someone asked to reset the Canary password of {to}.\n\n"
              f"Open this link within {minutes} minutes to choose a new password (it works once):\n\n{link}\n\n"
              "If it was not you, ignore this message: your password stays as it is.\n")


def send_mail(config: Any, to: str, subject: str, body: str) -> None:
    """Send one plain-text e-mail through the configured SMTP server (raises when it does not go)."""
    message = EmailMessage()
    message["From"] = config.get("SMTP_FROM") or "canary@localhost"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    host, port = str(config["SMTP_HOST"]), int(config.get("SMTP_PORT") or 25)
    with smtplib.SMTP(host, port, timeout=float(config.get("SMTP_TIMEOUT", 10))) as smtp:
        if config.get("SMTP_STARTTLS"):
            smtp.starttls()
        if config.get("SMTP_USERNAME"):
            smtp.login(str(config["SMTP_USERNAME"]), str(config.get("SMTP_PASSWORD") or ""))
        smtp.send_message(message)


def play_effects(config: Any) -> Any:
    """How play steps reach the outside world with this configuration: e-mail through the SMTP server
    when one is configured (else e-mail steps are logged as not sent), webhooks over HTTPS."""
    from sync.plays import Effects

    if not smtp_configured(config):
        return Effects()
    return Effects(mailer=lambda to, subject, body: send_mail(config, to, subject, body))

"""Outgoing e-mail: password-reset links straight to the SMTP server in the config (``SMTP_HOST`` unset means
no mail: the admin prints a link with ``canary user reset-link EMAIL``); play steps' e-mail through the outbox.

A play's e-mail step is queued in the run's own transaction under the key ``play:<play>:run:<run>:step:<n>``
(customer-success category: unsubscribe token and RFC 8058 headers), so a step run twice queues one e-mail;
once that transaction commits, the send job hands it to the workspace's SMTP server (`mail.outbox`).
"""

from __future__ import annotations

import datetime as dt
import smtplib
from email.message import EmailMessage
from typing import Any

from mail.templates import MailTemplate

PLAY_TEMPLATE = MailTemplate(
    subject="{{ message.subject }}",
    html=('<div style="white-space:pre-wrap">{{ message.body }}</div>'
          '<p style="color:#666;font-size:12px"><a href="{{ unsubscribe_url }}">Unsubscribe</a> from these '
          'e-mails.</p>'),
    text="{{ message.body }}\n\n--\nUnsubscribe from these e-mails: {{ unsubscribe_url }}\n")
"""A play step's e-mail: its subject and body are already rendered with the play's placeholders, and are
passed as values (never as template source), so braces in an account's name stay text."""
SEND_AFTER_COMMIT = "canary.send_after_commit"


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
    """How play steps reach the outside world with this configuration: e-mail through the outbox when the
    workspace or the app has an SMTP server (else e-mail steps are logged as not sent), webhooks over HTTPS."""
    from sqlalchemy.orm import Session

    from mail.outbox import enqueue
    from mail.settings import view_settings
    from sync.plays import Effects

    def queue(session: Session, key: str, to: str, subject: str, body: str) -> bool:
        settings = view_settings(session)
        if settings.configured:
            sender = settings.from_address
        elif smtp_configured(config):
            sender = str(config.get("SMTP_FROM") or "canary@localhost")
        else:
            return False
        enqueue(session, key=key, category="customer_success", to=to, sender=sender, template=PLAY_TEMPLATE,
                variables={"message": {"subject": subject, "body": body}},
                public_url=str(config.get("PUBLIC_URL") or ""), now=dt.datetime.now(dt.UTC))
        _send_after_commit(session)
        return True

    return Effects(queue=queue)


def _send_after_commit(session: Any) -> None:
    """Start the workspace's send job once the session's transaction (the play run and its e-mail) commits;
    outside an app (a script) the schedule's send round sends it."""
    from flask import current_app, has_app_context
    from sqlalchemy import event

    from store.scoping import current_tenant

    tenant_id = current_tenant(session)
    if session.info.get(SEND_AFTER_COMMIT) or tenant_id is None or not has_app_context():
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    session.info[SEND_AFTER_COMMIT] = True

    def send(committed: Any) -> None:
        from jobs import submit

        committed.info.pop(SEND_AFTER_COMMIT, None)
        submit(app, "send", tenant_id)

    event.listen(session, "after_commit", send, once=True)

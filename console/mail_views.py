"""The Settings page's e-mail section: the workspace's SMTP server (admins only, audited) and "send a test
e-mail to me", which goes through the outbox and the send job like every other e-mail.

Routes join the console blueprint, so its guard applies (a live session, the CSRF token on every POST).
The password is never sent back to the browser; the page shows only whether one is stored.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from flask import abort, current_app, redirect, request, url_for
from sqlalchemy import select

from console.views import _store, admin_only, console, who
from extensions import credential_cipher
from mail.outbox import OutboxError, enqueue
from mail.settings import MailSettingsError, save_settings, smtp_settings, view_settings
from mail.templates import MailTemplate
from store.models import OutboxMessage

TEST_TEMPLATE = MailTemplate(
    subject="Canary test e-mail for {{ workspace.name }}",
    html=("<p>Hello {{ user.name }},</p><p>This is the test e-mail you asked for on the Settings page of "
          "<strong>{{ workspace.name }}</strong>. Canary can send e-mail through this SMTP server.</p>"))


def mail_section(tenant_id: int) -> dict[str, Any]:
    """What the Settings page shows about e-mail: the settings (no password) and the latest test e-mails."""
    with _store().session(tenant_id) as s:
        settings = view_settings(s)
        tests = [{"to": m.to_address, "state": m.state, "attempts": m.attempts, "error": m.last_error,
                  "created_at": m.created_at, "next_attempt_at": m.next_attempt_at}
                 for m in s.scalars(select(OutboxMessage).where(OutboxMessage.idempotency_key.like("test:%"))
                                    .order_by(OutboxMessage.id.desc()).limit(3))]
        fallback = settings.configured or bool(current_app.config.get("SMTP_HOST"))
    return {"settings": settings, "tests": tests, "can_send": fallback}


@console.post("/admin/settings/mail")
@admin_only
def settings_mail() -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        try:
            changed = save_settings(s, credential_cipher(), request.form, me.email, me.user_id)
        except MailSettingsError as exc:
            abort(400, description=str(exc))
    text = f"E-mail settings saved ({', '.join(changed)})" if changed else "Nothing changed"
    return redirect(url_for("console.settings", message=text) + "#mail")


@console.post("/admin/settings/mail/test")
@admin_only
def settings_mail_test() -> Any:
    """Queue a test e-mail to the signed-in admin and start the send job (inline or on a worker)."""
    from jobs import submit

    me = who()
    now = dt.datetime.now(dt.UTC)
    with _store().session(me.tenant_id) as s:
        settings = smtp_settings(s, credential_cipher(), current_app.config)
        if settings is None:
            abort(400, description="set up an SMTP server first: there is nothing to send the test e-mail with")
        variables = {"workspace": {"name": me.tenant_name}, "user": {"name": me.name or me.email, "email": me.email},
                     "account": {}, "health": {}}
        try:
            enqueue(s, key=f"test:{me.user_id}:{secrets.token_hex(8)}", category="transactional", to=me.email,
                    sender=settings.from_address, template=TEST_TEMPLATE, variables=variables,
                    public_url=str(current_app.config["PUBLIC_URL"]), now=now)
        except OutboxError as exc:
            abort(400, description=str(exc))
    submit(current_app, "send", me.tenant_id)
    return redirect(url_for("console.settings", message=f"Test e-mail to {me.email} queued: its state is below")
                    + "#mail")

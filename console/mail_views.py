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
from mail.consent import ConsentError, suppress
from mail.message import check_address
from mail.outbox import OutboxError, enqueue
from mail.settings import MailSettingsError, save_settings, smtp_settings, view_settings
from mail.templates import MailTemplate
from store.audit import record_audit
from store.models import SUPPRESSION_CATEGORIES, Connection, ConsentWrite, OutboxMessage, Tenant

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


def consent_section(tenant_id: int) -> dict[str, Any]:
    """The Settings page's consent part: the write-back switch, what each connected CRM gets, the latest writes."""
    from integrations.registry import vendor

    with _store().session(tenant_id) as s:
        tenant = s.get(Tenant, tenant_id)
        systems = sorted(set(s.scalars(select(Connection.system).where(Connection.status == "active"))))
        writes = [{"address": w.address, "category": w.category.replace("_", "-"), "system": vendor(w.system).label,
                   "state": w.state, "attempts": w.attempts, "error": w.last_error, "at": w.done_at or w.created_at}
                  for w in s.scalars(select(ConsentWrite).order_by(ConsentWrite.id.desc()).limit(10))]
    return {"enabled": bool(tenant and tenant.consent_writeback), "writes": writes,
            "systems": [{"label": vendor(x).label, "note": vendor(x).consent_note, "writes": vendor(x).email_consent}
                        for x in systems],
            "categories": [(c, c.replace("_", "-")) for c in SUPPRESSION_CATEGORIES]}


@console.post("/admin/settings/consent")
@admin_only
def settings_consent() -> Any:
    """Turn the CRM write-back of unsubscribes on or off (audited as ``mail.consent_writeback``)."""
    me = who()
    wanted = str(request.form.get("consent_writeback") or "").lower() in ("1", "on", "true", "yes")
    with _store().session(me.tenant_id) as s:
        tenant = s.get(Tenant, me.tenant_id)
        if tenant is None:
            abort(404, description="no such workspace")
        changed = tenant.consent_writeback != wanted
        if changed:
            tenant.consent_writeback = wanted
            record_audit(s, me.email, "mail.consent_writeback", "CRM write-back of unsubscribes", me.user_id,
                         enabled=wanted)
    text = ("Unsubscribes are now written to the CRMs" if wanted else "Unsubscribes stay in Canary only") \
        if changed else "Nothing changed"
    return redirect(url_for("console.settings", message=text) + "#consent")


@console.post("/admin/settings/suppress")
@admin_only
def settings_suppress() -> Any:
    """An admin suppresses an address by hand (a person who asked by phone): like an unsubscribe, audited,
    written back to the CRMs when the workspace does that."""
    from jobs import submit

    me = who()
    address = str(request.form.get("address") or "").strip()
    category = str(request.form.get("category") or "")
    try:
        address = check_address(address, "address").lower()
    except ValueError as exc:
        abort(400, description=str(exc))
    with _store().session(me.tenant_id) as s:
        try:
            new = suppress(s, address, category, "admin")
        except ConsentError as exc:
            abort(400, description=str(exc))
        if new:
            record_audit(s, me.email, "mail.suppress", address, me.user_id, category=category)
    if new:
        submit(current_app, "consent", me.tenant_id)
    label = category.replace("_", "-")
    text = (f"{address} gets no more {label} e-mail" if new
            else f"{address} was already unsubscribed from {label} e-mail")
    return redirect(url_for("console.settings", message=text) + "#consent")

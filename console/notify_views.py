"""Notifications in the console: the bell (``/notifications``: a list, mark read, acknowledge, snooze), each
user's own settings (``/notifications/settings``), and the admin's workspace page (``/admin/notifications``:
Slack, routes by alert reason, escalation hours). The header shows the unread count on every page.

Routes join the console blueprint: a live session, the CSRF token on every POST; every query runs in the
signed-in user's workspace session and on their own deliveries only. The Slack secret never goes back to the
browser (the page shows only whether one is stored).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import abort, current_app, g, redirect, render_template, request, url_for

from console.views import _store, admin_only, console, who
from extensions import credential_cipher
from notify.rules import (
    CHANNEL_LABELS,
    CHANNELS,
    KIND_LABELS,
    KINDS,
    SCOPE_LABELS,
    SCOPES,
    SEVERITIES,
    PreferenceError,
    snooze_until,
)
from notify.service import acknowledge, bell, mark_read, snooze, unread_count
from notify.settings import SettingsError, save_user, save_workspace, view_user, view_workspace, webhook_hosts


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@console.app_context_processor
def _bell() -> dict[str, Any]:
    """The header's unread count, for a signed-in user (None elsewhere)."""
    me = g.get("who")
    if me is None:
        return {"bell_unread": None}
    with _store().session(me.tenant_id) as s:
        return {"bell_unread": unread_count(s, me.user_id, _now())}


@console.get("/notifications")
def notifications() -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        items = bell(s, me.user_id, _now())
        zone = view_user(s, me.user_id).time_zone
    return render_template("console/notifications.html", me=me, items=items, zone=zone,
                           message=request.args.get("message"))


@console.post("/notifications/read")
def notifications_read() -> Any:
    me = who()
    raw = request.form.get("id")
    if raw is not None and not raw.isdigit():
        abort(400, description="id must be a notification number")
    with _store().session(me.tenant_id) as s:
        changed = mark_read(s, me.user_id, _now(), int(raw) if raw else None)
    if raw and not changed:
        abort(404, description="no unread notification of yours has this number")
    return redirect(url_for("console.notifications", message=f"{changed} marked read"))


@console.post("/notifications/alerts/<int:alert_id>/acknowledge")
def notifications_acknowledge(alert_id: int) -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        if not acknowledge(s, me.user_id, alert_id, _now()):
            abort(404, description="you were not notified of this alert")
    return redirect(url_for("console.notifications", message="Alert acknowledged: it will not escalate"))


@console.post("/notifications/snooze")
def notifications_snooze() -> Any:
    me = who()
    raw_alert = request.form.get("alert_id") or None
    if raw_alert is not None and not raw_alert.isdigit():
        abort(400, description="alert_id must be an alert number")
    now = _now()
    with _store().session(me.tenant_id) as s:
        try:
            until = snooze_until(now, hours=request.form.get("hours") or None, until=request.form.get("until") or None,
                                 zone=view_user(s, me.user_id).time_zone)
            snooze(s, me.user_id, until, now, alert_id=int(raw_alert) if raw_alert else None)
        except PreferenceError as exc:
            abort(400, description=str(exc))
    what = f"Alert {raw_alert}" if raw_alert else "Your notifications"
    return redirect(url_for("console.notifications", message=f"{what} snoozed until {until:%Y-%m-%d %H:%M} UTC"))


@console.get("/notifications/settings")
def notification_settings() -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        mine = view_user(s, me.user_id)
        workspace = view_workspace(s)
    return render_template("console/notification_settings.html", me=me, prefs=mine, workspace=workspace,
                           kinds=KINDS, kind_labels=KIND_LABELS, scopes=SCOPES, scope_labels=SCOPE_LABELS,
                           channels=CHANNELS, channel_labels=CHANNEL_LABELS, severities=SEVERITIES,
                           message=request.args.get("message"))


@console.post("/notifications/settings")
def notification_settings_save() -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        try:
            changed = save_user(s, me.user_id, request.form, me.email)
        except PreferenceError as exc:
            abort(400, description=str(exc))
    text = f"Saved ({', '.join(changed)})" if changed else "Nothing changed"
    return redirect(url_for("console.notification_settings", message=text))


@console.get("/admin/notifications")
@admin_only
def admin_notifications() -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        workspace = view_workspace(s)
    routes = "\n".join(f"{reason} = {channel}" for reason, channel in sorted(workspace.routes.items()))
    return render_template("console/admin_notifications.html", me=me, w=workspace, routes=routes,
                           message=request.args.get("message"))


@console.post("/admin/notifications")
@admin_only
def admin_notifications_save() -> Any:
    me = who()
    with _store().session(me.tenant_id) as s:
        try:
            changed = save_workspace(s, credential_cipher(), request.form, me.email, me.user_id,
                                     webhook_hosts(current_app.config))
        except SettingsError as exc:
            abort(400, description=str(exc))
    text = f"Saved ({', '.join(changed)})" if changed else "Nothing changed"
    return redirect(url_for("console.admin_notifications", message=text))

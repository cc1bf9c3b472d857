"""Reading and saving notification settings: each user's preferences, and the workspace's Slack, routes and
business hours (admins). Both audited; the Slack secret (bot token or webhook URL) is encrypted with
`store.crypto.CredentialCipher`, like connections' credentials, and never shown back or audited by value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from notify.rules import CHANNELS, KINDS, PreferenceError, check_zone, rules_for, validate_rules
from notify.slack import DEFAULT_API, WEBHOOK_HOSTS, SlackTarget, check_bot_token, check_channel, check_webhook_url
from store.audit import changed_keys, record_audit
from store.crypto import CredentialCipher
from store.models import NotifyPreference, NotifySettings


class SettingsError(ValueError):
    """A workspace setting that cannot be saved, naming the field."""


@dataclass(frozen=True)
class WorkspaceView:
    slack_mode: str | None
    secret_set: bool
    slack_channel: str
    routes: dict[str, str]
    escalation_hours: int
    business_start: int
    business_end: int
    time_zone: str


@dataclass(frozen=True)
class UserView:
    time_zone: str
    slack_user: str
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)


def workspace_row(session: Session) -> NotifySettings | None:
    return session.scalars(select(NotifySettings)).first()


def view_workspace(session: Session) -> WorkspaceView:
    row = workspace_row(session)
    if row is None:
        return WorkspaceView(None, False, "", {}, 8, 9, 17, "UTC")
    return WorkspaceView(row.slack_mode, row.slack_secret_encrypted is not None, row.slack_channel or "",
                         dict(row.slack_routes or {}), row.escalation_hours, row.business_start, row.business_end,
                         row.time_zone)


def webhook_hosts(config: Mapping[str, Any]) -> tuple[str, ...]:
    """Slack's webhook host plus the app's ``SLACK_WEBHOOK_HOSTS`` (a list, or comma-separated)."""
    extra = config.get("SLACK_WEBHOOK_HOSTS") or ()
    if isinstance(extra, str):
        extra = [h.strip() for h in extra.split(",") if h.strip()]
    return (*WEBHOOK_HOSTS, *extra)


def slack_target(session: Session, cipher: CredentialCipher, config: Mapping[str, Any]) -> SlackTarget | None:
    row = workspace_row(session)
    if row is None or row.slack_mode is None or row.slack_secret_encrypted is None:
        return None
    secret = str(cipher.decrypt(row.slack_secret_encrypted).get("secret") or "")
    return SlackTarget(row.slack_mode, secret, str(config.get("SLACK_API_URL") or DEFAULT_API))


def parse_routes(text: str) -> dict[str, str]:
    """Routes written one a line, ``reason = channel`` (``usage_drop = #cs-usage``)."""
    routes: dict[str, str] = {}
    for number, line in enumerate((text or "").splitlines(), 1):
        line = line.strip()
        if not line or (line.startswith("#") and "=" not in line):
            continue
        reason, sep, channel = line.partition("=")
        reason = reason.strip()
        if not sep or not reason or len(reason) > 100:
            raise SettingsError(f"routes line {number}: write reason = channel (usage_drop = #cs-usage)")
        try:
            routes[reason] = check_channel(channel)
        except ValueError as exc:
            raise SettingsError(f"routes line {number}: {exc}") from None
    return routes


def _hour(form: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    raw = str(form.get(name, default)).strip()
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise SettingsError(f"{name.replace('_', ' ')} must be a whole number from {low} to {high}")
    return int(raw)


def save_workspace(session: Session, cipher: CredentialCipher, form: Mapping[str, Any], actor: str,
                   actor_user_id: int | None, webhook_hosts: tuple[str, ...] = WEBHOOK_HOSTS) -> list[str]:
    """Validate and store the workspace's settings; returns the names that changed (audited as
    ``notify.settings``; the secret is named, never its value). An empty secret keeps the stored one."""
    mode = str(form.get("slack_mode") or "").strip() or None
    if mode not in (None, "bot", "webhook"):
        raise SettingsError("Slack mode must be bot (a bot token), webhook (an incoming webhook URL) or none")
    secret = str(form.get("slack_secret") or "").strip()
    try:
        if secret and mode == "bot":
            secret = check_bot_token(secret)
        elif secret and mode == "webhook":
            secret = check_webhook_url(secret, webhook_hosts)
        channel = check_channel(str(form["slack_channel"])) if str(form.get("slack_channel") or "").strip() else None
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    routes = parse_routes(str(form.get("slack_routes") or ""))
    hours = _hour(form, "escalation_hours", 8, 0, 200)
    start = _hour(form, "business_start", 9, 0, 23)
    end = _hour(form, "business_end", 17, 1, 24)
    if start >= end:
        raise SettingsError("business hours must start before they end")
    try:
        zone = check_zone(str(form.get("time_zone") or "UTC"))
    except PreferenceError as exc:
        raise SettingsError(str(exc)) from None
    row = workspace_row(session)
    if row is None:
        row = NotifySettings(slack_routes={})
        session.add(row)
        before: dict[str, Any] = {}
    else:
        before = {"slack_mode": row.slack_mode, "slack_channel": row.slack_channel, "slack_routes": row.slack_routes,
                  "escalation_hours": row.escalation_hours, "business_start": row.business_start,
                  "business_end": row.business_end, "time_zone": row.time_zone}
    if mode is not None and not secret and (row.slack_secret_encrypted is None or row.slack_mode != mode):
        raise SettingsError(f"Slack {mode} mode needs its {'bot token' if mode == 'bot' else 'webhook URL'}")
    if mode == "bot" and channel is None and not routes:
        raise SettingsError("with a bot token, name a default channel (or routes) for messages to go to")
    row.slack_mode, row.slack_channel, row.slack_routes = mode, channel, routes
    row.escalation_hours, row.business_start, row.business_end, row.time_zone = hours, start, end, zone
    after = {"slack_mode": mode, "slack_channel": channel, "slack_routes": routes, "escalation_hours": hours,
             "business_start": start, "business_end": end, "time_zone": zone}
    changed = changed_keys(before, after)
    if mode is None and row.slack_secret_encrypted is not None:
        row.slack_secret_encrypted = None
        changed.append("slack_secret")
    elif secret:
        row.slack_secret_encrypted = cipher.encrypt({"secret": secret})
        changed.append("slack_secret")
    if changed:
        record_audit(session, actor, "notify.settings", "Notification settings", actor_user_id,
                     changed=sorted(set(changed)))
    return sorted(set(changed))


def preference_row(session: Session, user_id: int) -> NotifyPreference | None:
    return session.scalars(select(NotifyPreference).where(NotifyPreference.user_id == user_id)).first()


def view_user(session: Session, user_id: int) -> UserView:
    row = preference_row(session, user_id)
    if row is None:
        return UserView("UTC", "", rules_for(None))
    return UserView(row.time_zone, row.slack_user or "", rules_for(row.rules))


def rules_from_form(form: Mapping[str, Any]) -> dict[str, Any]:
    """The settings page's fields (``<kind>.scope``, ``<kind>.<channel>`` checkboxes, ``alert.min_severity``)
    as the rules document `validate_rules` checks; a JSON ``rules`` field (the API's shape) wins."""
    if form.get("rules"):
        try:
            parsed = json.loads(str(form["rules"]))
        except ValueError:
            raise PreferenceError("rules must be a JSON object of kind → {scope, channels}") from None
        if not isinstance(parsed, dict):
            raise PreferenceError("rules must be a JSON object of kind → {scope, channels}")
        return parsed
    rules: dict[str, Any] = {}
    for kind in KINDS:
        if f"{kind}.scope" not in form:
            continue
        rule: dict[str, Any] = {"scope": form.get(f"{kind}.scope"),
                                "channels": [c for c in CHANNELS if form.get(f"{kind}.{c}")]}
        if kind == "alert" and form.get("alert.min_severity"):
            rule["min_severity"] = form.get("alert.min_severity")
        rules[kind] = rule
    return rules


def save_user(session: Session, user_id: int, form: Mapping[str, Any], actor: str) -> list[str]:
    """Validate and store one user's preferences (their own page); audited as ``notify.preferences``."""
    rules = validate_rules(rules_from_form(form))
    zone = check_zone(str(form.get("time_zone") or "UTC"))
    slack_user = str(form.get("slack_user") or "").strip() or None
    if slack_user is not None and (len(slack_user) > 40 or not slack_user.isalnum() or slack_user[0] not in "UW"):
        raise PreferenceError("Slack member id must look like U0123ABCD (Slack: profile → ⋮ → Copy member ID)")
    row = preference_row(session, user_id)
    if row is None:  # compared with the defaults it had until now
        row = NotifyPreference(user_id=user_id, time_zone="UTC", rules={})
        session.add(row)
    before = {"time_zone": row.time_zone, "slack_user": row.slack_user, **rules_for(row.rules)}
    row.rules, row.time_zone, row.slack_user = rules, zone, slack_user
    changed = changed_keys(before, {"time_zone": zone, "slack_user": slack_user, **rules})
    if changed:
        record_audit(session, actor, "notify.preferences", actor, user_id, changed=changed)
    return changed

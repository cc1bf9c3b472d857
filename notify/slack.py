"""Slack's two doors, one call each: ``chat.postMessage`` with a bot token, or an incoming webhook.

* Web API (bot token): ``POST {api}/chat.postMessage`` with ``Authorization: Bearer xoxb-…`` and a JSON body
  ``{"channel", "text"}``. Slack answers HTTP 200 with ``{"ok": true, …}`` or ``{"ok": false, "error": "…"}``
  (``invalid_auth``, ``not_authed``, ``token_revoked``, ``account_inactive`` — the token; ``channel_not_found``,
  ``not_in_channel``, ``is_archived`` — the channel), and HTTP 429 with ``Retry-After`` (seconds) when rate
  limited (about one message per second per channel, short bursts allowed).
* Incoming webhook: ``POST <webhook URL>`` with ``{"text"}``; HTTP 200 ``ok``, or a status with a plain-text
  reason: 400 ``invalid_payload``, 403 ``invalid_token``/``action_prohibited``, 404 ``channel_not_found``/
  ``no_service``, 410 ``channel_is_archived``; 429 with ``Retry-After`` too. The channel is the webhook's own.

Every failure is a `SlackError` whose ``kind`` says what the caller does (auth: stop and tell the admin;
channel: this message fails; rate: wait ``retry_after``; temporary: try again later). Its text never holds the
token or the webhook URL (both are secrets).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

DEFAULT_API = "https://slack.com/api"
TIMEOUT = 10.0
AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive",
                         "no_permission", "missing_scope", "invalid_token", "action_prohibited", "no_service"})
CHANNEL_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived", "channel_is_archived",
                            "restricted_action", "cannot_dm_bot", "user_not_found"})


class SlackError(Exception):
    def __init__(self, kind: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind, self.retry_after = kind, retry_after


@dataclass(frozen=True)
class SlackTarget:
    """Where messages go: ``mode`` bot (``secret`` is the token) or webhook (``secret`` is the URL)."""

    mode: str
    secret: str
    api_url: str = DEFAULT_API

    def __repr__(self) -> str:
        return f"SlackTarget(mode={self.mode!r}, secret=[redacted])"


WEBHOOK_HOSTS = ("hooks.slack.com",)


def check_webhook_url(url: str, hosts: tuple[str, ...] = WEBHOOK_HOSTS) -> str:
    """An incoming-webhook URL on one of ``hosts`` (Slack's own; the app's ``SLACK_WEBHOOK_HOSTS`` adds more —
    a local receiver in tests), https (http only to this machine), with a path. Canary posts to it, so no other
    host is accepted (an admin's form must not aim Canary's requests at internal services)."""
    url = (url or "").strip()
    parts = urlsplit(url)
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme not in ("https", "http") or parts.hostname not in hosts or len(parts.path) < 2 \
            or len(url) > 500 or (parts.scheme == "http" and not local):
        raise ValueError("the Slack webhook URL must look like https://hooks.slack.com/services/T…/B…/…")
    return url


def check_bot_token(token: str) -> str:
    token = (token or "").strip()
    if not token.startswith("xoxb-") or len(token) > 300 or any(c.isspace() for c in token):
        raise ValueError("a Slack bot token starts with xoxb- (the app's Bot User OAuth Token)")
    return token


def check_channel(channel: str) -> str:
    """A channel as Slack names it: an id (C…, G…, D…, or a member id U… for a direct message) or #name."""
    channel = (channel or "").strip()
    bare = channel.removeprefix("#")
    if not bare or len(bare) > 80 or not all(c.isalnum() or c in "-_." for c in bare):
        raise ValueError(f"Slack channel {channel!r} must be an id like C0123ABCD or a name like #cs-alerts")
    return channel


def _retry_after(response: requests.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


def post(http: requests.Session, target: SlackTarget, channel: str | None, text: str,
         timeout: float = TIMEOUT) -> None:
    """Post one message; returns when Slack accepted it, else raises `SlackError`."""
    try:
        if target.mode == "bot":
            response = http.post(f"{target.api_url.rstrip('/')}/chat.postMessage", timeout=timeout,
                                 headers={"Authorization": f"Bearer {target.secret}"},
                                 json={"channel": channel, "text": text, "unfurl_links": False})
        else:
            response = http.post(target.secret, json={"text": text}, timeout=timeout)
    except requests.RequestException as exc:
        raise SlackError("temporary", f"Slack could not be reached ({type(exc).__name__})") from None
    if response.status_code == 429:
        wait = _retry_after(response)
        raise SlackError("rate", f"Slack rate-limited this channel: retry after {wait:g} s", wait)
    if response.status_code >= 500:
        raise SlackError("temporary", f"Slack answered HTTP {response.status_code}")
    if target.mode == "bot":
        body: Any
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 200 and isinstance(body, dict) and body.get("ok") is True:
            return
        error = str(body.get("error")) if isinstance(body, dict) else f"HTTP {response.status_code}"
    else:
        if response.status_code == 200:
            return
        error = response.text.strip()[:100] or f"HTTP {response.status_code}"
    if error in AUTH_ERRORS or response.status_code in (401, 403):
        raise SlackError("auth", f"Slack refused the {'bot token' if target.mode == 'bot' else 'webhook'} "
                                 f"({error}): an admin must set Slack up again on the Notifications settings page")
    if error in CHANNEL_ERRORS or response.status_code in (404, 410):
        where = f"channel {channel}" if target.mode == "bot" else "the webhook's channel"
        raise SlackError("channel", f"Slack refused {where} ({error}): invite the Canary app to it or route "
                                    "this reason to another channel")
    raise SlackError("payload", f"Slack refused the message ({error})")

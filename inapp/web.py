"""The snippet and its API, called cross-origin from the customer's product (CORS, never cookies).

* ``GET /inapp/v1/canary-inapp.js?v=<version>`` — the snippet (bundled in this package, no CDN); with the
  current version in ``v`` it is cached for a year (``immutable``), otherwise for 5 minutes.
  ``/inapp/v1/canary-inapp-sw.js`` is the service worker the customer copies to their own origin for Web Push.
* ``GET  /inapp/v1/w/<workspace>/messages`` — the end user's pending messages;
  ``POST /inapp/v1/w/<workspace>/messages/<id>/shown|dismissed|clicked``;
  ``GET  /inapp/v1/w/<workspace>/push/key``; ``POST|DELETE /inapp/v1/w/<workspace>/push/subscription``.

Every API call names the end user in ``X-Canary-User`` and proves it with ``X-Canary-User-Hash`` =
hex(HMAC-SHA256(workspace in-app secret, user id)), computed by the customer's server; a wrong hash, another
user's id, an unknown workspace or one without a secret all answer the same 403 with nothing else. A request
whose ``Origin`` is not one of the workspace's allowed origins answers 403 too (preflight included); allowed
origins get ``Access-Control-Allow-Origin`` for exactly themselves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState

from collector.limits import RateLimiter, retry_after
from extensions import canary_store, credential_cipher, health_model
from inapp.messages import click_event, mark, pending, record_click_usage
from inapp.push import subscribe, unsubscribe
from inapp.rules import USER_KEY_MAX, InAppError, hash_matches
from inapp.settings import Resolved, resolve

log = logging.getLogger("canary.inapp")

STATIC = Path(__file__).parent / "static"
SNIPPET = "canary-inapp.js"
YEAR = 365 * 24 * 3600
ALLOWED_HEADERS = "Content-Type, X-Canary-User, X-Canary-User-Hash"
REFUSED = "unknown workspace, user or user hash: sign the user id with the workspace's in-app secret"
LIMITER = "canary.inapp.limiter"
"""``app.extensions`` key of the per-workspace `RateLimiter` (``INAPP_RATE_PER_SECOND``/``INAPP_RATE_BURST``)."""


@lru_cache(maxsize=1)
def snippet_version() -> str:
    """The first 12 hex digits of the snippet's SHA-256: the cache-busting ``v`` of its URL."""
    return hashlib.sha256((STATIC / SNIPPET).read_bytes()).hexdigest()[:12]


class _Assets(Blueprint):
    def get_send_file_max_age(self, filename: str | None) -> int | None:
        return YEAR if request.args.get("v") == snippet_version() else 300


inapp_web = _Assets("inapp", __name__, static_folder="static", static_url_path="/inapp/v1")


@inapp_web.record_once
def _setup(state: BlueprintSetupState) -> None:
    config = state.app.config
    state.app.extensions[LIMITER] = RateLimiter(float(config.get("INAPP_RATE_PER_SECOND", 100)),
                                                float(config.get("INAPP_RATE_BURST", 1000)))


def snippet_url() -> str:
    return f"{str(current_app.config['PUBLIC_URL']).rstrip('/')}/inapp/v1/{SNIPPET}?v={snippet_version()}"


class Refused(Exception):
    pass


class Limited(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__("rate limited")
        self.wait = wait


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _origin_allowed(found: Resolved) -> bool:
    origin = request.headers.get("Origin")
    return origin is None or origin.lower() in found.origins


def _workspace(workspace: str) -> Resolved:
    with canary_store().session() as s:
        found = resolve(s, credential_cipher(), workspace[:64])
    if found is None or not _origin_allowed(found):
        raise Refused
    wait = current_app.extensions[LIMITER].take(found.tenant_id)
    if wait > 0:
        raise Limited(wait)
    return found


def _authenticate(workspace: str) -> tuple[Resolved, str]:
    found = _workspace(workspace)
    user = request.headers.get("X-Canary-User", "")
    if not user or len(user) > USER_KEY_MAX or not hash_matches(found.secret, user,
                                                               request.headers.get("X-Canary-User-Hash")):
        raise Refused
    return found, user


def _answer(body: Any, status: int = 200) -> Response:
    """An answer to a request whose origin was checked: CORS allows exactly that origin."""
    response = jsonify(body) if status != 204 else Response(status=204)
    response.status_code = status
    response.headers["Vary"] = "Origin"
    origin = request.headers.get("Origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
    return response


def _refused() -> Response:
    response = jsonify({"error": REFUSED})
    response.status_code = 403
    response.headers["Vary"] = "Origin"
    return response


@inapp_web.errorhandler(Refused)
def _on_refused(_exc: Refused) -> Response:
    """Every route's `_authenticate` refusal (and, below, its rate limit) answers here."""
    return _refused()


@inapp_web.errorhandler(Limited)
def _on_limited(exc: Limited) -> Response:
    return _limited(exc)


def _limited(exc: Limited) -> Response:
    response = _answer({"error": "too many in-app requests for this workspace: retry after the number of "
                                 "seconds in the Retry-After header"}, 429)
    response.headers["Retry-After"] = retry_after(exc.wait)
    return response


def _bad(message: str) -> Response:
    return _answer({"error": message}, 400)


@inapp_web.route("/inapp/v1/w/<workspace>/<path:rest>", methods=["OPTIONS"], provide_automatic_options=False)
def preflight(workspace: str, rest: str) -> Response:
    try:
        _workspace(workspace)
    except Refused:
        return _refused()
    except Limited as exc:
        return _limited(exc)
    response = _answer({}, 204)
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, DELETE"
    response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
    response.headers["Access-Control-Max-Age"] = "600"
    return response


@inapp_web.get("/inapp/v1/w/<workspace>/messages", provide_automatic_options=False)
def list_messages(workspace: str) -> Response:
    found, user = _authenticate(workspace)
    with canary_store().session(found.tenant_id) as s:
        messages = pending(s, user, _now())
    return _answer({"messages": messages})


@inapp_web.post("/inapp/v1/w/<workspace>/messages/<int:message_id>/<any(shown, dismissed, clicked):what>",
                provide_automatic_options=False)
def mark_message(workspace: str, message_id: int, what: str) -> Response:
    found, user = _authenticate(workspace)
    now = _now()
    with canary_store().session(found.tenant_id) as s:
        marked = mark(s, user, message_id, what, now)
        if marked is None:
            return _answer({"error": "no such message for this user"}, 404)
        event = click_event(s, found.tenant_id, user, marked, now) if what == "clicked" and marked.first else None
    usage = 0
    if event is not None:
        usage = record_click_usage(canary_store(), found.tenant_id, event, now,
                                   frozenset(health_model().signals.milestones))
    return _answer({"ok": True, "first": marked.first, "usageRecorded": usage})


@inapp_web.get("/inapp/v1/w/<workspace>/push/key", provide_automatic_options=False)
def push_key(workspace: str) -> Response:
    found, _user = _authenticate(workspace)
    return _answer({"publicKey": found.vapid_public_key})


@inapp_web.route("/inapp/v1/w/<workspace>/push/subscription", methods=["POST", "DELETE"],
                 provide_automatic_options=False)
def push_subscription(workspace: str) -> Response:
    found, user = _authenticate(workspace)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _bad("the body must be a JSON object: a PushSubscription's toJSON()")
    allow = bool(current_app.config.get("INAPP_PUSH_ALLOW_LOOPBACK"))
    with canary_store().session(found.tenant_id) as s:
        if request.method == "DELETE":
            return _answer({"removed": unsubscribe(s, user, str(body.get("endpoint") or ""))})
        if found.vapid_public_key is None:
            return _bad("Web Push is not set up for this workspace")
        try:
            sub_id = subscribe(s, user, body, allow_loopback=allow)
        except InAppError as exc:
            return _bad(str(exc))
    return _answer({"id": sub_id}, 201)
